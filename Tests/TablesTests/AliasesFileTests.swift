// AliasesFileTests: aliases(5) lines as Postfix's postalias stores them
// (expected values taken from Debian's postalias 3.7).
import XCTest
@testable import Tables

final class AliasesFileTests: XCTestCase {
    func testValuesInPostfixCanonicalForm() {
        let cases: [(String, String)] = [
            ("a  b", "a b"), ("a,b", "a, b"), ("a ,b", "a, b"), ("a , , b", "a, , b"),
            ("a @ b", "a@b"), ("a . b", "a.b"), ("<a@b>", "<a@b>"), ("Name <a@b>", "Name <a@b>"),
            ("\"x  y\" z", "\"x  y\" z"), ("a (comment) b", "a (comment) b"), ("a\\,b", "\"a,b\""),
            ("a;b", "a;b"), ("\"|cmd  with  spaces\"", "\"|cmd  with  spaces\""), ("|cmd arg", "|cmd arg"),
            ("/path/with space", "/path/with space"), (":include: /x", ":include:/x"), ("a \"b", "a \"b\""),
            ("a)b", "a)b"), ("a(b", "a (b"), ("a<b", "a <b"), ("a[b c]d", "a [b c] d"), ("a:b", "a:b"),
            ("a\\", "a"), ("x\ty", "x y"), ("a,", "a, "), (",a", ", a"),
            ("a\\ b, a\\\"b, a\\\\b, \\a, b\\", "\"a b\", \"a\\\"b\", \"a\\\\b\", a, b"),
            ("\"a\\\"b\", \"a\\\\b\", \"a\\b\"", "\"a\\\"b\", \"a\\\\b\", \"ab\""),
            ("(a(b)c) x, (a\\)b) y", "(a(b)c) x, (a\\)b) y"), ("[b  c], [a\\]b]", "[b  c], [a]b]"),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(AliasesFile.parseLine("k: " + input), .entry(name: "k", value: expected), input)
        }
    }

    func testNames() {
        XCTAssertEqual(AliasesFile.parseLine("\"a b\": x"), .entry(name: "a b", value: "x"))
        XCTAssertEqual(AliasesFile.parseLine("a\"b c\": d"), .entry(name: "a b c", value: "d"))
        XCTAssertEqual(AliasesFile.parseLine("sp ace: v"), .entry(name: "sp ace", value: "v"))
        XCTAssertEqual(AliasesFile.parseLine("Root: x"), .entry(name: "Root", value: "x"))
        XCTAssertEqual(AliasesFile.parseLine("\"a@b\": c"), .entry(name: "a@b", value: "c"))
        XCTAssertEqual(AliasesFile.parseLine("a@b: c"), .problem("name must be local"))
        XCTAssertEqual(AliasesFile.parseLine("a%b: c"), .problem("name must be local"))
        XCTAssertEqual(AliasesFile.parseLine("a!b: c"), .entry(name: "a!b", value: "c"))
        XCTAssertEqual(AliasesFile.parseLine("nocolon value"), .problem("need name:value pair"))
        XCTAssertEqual(AliasesFile.parseLine(": empty"), .problem("need name:value pair"))
        XCTAssertEqual(AliasesFile.parseLine("trailing:"), .problem("need name:value pair"))
    }

    func testFileWithContinuationsCommentsAndWarnings() {
        let text = "  lead: x\n# comment\nlist: :include:/etc/l,\n   \"|/usr/bin/prog arg\", /var/mail/file\n\tmore@x\nbad line\npostmaster:root\n"
        let parsed = AliasesFile.parse(text, fileName: "aliases")
        XCTAssertEqual(parsed.entries, [
            AliasesFile.Entry(name: "list", value: ":include:/etc/l, \"|/usr/bin/prog arg\", /var/mail/file more@x", line: 3),
            AliasesFile.Entry(name: "postmaster", value: "root", line: 7),
        ])
        XCTAssertEqual(parsed.warnings, [
            "aliases: logical line must not start with whitespace: \"  lead: x\"",
            "aliases, line 6: need name:value pair",
        ])
    }
}
