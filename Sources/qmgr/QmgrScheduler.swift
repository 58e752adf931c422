// QmgrScheduler: qmgr's pure scheduling decisions, kept apart from I/O so
// unit tests drive them directly: trigger parsing, retry backoff, queue
// lifetime, recipient batching per destination, and the per-destination
// concurrency window (start at initial_destination_concurrency, +1 after
// each delivery that did not fail, -1 after one that did, within
// 1...<transport>_destination_concurrency_limit).

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

/// The concurrency of one destination (transport + nexthop).
public struct DestinationWindow: Equatable, Sendable {
    /// Most parallel deliveries (0 = no limit).
    public let limit: Int
    public private(set) var window: Int
    public private(set) var inFlight = 0

    public init(initial: Int, limit: Int) {
        self.limit = limit
        self.window = max(1, limit > 0 ? min(initial, limit) : initial)
    }

    public var canStart: Bool { inFlight < window }

    public mutating func started() { inFlight += 1 }

    /// A delivery ended; `failed` when the agent could not be reached or
    /// gave up (negative feedback).
    public mutating func finished(failed: Bool) {
        inFlight = max(0, inFlight - 1)
        if failed {
            window = max(1, window - 1)
        } else if limit == 0 || window < limit {
            window += 1
        }
    }
}
