// FlushTests: the fast flush logfile format (names, one queue ID a line,
// duplicates, bad lines), destination syntax as postqueue -s and ETRN
// check it, and the service's requests and status codes over a socket
// pair, in a temporary queue directory.
import XCTest
import Glibc
import Foundation
@testable import Util
@testable import Global
@testable import Tables
@testable import flush

final class FlushProtocolTests: XCTestCase {
    func testStatusValuesArePostfixs() {
        XCTAssertEqual(FlushProtocol.Status.fail.rawValue, -1)
        XCTAssertEqual(FlushProtocol.Status.ok.rawValue, 0)
        XCTAssertEqual(FlushProtocol.Status.unknown.rawValue, 2)
        XCTAssertEqual(FlushProtocol.Status.bad.rawValue, 3)
        XCTAssertEqual(FlushProtocol.Status.deny.rawValue, 4)
        XCTAssertEqual(FlushProtocol.Request.refresh.rawValue, "rfrsh")
        XCTAssertEqual(FlushProtocol.Request.sendSite.rawValue, "send_site")
    }

    func testLogNames() {
        XCTAssertEqual(FlushProtocol.logName(site: "one.example"), "one_example")
        XCTAssertEqual(FlushProtocol.logName(site: "[1.2.3.4]"), "_1_2_3_4_")
        XCTAssertEqual(FlushProtocol.logName(site: "a-b_c.Example"), "a_b_c_Example")
        XCTAssertEqual(FlushProtocol.logName(site: "../x"), "___x")
    }

    func testParseLog() {
        let (ids, bad) = FlushProtocol.parseLog("3101DF809E9\n3D812F809EC\n3D812F809EC\nbad/id\n\n33990F809E8\n")
        XCTAssertEqual(ids, ["3101DF809E9", "3D812F809EC", "33990F809E8"])
        XCTAssertEqual(bad, ["bad/id", ""])
        XCTAssertEqual(FlushProtocol.parseLog("").ids, [])
        XCTAssertEqual(FlushProtocol.parseLog("ABC").ids, ["ABC"])
    }

    func testSiteOfRecipient() {
        XCTAssertEqual(FlushProtocol.site(ofRecipient: "u@one.example"), "one.example")
        XCTAssertEqual(FlushProtocol.site(ofRecipient: "\"a@b\"@two.example"), "two.example")
        XCTAssertNil(FlushProtocol.site(ofRecipient: "user"))
        XCTAssertNil(FlushProtocol.site(ofRecipient: "user@"))
    }

    /// As Debian's postqueue -s 3.7.11 judged them.
    func testDestinations() {
        for ok in ["one.example", "ONE.example", "foo_bar.example", "[1.2.3.4]", "[ipv6:::1]", "[IPv6:2001:db8::1]",
                   "localhost", "a1.2"] {
            XCTAssertTrue(FlushProtocol.isValidDestination(ok), ok)
        }
        for bad in ["", "1.2.3.4", "foo.example.", "-foo.example", "x..example", "one.example two.example", "a/b",
                    String(repeating: "a", count: 64) + ".example", "[1.2.3]", "[1.2.3.256]", "[ipv6:1:2]", "[]",
                    "foo-.example", "[ipv6:::1::]"] {
            XCTAssertFalse(FlushProtocol.isValidDestination(bad), bad)
        }
    }
}

final class FlushServiceTests: XCTestCase {
    var root = ""
    var directory: QueueDirectory!

    override func setUp() {
        var template = Array("/tmp/flushtest-XXXXXX".utf8CString)
        root = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        for q in ["flush", "deferred", "incoming", "public"] { mkdir(root + "/" + q, 0o700) }
        directory = QueueDirectory(path: root, hashedQueues: [], hashDepth: 1)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    func makeService(domains: String = "one.example two.example") throws -> FlushService {
        let list = try DomainMatchList(parameter: "fast_flush_domains", value: domains, parentMatchesSubdomains: true)
        return FlushService(log: FlushLogFile(directory: directory, qmgrPath: root + "/public/qmgr"), domains: list,
                            refreshTime: 12 * 3600, purgeTime: 7 * 86400)
    }

    func write(_ path: String, _ text: String, mode: mode_t = 0o700) {
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, mode)
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        fchmod(fd, mode)
        close(fd)
    }

    func read(_ path: String) -> String? { try? TextFile.read(path) }

    func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    func testAddAppendsOneLinePerRequest() throws {
        let s = try makeService()
        XCTAssertEqual(s.add(site: "One.Example", queueID: "3101DF809E9"), .ok)
        XCTAssertEqual(s.add(site: "one.example", queueID: "3D812F809EC"), .ok)
        XCTAssertEqual(s.add(site: "one.example", queueID: "3D812F809EC"), .ok)
        XCTAssertEqual(read(root + "/flush/one_example"), "3101DF809E9\n3D812F809EC\n3D812F809EC\n")
        XCTAssertEqual(s.add(site: "three.example", queueID: "ABC"), .deny)
        XCTAssertEqual(s.add(site: "one.example", queueID: "a/b"), .bad)
        XCTAssertFalse(exists(root + "/flush/three_example"))
    }

    func testSendSiteMovesListedDeferredMail() throws {
        let s = try makeService()
        write(root + "/deferred/AAA111", "x")
        write(root + "/deferred/BBB222", "x")
        write(root + "/deferred/CCC333", "x")
        _ = s.add(site: "one.example", queueID: "AAA111")
        _ = s.add(site: "one.example", queueID: "BBB222")
        _ = s.add(site: "one.example", queueID: "AAA111")
        _ = s.add(site: "one.example", queueID: "GONE99")
        _ = s.add(site: "two.example", queueID: "CCC333")
        XCTAssertEqual(s.sendSite("ONE.EXAMPLE"), .ok)
        XCTAssertTrue(exists(root + "/incoming/AAA111"))
        XCTAssertTrue(exists(root + "/incoming/BBB222"))
        XCTAssertTrue(exists(root + "/deferred/CCC333"))
        XCTAssertEqual(read(root + "/flush/one_example"), "")
        XCTAssertEqual(read(root + "/flush/two_example"), "CCC333\n")
        var st = stat()
        stat(root + "/incoming/AAA111", &st)
        XCTAssertLessThanOrEqual(abs(Int(st.st_mtim.tv_sec) - Int(time(nil))), 2)
        XCTAssertEqual(st.st_mode & 0o777, 0o700, "send_site leaves the mode alone")
        XCTAssertEqual(s.sendSite("three.example"), .deny)
        XCTAssertEqual(s.sendSite("nolog.one.example"), .ok)
    }

    func testSendFileMarksAndMovesOneMessage() throws {
        let s = try makeService()
        write(root + "/deferred/AAA111", "x")
        XCTAssertEqual(s.sendFile("AAA111"), .ok)
        var st = stat()
        XCTAssertEqual(stat(root + "/incoming/AAA111", &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o740)
        XCTAssertEqual(s.sendFile("NOSUCH"), .ok)
        XCTAssertEqual(s.sendFile("a/b"), .bad)
    }

    func testRefreshSendsOldLogsAndPurgesEmptyOnes() throws {
        let s = try makeService()
        write(root + "/deferred/AAA111", "x")
        _ = s.add(site: "one.example", queueID: "AAA111")
        write(root + "/flush/old_example", "", mode: 0o600)
        let old = time(nil) - 8 * 86400
        var times = [timespec(tv_sec: old, tv_nsec: 0), timespec(tv_sec: old, tv_nsec: 0)]
        utimensat(AT_FDCWD, root + "/flush/old_example", &times, 0)
        // Read recently: refresh leaves it; purge sends it.
        s.log.refresh(maxAge: s.refreshTime, purgeTime: s.purgeTime)
        XCTAssertTrue(exists(root + "/deferred/AAA111"))
        XCTAssertFalse(exists(root + "/flush/old_example"))
        s.log.refresh(maxAge: 0, purgeTime: s.purgeTime, now: Int(time(nil)) + 1)
        XCTAssertTrue(exists(root + "/incoming/AAA111"))
        XCTAssertEqual(read(root + "/flush/one_example"), "")
    }

    /// The wire: greeting, one request, one reply.
    func converse(_ s: FlushService, _ request: [UInt8]) -> (greeting: AttributeList?, reply: AttributeList?) {
        var fds: [Int32] = [0, 0]
        socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds)
        let client = Stream(fd: fds[0], timeout: 5)
        _ = request.withUnsafeBytes { Glibc.write(fds[0], $0.baseAddress, $0.count) }
        shutdown(fds[0], Int32(SHUT_WR))
        let server = Stream(fd: fds[1], timeout: 5)
        s.serve(server)
        server.close()
        let greeting = try? AttributeCodec.read(from: client)
        let reply = try? AttributeCodec.read(from: client)
        client.close()
        return (greeting, reply)
    }

    func testWireProtocol() throws {
        let s = try makeService()
        func list(_ pairs: [(String, String)]) -> [UInt8] { AttributeList(pairs).encoded() }
        var r = converse(s, list([("request", "send_site"), ("site", "three.example")]))
        XCTAssertEqual(r.greeting, AttributeList([("protocol", "queue_flush_protocol")]))
        XCTAssertEqual(r.reply, AttributeList([("status", "4")]))
        r = converse(s, list([("request", "add"), ("site", "one.example"), ("queue_id", "ABCDEF")]))
        XCTAssertEqual(r.reply, AttributeList([("status", "0")]))
        r = converse(s, list([("request", "send_site")]))
        XCTAssertEqual(r.reply, AttributeList([("status", "3")]))
        r = converse(s, list([("request", "bogus")]))
        XCTAssertNil(r.reply, "an unknown request gets no reply")
        r = converse(s, list([("request", "rfrsh")]))
        XCTAssertEqual(r.reply, AttributeList([("status", "0")]))
        r = converse(s, Array("W".utf8))
        XCTAssertEqual(r.reply, AttributeList([("status", "0")]))
    }

    func testClientAgainstServer() throws {
        let s = try makeService()
        let path = root + "/public/flush"
        let listener = try Socket.listenUnix(path)
        let client = FlushClient(socketPath: path, serviceLabel: "public/flush", timeout: 5)
        nonisolated(unsafe) let server = s
        let thread = Thread {
            for _ in 0..<2 {
                let fd = Glibc.accept(listener, nil, nil)
                let stream = Stream(fd: fd, timeout: 5)
                server.serve(stream)
                stream.close()
            }
        }
        thread.start()
        XCTAssertEqual(client.add(site: "one.example", queueID: "AAA111"), .ok)
        XCTAssertEqual(client.sendSite("three.example"), .deny)
        close(listener)
        XCTAssertEqual(FlushClient(socketPath: root + "/public/none", serviceLabel: "public/none", timeout: 5).sendSite("x"), .fail)
        let disabled = FlushClient(socketPath: path, serviceLabel: "public/flush", timeout: 5, enabled: false)
        XCTAssertEqual(disabled.add(site: "one.example", queueID: "AAA111"), .deny)
    }
}
