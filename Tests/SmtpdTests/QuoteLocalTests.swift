// QuoteLocalTests: the Received: header's `for <...>` quotes a local part
// exactly when RFC 5321's dot-atom cannot carry it (checked against the
// plain character-by-character reading).
import XCTest
@testable import smtpd

final class QuoteLocalTests: XCTestCase {
    private func plain(_ address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return address }
        let local = address[..<at]
        let special = local.contains { c in " \"(),:;<>@[\\]".contains(c) } || local.hasPrefix(".")
            || local.hasSuffix(".") || local.contains("..")
        return special ? "\"" + local.replacingOccurrences("\"", "\\\"") + "\"" + address[at...] : address
    }

    func testQuotingAgreesWithThePlainReading() {
        let cases = ["user@example.com", "first.last@example.com", "a b@example.com", ".lead@x", "trail.@x",
                     "two..dots@x", "quo\"te@x", "par(en@x", "a@b@c", "semi;colon@x", "x@", "@x", "noat",
                     "ünï.cödé@x", "back\\slash@x", "br[ack]et@x", "comma,@x", "colon:@x", "lt<gt>@x", "."]
        for c in cases {
            XCTAssertEqual(SmtpdSession.quoteLocal(c), plain(c), c)
        }
    }
}
