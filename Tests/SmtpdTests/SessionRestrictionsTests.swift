import XCTest
import Global
@testable import SmtpdPolicy

/// reject_multi_recipient_bounce, permit_naked_ip_address,
/// reject_plaintext_session and check_sasl_access (expected replies as
/// Postfix 3.7 gives them; see Tests/System/smtp_dialogs/session and sasl).
final class SessionRestrictionsTests: XCTestCase {
    func engine(_ list: String, stage: PolicyStage = .recipient, configure: (inout PolicySettings) -> Void = { _ in }) -> RestrictionEngine {
        var s = PolicySettings()
        s.lists[stage] = list
        configure(&s)
        return RestrictionEngine(settings: s, environment: FakeEnvironment())
    }

    func facts(sender: String? = "", recipient: String? = "r@example.test", count: Int = 0, command: String = "RCPT") -> PolicyFacts {
        var f = PolicyFacts(clientName: "unknown", reverseClientName: "unknown", clientAddress: "192.0.2.1")
        f.helo = "client.example"
        f.sender = sender
        f.recipient = recipient
        f.recipientCount = count
        f.commandName = command
        return f
    }

    func testMultiRecipientBounceAtRcpt() {
        let e = engine("reject_multi_recipient_bounce")
        XCTAssertEqual(e.check(.recipient, facts: facts(count: 0)).decision, .dunno)
        let second = e.check(.recipient, facts: facts(count: 1))
        XCTAssertEqual(second.reply?.description, "550 5.5.3 <r@example.test>: Recipient address rejected: Multi-recipient bounce")
        XCTAssertTrue(second.dependsOnRecipients)
        XCTAssertEqual(e.check(.recipient, facts: facts(sender: "a@example.org", count: 3)).decision, .dunno)
        XCTAssertEqual(e.check(.recipient, facts: facts(sender: nil, count: 3)).decision, .dunno)
    }

    func testMultiRecipientBounceAtDataCountsAll() {
        let e = engine("reject_multi_recipient_bounce", stage: .data) { $0.multiRecipientBounceRejectCode = 551 }
        XCTAssertEqual(e.check(.data, facts: facts(recipient: nil, count: 1, command: "DATA")).decision, .dunno)
        XCTAssertEqual(e.check(.data, facts: facts(recipient: nil, count: 2, command: "DATA")).reply?.description,
                       "551 5.5.3 <DATA>: Data command rejected: Multi-recipient bounce")
    }

    func testMultiRecipientBounceInsideAccessTableAnswersAsTheTable() {
        let e = engine("check_client_access inline:{192.0.2.1=bounces}", stage: .data) {
            $0.restrictionClasses = ["bounces"]
            $0.classLists["bounces"] = "reject_multi_recipient_bounce"
        }
        XCTAssertEqual(e.check(.data, facts: facts(recipient: nil, count: 2, command: "DATA")).reply?.description,
                       "550 5.5.3 <unknown[192.0.2.1]>: Client host rejected: Multi-recipient bounce")
    }

    func testNakedIPAddress() {
        let e = engine("permit_naked_ip_address, reject")
        func check(_ helo: String?) -> PolicyOutcome {
            var f = facts(sender: "a@example.org")
            f.helo = helo
            return e.check(.recipient, facts: f)
        }
        let ok = check("192.0.2.7")
        XCTAssertEqual(ok.decision, .permit)
        XCTAssertEqual(ok.warnings, ["restriction permit_naked_ip_address is deprecated. Use permit_mynetworks or permit_sasl_authenticated instead"])
        XCTAssertEqual(check("192.0.2.999").reply?.description, "501 5.5.2 <192.0.2.999>: Helo command rejected: invalid ip address")
        XCTAssertEqual(check("1:2::3").reply?.description, "501 5.5.2 <1:2::3>: Helo command rejected: invalid ip address")
        XCTAssertEqual(check("[192.0.2.7]").reply?.description, "554 5.7.1 <r@example.test>: Recipient address rejected: Access denied")
        XCTAssertEqual(check(nil).reply?.description, "554 5.7.1 <r@example.test>: Recipient address rejected: Access denied")
    }

    func testPlaintextSession() {
        let e = engine("reject_plaintext_session")
        XCTAssertEqual(e.check(.recipient, facts: facts()).reply?.description, "450 4.7.1 Session encryption is required")
        var tls = facts()
        tls.encryptionProtocol = "TLSv1.3"
        XCTAssertEqual(e.check(.recipient, facts: tls).decision, .dunno)
        let coded = engine("reject_plaintext_session") { $0.plaintextRejectCode = 554 }
        XCTAssertEqual(coded.check(.recipient, facts: facts()).reply?.description, "554 5.7.1 Session encryption is required")
    }

    func testSaslAccess() {
        let table = "inline:{{alice=REJECT no mail for you}, bob=OK, {carol@example.org=450 4.7.0 try later}, {example.org=REJECT domain}}"
        let e = engine("check_sasl_access \(table)") { $0.saslEnabled = true }
        func check(_ login: String?) -> PolicyOutcome {
            var f = facts(sender: "a@example.org")
            f.saslUsername = login
            return e.check(.recipient, facts: f)
        }
        XCTAssertEqual(check("Alice").reply?.description, "554 5.7.1 <Alice>: SASL login name rejected: no mail for you")
        XCTAssertEqual(check("bob").decision, .permit)
        XCTAssertEqual(check("carol@example.org").reply?.description, "450 4.7.0 <carol@example.org>: SASL login name rejected: try later")
        XCTAssertEqual(check("dave@example.org").decision, .dunno)
        XCTAssertEqual(check(nil).decision, .dunno)
        let off = engine("check_sasl_access \(table)")
        var f = facts(sender: "a@example.org")
        f.saslUsername = "alice"
        let ignored = off.check(.recipient, facts: f)
        XCTAssertEqual(ignored.decision, .dunno)
        XCTAssertEqual(ignored.warnings, ["restriction `check_sasl_access' ignored: no SASL support"])
    }
}
