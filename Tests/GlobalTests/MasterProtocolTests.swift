// MasterProtocolTests: status records and attribute lists round-trip; log
// lines keep Postfix's shape.
import XCTest
import Glibc
@testable import Global
@testable import Util

final class MasterProtocolTests: XCTestCase {
    func testStatusRecordRoundTrip() {
        let record = MasterProtocol.Record(pid: 12345, generation: 7, status: .taken)
        let bytes = record.encoded()
        XCTAssertEqual(bytes.count, MasterProtocol.recordSize)
        XCTAssertEqual(MasterProtocol.Record.decode(bytes[...]), record)
        XCTAssertNil(MasterProtocol.Record.decode(Array("garbage".utf8)[...]))
    }

    func testAttributeListRoundTripOverAPipe() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        var list = AttributeList()
        list.append("request", "lookup")
        list.append("table", "hash:/etc/aliases")
        list.append("flags", 64)
        list.append("key", "")
        let writer = Stream(fd: fds[1])
        try AttributeCodec.write(list, to: writer)
        writer.close()
        let decoded = try AttributeCodec.read(from: Stream(fd: fds[0], timeout: 5))
        XCTAssertEqual(decoded, list)
        XCTAssertEqual(decoded.int("flags"), 64)
        XCTAssertThrowsError(try decoded.require("missing"))
    }

    func testAttributeDecodingRejectsBadNames() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        let bad: [UInt8] = Array("Bad Name\0v\0\0".utf8)
        _ = bad.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        XCTAssertThrowsError(try AttributeCodec.read(from: Stream(fd: fds[0], timeout: 5))) { error in
            XCTAssertEqual(error as? AttributeError, .badName("Bad Name"))
        }
    }

    func testLogLineShape() {
        let line = MailLog.fileLine(.warning, "bad\tthing")
        // "Mmm dd HH:MM:SS host tag[pid]: warning: bad?thing\n"
        let pattern = "^[A-Z][a-z]{2} [0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} [^ ]+ [^ ]+\\[[0-9]+\\]: warning: bad\\?thing\n$"
        XCTAssertNotNil(line.range(of: pattern, options: .regularExpression), line)
    }
}
