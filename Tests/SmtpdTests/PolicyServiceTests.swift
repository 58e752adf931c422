import XCTest
import Glibc
import Global
@testable import SmtpdPolicy

/// A one-connection-at-a-time policy server on a loopback port, run on a thread.
final class ScriptedPolicyServer: @unchecked Sendable {
    let fd: Int32
    let port: UInt16
    var answers: [String]
    private(set) var requests: [[String: String]] = []
    private(set) var connections = 0
    private let lock = NSLockish()

    init(answers: [String]) {
        self.answers = answers
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(s, 5)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        fd = s
        port = UInt16(bigEndian: sa.sin_port)
        let server = self
        var thread = pthread_t()
        let box = Unmanaged.passRetained(server).toOpaque()
        pthread_create(&thread, nil, { raw in
            let s = Unmanaged<ScriptedPolicyServer>.fromOpaque(raw!).takeRetainedValue()
            s.serve()
            return nil
        }, box)
        pthread_detach(thread)
    }

    private func serve() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { return }
            lock.locked { connections += 1 }
            var pending: [UInt8] = []
            var attrs: [String: String] = [:]
            var buffer = [UInt8](repeating: 0, count: 4096)
            outer: while true {
                let n = read(c, &buffer, buffer.count)
                if n <= 0 { break }
                pending += buffer[0..<n]
                while let nl = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[..<nl], as: UTF8.self)
                    pending.removeFirst(nl + 1)
                    if line.isEmpty {
                        let answer: String? = lock.locked {
                            requests.append(attrs)
                            return answers.isEmpty ? nil : answers.removeFirst()
                        }
                        attrs = [:]
                        guard let answer else { break outer }
                        if answer == "<close>" { break outer }
                        _ = answer.withCString { write(c, $0, strlen($0)) }
                    } else if let eq = line.firstIndex(of: "=") {
                        attrs[String(line[..<eq])] = String(line[line.index(after: eq)...])
                    }
                }
            }
            close(c)
        }
    }

    func snapshot() -> (requests: [[String: String]], connections: Int) { lock.locked { (requests, connections) } }
}

/// A pthread mutex (no Foundation in these tests).
final class NSLockish: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return body()
    }
}

final class PolicyServiceTests: XCTestCase {
    func facts(recipient: String) -> PolicyFacts {
        var f = PolicyFacts(clientName: "localhost", reverseClientName: "localhost", clientAddress: "127.0.0.1")
        f.helo = "client.example"
        f.sender = "a@example.com"
        f.recipient = recipient
        f.commandName = "RCPT"
        f.protocolName = "ESMTP"
        return f
    }

    func engine(_ list: String) -> RestrictionEngine {
        var s = PolicySettings()
        s.lists[.recipient] = list
        let e = RestrictionEngine(settings: s, environment: FakeEnvironment())
        e.policySleeper = { _ in }
        return e
    }

    func testServiceOptions() throws {
        let base = PolicyServiceSettings()
        let (endpoint, s) = try base.service("{ inet:127.0.0.1:9998, timeout=10s, default_action = DUNNO, try_limit=3, max_idle=1m }").get()
        XCTAssertEqual(endpoint, "inet:127.0.0.1:9998")
        XCTAssertEqual(s.timeout, 10)
        XCTAssertEqual(s.defaultAction, "DUNNO")
        XCTAssertEqual(s.tryLimit, 3)
        XCTAssertEqual(s.maxIdle, 60)
        let (_, braced) = try base.service("{ unix:private/policy, default_action={ 450 4.7.1 try again } }").get()
        XCTAssertEqual(braced.defaultAction, "{ 450 4.7.1 try again }", "braces stay, as in Postfix 3.7")
        XCTAssertEqual(try base.service("inet:localhost:1").get().endpoint, "inet:localhost:1")
        XCTAssertThrowsError(try base.service("{ inet:x:1, bogus=1 }").get())
        XCTAssertThrowsError(try base.service("{ inet:x:1, timeout=x }").get())
        XCTAssertEqual(PolicyServiceSettings.seconds("2h"), 7200)
        XCTAssertNil(PolicyServiceSettings.seconds("h"))
    }

    func testAnswersAreAccessTableResults() {
        let server = ScriptedPolicyServer(answers: ["action=REJECT go away\n\n", "action=DEFER_IF_PERMIT 4.2.0 Greylisted\n\n",
                                                    "action=OK\n\n", "action=550 5.7.9 numeric\n\n"])
        let e = engine("check_policy_service inet:127.0.0.1:\(server.port)")
        XCTAssertEqual(e.check(.recipient, facts: facts(recipient: "r@x.test")).reply?.description,
                       "554 5.7.1 <r@x.test>: Recipient address rejected: go away")
        XCTAssertEqual(e.check(.recipient, facts: facts(recipient: "g@x.test")).reply?.description,
                       "450 4.2.0 <g@x.test>: Recipient address rejected: Greylisted")
        XCTAssertEqual(e.check(.recipient, facts: facts(recipient: "o@x.test")).decision, .permit)
        XCTAssertEqual(e.check(.recipient, facts: facts(recipient: "n@x.test")).reply?.description,
                       "550 5.7.9 <n@x.test>: Recipient address rejected: numeric")
        let snap = server.snapshot()
        XCTAssertEqual(snap.connections, 1, "the connection is reused")
        XCTAssertEqual(snap.requests.first?["request"], "smtpd_access_policy")
        XCTAssertEqual(snap.requests.first?["protocol_state"], "RCPT")
        XCTAssertEqual(snap.requests.first?["recipient"], "r@x.test")
    }

    func testDeferIfPermitYieldsToReject() {
        let server = ScriptedPolicyServer(answers: ["action=DEFER_IF_PERMIT later\n\n"])
        let e = engine("check_policy_service inet:127.0.0.1:\(server.port), reject")
        XCTAssertEqual(e.check(.recipient, facts: facts(recipient: "r@x.test")).reply?.description,
                       "554 5.7.1 <r@x.test>: Recipient address rejected: Access denied")
    }

    /// Checked against Postfix 3.7.11 with two access maps and `permit`.
    func testDeferIfPermitAndDeferIfReject() {
        let e = engine("")
        let dir = "/tmp/posthorn-defer-if-\(getpid())"
        mkdir(dir, 0o755)
        defer { unlink(dir + "/t1"); unlink(dir + "/t2"); rmdir(dir) }
        func write(_ name: String, _ text: String) {
            let f = fopen(dir + "/" + name, "w")!
            fputs(text, f)
            fclose(f)
        }
        write("t1", "a@x.test DEFER_IF_PERMIT\nb@x.test DEFER_IF_REJECT\nc@x.test DEFER_IF_REJECT\nd@x.test DEFER_IF_PERMIT\n")
        write("t2", "b@x.test REJECT\nc@x.test 450 busy\nd@x.test REJECT\n")
        let list = "check_recipient_access texthash:\(dir)/t1, check_recipient_access texthash:\(dir)/t2, permit"
        func reply(_ r: String) -> String? { e.check(list: list, stage: .recipient, facts: facts(recipient: r)).reply?.description }
        XCTAssertEqual(reply("a@x.test"), "450 4.7.1 <a@x.test>: Recipient address rejected: Service unavailable")
        XCTAssertEqual(reply("b@x.test"), "450 4.7.1 <b@x.test>: Recipient address rejected: Service unavailable")
        XCTAssertEqual(reply("c@x.test"), "450 4.7.1 <c@x.test>: Recipient address rejected: busy")
        XCTAssertEqual(reply("d@x.test"), "554 5.7.1 <d@x.test>: Recipient address rejected: Access denied")
    }

    func testUnreachableServerUsesDefaultAction() {
        let server = ScriptedPolicyServer(answers: [])
        close(server.fd)   // nobody listens any more
        let e = engine("check_policy_service inet:127.0.0.1:\(server.port)")
        let o = e.check(.recipient, facts: facts(recipient: "r@x.test"))
        XCTAssertEqual(o.reply?.description, "451 4.3.5 <r@x.test>: Recipient address rejected: Server configuration problem")
        XCTAssertEqual(o.warnings, [
            "connect to 127.0.0.1:\(server.port): Connection refused",
            "problem talking to server 127.0.0.1:\(server.port): Connection refused",
            "connect to 127.0.0.1:\(server.port): Connection refused",
            "problem talking to server 127.0.0.1:\(server.port): Connection refused",
        ])
    }

    func testHangupIsRetriedOnANewConnection() {
        let server = ScriptedPolicyServer(answers: ["<close>", "action=DUNNO\n\n"])
        let e = engine("check_policy_service { inet:127.0.0.1:\(server.port), default_action=REJECT }")
        let o = e.check(.recipient, facts: facts(recipient: "r@x.test"))
        XCTAssertEqual(o.decision, .dunno)
        XCTAssertEqual(o.warnings, [])
        XCTAssertEqual(server.snapshot().connections, 2)
    }

    func testMissingActionIsAnApplicationError() {
        let server = ScriptedPolicyServer(answers: ["foo=bar\n\n", "foo=bar\n\n"])
        let e = engine("check_policy_service { inet:127.0.0.1:\(server.port), default_action=DUNNO }")
        let o = e.check(.recipient, facts: facts(recipient: "r@x.test"))
        XCTAssertEqual(o.decision, .dunno)
        XCTAssertEqual(o.warnings, [
            "missing attribute action in input from 127.0.0.1:\(server.port)",
            "missing attribute action in input from 127.0.0.1:\(server.port)",
            "problem talking to server 127.0.0.1:\(server.port): Application error",
        ])
    }

    func testRequestAttributesInPostfixOrder() {
        let names = RestrictionEngine.policyAttributes(facts(recipient: "r@x.test"), policyContext: "").map(\.0)
        XCTAssertEqual(names, ["request", "protocol_state", "protocol_name", "client_address", "client_name", "client_port",
                               "reverse_client_name", "server_address", "server_port", "helo_name", "sender", "recipient",
                               "recipient_count", "queue_id", "instance", "size", "etrn_domain", "stress", "sasl_method",
                               "sasl_username", "sasl_sender", "ccert_subject", "ccert_issuer", "ccert_fingerprint",
                               "ccert_pubkey_fingerprint", "encryption_protocol", "encryption_cipher",
                               "encryption_keysize", "policy_context"])
    }
}
