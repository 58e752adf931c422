// QmgrScheduler: qmgr's pure scheduling decisions, kept apart from I/O so
// unit tests drive them directly: trigger parsing, retry backoff, queue
// lifetime, recipient batching, and which delivery job starts next.
//
// Jobs (one delivery request each) are queued per transport, per
// destination (next hop, or recipient when the recipient limit is 1) and
// per message. A job starts when its transport is below its process limit
// (master.cf maxproc) and past its rate delay, and its destination's
// window (QmgrWindow.swift) has room and is past its rate delay. Fairness
// is round robin at every level: transports in turn, a transport's
// destinations in turn, and a destination's messages in turn, so a small
// message queued behind a huge one waits for one job of it, not all of
// them (Postfix gets the same effect with its preemptive job scheduler,
// delivery slots and slot loans; we do not implement those). A destination
// declared dead, or a transport whose agent could not be reached, gives
// back its queued jobs for deferral and defers new ones until it revives
// (after minimal_backoff_time resp. transport_retry_time, on an `F`
// trigger, or, for a destination, when a delivery still in flight succeeds).

/// What a trigger asks for (qmgr(8) TRIGGERS).
public struct QmgrTriggers: Equatable, Sendable {
    public var scanIncoming = false
    public var scanDeferred = false
    /// `A`: ignore deferred file time stamps (and defer_transports) in the next deferred scan.
    public var scanAll = false
    /// `F`: forget dead transports and destinations.
    public var flushDead = false

    public init() {}

    /// Parses a buffer of one-byte triggers; `W` (wakeup) scans incoming.
    public static func parse(_ bytes: [UInt8]) -> QmgrTriggers {
        var t = QmgrTriggers()
        for b in bytes {
            switch b {
            case UInt8(ascii: "I"), UInt8(ascii: "W"): t.scanIncoming = true
            case UInt8(ascii: "D"): t.scanDeferred = true
            case UInt8(ascii: "A"): t.scanAll = true
            case UInt8(ascii: "F"): t.flushDead = true
            default: break
            }
        }
        return t
    }

    public mutating func merge(_ other: QmgrTriggers) {
        scanIncoming = scanIncoming || other.scanIncoming
        scanDeferred = scanDeferred || other.scanDeferred
        scanAll = scanAll || other.scanAll
        flushDead = flushDead || other.flushDead
    }
}

public enum QmgrPolicy {
    /// Seconds until the next attempt: the message's age clamped to
    /// [minimal_backoff_time, maximal_backoff_time].
    public static func backoff(now: Int, createTime: Int, minimal: Int, maximal: Int) -> Int {
        let age = now - createTime
        return max(minimal, min(maximal, max(age, minimal)))
    }

    /// True when a message with undelivered recipients has been queued
    /// too long (bounce_queue_lifetime for the null sender).
    public static func expired(now: Int, createTime: Int, sender: String, maximalLifetime: Int, bounceLifetime: Int,
                               forced: Bool) -> Bool {
        if forced { return true }
        return now >= createTime + (sender.isEmpty ? bounceLifetime : maximalLifetime)
    }

    /// Splits recipients into delivery requests of at most `limit` (0 = no limit).
    public static func batches<T>(_ items: [T], limit: Int) -> [[T]] {
        guard limit > 0, items.count > limit else { return items.isEmpty ? [] : [items] }
        return stride(from: 0, to: items.count, by: limit).map { Array(items[$0..<min($0 + limit, items.count)]) }
    }

    /// `transport:nexthop` of a content filter (L record); an empty next
    /// hop becomes default_filter_nexthop, else the recipient's domain.
    public static func filterRoute(_ filter: String, recipient: String, defaultNexthop: String) -> (transport: String, nexthop: String) {
        let parts = filter.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let transport = String(parts[0])
        var nexthop = parts.count > 1 ? String(parts[1]) : ""
        if nexthop.isEmpty { nexthop = defaultNexthop }
        if nexthop.isEmpty, let at = recipient.lastIndex(of: "@") { nexthop = String(recipient[recipient.index(after: at)...]) }
        return (transport, nexthop)
    }
}

/// A first-in first-out queue with O(1) amortized push and pop.
public struct QmgrFifo<Element> {
    private var items: [Element] = []
    private var head = 0

    public init() {}

    public var isEmpty: Bool { head == items.count }
    public var count: Int { items.count - head }

    public mutating func push(_ item: Element) { items.append(item) }

    public mutating func pop() -> Element? {
        guard head < items.count else { return nil }
        let item = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return item
    }

    /// Takes every element out, in order.
    public mutating func drain() -> [Element] {
        let rest = Array(items[head...])
        items.removeAll()
        head = 0
        return rest
    }
}

/// Why queued work is given back instead of started.
public struct QmgrSuspension: Equatable, Sendable {
    public var dsn: String
    public var text: String
    public init(dsn: String, text: String) { self.dsn = dsn; self.text = text }
}

/// How a delivery ended, as far as scheduling is concerned.
public enum QmgrOutcome: Equatable, Sendable {
    /// The agent reached the destination (recipients may still have been
    /// deferred or bounced one by one): positive feedback.
    case success
    /// The agent reported a problem with the destination (or died):
    /// negative feedback, maybe a dead destination.
    case siteFailure(QmgrSuspension)
    /// The agent could not be reached: the transport is dead for
    /// transport_retry_time.
    case transportFailure(QmgrSuspension)
}

/// Which jobs run next, per transport and destination (see the file header).
///
/// Transports and destinations are classes: taken out of their dictionary
/// as structs, their job tables and queues were shared with the copy still
/// in the dictionary, so every change copied them whole (a fifth of qmgr's
/// instructions per message).
public struct QmgrScheduler<Job> {
    final class Destination {
        var window: DestinationWindow
        /// Messages with queued jobs, in turn.
        var messages = QmgrFifo<String>()
        var jobs: [String: QmgrFifo<Job>] = [:]
        var queued = 0
        /// Rate delay: no start before this time.
        var notBefore = 0.0
        var dead: QmgrSuspension?
        var deadUntil = 0.0
        /// In its transport's `ready` list.
        var listed = false

        init(window: DestinationWindow) { self.window = window }
    }

    final class Transport {
        var policy: QmgrTransportPolicy
        var inFlight = 0
        /// Destinations with queued jobs, in turn.
        var ready = QmgrFifo<String>()
        var notBefore = 0.0
        var dead: QmgrSuspension?
        var deadUntil = 0.0

        init(policy: QmgrTransportPolicy) { self.policy = policy }
    }

    /// A job to start now.
    public struct Start {
        public let transport: String
        public let destination: String
        public let job: Job
    }

    var transports: [String: Transport] = [:]
    var transportOrder: [String] = []
    var transportCursor = 0
    var destinations: [String: Destination] = [:]
    public private(set) var inFlight = 0
    public private(set) var queued = 0

    public init() {}

    static func key(_ transport: String, _ destination: String) -> String { transport + "\0" + destination }

    /// The window of a destination, when it is known.
    public func window(transport: String, destination: String) -> DestinationWindow? {
        destinations[Self.key(transport, destination)]?.window
    }

    public func isDead(transport: String, destination: String) -> Bool {
        destinations[Self.key(transport, destination)]?.dead != nil
    }

    public func transportInFlight(_ transport: String) -> Int { transports[transport]?.inFlight ?? 0 }

    /// Queues `job` of message `message`; returns a suspension instead when
    /// the transport or the destination is dead (the caller defers the job).
    public mutating func enqueue(_ job: Job, message: String, transport: String, destination: String,
                                 policy: QmgrTransportPolicy, now: Double) -> QmgrSuspension? {
        if transports[transport] == nil {
            transports[transport] = Transport(policy: policy)
            transportOrder.append(transport)
        }
        if let dead = transports[transport]!.dead {
            if transports[transport]!.deadUntil > now { return dead }
            transports[transport]!.dead = nil
        }
        let key = Self.key(transport, destination)
        let d = destinations[key] ?? Destination(window: transports[transport]!.policy.newWindow())
        if let dead = d.dead {
            if d.deadUntil > now {
                destinations[key] = d
                return dead
            }
            d.dead = nil
            d.window.revive()
        }
        if !d.listed {
            transports[transport]!.ready.push(destination)
            d.listed = true
        }
        if d.jobs[message] == nil {
            d.jobs[message] = QmgrFifo()
            d.messages.push(message)
        }
        d.jobs[message]!.push(job)
        d.queued += 1
        queued += 1
        destinations[key] = d
        return nil
    }

    /// The next job that may start at `now` (marked in flight), or nil.
    public mutating func next(now: Double) -> Start? {
        guard !transportOrder.isEmpty else { return nil }
        for step in 0..<transportOrder.count {
            let name = transportOrder[(transportCursor + step) % transportOrder.count]
            guard let t = transports[name], !t.ready.isEmpty, t.dead == nil || t.deadUntil <= now,
                  t.notBefore <= now, t.policy.transportLimit == 0 || t.inFlight < t.policy.transportLimit else { continue }
            // One turn through the transport's destinations.
            var found: Start?
            for _ in 0..<t.ready.count {
                guard let dest = t.ready.pop() else { break }
                let key = Self.key(name, dest)
                guard let d = destinations[key] else { continue }
                d.listed = false
                if d.queued > 0, d.dead == nil, d.window.canStart, d.notBefore <= now,
                   let message = d.messages.pop(), var fifo = d.jobs[message], let job = fifo.pop() {
                    if fifo.isEmpty { d.jobs[message] = nil } else { d.jobs[message] = fifo; d.messages.push(message) }
                    d.queued -= 1
                    d.window.started()
                    found = Start(transport: name, destination: dest, job: job)
                }
                if d.queued > 0 {
                    t.ready.push(dest)
                    d.listed = true
                }
                destinations[key] = d
                forget(key)
                if found != nil { break }
            }
            if let found {
                t.inFlight += 1
                transports[name] = t
                inFlight += 1
                queued -= 1
                transportCursor = (transportCursor + step + 1) % transportOrder.count
                return found
            }
            transports[name] = t
        }
        return nil
    }

    /// A started job ended. Returns the jobs given back because the
    /// destination (or the whole transport) has just been declared dead,
    /// with the reason to defer them with.
    public mutating func finished(transport: String, destination: String, outcome: QmgrOutcome,
                                  now: Double) -> (jobs: [Job], reason: QmgrSuspension?) {
        let key = Self.key(transport, destination)
        inFlight -= 1
        guard let t = transports[transport] else { return ([], nil) }
        t.inFlight = max(0, t.inFlight - 1)
        if t.policy.transportRateDelay > 0 { t.notBefore = now + t.policy.transportRateDelay }
        var given: [Job] = []
        var reason: QmgrSuspension?
        if var d = destinations[key] {
            switch outcome {
            case .success:
                d.window.finished(failed: false)
                d.dead = nil
            case .siteFailure(let why):
                if d.window.finished(failed: true) {
                    d.dead = why
                    d.deadUntil = now + t.policy.deadTime
                    given = takeAll(&d)
                    reason = why
                }
            case .transportFailure:
                d.window.abandoned()
            }
            if t.policy.destinationRateDelay > 0 { d.notBefore = now + t.policy.destinationRateDelay }
            destinations[key] = d
        }
        if case .transportFailure(let why) = outcome, t.dead == nil || t.deadUntil <= now {
            t.dead = why
            t.deadUntil = now + t.policy.retryTime
            reason = why
            while let dest = t.ready.pop() {
                let k = Self.key(transport, dest)
                if var d = destinations[k] {
                    given += takeAll(&d)
                    d.listed = false
                    destinations[k] = d
                    forget(k)
                }
            }
        }
        transports[transport] = t
        forget(key)
        return (given, reason)
    }

    private mutating func takeAll(_ d: inout Destination) -> [Job] {
        var out: [Job] = []
        while let m = d.messages.pop() {
            if var fifo = d.jobs[m] { out += fifo.drain() }
        }
        d.jobs = [:]
        queued -= d.queued
        d.queued = 0
        return out
    }

    /// Drops a destination that holds nothing worth remembering (its
    /// window starts afresh next time, as in Postfix).
    private mutating func forget(_ key: String) {
        guard let d = destinations[key], d.queued == 0, d.window.inFlight == 0, d.dead == nil, d.notBefore == 0,
              !d.listed else { return }
        destinations[key] = nil
    }

    /// The earliest time a queued job may become startable by waiting
    /// (rate delays, dead transports and destinations that revive), or nil.
    public func wakeTime(now: Double) -> Double? {
        var best: Double?
        func consider(_ t: Double) { if t > now { best = min(best ?? t, t) } }
        for (_, t) in transports where !t.ready.isEmpty {
            if t.dead != nil { consider(t.deadUntil) }
            if t.notBefore > now { consider(t.notBefore) }
        }
        for (_, d) in destinations where d.queued > 0 && d.notBefore > now { consider(d.notBefore) }
        return best
    }

    /// Forgets dead transports and destinations (an `F` trigger), and
    /// destinations whose dead time or rate delay has passed.
    public mutating func prune(now: Double, forgetDead: Bool) {
        for name in transportOrder where transports[name]?.dead != nil {
            if forgetDead || transports[name]!.deadUntil <= now { transports[name]!.dead = nil }
        }
        for (key, d) in destinations {
            if d.dead != nil && (forgetDead || d.deadUntil <= now) {
                d.dead = nil
                d.window.revive()
            }
            if d.notBefore > 0 && d.notBefore <= now { d.notBefore = 0 }
            if d.queued == 0 && d.window.inFlight == 0 && d.dead == nil && d.notBefore == 0 && !d.listed {
                destinations[key] = nil
            } else {
                destinations[key] = d
            }
        }
    }

    /// Dead destinations remembered (Postfix bounds this cache by
    /// qmgr_message_recipient_limit).
    public var deadCount: Int { destinations.values.filter { $0.dead != nil }.count }
}
