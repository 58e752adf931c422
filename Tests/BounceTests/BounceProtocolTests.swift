// BounceProtocolTests: the bounce request codec (round trips and strict
// decoding), the NOTIFY rules, status codes, and logfile entries with
// diagnostic and MTA fields.
import XCTest
@testable import Global

final class BounceProtocolTests: XCTestCase {
    func testNotifyRoundTrip() throws {
        let r = BounceNotifyRequest(command: .warn, flags: .clean, queueName: "active", queueID: "ABC123",
                                    encoding: "8bit", sender: "a@example.com", envelopeID: "env1", returnFlags: 2)
        XCTAssertEqual(try BounceNotifyRequest.decode(r.encoded()), r)
        XCTAssertEqual(r.encoded()["nrequest"], "2")
        XCTAssertNil(r.encoded()["verp_delimiters"])
        var v = r
        v.command = .verp
        v.verpDelimiters = "+="
        XCTAssertEqual(try BounceNotifyRequest.decode(v.encoded()), v)
    }

    func testNotifyDecodeIsStrict() {
        func list(_ pairs: [(String, String)]) -> AttributeList { AttributeList(pairs) }
        let base = [("nrequest", "1"), ("queue_name", "active"), ("queue_id", "ABC"), ("sender", "")]
        XCTAssertNoThrow(try BounceNotifyRequest.decode(list(base)))
        XCTAssertThrowsError(try BounceNotifyRequest.decode(list([("nrequest", "0")] + base.dropFirst())))
        XCTAssertThrowsError(try BounceNotifyRequest.decode(list([("nrequest", "9")] + base.dropFirst())))
        XCTAssertThrowsError(try BounceNotifyRequest.decode(list([("nrequest", "x")] + base.dropFirst())))
        XCTAssertThrowsError(try BounceNotifyRequest.decode(list(base.filter { $0.0 != "sender" })))
        var bad = base
        bad[1] = ("queue_name", "../etc")
        XCTAssertThrowsError(try BounceNotifyRequest.decode(list(bad)))
        bad = base
        bad[2] = ("queue_id", "a/b")
        XCTAssertThrowsError(try BounceNotifyRequest.decode(list(bad)))
    }

    func testAppendRoundTripAndStatusCheck() throws {
        let entry = DeferLogEntry(recipient: "b@example.net", original: "o@example.net", offset: 731,
                                  dsnOriginalRecipient: "rfc822;o@example.net", notifyFlags: 6, status: "5.1.1",
                                  action: "failed", reason: "host said no", diagType: "smtp",
                                  diagText: "550 5.1.1 no such user", mtaType: "dns", mtaName: "mx.example.net")
        let r = BounceAppendRequest(flags: .deleteRecipient, queueID: "QID1", entry: entry)
        XCTAssertEqual(try BounceAppendRequest.decode(r.encoded()), r)
        var list = r.encoded()
        list = AttributeList(list.pairs.map { $0.name == "status" ? ($0.name, "5.1") : ($0.name, $0.value) })
        XCTAssertThrowsError(try BounceAppendRequest.decode(list))
    }

    func testNotifyRules() {
        typealias N = BounceProtocol.Notify
        XCTAssertTrue(N.wants(0, N.failure))
        XCTAssertTrue(N.wants(0, N.delay))
        XCTAssertFalse(N.wants(0, N.success))
        XCTAssertFalse(N.wants(N.never, N.failure))
        XCTAssertTrue(N.wants(N.success | N.failure, N.failure))
        XCTAssertFalse(N.wants(N.success, N.failure))
        XCTAssertFalse(N.wants(N.failure, N.delay))
    }

    func testStatusCodes() {
        for good in ["2.0.0", "4.3.0", "5.7.1", "5.123.999"] { XCTAssertTrue(BounceStatus.isValid(good), good) }
        for bad in ["", "5.1", "6.0.0", "5.x.1", "5..1", "55.1.1", "5.1.1.1", "5.1234.1"] {
            XCTAssertFalse(BounceStatus.isValid(bad), bad)
        }
    }

    func testLogEntryWithDiagnosticsRoundTrips() {
        let entry = DeferLogEntry(recipient: "defer1@example.net", offset: 731,
                                  dsnOriginalRecipient: "rfc822;defer1@example.net", status: "4.2.0", action: "delayed",
                                  reason: "host said: 450 try later", diagType: "smtp", diagText: "450 4.2.0 try later",
                                  mtaType: "dns", mtaName: "127.0.0.1")
        // Postfix's order (reference §13).
        XCTAssertEqual(entry.text, "\n<defer1@example.net>: host said: 450 try later\nrecipient=defer1@example.net\n"
                       + "offset=731\ndsn_orig_rcpt=rfc822;defer1@example.net\nstatus=4.2.0\naction=delayed\n"
                       + "diag_type=smtp\ndiag_text=450 4.2.0 try later\nmta_type=dns\nmta_mname=127.0.0.1\n"
                       + "reason=host said: 450 try later\n\n")
        XCTAssertEqual(DeferLogEntry.parse(entry.text), [entry])
    }

    func testNewlinesCannotForgeEntries() {
        let entry = DeferLogEntry(recipient: "a@example.net", offset: 1, status: "5.0.0", action: "failed",
                                  reason: "bad\nrecipient=evil@example.net\n\nrecipient=x")
        let parsed = DeferLogEntry.parse(entry.text)
        XCTAssertEqual(parsed.count, 1)
        XCTAssertEqual(parsed.first?.recipient, "a@example.net")
    }
}
