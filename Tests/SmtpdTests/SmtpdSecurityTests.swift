import XCTest
import Foundation
import Global
import Tables
import SASL
@testable import SmtpdPolicy
@testable import smtpd

/// Client input from a script, server output collected.
final class ScriptTransport: SmtpdTransport {
    var input: [UInt8]
    var output: [UInt8] = []
    init(_ text: String) { input = Array(text.utf8) }
    func receive(_ buffer: UnsafeMutableRawBufferPointer, timeout: Int32) throws(TransportError) -> Int {
        // One line per read, so that replies are not pipelined together.
        guard !input.isEmpty else { return 0 }
        let end = (input.firstIndex(of: 0x0A).map { $0 + 1 } ?? input.count)
        let n = min(end, buffer.count)
        for i in 0..<n { buffer[i] = input[i] }
        input.removeFirst(n)
        return n
    }
    func send(_ bytes: UnsafeRawBufferPointer, timeout: Int32) throws(TransportError) { output += bytes }
    func inputPending() -> Bool { false }
    var replies: [String] { String(decoding: output, as: UTF8.self).components(separatedBy: "\r\n").filter { !$0.isEmpty } }
}

final class NoQueue: SmtpdQueue {
    func open() throws(CleanupClientError) -> SmtpdQueueFile { throw .unavailable("no queue in this test") }
}

/// PLAIN bob/hunter2, LOGIN bob/hunter2, CRAM-MD5 always fails.
final class FakeAuthenticator: SmtpdAuthenticator {
    var loginStep = 0
    var requests: [String] = []
    func availableMechanisms() -> [SASLMechanism]? {
        [SASLMechanism(name: "PLAIN", properties: ["plaintext"]), SASLMechanism(name: "LOGIN", properties: ["plaintext"]),
         SASLMechanism(name: "CRAM-MD5", properties: ["dictionary", "active"])]
    }
    func authStart(mechanism: String, initialResponse: String?, peer: DovecotAuthClient.Peer) -> SASLStep {
        requests.append("\(mechanism) \(initialResponse ?? "-")")
        switch mechanism {
        case "PLAIN":
            guard let r = initialResponse else { return .challenge("") }
            return r == "AGJvYgBodW50ZXIy" ? .success(username: "bob") : .failure(reason: nil, username: "bob", temporary: false)
        case "LOGIN":
            loginStep = 1
            return .challenge("VXNlcm5hbWU6")
        default:
            return .failure(reason: "Connection lost to authentication server", username: nil, temporary: true)
        }
    }
    func authProceed(_ response: String) -> SASLStep {
        requests.append("CONT \(response)")
        if loginStep == 1 { loginStep = 2; return .challenge("UGFzc3dvcmQ6") }
        if loginStep == 2 { return response == "aHVudGVyMg==" ? .success(username: "bob") : .failure(reason: nil, username: nil, temporary: false) }
        return response == "AGJvYgBodW50ZXIy" ? .success(username: "bob") : .failure(reason: nil, username: nil, temporary: false)
    }
}

final class SmtpdSecurityTests: XCTestCase {
    func run(_ script: String, _ configure: (inout SmtpdSecuritySettings) -> Void = { _ in })
        -> (replies: [String], warnings: [String], info: [String], auth: FakeAuthenticator) {
        var s = SmtpdSecuritySettings()
        s.saslEnabled = true
        s.brokenClients = true
        s.saslSecurity = try! SASLSecurityOptions.parse("noanonymous").get()
        s.saslTLSSecurity = s.saslSecurity
        configure(&s)
        let security = SmtpdSecurity()
        security.settings = s
        let auth = FakeAuthenticator()
        security.authenticator = auth
        var settings = SmtpdSettings()
        settings.myhostname = "mta.example.test"
        settings.banner = "mta.example.test ESMTP Postfix"
        settings.errorSleep = 0
        let transport = ScriptTransport(script)
        let session = SmtpdSession(settings: settings, engine: RestrictionEngine(settings: PolicySettings(), environment: FakeEnvironment()),
                                   queue: NoQueue(), limiter: nil, peer: SmtpdPeer(), transport: transport, security: security)
        var warnings: [String] = []
        var info: [String] = []
        session.logWarning = { warnings.append($0) }
        session.logInfo = { info.append($0) }
        session.run()
        return (transport.replies, warnings, info, auth)
    }

    func testEhloAnnouncesAuthAndBrokenClientLine() {
        let r = run("EHLO x\r\nQUIT\r\n")
        XCTAssertTrue(r.replies.contains("250-AUTH PLAIN LOGIN CRAM-MD5"))
        XCTAssertTrue(r.replies.contains("250-AUTH=PLAIN LOGIN CRAM-MD5"))
        XCTAssertFalse(r.replies.contains { $0.contains("STARTTLS") }, "no TLS context, no STARTTLS")
    }

    func testNoPlaintextAndAuthOnly() {
        let r = run("EHLO x\r\nAUTH PLAIN AGJvYgBodW50ZXIy\r\nQUIT\r\n") { $0.saslSecurity.noPlaintext = true }
        XCTAssertTrue(r.replies.contains("250-AUTH CRAM-MD5"))
        XCTAssertTrue(r.replies.contains("535 5.7.8 Error: authentication failed: Invalid authentication mechanism"))
        XCTAssertEqual(r.warnings, ["localhost[127.0.0.1]: SASL PLAIN authentication failed: Invalid authentication mechanism, sasl_username=(unavailable)"])
        let only = run("EHLO x\r\nAUTH PLAIN AGJvYgBodW50ZXIy\r\nQUIT\r\n") { $0.authOnly = true }
        XCTAssertFalse(only.replies.contains { $0.contains("AUTH") })
        XCTAssertTrue(only.replies.contains("503 5.5.1 Error: authentication not enabled"))
        XCTAssertTrue(only.auth.requests.isEmpty)
    }

    func testPlainWithInitialResponse() {
        let r = run("EHLO x\r\nAUTH PLAIN AGJvYgBodW50ZXIy\r\nAUTH PLAIN AGJvYgBodW50ZXIy\r\nQUIT\r\n")
        XCTAssertTrue(r.replies.contains("235 2.7.0 Authentication successful"))
        XCTAssertTrue(r.replies.contains("503 5.5.1 Error: already authenticated"))
        XCTAssertEqual(r.info.last, "disconnect from localhost[127.0.0.1] ehlo=1 auth=1/2 quit=1 commands=3/4")
    }

    func testLoginExchangeAndAbort() {
        let r = run("EHLO x\r\nAUTH LOGIN\r\n*\r\nAUTH LOGIN\r\nYm9i\r\naHVudGVyMg==\r\nQUIT\r\n")
        XCTAssertEqual(r.replies.filter { $0.hasPrefix("334") }, ["334 VXNlcm5hbWU6", "334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6"])
        XCTAssertTrue(r.replies.contains("501 5.7.0 Authentication aborted"))
        XCTAssertTrue(r.replies.contains("235 2.7.0 Authentication successful"))
        XCTAssertEqual(r.warnings, ["localhost[127.0.0.1]: SASL LOGIN authentication aborted"])
    }

    func testFailuresAndBadBase64() {
        let r = run("EHLO x\r\nAUTH PLAIN !!!\r\nAUTH PLAIN AGJvYgB3cm9uZw==\r\nAUTH CRAM-MD5\r\nAUTH PLAIN\r\n%%%\r\nAUTH\r\nQUIT\r\n")
        XCTAssertEqual(r.replies.filter { $0.hasPrefix("5") || $0.hasPrefix("4") || $0.hasPrefix("334") }, [
            "535 5.7.8 Error: authentication failed: Invalid base64 data in initial response",
            "535 5.7.8 Error: authentication failed: (reason unavailable)",
            "454 4.7.0 Temporary authentication failure: Connection lost to authentication server",
            "334 ",
            "535 5.7.8 Error: authentication failed: Invalid base64 data in continued response",
            "501 5.5.4 Syntax: AUTH mechanism",
        ])
        XCTAssertEqual(r.warnings[1], "localhost[127.0.0.1]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=bob")
    }

    func testEncryptLevelRefusesMailBeforeTLS() {
        let r = run("EHLO x\r\nMAIL FROM:<a@b.test>\r\nNOOP\r\nRSET\r\nQUIT\r\n") { $0.tlsLevel = "encrypt"; $0.authOnly = true }
        XCTAssertEqual(r.replies.filter { $0.hasPrefix("530") }.count, 2)
        XCTAssertTrue(r.replies.contains("250 2.0.0 Ok"))
    }
}
