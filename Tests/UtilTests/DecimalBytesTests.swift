import XCTest
import Util

final class DecimalBytesTests: XCTestCase {
    func testDigitsAgreeWithString() {
        for value in [0, 1, 9, 10, -1, -10, 123_456_789, Int.max, Int.min, 1 << 40] {
            var bytes: [UInt8] = Array("x=".utf8)
            bytes.appendDecimal(value)
            XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "x=\(value)")
        }
    }

    func testUTF8IsAppended() {
        var bytes: [UInt8] = []
        bytes.appendUTF8("héllo")
        bytes.appendUTF8(String(repeating: "z", count: 40))
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "héllo" + String(repeating: "z", count: 40))
    }
}
