// MainConfigFileTests: main.cf as Postfix reads it (golden cases).
import XCTest
@testable import Global

final class MainConfigFileTests: XCTestCase {
    private func parse(_ text: String) throws -> MainConfigFile {
        try MainConfigFile.parse(text, path: "main.cf")
    }

    func testNameValueWhiteSpaceAndLastDefinitionWins() throws {
        let file = try parse("a = 1\nb=2\n  \nc =   three  words  \t\na = 4\n")
        XCTAssertEqual(file.values["a"], "4")
        XCTAssertEqual(file.values["b"], "2")
        XCTAssertEqual(file.values["c"], "three  words")
        XCTAssertEqual(file.entries.map(\.name), ["a", "b", "c", "a"])
        XCTAssertEqual(file.entries.map(\.firstLine), [1, 2, 4, 5])
    }

    func testContinuationLinesSkipCommentsAndBlankLines() throws {
        let file = try parse("myhostname = a\n  # comment\n  b\n\n   c\nmydomain = x\n")
        XCTAssertEqual(file.values["myhostname"], "a  b   c")
        XCTAssertEqual(file.entries[0].firstLine, 1)
        XCTAssertEqual(file.entries[0].lastLine, 5)
        XCTAssertEqual(file.values["mydomain"], "x")
    }

    func testUTF8CommentsAndValues() throws {
        let file = try parse("## 基本設定\n# コメント\nmyhostname = mail.例え.jp\n")
        XCTAssertEqual(file.values["myhostname"], "mail.例え.jp")
    }

    func testEmptyValueAndNoTrailingNewline() throws {
        let file = try parse("relayhost =\ncontent_filter=")
        XCTAssertEqual(file.values["relayhost"], "")
        XCTAssertEqual(file.values["content_filter"], "")
    }

    func testCRLFLineEndsReadAsPostfixReadsThem() throws {
        // Lines end at the newline byte; the carriage return before it is
        // white space (it once kept "\r\n" together as one Character and
        // read the whole file as one line).
        let file = try parse("myhostname = a.example\r\nmydomain = example\r\n# comment\r\nrelayhost = [x.example]\r\n  :25\r\n")
        XCTAssertEqual(file.values["myhostname"], "a.example")
        XCTAssertEqual(file.values["mydomain"], "example")
        XCTAssertEqual(file.values["relayhost"]?.split(whereSeparator: { $0 == " " || $0 == "\r" }), ["[x.example]", ":25"])
        XCTAssertEqual(file.entries.map(\.firstLine), [1, 2, 4])
        XCTAssertEqual(LogicalLines.physicalLines("a\n\nb"), ["a", "", "b"])
        XCTAssertEqual(LogicalLines.physicalLines("a\n\n"), ["a", ""])
        XCTAssertEqual(LogicalLines.physicalLines(""), [])
        XCTAssertEqual(LogicalLines.physicalLines("\n"), [""])
        XCTAssertEqual(LogicalLines.physicalLines("é\r\nü"), ["é\r", "ü"])
    }

    func testLeadingWhiteSpaceLineIsWarnedAndSkipped() throws {
        let file = try parse(" leading = x\nmyhostname = h\n")
        XCTAssertEqual(file.warnings, ["main.cf: logical line must not start with whitespace: \" leading = x\""])
        XCTAssertNil(file.values["leading"])
        XCTAssertEqual(file.values["myhostname"], "h")
    }

    func testErrorsNameTheLineAsPostfixDoes() {
        let cases: [(String, String)] = [
            ("bad line here\n", "main.cf, line 1: missing '=' after attribute name: \"bad line here\""),
            ("= bar\n", "main.cf, line 1: missing attribute name: \"= bar\""),
            ("a = 1\n\nfoo bar\n  q\n", "main.cf, line 3: missing '=' after attribute name: \"foo bar  q\""),
            ("myhostname = a\n  b\nfoo\n", "main.cf, line 3: missing '=' after attribute name: \"foo\""),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try parse(text), text) { error in
                XCTAssertEqual((error as? ConfigError)?.description, expected)
            }
        }
    }

    func testSeedMainCfReadsEveryDefinition() throws {
        let seed = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../shared/seed/etc/postfix/main.cf").standardized.path
        let file = try MainConfigFile.load(path: seed)
        XCTAssertEqual(file.values["myhostname"], "mail.hoge.org")
        XCTAssertEqual(file.values["debugger_command"],
                       "PATH=/bin:/usr/bin:/usr/local/bin\n     ddd $daemon_directory/$process_name $process_id & sleep 5"
                        .replacingOccurrences(of: "\n", with: ""))
        XCTAssertEqual(file.values["virtual_mailbox_limit_maps"], "mysql:/etc/postfix/mysql_virtual_mailbox_limit_maps.cf")
        XCTAssertEqual(file.values["receive_override_options"], "no_address_mappings")
        XCTAssertEqual(file.entries.count, 64)
    }
}
