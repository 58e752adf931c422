// RewriteTests: trivial-rewrite's rewriting and resolving, table-driven,
// with expectations taken from what Postfix 3.7's trivial-rewrite answered
// to the same requests (myhostname mta.example.test, mydomain example.test).
import XCTest
@testable import Global
@testable import Tables
@testable import trivial_rewrite

final class RewriteTests: XCTestCase {
    private func config(_ values: [String: String]) -> MailConfig {
        var all: [String: String] = ["myhostname": "mta.example.test", "mydomain": "example.test",
                                     "compatibility_level": "3.6", "inet_interfaces": "127.0.0.1",
                                     "inet_protocols": "ipv4"]
        for (k, v) in values { all[k] = v }
        return MailConfig(configDirectory: "/nonexistent", main: .empty(path: "/nonexistent/main.cf"), overrides: all)
    }

    private func rewriteSettings(_ values: [String: String] = [:]) -> RewriteSettings {
        RewriteSettings(config: config(values))
    }

    private func resolver(_ values: [String: String] = [:]) throws -> AddressResolver {
        AddressResolver(settings: try ResolveSettings(config: config(values)))
    }

    // MARK: - rewriting

    func testLocalAndRemoteContexts() {
        let s = rewriteSettings()
        let cases: [(String, String, String)] = [
            // address, local, remote
            ("user", "user@mta.example.test", "user"),
            ("user@gmail.com.", "user@gmail.com", "user@gmail.com"),
            ("user%gmail.com", "user@gmail.com", "user@gmail.com"),
            ("user%host%gmail.com", "user%host@gmail.com", "user%host@gmail.com"),
            ("user%gmail.com@mta.example.test", "user%gmail.com@mta.example.test", "user%gmail.com@mta.example.test"),
            ("host!user", "user@host", "user@host"),
            ("a!b!user", "b!user@a", "b!user@a"),
            ("!user", "user@", "user@"),
            ("user!", "\"\"@user", "\"\"@user"),
            ("@a,@b:user@gmail.com", "user@gmail.com", "user@gmail.com"),
            ("@a:user", "user@mta.example.test", "user"),
            ("\"quoted user\"@gmail.com", "\"quoted user\"@gmail.com", "\"quoted user\"@gmail.com"),
            ("\"quoted user\"", "\"quoted user\"@mta.example.test", "\"quoted user\""),
            ("\"a%b\"@mta.example.test", "a%b@mta.example.test", "a%b@mta.example.test"),
            ("\"a!b\"", "a!b@mta.example.test", "a!b"),
            ("user@@gmail.com", "\"user@\"@gmail.com", "\"user@\"@gmail.com"),
            ("user@a@b", "\"user@a\"@b", "\"user@a\"@b"),
            ("user (comment)@gmail.com", "\"user (comment)\"@gmail.com", "\"user (comment)\"@gmail.com"),
            ("<>", "\"<>\"@mta.example.test", "\"<>\""),
            ("@", "\"\"", "\"\""),
            // smtpd's form of "@" (the empty local part quoted): a broken form
            // ending in "@" is left alone, and then fails to resolve (501).
            ("\"\"@", "\"\"@", "\"\"@"),
            ("@a", "\"\"@a", "\"\"@a"),
            ("", "", ""),
            ("user@[127.0.0.1]", "user@[127.0.0.1]", "user@[127.0.0.1]"),
        ]
        for (address, local, remote) in cases {
            XCTAssertEqual(AddressRewriter.rewrite(address, rule: "local", settings: s), local, "local \(address)")
            XCTAssertEqual(AddressRewriter.rewrite(address, rule: "remote", settings: s), remote, "remote \(address)")
        }
    }

    func testMyoriginDotMydomainAndRemoteDomain() {
        let s = rewriteSettings(["myorigin": "origin.test", "append_dot_mydomain": "yes",
                                 "remote_header_rewrite_domain": "remote.test"])
        XCTAssertEqual(AddressRewriter.rewrite("user", rule: "local", settings: s), "user@origin.test")
        XCTAssertEqual(AddressRewriter.rewrite("user", rule: "remote", settings: s), "user@remote.test")
        XCTAssertEqual(AddressRewriter.rewrite("user@host", rule: "local", settings: s), "user@host.example.test")
        XCTAssertEqual(AddressRewriter.rewrite("user@host", rule: "remote", settings: s), "user@host.remote.test")
        XCTAssertEqual(AddressRewriter.rewrite("user@[10.0.0.1]", rule: "local", settings: s), "user@[10.0.0.1]")
        // Without a remote domain, remote addresses are left alone.
        let plain = rewriteSettings(["append_dot_mydomain": "yes"])
        XCTAssertEqual(AddressRewriter.rewrite("user@host", rule: "remote", settings: plain), "user@host")
    }

    func testSwitchesOff() {
        let s = rewriteSettings(["swap_bangpath": "no", "allow_percent_hack": "no", "append_at_myorigin": "no"])
        for address in ["user", "host!user", "user%gmail.com"] {
            XCTAssertEqual(AddressRewriter.rewrite(address, rule: "local", settings: s), address)
        }
    }

    // MARK: - resolving

    private typealias F = RewriteProtocol.ResolveFlags

    private func check(_ r: AddressResolver, _ address: String, sender: String = "", verify: Bool = false,
                       _ transport: String, _ nexthop: String, _ recipient: String, _ flags: F,
                       file: StaticString = #filePath, line: UInt = #line) {
        let reply = r.resolve(sender: sender, address: address, verify: verify)
        XCTAssertEqual(reply, ResolveReply(transport: transport, nexthop: nexthop, recipient: recipient, flags: flags),
                       address, file: file, line: line)
    }

    func testDefaultsAndSyntax() throws {
        let r = try resolver()
        let E = RewriteProtocol.errorTransport, N = RewriteProtocol.errorNexthop
        check(r, "user", "local", "mta.example.test", "user@mta.example.test", .classLocal)
        check(r, "user@MTA.Example.Test", "local", "mta.example.test", "user@MTA.Example.Test", .classLocal)
        check(r, "user@localhost", "local", "mta.example.test", "user@localhost", .classLocal)
        check(r, "user@[127.0.0.1]", "local", "mta.example.test", "user@[127.0.0.1]", .classLocal)
        check(r, "user@[127.0.0.2]", "smtp", "[127.0.0.2]", "user@[127.0.0.2]", .classDefault)
        check(r, "user@gmail.com.", "smtp", "gmail.com", "user@gmail.com", .classDefault)
        check(r, "user@127.0.0.1", E, N, "user@127.0.0.1", [.classDefault, .error])
        check(r, "user@", E, N, "user@", [.classDefault, .error])
        check(r, "@", E, N, "MAILER-DAEMON@", [.classDefault, .error])
        check(r, "", "local", "mta.example.test", "MAILER-DAEMON@mta.example.test", .classLocal)
        // An empty local part: $empty_address_recipient in a local domain, kept elsewhere.
        check(r, "@MTA.example.test", "local", "mta.example.test", "MAILER-DAEMON@MTA.example.test", .classLocal)
        check(r, "\"\"@localhost", "local", "mta.example.test", "MAILER-DAEMON@localhost", .classLocal)
        check(r, "@gmail.com", "smtp", "gmail.com", "@gmail.com", .classDefault)
        check(r, "user@.gmail.com", E, N, "user@.gmail.com", [.classDefault, .error])
        check(r, "user@[1.2.3.999]", E, N, "user@[1.2.3.999]", [.classDefault, .error])
        check(r, "user@[ipv6:fe80::1]", "smtp", "[ipv6:fe80::1]", "user@[ipv6:fe80::1]", .classDefault)
        check(r, "user@a_b.com", "smtp", "a_b.com", "user@a_b.com", .classDefault)
        check(r, "user@-bad.com", E, N, "user@-bad.com", [.classDefault, .error])
    }

    func testRoutingOperators() throws {
        let r = try resolver()
        check(r, "user%gmail.com", "smtp", "gmail.com", "user@gmail.com", .classDefault)
        check(r, "user%gmail.com@mta.example.test", "smtp", "gmail.com", "user@gmail.com", .classDefault)
        check(r, "user%gmail.com@gmail.com", "smtp", "gmail.com", "user%gmail.com@gmail.com", [.classDefault, .routed])
        check(r, "a!b!user@mta.example.test", "smtp", "a", "b!user@a", [.classDefault, .routed])
        check(r, "\"a!b\"", "smtp", "a", "b@a", .classDefault)
        check(r, "user!", "smtp", "user", "@user", .classDefault)
        check(r, "@a,@b:user@gmail.com", "smtp", "gmail.com", "@a, @b:user@gmail.com", [.classDefault, .routed])
        check(r, "@a:user", RewriteProtocol.errorTransport, RewriteProtocol.errorNexthop, "@a:user", [.classDefault, .error])
        check(r, "user@a@b", "smtp", "b", "user@a@b", [.classDefault, .routed])
        check(r, "<>", "local", "mta.example.test", "<>@mta.example.test", .classLocal)
        let off = try resolver(["swap_bangpath": "no", "allow_percent_hack": "no"])
        check(off, "host!user", "local", "mta.example.test", "host!user@mta.example.test", [.classLocal, .routed])
        let numeric = try resolver(["resolve_numeric_domain": "yes"])
        check(numeric, "user@127.0.0.1", "local", "mta.example.test", "user@[127.0.0.1]", .classLocal)
    }

    func testClasses() throws {
        let r = try resolver(["myorigin": "origin.test", "mydestination": "$myhostname, localhost, local.test",
                              "virtual_alias_domains": "valias.test", "virtual_mailbox_domains": "vmbox.test",
                              "relay_domains": "relay.test, .parent.test", "relayhost": "[relayhost.test]:25"])
        check(r, "user@LOCAL.TEST", "local", "mta.example.test", "user@LOCAL.TEST", .classLocal)
        check(r, "user@valias.test", "error", "5.1.1 User unknown in virtual alias table", "user@valias.test", .classAlias)
        check(r, "user@vmbox.test", "virtual", "vmbox.test", "user@vmbox.test", .classVirtual)
        check(r, "user@relay.test", "relay", "[relayhost.test]:25", "user@relay.test", .classRelay)
        check(r, "user@x.relay.test", "relay", "[relayhost.test]:25", "user@x.relay.test", .classRelay)
        // relay_domains matches parents by name, so ".parent.test" matches nothing.
        check(r, "user@x.parent.test", "smtp", "[relayhost.test]:25", "user@x.parent.test", .classDefault)
        check(r, "user@gmail.com", "smtp", "[relayhost.test]:25", "user@gmail.com", .classDefault)
        let quiet = try resolver(["virtual_alias_domains": "valias.test", "show_user_unknown_table_name": "no"])
        check(quiet, "user@valias.test", "error", "5.1.1 User unknown", "user@valias.test", .classAlias)
    }

    func testTransportMapsAndSenderDependentMaps() throws {
        let transport = "inline:{ full@tm.test=smtp:[full.relay]:2525, tm.test=relay:tm-next, "
            + ".sub.tm.test=:sub-next, colon.test=:, tonly.test=uucp:, {err.test=error:no mail here}, user@relay.test=local: }"
        let r = try resolver(["mydestination": "$myhostname, localhost", "relay_domains": "relay.test",
                              "transport_maps": transport, "recipient_delimiter": "+",
                              "default_transport": "smtp:[dt.test]", "relayhost": "[rh.test]",
                              "sender_dependent_relayhost_maps": "inline:{sender@sd.test=[sd-relay.test]:587, @sdom.test=sdom-relay.test}",
                              "sender_dependent_default_transport_maps": "inline:{@dt.test=uucp:dt-next, x@dt2.test=lmtp:}",
                              "address_verify_relayhost": "[verify.test]", "address_verify_transport_maps": ""])
        check(r, "full@tm.test", "smtp", "[full.relay]:2525", "full@tm.test", .classDefault)
        check(r, "FULL+ext@TM.TEST", "smtp", "[full.relay]:2525", "FULL+ext@TM.TEST", .classDefault)
        check(r, "other@tm.test", "relay", "tm-next", "other@tm.test", .classDefault)
        check(r, "a@x.tm.test", "smtp", "[dt.test]", "a@x.tm.test", .classDefault)
        check(r, "a@sub.tm.test", "smtp", "[dt.test]", "a@sub.tm.test", .classDefault)
        check(r, "a@x.sub.tm.test", "smtp", "sub-next", "a@x.sub.tm.test", .classDefault)
        check(r, "a@colon.test", "smtp", "[dt.test]", "a@colon.test", .classDefault)
        check(r, "a@tonly.test", "uucp", "tonly.test", "a@tonly.test", .classDefault)
        check(r, "a@err.test", "error", "no mail here", "a@err.test", .classDefault)
        check(r, "user@relay.test", "local", "relay.test", "user@relay.test", .classRelay)
        check(r, "other@relay.test", "relay", "[rh.test]", "other@relay.test", .classRelay)
        check(r, "other@relay.test", sender: "sender@sd.test", "relay", "[sd-relay.test]:587", "other@relay.test", .classRelay)
        check(r, "u@gmail.com", sender: "SENDER@SD.TEST", "smtp", "[dt.test]", "u@gmail.com", .classDefault)
        check(r, "u@gmail.com", sender: "a@dt.test", "uucp", "dt-next", "u@gmail.com", .classDefault)
        check(r, "u@gmail.com", sender: "x@dt2.test", "lmtp", "[rh.test]", "u@gmail.com", .classDefault)
        check(r, "u@localhost", sender: "sender@sd.test", "local", "mta.example.test", "u@localhost", .classLocal)
        check(r, "u@gmail.com", verify: true, "smtp", "[dt.test]", "u@gmail.com", .classDefault)
        check(r, "full@tm.test", verify: true, "smtp", "[dt.test]", "full@tm.test", .classDefault)
    }

    func testLookupFailureIsTemporary() throws {
        let r = try resolver(["transport_maps": "fail:broken"])
        check(r, "user@gmail.com", "smtp", "gmail.com", "user@gmail.com", [.classDefault, .fail])
        check(r, "user", "local", "mta.example.test", "user@mta.example.test", [.classLocal, .fail])
    }

    // MARK: - protocol and cache

    func testProtocolRoundTrip() {
        let reply = ResolveReply(transport: "smtp", nexthop: "gmail.com", recipient: "u@gmail.com", flags: [.classDefault, .routed])
        let wire = reply.encoded()
        XCTAssertEqual(wire.pairs.map(\.name), ["flags", "transport", "nexthop", "recipient", "flags"])
        XCTAssertEqual(wire.pairs.first?.value, "0")
        XCTAssertEqual(ResolveReply.decode(wire), reply)
        XCTAssertEqual(RewriteRequest.decode(RewriteProtocol.rewriteRequest(rule: "bogus", address: "x")), .failure(.unknownRule("bogus")))
        XCTAssertEqual(RewriteRequest.decode(AttributeList([("request", "resolve"), ("address", "x")])), .failure(.missing("sender")))
        XCTAssertEqual(RewriteRequest.decode(RewriteProtocol.resolveRequest(.verify, sender: "", address: "a")),
                       .success(.resolve(verify: true, sender: "", address: "a")))
    }

    func testCacheKeepsRecentAnswers() {
        var cache = TwoGenerationCache<Int, Int>(limit: 4)
        for i in 0..<4 { cache[i] = i }
        XCTAssertEqual(cache[0], 0)
        for i in 4..<8 { cache[i] = i }
        XCTAssertNil(cache[1])
        XCTAssertEqual(cache[7], 7)
        XCTAssertLessThanOrEqual(cache.count, 4)
    }
}
