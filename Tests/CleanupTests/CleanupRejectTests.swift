// What cleanup keeps of a rejected message (the headers a local sender gets
// back), MIME errors that let the checks go on, the empty line that always
// ends the primary headers, and the cleanup protocol's end-of-message
// actions (smtpd's HOLD, DISCARD, FILTER, REDIRECT, BCC). Behaviour observed
// on Debian's Postfix 3.7.11 (Tests/System/test_cleanup.py,
// test_cleanup_remote.py).
import Testing
@testable import cleanup
import Global

@Suite struct CleanupRejectTests {
    func run(_ text: String, _ s: CleanupMessage.Settings) -> CleanupMessage {
        var m = CleanupMessage(settings: s, log: CheckLogContext(queueID: "Q1", sender: "s@x", lastRecipient: "r@x"))
        for l in text.split(separator: "\n", omittingEmptySubsequences: false) { m.add(line: Array(l.utf8)) }
        m.finish()
        return m
    }

    func lines(_ m: CleanupMessage) -> [String] { m.output.map { String(decoding: $0, as: UTF8.self) } }

    func settings(rejecting pattern: String) -> CleanupMessage.Settings {
        var s = CleanupMessage.Settings()
        s.queueID = "Q1"
        s.addMissingHeaders = true
        s.myhostname = "mta.example.test"
        s.sender = "s@x"
        s.headerChecks = { (text: String) throws(CleanupTemporaryError) -> String? in
            text.hasPrefix(pattern) ? "REJECT" : nil
        }
        return s
    }

    @Test func rejectKeepsHeadersAndAddsMissingOnes() {
        let m = run("Subject: reject-me\nTo: bob@example.net\n\nbody line\n", settings(rejecting: "Subject: reject"))
        #expect(m.verdict == .reject("5.7.1 message content rejected"))
        let out = lines(m)
        #expect(out.prefix(2) == ["Subject: reject-me", "To: bob@example.net"])
        #expect(out.contains { $0.hasPrefix("Message-Id: <") })
        #expect(out.contains { $0.hasPrefix("From: ") })
        #expect(!out.contains("body line"))
        // The added Message-Id is logged after the reject, as Postfix does.
        #expect(m.logLines.count == 2)
        #expect(m.logLines[0].hasPrefix("Q1: reject: header Subject: reject-me from local;"))
        #expect(m.logLines[1].hasPrefix("Q1: message-id=<"))
    }

    @Test func rejectBeforeMessageIDHeaderLogsNothingMore() {
        var s = settings(rejecting: "Subject: reject")
        s.addMissingHeaders = false
        let m = run("Subject: reject-me\nMessage-ID: <m@x>\n\nb\n", s)
        #expect(m.logLines.count == 1)
        #expect(!m.logLines.contains { $0.contains("message-id=") })
    }

    @Test func mimeErrorLetsChecksGoOn() {
        var s = CleanupMessage.Settings()
        s.queueID = "Q1"
        s.addMissingHeaders = false
        s.reportNesting = true
        s.mimeNestingLimit = 1
        s.bodyChecks = { (_: String) throws(CleanupTemporaryError) -> String? in "WARN body" }
        var text = "Subject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n"
        for d in 1...3 { text += "--b\(d - 1)\nContent-Type: multipart/mixed; boundary=b\(d)\n\n" }
        text += "--b3\nContent-Type: text/plain\n\nleaf\n--b3--\n--b2--\n--b1--\n--b0--\n"
        let m = run(text, s)
        #expect(m.verdict == .reject("5.6.0 MIME nesting exceeds safety limit"))
        let reject = m.logLines.firstIndex { $0.contains("reject: mime-error") }
        #expect(reject != nil)
        #expect(m.logLines.filter { $0.contains("reject: mime-error") }.count == 1)
        // Body checks still run after the error (the closing boundaries).
        #expect(m.logLines.last?.contains("warning: body --b0--") == true)
    }

    @Test func headerlessMessageGetsTheEmptyLine() {
        var s = CleanupMessage.Settings()
        s.queueID = "Q1"
        s.addMissingHeaders = false
        #expect(lines(run("just a body line\n", s)) == ["", "just a body line", ""])
        #expect(lines(run("Subject: x\n\nbody\n", s)) == ["Subject: x", "", "body", ""])
        #expect(lines(run("Subject: x\nbody\n", s)) == ["Subject: x", "", "body", ""])
    }

    @Test func endListCarriesActions() throws {
        let actions = CleanupActions(flags: [.hold, .discard, .filter], filter: "smtp:[10.0.0.1]:25",
                                     redirect: "other@example.org", bcc: ["a@x", "b@y"])
        let list = CleanupProtocol.endList(actions)
        #expect(list[CleanupProtocol.Attribute.type] == "end")
        let decoded = try CleanupProtocol.actions(from: list)
        // Only HOLD and DISCARD travel as flags.
        #expect(decoded == CleanupActions(flags: [.hold, .discard], filter: "smtp:[10.0.0.1]:25",
                                          redirect: "other@example.org", bcc: ["a@x", "b@y"]))
        #expect(try CleanupProtocol.actions(from: CleanupProtocol.marker(.end)).isEmpty)
        #expect(CleanupProtocol.endList(CleanupActions()) == CleanupProtocol.marker(.end))
    }
}
