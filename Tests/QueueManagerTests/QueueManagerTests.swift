// QueueManagerTests: qmgr's pure scheduling decisions, the delivery
// status line, the delivery request codec, defer logfile entries and the
// mailq/JSON listing layout (expectations taken from Postfix 3.7 output).
import XCTest
@testable import Global
@testable import qmgr

final class QueueManagerTests: XCTestCase {
    func testTriggers() {
        let t = QmgrTriggers.parse(Array("AFD".utf8))
        XCTAssertTrue(t.scanAll && t.flushDead && t.scanDeferred)
        XCTAssertFalse(t.scanIncoming)
        XCTAssertTrue(QmgrTriggers.parse(Array("W".utf8)).scanIncoming)
        XCTAssertTrue(QmgrTriggers.parse(Array("I".utf8)).scanIncoming)
        XCTAssertEqual(QmgrTriggers.parse(Array("xyz".utf8)), QmgrTriggers())
    }

    func testBackoff() {
        // +300 s on the first try, +434 s when retried 434 s after creation.
        XCTAssertEqual(QmgrPolicy.backoff(now: 1000, createTime: 1000, minimal: 300, maximal: 4000), 300)
        XCTAssertEqual(QmgrPolicy.backoff(now: 1434, createTime: 1000, minimal: 300, maximal: 4000), 434)
        XCTAssertEqual(QmgrPolicy.backoff(now: 100_000, createTime: 1000, minimal: 300, maximal: 4000), 4000)
    }

    func testExpiry() {
        XCTAssertFalse(QmgrPolicy.expired(now: 10, createTime: 10, sender: "a@b", maximalLifetime: 5, bounceLifetime: 1, forced: false))
        XCTAssertTrue(QmgrPolicy.expired(now: 15, createTime: 10, sender: "a@b", maximalLifetime: 5, bounceLifetime: 100, forced: false))
        XCTAssertTrue(QmgrPolicy.expired(now: 11, createTime: 10, sender: "", maximalLifetime: 500, bounceLifetime: 1, forced: false))
        XCTAssertTrue(QmgrPolicy.expired(now: 0, createTime: 10, sender: "a", maximalLifetime: 500, bounceLifetime: 1, forced: true))
    }

    func testBatches() {
        XCTAssertEqual(QmgrPolicy.batches([1, 2, 3, 4, 5], limit: 2), [[1, 2], [3, 4], [5]])
        XCTAssertEqual(QmgrPolicy.batches([1, 2], limit: 0), [[1, 2]])
        XCTAssertEqual(QmgrPolicy.batches([Int](), limit: 3), [])
    }

    func testFilterRoute() {
        XCTAssertTrue(QmgrPolicy.filterRoute("smtp:[127.0.0.1]:10025", recipient: "a@b.c", defaultNexthop: "") == ("smtp", "[127.0.0.1]:10025"))
        XCTAssertTrue(QmgrPolicy.filterRoute("scan:", recipient: "a@b.c", defaultNexthop: "") == ("scan", "b.c"))
        XCTAssertTrue(QmgrPolicy.filterRoute("scan", recipient: "a@b.c", defaultNexthop: "dflt") == ("scan", "dflt"))
    }

    func testConcurrencyWindow() {
        var w = DestinationWindow(initial: 2, limit: 3)
        XCTAssertTrue(w.canStart); w.started()
        XCTAssertTrue(w.canStart); w.started()
        XCTAssertFalse(w.canStart)
        w.finished(failed: false)
        XCTAssertEqual(w.window, 3)
        XCTAssertTrue(w.canStart); w.started()
        XCTAssertTrue(w.canStart); w.started()
        XCTAssertFalse(w.canStart)
        w.finished(failed: false)
        XCTAssertEqual(w.window, 3)  // never above the limit
        w.finished(failed: true); w.finished(failed: true); w.finished(failed: true)
        XCTAssertEqual(w.window, 1)
        XCTAssertEqual(w.inFlight, 0)
        XCTAssertEqual(DestinationWindow(initial: 5, limit: 2).window, 2)
    }

    func testDelayFormatting() {
        let cases: [(Double, String)] = [(0, "0"), (0.004, "0"), (0.005, "0.01"), (0.06, "0.06"), (0.1, "0.1"),
                                         (0.999, "1"), (1, "1"), (1.26, "1.3"), (4.3, "4.3"), (9.96, "10"),
                                         (13.4, "13"), (136, "136"), (406.5, "407"), (-3, "0")]
        for (value, text) in cases { XCTAssertEqual(DeliveryStatusLog.formatDelay(value), text, "\(value)") }
    }

    func testStatusLine() {
        let times = DeliveryStatusLog.Times(arrival: 100, active: 100.01, handoff: 100.03, done: 100.03)
        XCTAssertEqual(DeliveryStatusLog.line(queueID: "64CB4F781B4", recipient: "x@discard.example", original: "x@discard.example",
                                              relay: "none", times: times, dsn: "2.0.0", status: "sent", text: "discard.example"),
                       "64CB4F781B4: to=<x@discard.example>, relay=none, delay=0.03, delays=0.01/0.02/0/0, dsn=2.0.0, status=sent (discard.example)")
        let t2 = DeliveryStatusLog.Times(arrival: 0, active: 0, handoff: 0, done: 0.06)
        XCTAssertEqual(DeliveryStatusLog.line(queueID: "Q", recipient: "okay2@example.net", original: "ALIAS@example.net",
                                              relay: "none", times: t2, dsn: "4.3.0", status: "deferred", text: "x"),
                       "Q: to=<okay2@example.net>, orig_to=<ALIAS@example.net>, relay=none, delay=0.06, delays=0/0/0/0.06, dsn=4.3.0, status=deferred (x)")
        // orig_to is left out when it differs only in case.
        XCTAssertFalse(DeliveryStatusLog.line(queueID: "Q", recipient: "a@b", original: "A@B", relay: "none", times: t2,
                                              dsn: "2.0.0", status: "sent", text: "b").contains("orig_to"))
    }

    func testDeliveryRequestRoundTrip() throws {
        let request = DeliveryRequest(queueName: "active", queueID: "2A908F78165", dataOffset: 753, dataSize: 311,
                                      nexthop: "example.net", sender: "alice@example.com", arrivalTime: 1795916031.024319,
                                      activeTime: 1795916031.5,
                                      recipients: [DeliveryRecipient(original: "a@x", address: "a@x", offset: 652,
                                                                     dsnOriginalRecipient: "rfc822;a@x", notifyFlags: 6),
                                                   DeliveryRecipient(original: "", address: "b@x", offset: 731)])
        let decoded = try DeliveryRequest.decode(request.encoded())
        XCTAssertEqual(decoded.recipients, request.recipients)
        // The wire form qmgr sends is the list's, byte for byte.
        XCTAssertEqual(request.wireBytes(), request.encoded().encoded())
        XCTAssertEqual(decoded.queueID, "2A908F78165")
        XCTAssertEqual(decoded.arrivalTime, request.arrivalTime, accuracy: 1e-5)
        var broken = AttributeList(request.encoded().pairs.filter { $0.name != "rcpt_offset" }.map { ($0.name, $0.value) })
        XCTAssertThrowsError(try DeliveryRequest.decode(broken))
        broken = AttributeList([("queue_name", "active"), ("queue_id", "../../etc")])
        XCTAssertThrowsError(try DeliveryRequest.decode(broken))
        let reply = DeliveryReply(offset: 652, status: .deferred, dsn: "4.3.0", text: "try again")
        XCTAssertEqual(try DeliveryReply.decode(reply.encoded()), reply)
        XCTAssertNil(try DeliveryReply.decode(DeliveryReply.final(status: 0)))
    }

    func testReasonSplit() {
        XCTAssertTrue(DeliveryReason.split("5.7.1 go away", defaultCode: "5.0.0") == ("5.7.1", "go away"))
        XCTAssertTrue(DeliveryReason.split("no mail here", defaultCode: "5.0.0") == ("5.0.0", "no mail here"))
        XCTAssertTrue(DeliveryReason.split("5.7.1 go away", defaultCode: "4.0.0", forcedClass: "4") == ("4.7.1", "go away"))
        XCTAssertTrue(DeliveryReason.split("4.3.0 try again later", defaultCode: "4.0.0", forcedClass: "4") == ("4.3.0", "try again later"))
    }

    func testDeferLogEntry() {
        let e = DeferLogEntry(recipient: "bob@example.net", offset: 243, dsnOriginalRecipient: "rfc822;bob@example.net",
                              status: "4.3.0", action: "delayed", reason: "try again later")
        // As Postfix 3.7's error agent wrote it.
        XCTAssertEqual(e.text, "\n<bob@example.net>: try again later\nrecipient=bob@example.net\noffset=243\n"
                       + "dsn_orig_rcpt=rfc822;bob@example.net\nstatus=4.3.0\naction=delayed\nreason=try again later\n\n")
        XCTAssertEqual(DeferLogEntry.parse(e.text + e.text), [e, e])
    }

    func testMailqLayout() {
        setenv("TZ", "UTC", 1)
        tzset()
        let e = QueueListingEntry(queueName: "deferred", queueID: "9756CF822F5", arrivalTime: 1795928762, size: 269,
                                  sender: "alice@example.com",
                                  recipients: [("bob@example.net", "try again later"), ("carol@example.org", "try again later")])
        let held = QueueListingEntry(queueName: "hold", queueID: "B5EE2F82716", arrivalTime: 1795928762, size: 859,
                                     sender: "", recipients: [("dave@example.net", "")])
        XCTAssertEqual(QueueListingFormat.listing([e, held]), """
        -Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
        9756CF822F5     269 Sun Nov 29 05:06:02  alice@example.com
                                                                     (try again later)
                                                 bob@example.net
                                                 carol@example.org

        B5EE2F82716!    859 Sun Nov 29 05:06:02  MAILER-DAEMON
                                                 dave@example.net

        -- 1 Kbytes in 2 Requests.

        """)
        XCTAssertEqual(QueueListingFormat.listing([]), "Mail queue is empty\n")
        XCTAssertTrue(QueueListingFormat.listing([e]).hasSuffix("-- 0 Kbytes in 1 Request.\n"))
        XCTAssertEqual(QueueListingFormat.json(e), """
        {"queue_name": "deferred", "queue_id": "9756CF822F5", "arrival_time": 1795928762, "message_size": 269, "forced_expire": false, "sender": "alice@example.com", "recipients": [{"address": "bob@example.net", "delay_reason": "try again later"}, {"address": "carol@example.org", "delay_reason": "try again later"}]}

        """)
        XCTAssertEqual(QueueListingFormat.quote("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"")
        XCTAssertEqual(try QueueListingEntry.decode(e.encoded()), e)
    }
}
