// PatternTableTests: unit cases for regexp, pcre and cidr tables — the
// shared line syntax, substitution, if/endif, the inline `type:{...}` form,
// and errors when opening. (The differential cases against Debian's
// postmap are in PatternTableOracleTests.)
import XCTest
import Foundation
@testable import Tables

final class PatternTableTests: XCTestCase {
    private var files: [String] = []

    override func tearDown() {
        for file in files { try? FileManager.default.removeItem(atPath: file) }
        files = []
    }

    private func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pt-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        files.append(path)
        return path
    }

    private func open(_ type: String, _ text: String, warnings: inout [String]) throws -> LookupTable {
        let path = try file(text)
        var collected: [String] = []
        let table = try PatternTableOracleTests.open(type, path) { collected.append($0.replacingOccurrences(of: path, with: "F")) }
        warnings = collected
        return table
    }

    private func open(_ type: String, _ text: String) throws -> LookupTable {
        var warnings: [String] = []
        let table = try open(type, text, warnings: &warnings)
        XCTAssertEqual(warnings, [], "unexpected warnings")
        return table
    }

    func testProperties() throws {
        for type in ["regexp", "pcre", "cidr"] {
            let table = try TableOpener.open("\(type):" + file(""))
            XCTAssertEqual(table.keyCase, .asGiven)
            XCTAssertTrue(table.isPatternTable)
            XCTAssertNil(try table.find("1.2.3.4"))
        }
    }

    func testRegexpAndPCRECommonSyntax() throws {
        for type in ["regexp", "pcre"] {
            let table = try open(type, """
                # header checks
                /^Subject: (.*) money/     REJECT no $1 please
                !/@/                       DUNNO
                if /@example\\.com$/
                /^postmaster@/             OK
                /^(.+)-outgoing@(.*)$/     550 Use ${1}@$(2) instead $$5
                endif
                /^(a)|(b)x/i               [$1][$2]
                /^multi/                   PREPEND X-One: 1
                  X-Continued

                """)
            XCTAssertEqual(try table.find("Subject: make MONEY fast"), "REJECT no make please", type)
            XCTAssertEqual(try table.find("no-at-sign"), "DUNNO", type)
            XCTAssertEqual(try table.find("POSTMASTER@example.com"), "OK", type)
            XCTAssertEqual(try table.find("list-outgoing@example.com"), "550 Use list@example.com instead $5", type)
            XCTAssertNil(try table.find("list-outgoing@example.org"), type)
            XCTAssertEqual(try table.find("bx@y"), "[][b]", type)
            XCTAssertNil(try table.find("BX@y"), type)
            XCTAssertEqual(try table.find("multi@x"), "PREPEND X-One: 1  X-Continued", type)
        }
    }

    func testNestedIfAndUnclosedIf() throws {
        var warnings: [String] = []
        let table = try open("regexp", "if /a/\nif /b/\n/c/ abc\n", warnings: &warnings)
        XCTAssertEqual(warnings, ["regexp map F, line 2: IF has no matching ENDIF", "regexp map F, line 1: IF has no matching ENDIF"])
        XCTAssertEqual(try table.find("abc"), "abc")
        XCTAssertNil(try table.find("ac"))
    }

    func testBadRulesAreSkippedWithWarnings() throws {
        var warnings: [String] = []
        let regexp = try open("regexp", "/a(/ x\n/(a)/ $2\n!/(a)/ $1\n/a/ ok\n", warnings: &warnings)
        XCTAssertEqual(warnings, [
            "regexp map F, line 1: Unmatched ( or \\(",
            "regexp map F, line 2: out of range replacement index \"2\": skipping this rule",
            "regexp map F, line 3: $number found in negative match replacement text: skipping this rule",
        ])
        XCTAssertEqual(try regexp.find("a"), "ok")
        let pcre = try open("pcre", "/a(/ x\n/a/q y\n/a/ ok\n", warnings: &warnings)
        XCTAssertEqual(warnings, [
            "pcre map F, line 1: error in regex at offset 2: missing closing parenthesis",
            "pcre map F, line 2: unknown regexp option \"q\": skipping this rule",
        ])
        XCTAssertEqual(try pcre.find("a"), "ok")
    }

    func testPCREOnlyFlags() throws {
        let table = try open("pcre", "/(a+)/U lazy=$1\n/^x.y$/s nodot\n/^x.y$/ dot\n")
        XCTAssertEqual(try table.find("aaa"), "lazy=a")
        XCTAssertEqual(try table.find("x\ny"), "dot")
    }

    func testRegexpTwoPatternRule() throws {
        let table = try open("regexp", "/^(.*)@example\\.com$/!/^root@/ user $1\n")
        XCTAssertEqual(try table.find("joe@example.com"), "user joe")
        XCTAssertNil(try table.find("root@example.com"))
    }

    func testCIDR() throws {
        let table = try open("cidr", """
            192.168.1.1         OK
            192.168.0.0/16      REJECT
            if 2001:db8::/32
            !2001:db8:1::/48    not-in-1
            endif
            [10.0.0.0]/8        ten

            """)
        XCTAssertEqual(try table.find("192.168.1.1"), "OK")
        XCTAssertEqual(try table.find("192.168.200.1"), "REJECT")
        XCTAssertEqual(try table.find("2001:db8:2::1"), "not-in-1")
        XCTAssertNil(try table.find("2001:db8:1::1"))
        XCTAssertNil(try table.find("2001:db9::1"))
        XCTAssertEqual(try table.find("10.20.30.40"), "ten")
        XCTAssertNil(try table.find("[10.20.30.40]"))
        XCTAssertNil(try table.find("not-an-address"))
    }

    func testCIDRBadPatterns() throws {
        var warnings: [String] = []
        _ = try open("cidr", "10.0.0.1/8 a\n10.0.0.0/33 b\n10.0.0.0 \n", warnings: &warnings)
        XCTAssertEqual(warnings, [
            "cidr map F, line 1: non-null host address bits in \"10.0.0.1/8\", perhaps you should use \"10.0.0.0/8\" instead: skipping this rule",
            "cidr map F, line 2: bad mask length in \"10.0.0.0/33\": skipping this rule",
            "cidr map F, line 3: no lookup result: skipping this rule",
        ])
    }

    func testInlineForm() throws {
        let regexp = try TableOpener.open("regexp:{ {/^a(.)/ got $1}, { !/x/ no-x } }")
        XCTAssertEqual(try regexp.find("ab"), "got b")
        XCTAssertEqual(try regexp.find("zz"), "no-x")
        XCTAssertNil(try regexp.find("x"))
        let cidr = try TableOpener.open("cidr:{{1.2.3.0/24 net}}")
        XCTAssertEqual(try cidr.find("1.2.3.9"), "net")
        XCTAssertThrowsError(try TableOpener.open("cidr:{1.2.3.4 x}")) { error in
            XCTAssertEqual(error as? LookupError, .configuration("cidr map: no '{' at start of text in \"1.2.3.4\""))
        }
        XCTAssertNil(try TableOpener.open("pcre:{}").find("a"))
    }

    func testMissingFile() {
        for type in ["regexp", "pcre", "cidr"] {
            XCTAssertThrowsError(try TableOpener.open("\(type):/nonexistent/table")) { error in
                XCTAssertEqual(error as? LookupError, .configuration("open /nonexistent/table: No such file or directory"))
            }
        }
    }

    func testReplacementParsing() {
        var warnings: [String] = []
        let good = PatternTableReplacement.parse("a$1${2}$(3)$$", prefix: "P: ", zeroIndex: "out of range") { warnings.append($0) }
        XCTAssertEqual(good?.highestGroup, 3)
        XCTAssertEqual(good?.expand { n in ArraySlice(Array("<\(n)>".utf8)) }, "a<1><2><3>$")
        XCTAssertNil(PatternTableReplacement.parse("$x ${1", prefix: "P: ", zeroIndex: "out of range") { warnings.append($0) })
        XCTAssertEqual(warnings, ["P: non-numeric replacement index \"x\"", "truncated macro reference: \"$x ${1\""])
    }
}
