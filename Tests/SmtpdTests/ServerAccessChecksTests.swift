import XCTest
import Global
import DNS
@testable import SmtpdPolicy

/// MX, NS and A answers from dictionaries; host addresses from another.
final class ServerDNS: DNSLookup {
    var mx: [String: [(UInt16, String)]] = [:]
    var ns: [String: [String]] = [:]
    var a: [String: [String]] = [:]
    var existing: Set<String> = []
    var failing: Set<String> = []
    func lookup(_ name: String, type: DNSRecordType) -> DNSLookupResult {
        if failing.contains(name) { return .temporaryFailure("Host not found, try again") }
        switch type {
        case .mx:
            if let list = mx[name] { return .found(list.map { DNSRecord(name: name, type: 15, ttl: 60, data: [], host: $0.1, preference: $0.0) }) }
        case .ns:
            if let list = ns[name] { return .found(list.map { DNSRecord(name: name, type: 2, ttl: 60, data: [], host: $0) }) }
        case .a:
            if let list = a[name] { return .found(list.map { DNSRecord(name: name, type: 1, ttl: 60, data: $0.split(separator: ".").map { UInt8($0)! }) }) }
        default: break
        }
        return existing.contains(name) || mx[name] != nil || ns[name] != nil || a[name] != nil ? .noData : .notFound
    }
}

final class HostEnvironment: PolicyEnvironment {
    var classes: [String: RewriteProtocol.ResolveFlags] = [:]
    var hosts: [String: [String]] = [:]
    func resolve(_ address: String) throws(PolicyTemporaryFailure) -> ResolveReply {
        let domain = HostnameSyntax.domain(of: address)
        return ResolveReply(transport: "smtp", nexthop: domain, recipient: address, flags: classes[domain] ?? [.classDefault])
    }
    func lookupHost(_ name: String) -> HostLookupResult { .found }
    func hostAddresses(_ name: String, ipv4: Bool, ipv6: Bool) -> HostAddressResult {
        hosts[name].map { .found($0) } ?? .failed("Name or service not known")
    }
}

final class ServerAccessChecksTests: XCTestCase {
    let dns = ServerDNS()
    let env = HostEnvironment()
    let table = "inline:{{mx2.bad.example=REJECT bad mx}, {192.0.2.20=REJECT listed address}, {198.51.100=REJECT ns network}, good.example=OK, mx.dunno.example=DUNNO, {192.0.2.66=554 5.7.9 literal}}"

    override func setUp() {
        dns.mx["mx.example"] = [(10, "mx1.mx.example"), (20, "mx2.bad.example")]
        env.hosts["mx1.mx.example"] = ["192.0.2.10"]
        dns.existing.insert("nomx.example")
        env.hosts["nomx.example"] = ["192.0.2.20"]
        dns.mx["nullmx.example"] = [(0, "")]
        dns.ns["ns.example"] = ["ns1.dns.example"]
        env.hosts["ns1.dns.example"] = ["198.51.100.53"]
        dns.existing.insert("sub.ns.example")
        dns.failing.insert("servfail.example")
        dns.mx["okmx.example"] = [(10, "good.example")]
        dns.mx["dunno.example"] = [(10, "mx.dunno.example")]
        env.hosts["mx.dunno.example"] = ["192.0.2.66"]
    }

    func engine(_ list: String, stage: PolicyStage = .recipient, configure: (inout PolicySettings) -> Void = { _ in }) -> RestrictionEngine {
        var s = PolicySettings()
        s.lists[stage] = list
        s.inetProtocols = "ipv4"
        configure(&s)
        let e = RestrictionEngine(settings: s, environment: env)
        e.dns = dns
        return e
    }

    func sender(_ restriction: String, _ address: String) -> PolicyOutcome {
        var f = PolicyFacts(clientName: "unknown", reverseClientName: "unknown", clientAddress: "192.0.2.1")
        f.helo = "client.example"
        f.sender = address
        f.recipient = "r@example.test"
        return engine("\(restriction) \(table)").check(.recipient, facts: f)
    }

    func testNames() {
        XCTAssertEqual(RestrictionEngine.serverAccessKind("check_reverse_client_hostname_mx_access")?.subject, "reverse_client_hostname")
        XCTAssertEqual(RestrictionEngine.serverAccessKind("check_sender_ns_access")?.type, .ns)
        XCTAssertNil(RestrictionEngine.serverAccessKind("check_sender_access"))
        XCTAssertNil(RestrictionEngine.serverAccessKind("check_ccert_mx_access"))
    }

    func testMxHostsByNameThenAddress() {
        XCTAssertEqual(sender("check_sender_mx_access", "x@mx.example").reply?.description,
                       "554 5.7.1 <x@mx.example>: Sender address rejected: bad mx")
        // No MX: the domain is its own mail server (by address here).
        XCTAssertEqual(sender("check_sender_mx_access", "x@nomx.example").reply?.description,
                       "554 5.7.1 <x@nomx.example>: Sender address rejected: listed address")
        XCTAssertEqual(sender("check_sender_mx_access", "x@nullmx.example").decision, .dunno)
        // A DUNNO entry ends the search (the address 192.0.2.66 is not looked at).
        XCTAssertEqual(sender("check_sender_mx_access", "x@dunno.example").decision, .dunno)
        XCTAssertEqual(sender("check_sender_mx_access", "x@[192.0.2.66]").reply?.description,
                       "554 5.7.9 <x@[192.0.2.66]>: Sender address rejected: literal")
    }

    func testAAndNS() {
        XCTAssertEqual(sender("check_sender_a_access", "x@nomx.example").reply?.description,
                       "554 5.7.1 <x@nomx.example>: Sender address rejected: listed address")
        XCTAssertEqual(sender("check_sender_ns_access", "x@sub.ns.example").reply?.description,
                       "554 5.7.1 <x@sub.ns.example>: Sender address rejected: ns network")
        XCTAssertEqual(sender("check_sender_ns_access", "x@[192.0.2.66]").decision, .dunno)
    }

    func testLookupFailuresWarn() {
        let fail = sender("check_sender_mx_access", "x@servfail.example")
        XCTAssertEqual(fail.decision, .dunno)
        XCTAssertEqual(fail.warnings, ["Unable to look up MX host for servfail.example: Host not found, try again"])
        let nx = sender("check_sender_ns_access", "x@nxdomain.example")
        XCTAssertEqual(nx.warnings, ["Unable to look up NS host for x@nxdomain.example: Host not found"])
        let noaddr = sender("check_sender_mx_access", "x@nxdomain.example")
        XCTAssertEqual(noaddr.warnings,
                       ["Unable to look up MX host nxdomain.example for Sender address x@nxdomain.example: Name or service not known"])
        XCTAssertEqual(sender("check_sender_a_access", "x@nxdomain.example").warnings, [])
    }

    func testOKIsAConfigurationError() {
        let o = sender("check_sender_mx_access", "x@okmx.example")
        XCTAssertEqual(o.reply?.description, "451 4.3.5 Server configuration error")
        XCTAssertEqual(o.warnings, ["restriction check_sender_mx_access returns OK for x@okmx.example",
                                    "this is not allowed for security reasons",
                                    "use DUNNO instead of OK if you want to make an exception"])
    }

    func testClientAndHeloNames() {
        var f = PolicyFacts(clientName: "mx.example", reverseClientName: "mx.example", clientAddress: "192.0.2.1")
        f.helo = "nomx.example"
        XCTAssertEqual(engine("check_client_mx_access \(table)").check(.recipient, facts: f).reply?.description,
                       "554 5.7.1 <mx.example[192.0.2.1]>: Client host rejected: bad mx")
        XCTAssertEqual(engine("check_reverse_client_hostname_mx_access \(table)").check(.recipient, facts: f).reply?.description,
                       "554 5.7.1 <mx.example>: Unverified Client host rejected: bad mx")
        XCTAssertEqual(engine("check_helo_a_access \(table)").check(.recipient, facts: f).reply?.description,
                       "554 5.7.1 <nomx.example>: Helo command rejected: listed address")
        let unknown = PolicyFacts(clientName: "unknown", reverseClientName: "unknown", clientAddress: "192.0.2.20")
        XCTAssertEqual(engine("check_client_a_access \(table)").check(.recipient, facts: unknown).decision, .dunno)
    }

    // MARK: - permit_mx_backup

    func mxBackup(_ domain: String, networks: String = "") -> PolicyOutcome {
        var f = PolicyFacts(clientName: "unknown", reverseClientName: "unknown", clientAddress: "192.0.2.1")
        f.sender = "a@example.org"
        f.recipient = "y@\(domain)"
        return engine("permit_mx_backup, reject") {
            $0.inetInterfaces = "127.0.0.1"
            $0.permitMxBackupNetworks = networks
        }.check(.recipient, facts: f)
    }

    func testMxBackup() {
        dns.mx["backup.example"] = [(10, "primary.other.example"), (20, "self.example")]
        dns.a["primary.other.example"] = ["192.0.2.50"]
        env.hosts["primary.other.example"] = ["192.0.2.50"]
        env.hosts["self.example"] = ["127.0.0.1"]
        dns.mx["primary.example"] = [(10, "self.example"), (20, "primary.other.example")]
        env.classes["relay.example"] = [.classRelay]
        env.classes["named.example"] = [.classLocal]
        dns.mx["byname.example"] = [(5, "primary.other.example"), (9, "named.example")]
        XCTAssertEqual(mxBackup("backup.example").decision, .permit)
        XCTAssertEqual(mxBackup("byname.example").decision, .permit)
        XCTAssertEqual(mxBackup("relay.example").decision, .permit)
        XCTAssertEqual(mxBackup("primary.example").reply?.description, "554 5.7.1 <y@primary.example>: Recipient address rejected: Access denied")
        // One MX host without an address: the reject becomes a deferral.
        XCTAssertEqual(mxBackup("mx.example").reply?.description,
                       "450 4.4.4 <y@mx.example>: Recipient address rejected: Unable to look up mail exchanger host mx2.bad.example: Name or service not known")
        XCTAssertEqual(mxBackup("nullmx.example").reply?.code, 554)
        XCTAssertEqual(mxBackup("servfail.example").reply?.description,
                       "450 4.4.4 <y@servfail.example>: Recipient address rejected: Unable to look up mail exchanger information: Host not found, try again")
        XCTAssertEqual(mxBackup("backup.example", networks: "192.0.2.48/30").decision, .permit)
        XCTAssertEqual(mxBackup("backup.example", networks: "192.0.2.0/28").reply?.code, 554)
        dns.mx["lame.example"] = [(10, "nohost.lame.example"), (20, "self.example")]
        XCTAssertEqual(mxBackup("lame.example").decision, .permit)
        XCTAssertEqual(mxBackup("lame.example", networks: "192.0.2.0/24").reply?.description,
                       "450 4.4.4 <y@lame.example>: Recipient address rejected: Unable to look up mail exchanger host nohost.lame.example: Name or service not known")
    }
}

final class DNSRecordParsingTests: XCTestCase {
    /// A response with a compressed MX exchange name and an NS record.
    func testMXAndNSNamesAreDecompressed() {
        var m: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]
        m += [2] + Array("mx".utf8) + [7] + Array("example".utf8) + [0, 0, 15, 0, 1]   // question at 12
        m += [0xC0, 12, 0, 15, 0, 1, 0, 0, 0, 60, 0, 8, 0, 10, 3] + Array("mx1".utf8) + [0xC0, 12]
        m += [0xC0, 12, 0, 2, 0, 1, 0, 0, 0, 60, 0, 6, 3] + Array("ns1".utf8) + [0xC0, 15]
        let r = DNSMessage.parse(m)
        XCTAssertEqual(r?.answers.count, 2)
        XCTAssertEqual(r?.answers[0].host, "mx1.mx.example")
        XCTAssertEqual(r?.answers[0].preference, 10)
        XCTAssertEqual(r?.answers[1].host, "ns1.example")
        // A null MX names the root.
        var null: [UInt8] = Array(m[0..<28])
        null[7] = 1
        null += [0xC0, 12, 0, 15, 0, 1, 0, 0, 0, 60, 0, 3, 0, 0, 0]
        XCTAssertEqual(DNSMessage.parse(null)?.answers.first?.host, "")
        // An exchange running past its record is malformed.
        var bad = null
        bad[bad.count - 4] = 2
        XCTAssertNil(DNSMessage.parse(bad))
    }
}
