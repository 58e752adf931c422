import XCTest
import Global
import Tables
@testable import SmtpdPolicy

/// Address classes from a dictionary instead of trivial-rewrite.
final class FakeEnvironment: PolicyEnvironment {
    var classes: [String: RewriteProtocol.ResolveFlags] = [:]
    func resolve(_ address: String) throws(PolicyTemporaryFailure) -> ResolveReply {
        let domain = HostnameSyntax.domain(of: address)
        return ResolveReply(transport: "smtp", nexthop: domain, recipient: address, flags: classes[domain] ?? [.classDefault])
    }
    func lookupHost(_ name: String) -> HostLookupResult { name.hasSuffix(".invalid") ? .notFound : .found }
}

final class RestrictionEngineTests: XCTestCase {
    func engine(_ configure: (inout PolicySettings) -> Void) -> RestrictionEngine {
        var s = PolicySettings()
        configure(&s)
        let env = FakeEnvironment()
        env.classes = ["relay.test": [.classRelay], "vmbox.test": [.classVirtual], "local.test": [.classLocal]]
        return RestrictionEngine(settings: s, environment: env)
    }

    func facts(helo: String? = "client.example", sender: String? = "a@b.test", recipient: String? = nil) -> PolicyFacts {
        var f = PolicyFacts(clientName: "localhost", reverseClientName: "localhost", clientAddress: "127.0.0.1")
        f.helo = helo
        f.sender = sender
        f.recipient = recipient
        return f
    }

    func testRelayDenied() {
        let e = engine { $0.lists[.relay] = "permit_mynetworks, reject_unauth_destination"; $0.mynetworks = "10.0.0.0/8" }
        XCTAssertEqual(e.check(.relay, facts: facts(recipient: "x@elsewhere.test")).reply?.description,
                       "554 5.7.1 <x@elsewhere.test>: Relay access denied")
        XCTAssertEqual(e.check(.relay, facts: facts(recipient: "x@relay.test")).decision, .dunno)
        let mine = engine { $0.lists[.relay] = "permit_mynetworks, reject_unauth_destination"; $0.mynetworks = "127.0.0.0/8" }
        XCTAssertEqual(mine.check(.relay, facts: facts(recipient: "x@elsewhere.test")).decision, .permit)
        let deferring = engine { $0.lists[.relay] = "defer_unauth_destination" }
        XCTAssertEqual(deferring.check(.relay, facts: facts(recipient: "x@elsewhere.test")).reply?.description,
                       "454 4.7.1 <x@elsewhere.test>: Relay access denied")
    }

    func testAccessTableResults() {
        let table = "inline:{{badhelo=REJECT}, {texthelo=REJECT go away}, {numhelo=550 5.7.2 num text}, holdhelo=HOLD, {warnhelo=WARN careful}, classhelo=myclass, okhelo=OK}"
        let e = engine {
            $0.lists[.helo] = "check_helo_access \(table), reject_non_fqdn_helo_hostname"
            $0.restrictionClasses = ["myclass"]
            $0.classLists["myclass"] = "reject"
        }
        func reply(_ helo: String) -> String? { e.check(.helo, facts: facts(helo: helo)).reply?.description }
        XCTAssertEqual(reply("badhelo"), "554 5.7.1 <badhelo>: Helo command rejected: Access denied")
        XCTAssertEqual(reply("texthelo"), "554 5.7.1 <texthelo>: Helo command rejected: go away")
        XCTAssertEqual(reply("numhelo"), "550 5.7.2 <numhelo>: Helo command rejected: num text")
        XCTAssertEqual(reply("classhelo"), "554 5.7.1 <classhelo>: Helo command rejected: Access denied")
        XCTAssertEqual(reply("short"), "504 5.5.2 <short>: Helo command rejected: need fully-qualified hostname")
        XCTAssertNil(reply("okhelo"))
        let hold = e.check(.helo, facts: facts(helo: "holdhelo"))
        XCTAssertTrue(hold.actions.hold)
        XCTAssertEqual(hold.events, [PolicyEvent("hold", "<holdhelo>: Helo command triggers HOLD action")])
        XCTAssertEqual(e.check(.helo, facts: facts(helo: "warnhelo")).events, [PolicyEvent("warn", "careful")])
    }

    func testWarnIfRejectAndUnknownRestriction() {
        let e = engine { $0.lists[.sender] = "warn_if_reject reject, permit"; $0.lists[.recipient] = "frobnicate" }
        let o = e.check(.sender, facts: facts())
        XCTAssertEqual(o.decision, .permit)
        XCTAssertEqual(o.events.first?.action, "reject_warning")
        XCTAssertEqual(e.check(.recipient, facts: facts(recipient: "x@relay.test")).reply?.description,
                       "451 4.3.5 Server configuration error")
    }

    func testSenderLoginMismatch() {
        let e = engine {
            $0.saslEnabled = true
            $0.senderLoginMaps = "inline:{{alice@example.org=alice}, {shared@example.org=alice, bob}, {@owned.example=carol}}"
        }
        func reply(_ restriction: String, _ sender: String, _ login: String?) -> String? {
            var f = facts(sender: sender)
            f.saslUsername = login
            return e.check(list: restriction, stage: .sender, facts: f).reply?.description
        }
        let any = "reject_sender_login_mismatch"
        XCTAssertEqual(reply(any, "alice@example.org", nil), "553 5.7.1 <alice@example.org>: Sender address rejected: not logged in")
        XCTAssertNil(reply(any, "nobody@example.org", nil))
        XCTAssertNil(reply(any, "", nil), "the null sender is never checked")
        XCTAssertEqual(reply(any, "alice@example.org", "bob"), "553 5.7.1 <alice@example.org>: Sender address rejected: not owned by user bob")
        XCTAssertNil(reply(any, "alice@example.org", "ALICE"), "logins compare without case")
        XCTAssertNil(reply(any, "shared@example.org", "bob"))
        XCTAssertEqual(reply(any, "nobody@example.org", "bob"), "553 5.7.1 <nobody@example.org>: Sender address rejected: not owned by user bob")
        XCTAssertNil(reply(any, "someone@owned.example", "carol"), "@domain owners")
        XCTAssertEqual(reply(any, "x@owned.example", nil), "553 5.7.1 <x@owned.example>: Sender address rejected: not logged in")
        // The variants: each half alone, and "known" that lets a login use unowned addresses.
        XCTAssertNil(reply("reject_authenticated_sender_login_mismatch", "alice@example.org", nil))
        XCTAssertNotNil(reply("reject_authenticated_sender_login_mismatch", "nobody@example.org", "bob"))
        XCTAssertNil(reply("reject_unauthenticated_sender_login_mismatch", "alice@example.org", "bob"))
        XCTAssertNotNil(reply("reject_unauthenticated_sender_login_mismatch", "alice@example.org", nil))
        XCTAssertNil(reply("reject_known_sender_login_mismatch", "nobody@example.org", "bob"))
        XCTAssertNotNil(reply("reject_known_sender_login_mismatch", "alice@example.org", "bob"))
        XCTAssertNotNil(reply("reject_known_sender_login_mismatch", "alice@example.org", nil))
        // Without SASL (smtpd_sasl_auth_enable = no) the restriction is ignored with Postfix's warning.
        let off = engine { $0.senderLoginMaps = "inline:{{alice@example.org=alice}}" }
        var f = facts(sender: "alice@example.org")
        f.saslUsername = nil
        let o = off.check(list: any, stage: .sender, facts: f)
        XCTAssertEqual(o.decision, .dunno)
        XCTAssertEqual(o.warnings, ["restriction `reject_authenticated_sender_login_mismatch' ignored: no SASL support",
                                    "restriction `reject_unauthenticated_sender_login_mismatch' ignored: no SASL support"])
    }

    func testUnlistedRecipient() {
        let e = engine {
            $0.virtualMailboxMaps = "inline:{known@vmbox.test=x}"
            $0.relayRecipientMaps = ""
        }
        XCTAssertEqual(e.checkUnlisted("nobody@vmbox.test", sender: false).reply?.description,
                       "550 5.1.1 <nobody@vmbox.test>: Recipient address rejected: User unknown in virtual mailbox table")
        XCTAssertEqual(e.checkUnlisted("known@vmbox.test", sender: false).decision, .dunno)
        XCTAssertEqual(e.checkUnlisted("x@relay.test", sender: false).decision, .dunno)
    }

    func testNameChecks() {
        XCTAssertTrue(HostnameSyntax.isValidHelo("[1.2.3.4]"))
        XCTAssertFalse(HostnameSyntax.isValidHelo("bad_helo!"))
        XCTAssertFalse(HostnameSyntax.isFQDNAddress("user"))
        XCTAssertTrue(HostnameSyntax.isFQDNAddress("user@example.com"))
        let e = engine { $0.lists[.sender] = "reject_unknown_sender_domain, reject_non_fqdn_sender" }
        XCTAssertEqual(e.check(.sender, facts: facts(sender: "a@nowhere.invalid")).reply?.description,
                       "450 4.1.8 <a@nowhere.invalid>: Sender address rejected: Domain not found")
        XCTAssertEqual(e.check(.sender, facts: facts(sender: "a")).reply?.description,
                       "504 5.5.2 <a>: Sender address rejected: need fully-qualified address")
    }

    func testNetworkMatching() throws {
        let list = try NetworkMatchList(parameter: "mynetworks", value: "10.0.0.0/8, [::1]/128, !192.168.1.1, 192.168.0.0/16, .example.com")
        XCTAssertTrue(try list.matches(name: "unknown", address: "10.1.2.3"))
        XCTAssertTrue(try list.matches(name: "unknown", address: "::1"))
        XCTAssertFalse(try list.matches(name: "unknown", address: "192.168.1.1"))
        XCTAssertTrue(try list.matches(name: "unknown", address: "192.168.1.2"))
        XCTAssertTrue(try list.matches(name: "mx.example.com", address: "203.0.113.1"))
        XCTAssertFalse(try list.matches(name: "unknown", address: "203.0.113.1"))
    }
}
