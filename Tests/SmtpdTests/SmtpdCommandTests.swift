import XCTest
@testable import smtpd
import SmtpdPolicy

final class SmtpdCommandTests: XCTestCase {
    func testVerbSplit() {
        XCTAssertEqual(SmtpdCommand.split("mail FROM:<a@b>").verb, "MAIL")
        XCTAssertEqual(String(SmtpdCommand.split("  ehlo   x.example").rest), "x.example")
        XCTAssertEqual(SmtpdCommand.split("").verb, "")
        // Only ASCII letters change case: "rſet" is no RSET (U+017F would
        // upper-case to S).
        XCTAssertEqual(SmtpdCommand.split("r\u{17F}et").verb, "R\u{17F}ET")
        XCTAssertEqual(SmtpdCommand.split("éhlo x").verb, "éHLO")
        // C isspace(): a bare CR separates words, as Postfix's smtpd_token.
        XCTAssertEqual(SmtpdCommand.split("NOOP\rMAIL FROM:<a@b>").verb, "NOOP")
        // Bytes, not Characters: "\r\n" is two spaces (as one Character it
        // would be none), and so are vertical tab and form feed.
        let crlf = SmtpdCommand.split("NOOP\r\nx")
        XCTAssertEqual(crlf.verb, "NOOP")
        XCTAssertEqual(String(crlf.rest), "x")
        XCTAssertEqual(String(SmtpdCommand.split("\u{0B}helo\u{0C}\tname ").rest), "name ")
    }

    func testUTF8Validation() {
        XCTAssertTrue(SmtpdCommand.isValidUTF8(Array("MAIL FROM:<ä@b>".utf8)))
        XCTAssertFalse(SmtpdCommand.isValidUTF8([0x4D, 0xE4, 0x40]))        // Latin-1
        XCTAssertFalse(SmtpdCommand.isValidUTF8([0xC3, 0x28]))              // bad tail
        XCTAssertFalse(SmtpdCommand.isValidUTF8([0xC0, 0xAF]))              // overlong
        XCTAssertFalse(SmtpdCommand.isValidUTF8([0xED, 0xA0, 0x80]))        // surrogate
        XCTAssertFalse(SmtpdCommand.isValidUTF8([0xF4, 0x90, 0x80, 0x80]))  // above U+10FFFF
        XCTAssertFalse(SmtpdCommand.isValidUTF8([0xFF]))
    }

    func testPaths() throws {
        func addr(_ s: String, strict: Bool = false) -> String? {
            if case .success(let p) = SmtpdCommand.path(Substring(s), keyword: "FROM:", strict: strict) { return p.address }
            return nil
        }
        XCTAssertEqual(addr("FROM:<a@b>"), "a@b")
        XCTAssertEqual(addr("from: <a@b>"), "a@b")
        XCTAssertEqual(addr("FROM:<>"), "")
        XCTAssertEqual(addr("FROM:a@b"), "a@b")
        XCTAssertNil(addr("FROM:a@b", strict: true))
        XCTAssertEqual(addr("FROM:<\"a b\"@c>"), "a b@c")
        XCTAssertEqual(addr("FROM:<@x,@y:a@b>"), "a@b")
        XCTAssertEqual(addr("FROM:<a@b>>"), "a@b")
        XCTAssertNil(addr("FROM:<a b@c>"))
        XCTAssertNil(addr("FROM:<a@b"))
        XCTAssertEqual(SmtpdCommand.path("TO", keyword: "TO:", strict: false).failureValue, .syntax)
        if case .success(let p) = SmtpdCommand.path("FROM:<a@b> SIZE=10 BODY=8BITMIME", keyword: "FROM:", strict: false) {
            XCTAssertEqual(p.parameters, ["SIZE=10", "BODY=8BITMIME"])
        } else { XCTFail() }
        // The ">" is found byte by byte, even with a combining mark after it
        // (one Character with it); what follows up to a blank goes with it.
        if case .success(let p) = SmtpdCommand.path("FROM:<a@b>\u{338} \tSIZE=10  ", keyword: "FROM:", strict: false) {
            XCTAssertEqual(p.address, "a@b")
            XCTAssertEqual(p.parameters, ["SIZE=10"])
        } else { XCTFail() }
        XCTAssertEqual(addr("FROM:<\"a>b\"@c>"), "a>b@c")
        XCTAssertEqual(addr("fRoM:\t<x@y>"), "x@y")
        XCTAssertEqual(SmtpdCommand.path("FRO", keyword: "FROM:", strict: false).failureValue, .syntax)
        XCTAssertEqual(SmtpdCommand.path("FROM:  ", keyword: "FROM:", strict: false).failureValue, .syntax)
    }

    func testDSNParameters() {
        XCTAssertEqual(SmtpdCommand.xtextDecode("a+2Bb"), "a+b")
        XCTAssertNil(SmtpdCommand.xtextDecode("a+2"))
        XCTAssertNil(SmtpdCommand.xtextDecode("a\u{01}"))
        XCTAssertEqual(SmtpdCommand.notifyFlags("NEVER"), 1)
        XCTAssertEqual(SmtpdCommand.notifyFlags("SUCCESS,DELAY,FAILURE"), 14)
        // Postfix's values (checked with Debian's sendmail -bs): FAILURE 4, DELAY 8.
        XCTAssertEqual(SmtpdCommand.notifyFlags("SUCCESS,DELAY"), 10)
        XCTAssertEqual(SmtpdCommand.notifyFlags("FAILURE"), 4)
        XCTAssertNil(SmtpdCommand.notifyFlags("NEVER,SUCCESS"))
        XCTAssertNil(SmtpdCommand.notifyFlags("FOO"))
        // dsn_notify_mask: a repeated word is harmless.
        XCTAssertEqual(SmtpdCommand.notifyFlags("SUCCESS,SUCCESS"), 2)
        XCTAssertEqual(SmtpdCommand.unknownNotifyWord("SUCCESS,SOMETIMES").map(String.init), "SOMETIMES")
        XCTAssertNil(SmtpdCommand.unknownNotifyWord("NEVER,SUCCESS"))
        XCTAssertEqual(SmtpdCommand.orcpt("rfc822;a+2Bb@c")?.address, "a+b@c")
        XCTAssertNil(SmtpdCommand.orcpt("foo"))
    }

    func testEscapeAndHeaders() {
        XCTAssertEqual(SmtpdCommand.escaped(Array("MAIL FROM:<a>\r\n".utf8)), "MAIL FROM:<a>\\r\\n")
        XCTAssertTrue(SmtpdCommand.looksLikeHeader("SUBJECT:"))
        XCTAssertTrue(SmtpdCommand.looksLikeHeader("MAILFROM:<a@example.org>"))
        XCTAssertFalse(SmtpdCommand.looksLikeHeader(":x"))
        XCTAssertFalse(SmtpdCommand.looksLikeHeader("NOOP"))
        XCTAssertFalse(SmtpdCommand.looksLikeHeader("FROM:"[...].dropLast().uppercased()))
    }

    func testReplyDSNFollowsCode() {
        XCTAssertEqual(SmtpReply(454, "5.7.1", "x").description, "454 4.7.1 x")
        XCTAssertEqual(SmtpReply(459, "", "<d>: service unavailable").description, "459 <d>: service unavailable")
        XCTAssertEqual(SmtpReply.leadingDSN("5.7.2 num text")?.dsn, "5.7.2")
        XCTAssertNil(SmtpReply.leadingDSN("num text"))
    }

    func testInternalFormOfPlainAndSpecialAddresses() {
        let cases: [(String, String?)] = [
            ("user@example.com", "user@example.com"), ("", ""), ("postmaster", "postmaster"),
            ("\"a b\"@x", "a b@x"), ("@a,@b:u@d", "u@d"), ("a b@x", nil), ("a<b@x", nil), ("a\u{7F}@x", nil),
            ("ü@x", "ü@x"), ("a\\b@x", "ab@x"), ("a\\@b@x", "a@b@x"), ("\"q\\\"\"@x", "q\"@x"), ("\"open@x", nil),
        ]
        for (given, expected) in cases {
            XCTAssertEqual(SmtpdCommand.internalForm(given[...], strict: false), expected, given)
        }
    }
}

extension Result {
    var failureValue: Failure? { if case .failure(let f) = self { return f }; return nil }
}
