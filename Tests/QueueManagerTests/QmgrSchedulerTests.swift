// QmgrSchedulerTests: qmgr's scheduler driven directly: concurrency
// feedback (slow start, negative feedback, dead destinations), process
// limits, round robin between messages, dead transports, rate delays,
// per-recipient destinations, recipient slices read from a real queue
// file, refill decisions and the incremental reply reader.
import XCTest
import Glibc
import Util
@testable import Global
@testable import qmgr

final class QmgrSchedulerTests: XCTestCase {
    func testFeedbackParse() {
        XCTAssertEqual(QmgrFeedback.parse("1"), QmgrFeedback(base: 1, perConcurrency: false))
        XCTAssertEqual(QmgrFeedback.parse("1/concurrency"), QmgrFeedback(base: 1, perConcurrency: true))
        XCTAssertEqual(QmgrFeedback.parse(" 0.5 / concurrency"), QmgrFeedback(base: 0.5, perConcurrency: true))
        XCTAssertNil(QmgrFeedback.parse("2"))
        XCTAssertNil(QmgrFeedback.parse("1/foo"))
        XCTAssertNil(QmgrFeedback.parse("x"))
        XCTAssertEqual(QmgrFeedback.parse("1/concurrency")!.value(window: 4), 0.25)
    }

    func testSlowStart() {
        // Postfix's rule: grow while window < in flight + initial.
        var w = DestinationWindow(initial: 2, limit: 10)
        w.started(); w.started()
        XCTAssertFalse(w.canStart)
        w.finished(failed: false)  // busy 2 < 2 + 2: +1
        XCTAssertEqual(w.window, 3)
        w.finished(failed: false)  // busy 1: 3 < 1 + 2 is false: stays
        XCTAssertEqual(w.window, 3)
        for _ in 0..<3 { w.started() }
        w.finished(failed: false)
        XCTAssertEqual(w.window, 4)
        // Never above the limit.
        var small = DestinationWindow(initial: 1, limit: 2)
        for _ in 0..<5 { small.started(); small.started(); small.finished(failed: false); small.finished(failed: false) }
        XCTAssertEqual(small.window, 2)
        // 1/concurrency: one step per window's worth of successes.
        var slow = DestinationWindow(initial: 4, limit: 0, positive: QmgrFeedback(base: 1, perConcurrency: true))
        for _ in 0..<4 { slow.started() }
        for _ in 0..<3 { slow.finished(failed: false); slow.started() }
        XCTAssertEqual(slow.window, 4)
        slow.finished(failed: false)
        XCTAssertEqual(slow.window, 5)
    }

    func testNegativeFeedbackAndDeath() {
        var w = DestinationWindow(initial: 4, limit: 10, cohortLimit: 0)
        for _ in 0..<4 { w.started() }
        XCTAssertFalse(w.finished(failed: true))
        XCTAssertEqual(w.window, 3)
        for _ in 0..<3 { w.finished(failed: true) }
        XCTAssertEqual(w.window, 1)  // never below 1 without a cohort limit
        XCTAssertFalse(w.isDead)

        // failed_cohort_limit 1: dead once the failures add up to one
        // cohort (1/4 + 1/3 < 1, + 1/2 >= 1).
        var d = DestinationWindow(initial: 4, limit: 10, cohortLimit: 1)
        for _ in 0..<4 { d.started() }
        XCTAssertFalse(d.finished(failed: true))
        XCTAssertFalse(d.finished(failed: true))
        XCTAssertEqual(d.window, 2)
        XCTAssertTrue(d.finished(failed: true))
        XCTAssertTrue(d.isDead)
        XCTAssertFalse(d.canStart)
        XCTAssertFalse(d.finished(failed: true))  // already dead
        d.revive()
        XCTAssertEqual(d.window, 4)
        // A success resets the failed cohorts.
        var s = DestinationWindow(initial: 2, limit: 10, cohortLimit: 1)
        s.started(); s.started()
        s.finished(failed: true)
        s.finished(failed: false)
        s.started()
        XCTAssertFalse(s.finished(failed: true))
        XCTAssertEqual(s.failedCohorts, 0.5)
    }

    private func policy(processes: Int = 100, limit: Int = 20, initial: Int = 5, cohorts: Int = 1) -> QmgrTransportPolicy {
        var p = QmgrTransportPolicy()
        p.processLimit = processes
        p.concurrencyLimit = limit
        p.initialConcurrency = initial
        p.cohortLimit = cohorts
        p.deadTime = 300
        p.retryTime = 60
        return p
    }

    func testRoundRobinBetweenMessages() {
        var s = QmgrScheduler<String>()
        let p = policy(limit: 1, initial: 1)
        for i in 0..<10 { XCTAssertNil(s.enqueue("big\(i)", message: "BIG", transport: "smtp", destination: "d", policy: p, now: 0)) }
        XCTAssertNil(s.enqueue("small", message: "SMALL", transport: "smtp", destination: "d", policy: p, now: 0))
        var order: [String] = []
        while let start = s.next(now: 0) {
            order.append(start.job)
            XCTAssertNil(s.next(now: 0))  // window 1
            _ = s.finished(transport: "smtp", destination: "d", outcome: .success, now: 0)
        }
        XCTAssertEqual(order.count, 11)
        XCTAssertEqual(order[1], "small")
        XCTAssertEqual(order.filter { $0.hasPrefix("big") }, (0..<10).map { "big\($0)" })
        XCTAssertEqual(s.inFlight, 0)
        XCTAssertEqual(s.queued, 0)
    }

    func testProcessLimitAcrossDestinations() {
        var s = QmgrScheduler<Int>()
        let p = policy(processes: 3, limit: 10, initial: 10)
        for i in 0..<10 {
            _ = s.enqueue(i, message: "M\(i)", transport: "t", destination: i % 2 == 0 ? "a" : "b", policy: p, now: 0)
        }
        var started: [QmgrScheduler<Int>.Start] = []
        while let x = s.next(now: 0) { started.append(x) }
        XCTAssertEqual(started.count, 3)
        XCTAssertEqual(Set(started.map(\.destination)), ["a", "b"])  // destinations in turn
        _ = s.finished(transport: "t", destination: started[0].destination, outcome: .success, now: 0)
        XCTAssertNotNil(s.next(now: 0))
        XCTAssertNil(s.next(now: 0))
        XCTAssertEqual(s.transportInFlight("t"), 3)
    }

    func testDeadDestinationGivesBackAndRevives() {
        var s = QmgrScheduler<Int>()
        let p = policy(limit: 2, initial: 2, cohorts: 1)
        for i in 0..<6 { _ = s.enqueue(i, message: "M", transport: "t", destination: "down", policy: p, now: 0) }
        _ = s.enqueue(100, message: "N", transport: "t", destination: "up", policy: p, now: 0)
        var running: [QmgrScheduler<Int>.Start] = []
        while let x = s.next(now: 0) { running.append(x) }
        XCTAssertEqual(running.filter { $0.destination == "down" }.count, 2)
        let why = QmgrSuspension(dsn: "4.4.1", text: "delivery temporarily suspended: connect to down: refused")
        // 1/2: not yet; then window 1: 1/2 + 1/1 >= 1: dead.
        var r = s.finished(transport: "t", destination: "down", outcome: .siteFailure(why), now: 0)
        XCTAssertTrue(r.jobs.isEmpty)
        XCTAssertNil(s.next(now: 0))  // window down to 1, one still in flight
        r = s.finished(transport: "t", destination: "down", outcome: .siteFailure(why), now: 0)
        XCTAssertEqual(r.jobs.sorted(), [2, 3, 4, 5])
        XCTAssertEqual(r.reason, why)
        XCTAssertTrue(s.isDead(transport: "t", destination: "down"))
        XCTAssertEqual(s.enqueue(9, message: "O", transport: "t", destination: "down", policy: p, now: 10), why)
        XCTAssertEqual(s.wakeTime(now: 0), nil)  // nothing queued waits for it
        // Other destinations are not affected.
        XCTAssertNil(s.enqueue(101, message: "N", transport: "t", destination: "up", policy: p, now: 10))
        XCTAssertEqual(s.next(now: 10)?.job, 101)
        // After minimal_backoff_time (or F) it takes mail again.
        XCTAssertNil(s.enqueue(7, message: "P", transport: "t", destination: "down", policy: p, now: 301))
        XCTAssertEqual(s.next(now: 301)?.job, 7)
        var t = QmgrScheduler<Int>()
        for i in 0..<2 { _ = t.enqueue(i, message: "M", transport: "t", destination: "x", policy: policy(limit: 1, initial: 1), now: 0) }
        _ = t.next(now: 0)
        _ = t.finished(transport: "t", destination: "x", outcome: .siteFailure(why), now: 0)
        XCTAssertTrue(t.isDead(transport: "t", destination: "x"))
        t.prune(now: 1, forgetDead: true)
        XCTAssertFalse(t.isDead(transport: "t", destination: "x"))
    }

    func testDeadTransport() {
        var s = QmgrScheduler<Int>()
        let p = policy(processes: 1)
        for i in 0..<4 { _ = s.enqueue(i, message: "M\(i)", transport: "t", destination: "d\(i)", policy: p, now: 0) }
        let first = s.next(now: 0)!
        let why = QmgrSuspension(dsn: "4.3.0", text: "mail transport unavailable")
        let r = s.finished(transport: first.transport, destination: first.destination, outcome: .transportFailure(why), now: 0)
        XCTAssertEqual(r.jobs.sorted(), [1, 2, 3])
        XCTAssertEqual(s.enqueue(5, message: "X", transport: "t", destination: "d", policy: p, now: 59), why)
        XCTAssertNil(s.enqueue(6, message: "X", transport: "t", destination: "d", policy: p, now: 61))
        XCTAssertEqual(s.next(now: 61)?.job, 6)
    }

    func testRateDelay() {
        var s = QmgrScheduler<Int>()
        var p = policy(limit: 10, initial: 10)
        p.destinationRateDelay = 5
        for i in 0..<3 { _ = s.enqueue(i, message: "M", transport: "t", destination: "d", policy: p, now: 0) }
        XCTAssertEqual(s.next(now: 0)?.job, 0)
        XCTAssertNil(s.next(now: 0))  // one at a time
        _ = s.finished(transport: "t", destination: "d", outcome: .success, now: 1)
        XCTAssertNil(s.next(now: 3))
        XCTAssertEqual(s.wakeTime(now: 3), 6)
        XCTAssertEqual(s.next(now: 6)?.job, 1)
        // Transport rate delay: one delivery at a time over the transport.
        var t = QmgrScheduler<Int>()
        var q = policy()
        q.transportRateDelay = 2
        _ = t.enqueue(1, message: "A", transport: "t", destination: "a", policy: q, now: 0)
        _ = t.enqueue(2, message: "B", transport: "t", destination: "b", policy: q, now: 0)
        XCTAssertNotNil(t.next(now: 0))
        XCTAssertNil(t.next(now: 0))
        _ = t.finished(transport: "t", destination: "a", outcome: .success, now: 0)
        XCTAssertNil(t.next(now: 1))
        XCTAssertEqual(t.next(now: 2)?.job, 2)
    }

    func testDestinationNames() {
        var p = QmgrTransportPolicy()
        p.recipientLimit = 50
        XCTAssertEqual(p.destination(recipient: "Bob@Example.COM", nexthop: "Example.COM"), "example.com")
        p.recipientLimit = 1
        XCTAssertEqual(p.destination(recipient: "Bob@Example.COM", nexthop: "Example.COM"), "bob@example.com")
        XCTAssertNotEqual(p.destination(recipient: "a@x", nexthop: "x"), p.destination(recipient: "b@x", nexthop: "x"))
        var r = QmgrTransportPolicy()
        r.destinationRateDelay = 1
        r.concurrencyLimit = 20
        XCTAssertEqual(r.newWindow().limit, 1)
    }

    func testPolicyFromConfig() throws {
        let main = try MainConfigFile.parse("""
            default_destination_concurrency_limit = 7
            slow_destination_concurrency_limit = 2
            slow_destination_recipient_limit = 1
            default_destination_concurrency_negative_feedback = 1/concurrency
            slow_destination_rate_delay = 2s
            default_process_limit = 30

            """, path: "main.cf")
        let config = MailConfig(configDirectory: "/nonexistent", main: main)
        let slow = QmgrTransportPolicy.read(transport: "slow", config: config, processLimits: ["slow": 4])
        XCTAssertEqual(slow.concurrencyLimit, 2)
        XCTAssertEqual(slow.recipientLimit, 1)
        XCTAssertEqual(slow.processLimit, 4)
        XCTAssertEqual(slow.destinationRateDelay, 2)
        XCTAssertEqual(slow.negativeFeedback, QmgrFeedback(base: 1, perConcurrency: true))
        let other = QmgrTransportPolicy.read(transport: "other", config: config, processLimits: [:])
        XCTAssertEqual(other.concurrencyLimit, 7)
        XCTAssertEqual(other.recipientLimit, 50)
        XCTAssertEqual(other.processLimit, 30)
        XCTAssertEqual(other.initialConcurrency, 5)
    }

    func testProcessLimitsFromMasterCf() throws {
        let master = try MasterConfigFile.parse("""
            smtp      unix  -       -       n       -       7       smtp
            relay     unix  -       -       n       -       -       smtp
            local     unix  -       n       n       -       0       local
            smtp      inet  n       -       n       -       3       smtpd

            """, path: "master.cf")
        let limits = QmgrTransportPolicy.processLimits(master: master, defaultLimit: 100)
        XCTAssertEqual(limits, ["smtp": 7, "relay": 100, "local": 0])
    }

    func testRecipientSlices() throws {
        var template = Array("/tmp/qmgr-slices-XXXXXX".utf8CString)
        let root = String(cString: mkdtemp(&template)!)
        mkdir(root + "/active", 0o700)
        let directory = QueueDirectory(path: root, hashedQueues: [])
        var m = QueueMessage()
        m.sender = "a@example.test"
        for i in 0..<23 {
            var r = QueueRecipient(address: "r\(i)@example.net")
            if i == 7 { r.original = "orig7@example.net"; r.notifyFlags = 6 }
            m.recipients.append(r)
        }
        for i in 0..<4 { m.extractedRecipients.append(QueueRecipient(address: "x\(i)@example.org")) }
        let written = try QueueFile.write(m, lines: (0..<50).map { Array("body line \($0)".utf8) }, directory: directory,
                                          queue: "active")
        defer { unlink(written.path); rmdir(root + "/active"); rmdir(root) }
        let fresh = try QueueFile.read(path: written.path)
        for (i, r) in fresh.recipients.enumerated() where i % 5 == 0 {
            try QueueFile.markDone(path: written.path, offset: r.offset)
        }
        let parsed = try QueueFile.read(path: written.path)
        let expected = (parsed.recipients + parsed.extractedRecipients).filter { $0.state == .pending }.map(\.address)
        XCTAssertEqual(expected.count, 18 + 4)
        var got: [String] = []
        var (slice, cursor) = QmgrRecipientReader.firstSlice(parsed, limit: 5)
        got += slice.map(\.address)
        let bytes = try TextFile.readBytes(written.path)
        var rounds = 0
        while let c = cursor {
            (slice, cursor) = try QmgrRecipientReader.slice(bytes, after: c, extractedOffset: parsed.extractedOffset, limit: 5)
            XCTAssertLessThanOrEqual(slice.count, 5)
            if let seven = slice.first(where: { $0.address == "r7@example.net" }) {
                XCTAssertEqual(seven.original, "orig7@example.net")
                XCTAssertEqual(seven.notifyFlags, 6)
            }
            got += slice.map(\.address)
            rounds += 1
        }
        XCTAssertEqual(got, expected)
        XCTAssertEqual(rounds, 4)
        // Without the extracted offset the content is walked through.
        (slice, cursor) = QmgrRecipientReader.firstSlice(parsed, limit: 17)
        let rest = try QmgrRecipientReader.slice(bytes, after: cursor!, extractedOffset: 0, limit: 100)
        XCTAssertEqual(rest.0.map(\.address), Array(expected.suffix(5)))
        XCTAssertNil(rest.1)
        // A recipient delivered meanwhile is skipped (its R became D).
        try QueueFile.markDone(path: written.path, offset: rest.0[1].offset)
        let again = try QmgrRecipientReader.slice(try TextFile.readBytes(written.path), after: cursor!, extractedOffset: 0, limit: 100)
        XCTAssertEqual(again.0.count, 4)
    }

    func testRefillDecision() {
        XCTAssertEqual(QmgrRefill.room(budget: 100, inMemoryTotal: 40, inMemoryMessage: 40, minimum: 10), 60)
        XCTAssertEqual(QmgrRefill.room(budget: 100, inMemoryTotal: 100, inMemoryMessage: 3, minimum: 10), 7)
        XCTAssertEqual(QmgrRefill.room(budget: 100, inMemoryTotal: 120, inMemoryMessage: 50, minimum: 10), 0)
        XCTAssertTrue(QmgrRefill.due(room: 5, inMemoryMessage: 0, refillLimit: 100, sinceLast: 0, refillDelay: 5))
        XCTAssertFalse(QmgrRefill.due(room: 5, inMemoryMessage: 3, refillLimit: 100, sinceLast: 1, refillDelay: 5))
        XCTAssertTrue(QmgrRefill.due(room: 5, inMemoryMessage: 3, refillLimit: 100, sinceLast: 5, refillDelay: 5))
        XCTAssertTrue(QmgrRefill.due(room: 100, inMemoryMessage: 3, refillLimit: 100, sinceLast: 0, refillDelay: 5))
        XCTAssertFalse(QmgrRefill.due(room: 0, inMemoryMessage: 0, refillLimit: 100, sinceLast: 9, refillDelay: 5))
    }

    func testReplyBuffer() throws {
        var b = QmgrReplyBuffer()
        let a = DeliveryReply(offset: 12, status: .sent, dsn: "2.0.0", text: "ok").encoded().encoded()
        let f = DeliveryReply.final(status: 1, text: "connect to x: refused").encoded()
        let all = a + f
        for (i, byte) in all.enumerated() {
            b.append([byte][...])
            let list = try b.next()
            if i == a.count - 1 { XCTAssertEqual(try DeliveryReply.decode(list!)?.offset, 12) }
            else if i == all.count - 1 { XCTAssertEqual(list?["text"], "connect to x: refused") }
            else { XCTAssertNil(list, "at \(i)") }
        }
        var bad = QmgrReplyBuffer()
        bad.append(Array("BAD\0x\0\0".utf8)[...])
        XCTAssertThrowsError(try bad.next())
    }
}
