import XCTest
@testable import smtpd

final class DataFramingTests: XCTestCase {
    /// Feeds (line, end) pairs; returns the content lines and whether the data ended.
    func run(_ lines: [(String, LineEnd)]) -> (content: [String], ended: Bool) {
        var framing = DataFraming()
        var out: [String] = []
        for (text, end) in lines {
            let bytes = Array(text.utf8)
            if framing.isEnd(bytes, end) { return (out, true) }
            out.append(String(decoding: framing.content(bytes, end), as: UTF8.self))
        }
        return (out, false)
    }

    func testDotStuffingAndEnd() {
        let r = run([("..leading", .crlf), ("plain", .crlf), (".", .crlf), ("after", .crlf)])
        XCTAssertEqual(r.content, [".leading", "plain"])
        XCTAssertTrue(r.ended)
    }

    func testNoSmuggling() {
        // "." after a bare LF line, "." ended by a bare LF: content, not the end.
        let r = run([("a", .bareLF), (".", .crlf), ("b", .crlf), (".", .bareLF), ("c", .crlf)])
        XCTAssertEqual(r.content, ["a", "", "b", "", "c"])
        XCTAssertFalse(r.ended)
    }

    func testContinuedLinesKeepTheirDots() {
        let r = run([("xxxx", .truncated), (".yy", .crlf), (".", .truncated), ("", .crlf)])
        XCTAssertEqual(r.content, ["xxxx", ".yy", "", ""])
        XCTAssertFalse(r.ended)
    }

    func testBdatArguments() {
        XCTAssertEqual(SmtpdCommand.bdatArguments("100")?.size, 100)
        XCTAssertEqual(SmtpdCommand.bdatArguments("0 LAST")?.last, true)
        XCTAssertEqual(SmtpdCommand.bdatArguments("7 last")?.last, true)
        XCTAssertNil(SmtpdCommand.bdatArguments(""))
        XCTAssertNil(SmtpdCommand.bdatArguments("-1"))
        XCTAssertNil(SmtpdCommand.bdatArguments("1 LAST x"))
        XCTAssertNil(SmtpdCommand.bdatArguments("99999999999999999999"))
    }
}
