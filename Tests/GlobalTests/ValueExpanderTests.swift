// ValueExpanderTests: every `$` form of main.cf values (golden cases).
import XCTest
@testable import Global

final class ValueExpanderTests: XCTestCase {
    let table: [String: String] = [
        "myhostname": "mail.example.com", "empty": "", "x": "3", "level": "3.6",
        "ref": "$myhostname", "loop1": "$loop2", "loop2": "$loop1", "nested": "${ref?{[$ref]}}",
    ]

    private func expand(_ text: String) throws -> String {
        var expander = ValueExpander { self.table[$0] }
        return try expander.expand(text)
    }

    func testExpansionForms() throws {
        let cases: [(String, String)] = [
            ("$myhostname", "mail.example.com"),
            ("${myhostname}", "mail.example.com"),
            ("$(myhostname)", "mail.example.com"),
            ("<$myhostname>", "<mail.example.com>"),
            ("$undefined", ""),
            ("$$myhostname", "$myhostname"),
            ("${myhostname?yes}", "yes"),
            ("${empty?yes}", ""),
            ("${undefined?yes}", ""),
            ("${myhostname:no}", ""),
            ("${empty:no}", "no"),
            ("${myhostname?{a, b}}", "a, b"),
            ("${empty:{a, b}}", "a, b"),
            ("${myhostname?{a}:{b}}", "a"),
            ("${empty?{a}:{b}}", "b"),
            ("${empty?{a}:b}", "b"),
            ("${ref}", "mail.example.com"),
            ("$nested", "[mail.example.com]"),
            ("${{$x} == {3} ? {eq} : {ne}}", "eq"),
            ("${{$x} != {3} ? {ne} : {eq}}", "eq"),
            ("${{2} < {10} ? {lt} : {ge}}", "lt"),
            ("${{abc} < {abd} ? {lt} : {ge}}", "lt"),
            ("${{10} <= {9} ? {le} : {gt}}", "gt"),
            ("${{$level} <level {2} ? {old} : {new}}", "new"),
            ("${{0} <level {2} ? {subnet} : {host}}", "subnet"),
            ("${{3.6} >=level {3.6} ? {y} : {n}}", "y"),
            ("${{3.10} >level {3.9} ? {y} : {n}}", "y"),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(try expand(input), expected, input)
        }
    }

    func testErrors() {
        XCTAssertThrowsError(try expand("${myhostname")) { error in
            XCTAssertEqual(error as? ExpansionError, .truncatedReference("${myhostname"))
        }
        XCTAssertThrowsError(try expand("a $ b")) { error in
            XCTAssertEqual(error as? ExpansionError, .emptyName("a $ b"))
        }
        XCTAssertThrowsError(try expand("$loop1")) { error in
            // Postfix gives up at the 102nd nested reference, which here is loop2.
            XCTAssertEqual(error as? ExpansionError, .tooDeep("loop2"))
        }
    }

    func testUndefinedNamesAreCollected() throws {
        var expander = ValueExpander { self.table[$0] }
        _ = try expander.expand("$a ${b?x} $myhostname ${c:y}")
        XCTAssertEqual(expander.undefinedNames, ["a", "b", "c"])
    }

    func testReferencedNamesVisitBothBranches() throws {
        XCTAssertEqual(try ValueExpander.referencedNames("$a ${b?{$c}:{$d}} $$e ${f:$g}"), ["a", "b", "c", "d", "f", "g"])
    }
}
