import XCTest
import Foundation
import Glibc
import Util
@testable import SASL

final class SASLSecurityOptionsTests: XCTestCase {
    let plain = SASLMechanism(name: "PLAIN", properties: ["plaintext"])
    let cram = SASLMechanism(name: "CRAM-MD5", properties: ["dictionary", "active"])
    let anon = SASLMechanism(name: "ANONYMOUS", properties: ["anonymous"])
    let priv = SASLMechanism(name: "EXTERNAL", properties: ["private"])

    func testNoPlaintextHidesPlainAndLogin() throws {
        let o = try SASLSecurityOptions.parse("noanonymous, noplaintext").get()
        XCTAssertFalse(o.allows(plain))
        XCTAssertTrue(o.allows(cram))
        XCTAssertFalse(o.allows(anon))
        XCTAssertFalse(o.allows(priv))
    }

    func testDefaults() throws {
        let o = try SASLSecurityOptions.parse("noanonymous").get()
        XCTAssertTrue(o.allows(plain))
        XCTAssertFalse(o.allows(anon))
        XCTAssertTrue(try SASLSecurityOptions.parse("").get().allows(anon))
    }

    func testUnknownOptionIsAnError() {
        if case .success = SASLSecurityOptions.parse("noanonymous, bogus") { XCTFail("accepted bogus") }
    }
}

/// A scripted Dovecot auth server on a UNIX socket.
final class DovecotAuthClientTests: XCTestCase {
    func serve(_ script: @escaping @Sendable (Util.Stream) -> Void) throws -> String {
        let path = "/tmp/posthorn-sasl-test-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        let listener = try Socket.listenUnix(path)
        Thread.detachNewThread {
            let fd = accept(listener, nil, nil)
            close(listener)
            let s = Util.Stream(fd: fd, timeout: 5)
            s.write("VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nMECH\tCRAM-MD5\tdictionary\tactive\nSPID\t1\nCUID\t7\nCOOKIE\tabc\nDONE\n")
            try? s.flush()
            script(s)
            s.close()
            unlink(path)
        }
        return path
    }

    static func line(_ s: Util.Stream) -> String { String(decoding: (try? s.readLine()) ?? [], as: UTF8.self) }

    func testHandshakeAndPlainSuccess() throws {
        final class Box: @unchecked Sendable { var seen: [String] = [] }
        let box = Box()
        let done = expectation(description: "server")
        let path = try serve { @Sendable s in
            box.seen.append(DovecotAuthClientTests.line(s))
            box.seen.append(DovecotAuthClientTests.line(s))
            box.seen.append(DovecotAuthClientTests.line(s))
            s.write("OK\t1\tuser=alice@example.test\n")
            try? s.flush()
            done.fulfill()
        }
        let client = DovecotAuthClient(endpoint: path)
        try client.connect()
        XCTAssertEqual(client.mechanisms.map(\.name), ["PLAIN", "LOGIN", "CRAM-MD5"])
        var peer = DovecotAuthClient.Peer()
        peer.localAddress = "127.0.0.1"
        peer.remoteAddress = "192.0.2.1"
        peer.secured = true
        let step = try client.start(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHNlY3JldA==", peer: peer)
        XCTAssertEqual(step, .success(username: "alice@example.test"))
        wait(for: [done], timeout: 5)
        XCTAssertEqual(box.seen[0], "VERSION\t1\t1")
        XCTAssertTrue(box.seen[1].hasPrefix("CPID\t"))
        XCTAssertEqual(box.seen[2], "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=192.0.2.1\tsecured\tresp=AGFsaWNlAHNlY3JldA==")
    }

    func testChallengeThenFailureSkipsStaleReplies() throws {
        let path = try serve { @Sendable s in
            _ = DovecotAuthClientTests.line(s); _ = DovecotAuthClientTests.line(s); _ = DovecotAuthClientTests.line(s)
            s.write("CONT\t1\tVXNlcm5hbWU6\n")
            try? s.flush()
            _ = DovecotAuthClientTests.line(s)
            s.write("FAIL\t0\tuser=stale\nFAIL\t1\tuser=bob\n")
            try? s.flush()
        }
        let client = DovecotAuthClient(endpoint: path)
        XCTAssertEqual(try client.start(mechanism: "LOGIN", initialResponse: nil, peer: .init()), .challenge("VXNlcm5hbWU6"))
        XCTAssertEqual(try client.proceed(response: "Ym9i"), .failure(reason: nil, username: "bob", temporary: false))
    }

    func testUnreachableServer() {
        let client = DovecotAuthClient(endpoint: "/nonexistent/auth")
        XCTAssertThrowsError(try client.connect())
    }
}
