// CleanupMessage with MIME structure, header address rewriting, header
// size limits, Resent- headers and the check actions added for Postfix
// 3.7 parity; CleanupAddressMaps.masquerade. Expected behaviour observed
// on Debian's Postfix 3.7.11 (see Tests/System/test_cleanup.py).
import Foundation
import Testing
@testable import cleanup
import Global

@Suite struct CleanupContentTests {
    /// Settings whose checks WARN with the table's name on every line.
    func classifying() -> CleanupMessage.Settings {
        var s = CleanupMessage.Settings()
        s.queueID = "Q1"
        s.addMissingHeaders = false
        func table(_ name: String) -> CheckLookup {
            return { (_: String) throws(CleanupTemporaryError) -> String? in "WARN \(name)" }
        }
        s.headerChecks = table("primary")
        s.mimeHeaderChecks = table("mime")
        s.nestedHeaderChecks = table("nested")
        s.bodyChecks = table("body")
        s.reportNesting = true
        return s
    }

    func run(_ text: String, _ s: CleanupMessage.Settings) -> CleanupMessage {
        var m = CleanupMessage(settings: s, log: CheckLogContext(queueID: "Q1", sender: "s@x", lastRecipient: "r@x"))
        for l in text.split(separator: "\n", omittingEmptySubsequences: false) { m.add(line: Array(l.utf8)) }
        m.finish()
        return m
    }

    /// "TABLE TEXT" for each check log line.
    func classes(_ m: CleanupMessage) -> [String] {
        m.logLines.compactMap { line in
            guard let r = line.range(of: ": warning: ") else { return nil }
            let rest = line[r.upperBound...]
            let text = rest.split(separator: " ", maxSplits: 1)[1].components(separatedBy: " from local;")[0]
            return String(line.split(separator: ":").last!.dropFirst()) + " " + text
        }
    }

    static let mimeMessage = """
        Subject: mime test
        MIME-Version: 1.0
        Content-Type: multipart/mixed;
        \tboundary="OUTER"
        X-Primary: p

        preamble line
        --OUTER
        Content-Type: text/plain
        X-Part-Header: ph

        part one body
        --OUTER
        Content-Type: message/rfc822

        Received: from nested
        Subject: nested subject
        Content-Type: multipart/alternative; boundary=INNER

        --INNER
        X-Inner: i

        inner text
        --INNER--
        --OUTER--
        epilogue line
        """

    @Test func checksFollowMimeStructure() {
        let got = classes(run(Self.mimeMessage, classifying()))
        #expect(got == [
            "primary Subject: mime test", "mime MIME-Version: 1.0", "mime Content-Type: multipart/mixed;\n\tboundary=\"OUTER\"",
            "primary X-Primary: p", "body preamble line", "body --OUTER", "mime Content-Type: text/plain",
            "mime X-Part-Header: ph", "body part one body", "body --OUTER", "mime Content-Type: message/rfc822",
            "nested Received: from nested", "nested Subject: nested subject",
            "mime Content-Type: multipart/alternative; boundary=INNER", "body --INNER", "mime X-Inner: i",
            "body inner text", "body --INNER--", "body --OUTER--", "body epilogue line",
        ])
    }

    @Test func disabledMimeMakesEverythingBody() {
        var s = classifying()
        s.mime = false
        let got = classes(run(Self.mimeMessage, s))
        #expect(got[4] == "body preamble line" && got[6] == "body Content-Type: text/plain")
        #expect(got.filter { $0.hasPrefix("mime ") }.count == 2)  // the primary MIME headers only
    }

    @Test func nestingLimit() {
        func nested(_ depth: Int) -> String {
            var m = "Subject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n"
            for d in 1...max(1, depth) where depth > 0 { m += "--b\(d - 1)\nContent-Type: multipart/mixed; boundary=b\(d)\n\n" }
            m += "--b\(depth)\nContent-Type: text/plain\n\nleaf\n"
            for d in stride(from: depth, through: 0, by: -1) { m += "--b\(d)--\n" }
            return m
        }
        var s = classifying()
        s.mimeNestingLimit = 1
        #expect(run(nested(2), s).verdict == .accept)
        let m = run(nested(3), s)
        #expect(m.verdict == .reject("5.6.0 MIME nesting exceeds safety limit"))
        #expect(m.logLines.contains("Q1: reject: mime-error MIME nesting exceeds safety limit: "
                                    + "Content-Type: multipart/mixed; boundary=b3 from local; from=<s@x> to=<r@x>"))
        s.reportNesting = false
        #expect(run(nested(3), s).verdict == .accept)
        // Attached messages add no depth.
        var deep = "Subject: r\nContent-Type: message/rfc822\n\n"
        for _ in 0..<500 { deep += "Subject: x\nContent-Type: message/rfc822\n\n" }
        s.reportNesting = true
        #expect(run(deep + "leaf\n", s).verdict == .accept)
    }

    @Test func boundaryLengthLimit() {
        var s = classifying()
        s.mimeBoundaryLengthLimit = 10
        let m = run("Content-Type: multipart/mixed; boundary=abcdefghijklmnop\n\n--abcdefghijXX\nX-H: 1\n\nbody\n", s)
        #expect(classes(m).contains("mime X-H: 1"))
    }

    @Test func headerSizeLimitCutsAndDrops() {
        var s = CleanupMessage.Settings()
        s.addMissingHeaders = false
        s.headerSizeLimit = 1000
        let one = run("X-Long: " + String(repeating: "y", count: 1500) + "\nX-After: 1\n\nb", s)
        #expect(one.output[0].count == 1000 && one.output[1] == Array("X-After: 1".utf8))
        let a = String(repeating: "a", count: 300), b = String(repeating: "b", count: 300), c = String(repeating: "c", count: 600)
        let many = run("X-Long: \(a)\n \(b)\n \(c)\n dd\nX-After: 1\n\nb", s)
        #expect(many.output.map(\.count).prefix(4) == [308, 301, 389, 10])
        let d = String(repeating: "d", count: 300)
        let dropped = run("X-L: \(a)\n \(b)\n \(b)\n \(d)\n e\nX-After: 1\n\nb", s)
        #expect(dropped.output.map(\.count).prefix(4) == [305, 301, 301, 10])
    }

    @Test func bodyChecksSizeLimitAndEmptyLines() {
        var s = classifying()
        s.bodyChecksSizeLimit = 300
        let body = String(repeating: String(repeating: "x", count: 50) + "\n", count: 5) + "limit1\n\n"
            + String(repeating: String(repeating: "x", count: 50) + "\n", count: 5) + "limit2"
        let got = classes(run("Subject: s\n\n" + body, s))
        #expect(got.contains("body limit1") && !got.contains("body limit2"))
        #expect(!got.contains("body "))
    }

    @Test func actionsThatEndFiltering() {
        for action in ["REDIRECT a@b.test", "PASS", "DISCARD"] {
            var s = CleanupMessage.Settings()
            s.addMissingHeaders = false
            s.headerChecks = { (t: String) throws(CleanupTemporaryError) -> String? in t.hasPrefix("Subject") ? action : "WARN" }
            let m = run("Subject: s\nX-A: 1\n\nb", s)
            #expect(!m.logLines.contains { $0.contains("warning: header X-A") }, "\(action)")
        }
        var s = CleanupMessage.Settings()
        s.headerChecks = { (_: String) throws(CleanupTemporaryError) -> String? in "STRIP gone" }
        s.addMissingHeaders = false
        let m = run("Subject: s\n\nb", s)
        #expect(m.output == [[], Array("b".utf8)])
        #expect(m.logLines[0] == "Q1: strip: header Subject: s from local; from=<s@x> to=<r@x>: gone")
        s.headerChecks = { (_: String) throws(CleanupTemporaryError) -> String? in "BOGUS x" }
        #expect(run("Subject: s\n\nb", s).logLines[0] == "warning: unknown command in header_checks map: BOGUS x")
    }

    @Test func discardSuppressesMessageID() {
        var s = CleanupMessage.Settings()
        s.queueID = "Q1"
        s.headerChecks = { (_: String) throws(CleanupTemporaryError) -> String? in "DISCARD" }
        let m = run("Subject: s\n\nb", s)
        #expect(m.verdict == .discard && !m.logLines.contains { $0.contains("message-id") } && m.output.isEmpty)
    }

    @Test func resentHeadersGetTheMissingOnes() {
        var s = CleanupMessage.Settings()
        s.queueID = "Q1"
        s.myhostname = "h.test"
        s.sender = "s@x"
        s.undisclosedRecipientsHeader = "To: undisclosed-recipients:;"
        let m = run("Resent-Sender: y\nSubject: nothing\n\nb", s)
        let out = m.output.map { String(decoding: $0, as: UTF8.self) }
        #expect(out[2].hasPrefix("Resent-Message-Id: <") && out[3].hasPrefix("Resent-Date: ") && out[4] == "Resent-From: s@x")
        #expect(out[5] == "To: undisclosed-recipients:;")
        #expect(m.logLines[0].hasPrefix("Q1: resent-message-id=<") && m.logLines[1] == "Q1: message-id=<>")
    }

    @Test func headerAddressRewriting() {
        var s = CleanupMessage.Settings()
        s.addMissingHeaders = false
        s.headerRewriter = { (external: String, sender: Bool) throws(CleanupTemporaryError) -> (address: String, changed: Bool) in
            let plain = HeaderAddressParser.internalForm(external: external)
            if plain.contains("@") || plain.isEmpty { return (plain, false) }
            return (plain + (sender ? "@sender.test" : "@rcpt.test"), true)
        }
        let m = run("From: Al (the boss) <al>\nTo: bob, Carol <carol@x.test>, a b\nCc: x@y\nSubject: s\n\nb", s)
        let out = m.output.map { String(decoding: $0, as: UTF8.self) }
        #expect(out[0] == "From: Al (the boss) <al@sender.test>")
        #expect(out[1] == "To: bob@rcpt.test, Carol <carol@x.test>, a@rcpt.test, b@rcpt.test")
        #expect(out[2] == "Cc: x@y")  // nothing changed: kept as it was
    }

    @Test func hostileContentNeverCrashes() {
        var s = classifying()
        s.headerSizeLimit = 100
        var text = String(repeating: "X-H: " + String(repeating: "z", count: 300) + "\n\t", count: 50) + "\n"
        text += "Content-Type: multipart/mixed; boundary=\"\n\n--\n--\"\n"
        text += String(repeating: "--a\nContent-Type: multipart/mixed; boundary=a\n\n", count: 2000)
        text += String(repeating: ":\n", count: 100) + "\u{0}\u{1}\u{ff}\n"
        let m = run(text, s)
        #expect(!m.output.isEmpty)
    }
}

@Suite struct CleanupMasqueradeTests {
    let domains = ["!keep.example.test", "example.test"]
    func masq(_ a: String, _ exceptions: Set<String> = []) -> String {
        CleanupAddressMaps.masquerade(a, domains: domains, isException: { exceptions.contains($0) })
    }

    @Test func forms() {
        #expect(masq("u@sub.example.test") == "u@example.test")
        #expect(masq("u@Sub.Example.Test") == "u@example.test")
        #expect(masq("u@example.test") == "u@example.test")
        #expect(masq("u@a.keep.example.test") == "u@a.keep.example.test")
        #expect(masq("u@other.test") == "u@other.test")
        #expect(masq("root@sub.example.test", ["root"]) == "root@sub.example.test")
        #expect(masq("nodomain") == "nodomain")
    }
}
