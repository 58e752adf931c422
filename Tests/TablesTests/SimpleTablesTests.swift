// SimpleTablesTests: static, inline, texthash, unix and fail tables.
import XCTest
import Foundation
@testable import Tables

final class SimpleTablesTests: XCTestCase {
    func testStaticAndInline() throws {
        XCTAssertEqual(try TableOpener.open("static:5000").find("anything"), "5000")
        XCTAssertEqual(try TableOpener.open("static:{ text with space }").find("x"), "text with space")
        let inline = try TableOpener.open("inline:{ a=1, B=2, { c = text, with comma } }")
        XCTAssertEqual(try inline.find("a"), "1")
        XCTAssertEqual(try inline.find("b"), "2")
        XCTAssertEqual(try inline.find("C"), "text, with comma")
        XCTAssertNil(try inline.find("d"))
    }

    func testTextHashReadsSourceFormat() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("th-\(UUID().uuidString)").path
        try "# comment\nUser@Example.COM  ok\n\nlong  first\n  second\n\"quoted key\" v\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let table = try TableOpener.open("texthash:" + path)
        XCTAssertEqual(try table.find("user@example.com"), "ok")
        XCTAssertEqual(try table.find("LONG"), "first  second")
        XCTAssertEqual(try table.find("\"quoted key\""), "v")  // quotes are part of the key, as in Postfix
    }

    func testUnixPasswdAndErrors() throws {
        XCTAssertEqual(try TableOpener.open("unix:passwd.byname").find("root")?.hasPrefix("root:x:0:0:"), true)
        XCTAssertNil(try TableOpener.open("unix:passwd.byname").find("no-such-user-here"))
        XCTAssertThrowsError(try TableOpener.open("nosuch:x")) { error in
            XCTAssertEqual(error as? LookupError, .configuration("unsupported dictionary type: nosuch"))
        }
        XCTAssertThrowsError(try TableOpener.open("fail:x").find("k")) { error in
            XCTAssertEqual(error as? LookupError, .temporary("fail:x: table lookup failed"))
        }
    }
}
