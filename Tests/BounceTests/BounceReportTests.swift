// BounceReportTests: whole notification texts in Postfix 3.7's layout
// (checked against a report Debian's Postfix made for the same bounce),
// the template file format and its expansions, and damaged logfiles.
import XCTest
import Glibc
@testable import Global
@testable import bounce

final class BounceReportTests: XCTestCase {
    override func setUp() {
        setenv("TZ", "UTC", 1)
        tzset()
    }

    let original = BounceOriginal(headers: [Array("From: Alice <alice@sender.test>".utf8), Array("Subject: hello".utf8)],
                                  body: [Array("body line 1".utf8)], arrival: 1795932967, encoding: "8bit")
    let entry = DeferLogEntry(recipient: "bob@error.test", original: "bob@error.test", offset: 200,
                              dsnOriginalRecipient: "rfc822;bob@error.test", status: "5.7.1", action: "failed",
                              reason: "refused by test")

    func report(kind: BounceReport.Kind = .failure, postmaster: Bool = false, full: Bool = true,
                entries: [DeferLogEntry]? = nil) -> BounceReport {
        BounceReport(kind: kind, postmaster: postmaster, template: BounceTemplates.builtin.failure,
                     text: ["This is the mail system at host mta.example.test.", "", "                   The mail system"],
                     to: "alice@sender.test", queueID: "924D7F84EF5", sender: "alice@sender.test",
                     entries: entries ?? [entry], original: original, returnFull: full, newQueueID: "9B476F84EF8",
                     now: 1795932967, myhostname: "mta.example.test", willRetryUntil: 1795932967 + 5 * 86400)
    }

    func text(_ r: BounceReport) -> String {
        r.lines().map { String(decoding: $0, as: UTF8.self) + "\n" }.joined()
    }

    func testFailureReport() {
        let b = "924D7F84EF5.1795932967/mta.example.test"
        XCTAssertEqual(text(report()), """
            Received: by mta.example.test (Postfix)
            \tid 9B476F84EF8; Sun, 29 Nov 2026 06:16:07 +0000 (UTC)
            Date: Sun, 29 Nov 2026 06:16:07 +0000 (UTC)
            From: Mail Delivery System <MAILER-DAEMON@mta.example.test>
            Subject: Undelivered Mail Returned to Sender
            To: alice@sender.test
            Auto-Submitted: auto-replied
            MIME-Version: 1.0
            Content-Type: multipart/report; report-type=delivery-status;
            \tboundary="\(b)"
            Content-Transfer-Encoding: 8bit

            This is a MIME-encapsulated message.

            --\(b)
            Content-Description: Notification
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: 8bit

            This is the mail system at host mta.example.test.

                               The mail system

            <bob@error.test>: refused by test

            --\(b)
            Content-Description: Delivery report
            Content-Type: message/delivery-status

            Reporting-MTA: dns; mta.example.test
            X-Postfix-Queue-ID: 924D7F84EF5
            X-Postfix-Sender: rfc822; alice@sender.test
            Arrival-Date: Sun, 29 Nov 2026 06:16:07 +0000 (UTC)

            Final-Recipient: rfc822; bob@error.test
            Original-Recipient: rfc822;bob@error.test
            Action: failed
            Status: 5.7.1
            Diagnostic-Code: X-Postfix; refused by test

            --\(b)
            Content-Description: Undelivered Message
            Content-Type: message/rfc822
            Content-Transfer-Encoding: 8bit

            Return-Path: <alice@sender.test>
            From: Alice <alice@sender.test>
            Subject: hello

            body line 1

            --\(b)--

            """)
    }

    func testPostmasterHeadersOnlyWithRemoteMTA() {
        var e = entry
        e.original = "alias@error.test"
        e.diagType = "smtp"
        e.diagText = "550 5.7.1 no"
        e.mtaType = "dns"
        e.mtaName = "mx.error.test"
        let t = text(report(postmaster: true, full: false, entries: [e]))
        XCTAssertTrue(t.contains("Subject: Postmaster Copy: Undelivered Mail\n"))
        XCTAssertTrue(t.contains("Auto-Submitted: auto-generated\n"))
        XCTAssertTrue(t.contains("Content-Transfer-Encoding: 8bit\n\n\n<bob@error.test> (expanded from <alias@error.test>): refused by test\n\n--"))
        XCTAssertFalse(t.contains("The mail system"))
        XCTAssertTrue(t.contains("Status: 5.7.1\nRemote-MTA: dns; mx.error.test\nDiagnostic-Code: smtp; 550 5.7.1 no\n"))
        XCTAssertTrue(t.contains("Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n"))
        XCTAssertTrue(t.hasSuffix("Subject: hello\n\n--924D7F84EF5.1795932967/mta.example.test--\n"))
        XCTAssertFalse(t.contains("body line 1"))
    }

    func testDelayAndSuccessParts() {
        var d = entry
        d.action = "delayed"
        d.status = "4.3.0"
        let delay = text(report(kind: .delay, full: false, entries: [d]))
        XCTAssertTrue(delay.contains("Diagnostic-Code: X-Postfix; refused by test\nWill-Retry-Until: Fri,  4 Dec 2026 06:16:07 +0000 (UTC)\n"))
        let success = text(report(kind: .success, full: false))
        XCTAssertTrue(success.contains("Content-Description: Message Headers\n"))
        XCTAssertFalse(success.contains("Will-Retry-Until"))
    }

    func testNullSenderAndUnreadableOriginal() {
        var r = report()
        r.sender = ""
        r.original.readable = false
        r.original.arrival = nil
        let t = text(r)
        XCTAssertTrue(t.contains("X-Postfix-Sender: rfc822; MAILER-DAEMON@mta.example.test\n"))
        XCTAssertFalse(t.contains("Arrival-Date"))
        XCTAssertFalse(t.contains("Undelivered Message"))
        XCTAssertTrue(t.hasSuffix("refused by test\n\n--924D7F84EF5.1795932967/mta.example.test--\n"))
    }

    func testQualifyFrom() {
        XCTAssertEqual(BounceReport.qualify("Mail Delivery System <MAILER-DAEMON>", host: "h.test"),
                       "Mail Delivery System <MAILER-DAEMON@h.test>")
        XCTAssertEqual(BounceReport.qualify("X <a@b>", host: "h.test"), "X <a@b>")
        XCTAssertEqual(BounceReport.qualify("MAILER-DAEMON", host: "h.test"), "MAILER-DAEMON@h.test")
    }

    // MARK: - templates

    func testTemplateFile() throws {
        let file = """
            # local texts
            failure_template = <<EOF
            Charset: us-ascii
            From: Bounces <bounces>
            Subject: Returned mail
            Postmaster-Subject: PM: returned mail

            Sorry, $myhostname could not deliver it.
            EOF

            delay_template = <<END
            Subject: Still trying
            
            Waited $delay_warning_time_hours h, $delay_warning_time_minutes min; costs $$5.
            END
            """
        let t = try BounceTemplates.parse(file, origin: "/etc/bounce.cf")
        XCTAssertEqual(t.failure.from, "Bounces <bounces>")
        XCTAssertEqual(t.failure.subject, "Returned mail")
        XCTAssertEqual(t.failure.postmasterSubject, "PM: returned mail")
        XCTAssertEqual(t.failure.body, ["Sorry, $myhostname could not deliver it."])
        XCTAssertEqual(t.delay.subject, "Still trying")
        XCTAssertEqual(t.success, BounceTemplates.builtin.success)
        var settings = BounceSettings()
        settings.myhostname = "mx.test"
        settings.delayWarningTime = 1800
        let failure = t.failure.render(kind: "failure", origin: t.origin) { settings.templateValue($0, config: nil) }
        XCTAssertEqual(failure.lines, ["Sorry, mx.test could not deliver it."])
        let delay = t.delay.render(kind: "delay", origin: t.origin) { settings.templateValue($0, config: nil) }
        XCTAssertEqual(delay.lines, ["Waited 0 h, 30 min; costs $5."])
        XCTAssertEqual(delay.warnings, [
            "/etc/bounce.cf: zero result in delay template conversion of parameter \"delay_warning_time_hours\"",
            "please reduce time unit \"hours\" of \"delay_warning_time_hours\" in delay template",
            "for instructions see the bounce(5) manual"])
    }

    func testTemplateFileErrors() {
        XCTAssertThrowsError(try BounceTemplates.parse("failure_template = <<EOF\nSubject: x\n\ntext\n", origin: "f"))
        XCTAssertThrowsError(try BounceTemplates.parse("failure_template = <<EOF\nFrom: x\n\ntext\nEOF\n", origin: "f"))
        XCTAssertThrowsError(try BounceTemplates.parse("failure_template = text\n", origin: "f"))
        XCTAssertThrowsError(try BounceTemplates.parse("just words\n", origin: "f"))
        XCTAssertThrowsError(try BounceTemplates.parse("failure_template = <<EOF\nBogus: 1\nSubject: x\n\nEOF\n", origin: "f"))
        let unknown = try? BounceTemplates.parse("other_template = <<EOF\nSubject: x\n\nEOF\n", origin: "f")
        XCTAssertEqual(unknown?.warnings, ["f: unknown template name: other_template"])
    }

    // MARK: - damaged logfiles

    func testDamagedLogIsRepairedWithWarnings() {
        let log = "\n<a@x.test>: no\nrecipient=a@x.test\noffset=10\nstatus=5.1.1\naction=failed\nreason=no\n\n"
            + "garbage line\n\noffset=5\nstatus=5.0.0\n\nrecipient=b@x.test\nstatus=5.1\nrea"
        let r = BounceLogReader(text: log, id: "QID", queue: "bounce", action: "failed", statusClass: "5")
        XCTAssertEqual(r.entries.map(\.recipient), ["a@x.test", "b@x.test"])
        XCTAssertEqual(r.entries[1].status, "5.0.0")
        XCTAssertEqual(r.entries[1].action, "failed")
        XCTAssertEqual(r.entries[1].reason, "(reason unavailable)")
        XCTAssertEqual(r.warnings, [
            "QID: bounce logfile line 9: malformed entry: garbage line",
            "QID: bounce logfile line 16: malformed entry: rea",
            "QID: bounce logfile: entry without recipient address skipped",
            "QID: bounce logfile: recipient b@x.test: bad status \"5.1\""])
        let empty = BounceLogReader(text: "\u{0}\u{1}binary", id: "Q", queue: "defer", action: "delayed", statusClass: "4")
        XCTAssertTrue(empty.entries.isEmpty)
        XCTAssertEqual(empty.warnings.last, "Q: defer logfile has no usable entries")
    }
}
