// AnvilTableTests: anvil's counting and windows, checked against what
// Postfix 3.7's anvil answered to the same request sequences.
import XCTest
@testable import Global
@testable import anvil

final class AnvilTableTests: XCTestCase {
    private func request(_ kind: AnvilProtocol.Request, _ ident: String = "smtp:127.0.0.1") -> AnvilRequest {
        AnvilRequest(kind: kind, ident: ident)
    }

    func testCountsPerClientConnection() {
        var t = AnvilTable(timeUnit: 60)
        // Two anvil clients connect for the same ident.
        XCTAssertEqual(t.handle(request(.connect, "c:1"), client: 10, now: 0), AnvilReply(count: 1, rate: 1))
        XCTAssertEqual(t.handle(request(.connect, "c:1"), client: 11, now: 0), AnvilReply(count: 2, rate: 2))
        // One client holds at most one connect: reporting another ident releases the first.
        XCTAssertEqual(t.handle(request(.connect, "c:2"), client: 11, now: 0), AnvilReply(count: 1, rate: 1))
        XCTAssertEqual(t.handle(request(.lookup, "c:1"), client: 12, now: 0).count, 1)
        // A second connect for the same ident from the same client keeps the count.
        XCTAssertEqual(t.handle(request(.connect, "c:1"), client: 10, now: 1), AnvilReply(count: 1, rate: 3))
        // A disconnect for an ident the client does not hold changes nothing.
        XCTAssertEqual(t.handle(request(.disconnect, "c:2"), client: 10, now: 1), AnvilReply())
        XCTAssertEqual(t.handle(request(.lookup, "c:2"), client: 12, now: 1).count, 1)
        // The client going away releases its connect.
        t.clientGone(11, now: 2)
        XCTAssertEqual(t.handle(request(.lookup, "c:2"), client: 12, now: 2).count, 0)
        XCTAssertEqual(t.handle(request(.disconnect, "c:1"), client: 10, now: 2), AnvilReply())
        XCTAssertEqual(t.handle(request(.lookup, "c:1"), client: 12, now: 2),
                       AnvilReply(count: 0, rate: 3, mail: 0, rcpt: 0, newtls: 0, auth: 0))
    }

    func testRatesAndLookupAsPostfix() {
        var t = AnvilTable(timeUnit: 60)
        _ = t.handle(request(.connect), client: 1, now: 0)
        _ = t.handle(request(.connect), client: 1, now: 0)
        XCTAssertEqual(t.handle(request(.message), client: 1, now: 0), AnvilReply(rate: 1))
        XCTAssertEqual(t.handle(request(.recipient), client: 1, now: 0), AnvilReply(rate: 1))
        XCTAssertEqual(t.handle(request(.recipient), client: 1, now: 0), AnvilReply(rate: 2))
        XCTAssertEqual(t.handle(request(.newtls), client: 1, now: 0), AnvilReply(rate: 1))
        XCTAssertEqual(t.handle(request(.newtlsReport), client: 1, now: 0), AnvilReply(rate: 1))
        XCTAssertEqual(t.handle(request(.auth), client: 1, now: 0), AnvilReply(rate: 1))
        XCTAssertEqual(t.handle(request(.lookup), client: 1, now: 0),
                       AnvilReply(count: 1, rate: 2, mail: 1, rcpt: 2, newtls: 1, auth: 1))
        XCTAssertEqual(t.handle(request(.lookup, "nothere"), client: 1, now: 0),
                       AnvilReply(count: 0, rate: 0, mail: 0, rcpt: 0, newtls: 0, auth: 0))
        XCTAssertNil(t.remotes["nothere"], "lookup creates no entry")
    }

    func testWindowRestartsAfterTheTimeUnit() {
        // Postfix with anvil_rate_time_unit = 3s: events at t = 0..7.
        var t = AnvilTable(timeUnit: 3)
        XCTAssertEqual(t.handle(request(.connect), client: 1, now: 0).rate, 1)
        XCTAssertEqual(t.handle(request(.message), client: 1, now: 1).rate, 1)
        XCTAssertEqual(t.handle(request(.connect), client: 1, now: 2).rate, 2)
        XCTAssertEqual(t.handle(request(.message), client: 1, now: 3).rate, 2)
        XCTAssertEqual(t.handle(request(.connect), client: 1, now: 4), AnvilReply(count: 1, rate: 1))
        XCTAssertEqual(t.handle(request(.message), client: 1, now: 5).rate, 1)
        XCTAssertEqual(t.handle(request(.connect), client: 1, now: 6).rate, 2)
        XCTAssertEqual(t.handle(request(.message), client: 1, now: 7).rate, 2)
        _ = t.handle(request(.disconnect), client: 1, now: 8)
        XCTAssertEqual(t.handle(request(.lookup), client: 1, now: 8),
                       AnvilReply(count: 0, rate: 0, mail: 0, rcpt: 0, newtls: 0, auth: 0))
        XCTAssertTrue(t.remotes.isEmpty, "an idle ident is dropped once its window ends")
    }

    func testStatisticsLines() {
        var t = AnvilTable(timeUnit: 60)
        _ = t.handle(request(.connect, "smtp:127.0.0.1"), client: 1, now: 100)
        _ = t.handle(request(.connect, "smtp:10.0.0.1"), client: 2, now: 101)
        _ = t.handle(request(.recipient, "smtp:10.0.0.1"), client: 2, now: 102)
        let lines = t.statisticsLines { "T\($0)" }
        XCTAssertEqual(lines, [
            "statistics: max connection rate 1/60s for (smtp:127.0.0.1) at T100",
            "statistics: max connection count 1 for (smtp:127.0.0.1) at T100",
            "statistics: max recipient rate 1/60s for (smtp:10.0.0.1) at T102",
            "statistics: max cache size 2 at T101",
        ])
        XCTAssertEqual(t.statisticsLines { "T\($0)" }, [], "peaks start over after each report")
    }

    func testTimeFormatLikeCtime() {
        let text = AnvilTable.formatTime(0)
        XCTAssertEqual(text.count, 15)
        XCTAssertEqual(Array(text)[3], " ")
    }
}
