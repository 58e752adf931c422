// StringScanningTests: Postfix's white space, trimming and list splitting.
import XCTest
@testable import Util

final class StringScanningTests: XCTestCase {
    func testTrimming() {
        XCTAssertEqual(" \t a b \r\n".trimmingPostfixSpace(), "a b")
        XCTAssertEqual("".trimmingPostfixSpace(), "")
    }

    func testListSplitting() {
        XCTAssertEqual("a, b,,c\td".splitList(), ["a", "b", "c", "d"])
        XCTAssertEqual("permit, check_sender_access inline:{ a=OK, b=REJECT }, reject".splitListGrouped(),
                       ["permit", "check_sender_access", "inline:{ a=OK, b=REJECT }", "reject"])
    }

    func testPrintableReplacesNonASCII() {
        XCTAssertEqual(Diagnostics.printable("été=x\t"), "??t??=x?")
    }
}
