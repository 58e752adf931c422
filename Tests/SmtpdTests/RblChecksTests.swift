import XCTest
import Global
import DNS
@testable import SmtpdPolicy

/// DNS answers from a dictionary: "name A" -> addresses, "name TXT" -> texts.
final class FakeDNS: DNSLookup {
    var a: [String: [String]] = [:]
    var txt: [String: [String]] = [:]
    var failing: Set<String> = []
    var queries: [String] = []
    func lookup(_ name: String, type: DNSRecordType) -> DNSLookupResult {
        queries.append("\(name) \(type)")
        if failing.contains(name) { return .temporaryFailure("Host not found, try again") }
        switch type {
        case .a:
            guard let list = a[name] else { return .notFound }
            return .found(list.map { DNSRecord(name: name, type: 1, ttl: 60, data: $0.split(separator: ".").map { UInt8($0)! }) })
        case .txt:
            guard let list = txt[name] else { return .notFound }
            return .found(list.map { DNSRecord(name: name, type: 16, ttl: 60, data: [UInt8($0.utf8.count)] + Array($0.utf8)) })
        default: return .notFound
        }
    }
}

final class RblChecksTests: XCTestCase {
    let dns = FakeDNS()

    func engine(_ list: String, stage: PolicyStage = .recipient) -> RestrictionEngine {
        var s = PolicySettings()
        s.lists[stage] = list
        let env = FakeEnvironment()
        env.classes = ["relay.test": [.classRelay]]
        let e = RestrictionEngine(settings: s, environment: env)
        e.dns = dns
        return e
    }

    func facts(address: String = "192.0.2.9", name: String = "mail.client.example", sender: String = "a@spam.example",
               recipient: String = "r@relay.test") -> PolicyFacts {
        var f = PolicyFacts(clientName: name, reverseClientName: name, clientAddress: address)
        f.helo = "helo.example"
        f.sender = sender
        f.recipient = recipient
        return f
    }

    func testRblClientDefaultReply() {
        dns.a["9.2.0.192.zen.example"] = ["127.0.0.2"]
        dns.txt["9.2.0.192.zen.example"] = ["see https://zen.example/"]
        let o = engine("reject_rbl_client zen.example").check(.recipient, facts: facts())
        XCTAssertEqual(o.reply?.description,
                       "554 5.7.1 Service unavailable; Client host [192.0.2.9] blocked using zen.example; see https://zen.example/")
        XCTAssertEqual(engine("reject_rbl_client zen.example").check(.recipient, facts: facts(address: "192.0.2.10")).decision, .dunno)
    }

    func testFilterAndRanges() {
        dns.a["9.2.0.192.zen.example"] = ["127.0.0.10"]
        XCTAssertEqual(engine("reject_rbl_client zen.example=127.0.0.2").check(.recipient, facts: facts()).decision, .dunno)
        XCTAssertNotNil(engine("reject_rbl_client zen.example=127.0.0.[2..11]").check(.recipient, facts: facts()).reply)
        XCTAssertNotNil(engine("reject_rbl_client zen.example=127.0.0.[1;10]").check(.recipient, facts: facts()).reply)
        XCTAssertEqual(engine("reject_rbl_client zen.example=127.0.0.[1;3..9]").check(.recipient, facts: facts()).decision, .dunno)
        XCTAssertNil(RblDomain("zen.example=127.0.0"))
        XCTAssertEqual(RblDomain("zen.example=127.0.0.[2..11]")?.filter?.last, [2...11])
        XCTAssertEqual(RblDomain("zen.example=127.0.[1;3..9].2")?.filter?[2], [1...1, 3...9])
    }

    func testRhsblAndIPv6() {
        dns.a["spam.example.dbl.example"] = ["127.0.1.2"]
        let o = engine("reject_rhsbl_sender dbl.example").check(.recipient, facts: facts())
        XCTAssertEqual(o.reply?.description, "554 5.7.1 Service unavailable; Sender address [a@spam.example] blocked using dbl.example")
        XCTAssertEqual(RestrictionEngine.reversedAddress("2001:db8::1"),
                       "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2")
        XCTAssertEqual(RestrictionEngine.reversedAddress("192.0.2.9"), "9.2.0.192")
    }

    func testTemporaryFailureIsIgnoredWithAWarning() {
        dns.failing = ["9.2.0.192.zen.example"]
        let o = engine("reject_rbl_client zen.example").check(.recipient, facts: facts())
        XCTAssertEqual(o.decision, .dunno)
        XCTAssertEqual(o.warnings.count, 1)
    }

    func testDnswlNeverOverridesRelayDenial() {
        dns.a["9.2.0.192.list.dnswl.example"] = ["127.0.10.0"]
        let e = engine("permit_dnswl_client list.dnswl.example, reject")
        XCTAssertEqual(e.check(.recipient, facts: facts()).decision, .permit)
        XCTAssertNotNil(e.check(.recipient, facts: facts(recipient: "r@elsewhere.test")).reply)
    }

    func testDNSMessageRoundTrip() throws {
        let q = try XCTUnwrap(DNSMessage.query(id: 0x1234, name: "9.2.0.192.zen.example", type: .a))
        // A reply: the query with QR set, one answer pointing at the question name.
        var reply = q
        reply[2] = 0x81; reply[3] = 0x80; reply[7] = 1
        reply += [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 2]
        let parsed = try XCTUnwrap(DNSMessage.parse(reply))
        XCTAssertEqual(parsed.id, 0x1234)
        XCTAssertEqual(parsed.rcode, .noError)
        XCTAssertEqual(parsed.answers.first?.ipv4, "127.0.0.2")
        XCTAssertEqual(parsed.answers.first?.name, "9.2.0.192.zen.example")
        // A pointer loop is refused, not followed forever.
        var loop = reply
        loop[12] = 0xC0; loop[13] = 0x0C
        XCTAssertNil(DNSMessage.parse(loop))
        XCTAssertNil(DNSMessage.query(id: 1, name: "a..b", type: .a))
        XCTAssertEqual(DNSResolver.Configuration(resolvConf: "nameserver 10.0.0.1\noptions timeout:3 attempts:1\n").servers, ["10.0.0.1"])
    }
}
