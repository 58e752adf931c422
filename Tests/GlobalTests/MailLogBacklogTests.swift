// Tests of log lines that wait in the process while postlogd's socket is
// full (MailLog.deferWhenBusy, qmgr's setting).
import XCTest
import Glibc
import Util
@testable import Global

final class MailLogBacklogTests: XCTestCase {
    func testLinesWaitInOrderInsteadOfTheSender() throws {
        var template = Array("/tmp/maillog-backlog-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError() }
        let directory = String(cString: made)
        let path = directory + "/postlog"
        // A postlogd that does not read yet: a datagram socket bound to path.
        let receiver = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(receiver, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        defer {
            close(receiver)
            unlink(path)
            rmdir(directory)
            MailLog.deferWhenBusy = false
            MailLog.useFile("/dev/stderr")
        }
        MailLog.usePostlog(path)
        MailLog.deferWhenBusy = true

        // Far more lines than the socket queues (10 datagrams on Linux by
        // default): none of these calls may block.
        for i in 0..<50 { MailLog.info("line \(i)") }
        XCTAssertGreaterThan(MailLog.deferredCount, 0, "the socket filled up and lines waited")
        XCTAssertNotNil(MailLog.deferredDescriptor)

        // postlogd reads; the process flushes whenever there is room.
        var received: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.count < 50 {
            var p = pollfd(fd: receiver, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 2000) == 1 else { break }
            let n = buffer.withUnsafeMutableBytes { recv(receiver, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            received.append(String(decoding: buffer[0..<n], as: UTF8.self))
            MailLog.flushDeferred(wait: false)
        }
        XCTAssertEqual(received.count, 50)
        XCTAssertEqual(MailLog.deferredCount, 0)
        XCTAssertNil(MailLog.deferredDescriptor)
        for (i, line) in received.enumerated() {
            XCTAssertTrue(line.hasSuffix(": line \(i)\n"), "in order: \(line)")
        }
    }
}
