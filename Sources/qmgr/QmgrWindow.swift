// QmgrWindow: the concurrency window of one destination and the feedback
// that moves it, after Postfix's qmgr(8) "slow start": a new destination
// starts at initial_destination_concurrency; each delivery that ends
// without a site problem adds positive feedback (growing the window while
// it is below in-flight + initial, up to the concurrency limit), each one
// that reports a site problem adds negative feedback (never below 1) and a
// fraction 1/window of a "failed cohort". When failed cohorts reach
// <transport>_destination_concurrency_failed_cohort_limit the window drops
// to 0: the destination is dead until a delivery succeeds or it is revived.

/// A feedback amount: `N` (constant) or `N/concurrency` (divided by the window).
public struct QmgrFeedback: Equatable, Sendable {
    public var base: Double
    public var perConcurrency: Bool

    public init(base: Double, perConcurrency: Bool) {
        self.base = base
        self.perConcurrency = perConcurrency
    }

    public static let one = QmgrFeedback(base: 1, perConcurrency: false)

    /// Parses a `*_destination_concurrency_{positive,negative}_feedback`
    /// value: a number in 0..1, optionally followed by `/concurrency`; nil
    /// when malformed.
    public static func parse(_ text: String) -> QmgrFeedback? {
        let t = text.filter { $0 != " " && $0 != "\t" }.lowercased()
        var number = Substring(t)
        var per = false
        if let slash = t.firstIndex(of: "/") {
            guard t[t.index(after: slash)...] == "concurrency" else { return nil }
            number = t[..<slash]
            per = true
        }
        guard let base = Double(number), base >= 0, base <= 1 else { return nil }
        return QmgrFeedback(base: base, perConcurrency: per)
    }

    public func value(window: Int) -> Double {
        perConcurrency ? base / Double(max(1, window)) : base
    }
}

/// The concurrency of one destination (transport + next hop, or recipient).
public struct DestinationWindow: Equatable, Sendable {
    /// Most parallel deliveries (0 = no limit).
    public let limit: Int
    public let initial: Int
    public let positive: QmgrFeedback
    public let negative: QmgrFeedback
    /// Failed cohorts after which the destination is dead (0 = never).
    public let cohortLimit: Int
    /// Deliveries allowed at once; 0 = dead.
    public private(set) var window: Int
    public private(set) var inFlight = 0
    public private(set) var success = 0.0
    public private(set) var failure = 0.0
    public private(set) var failedCohorts = 0.0

    public init(initial: Int, limit: Int, positive: QmgrFeedback = .one, negative: QmgrFeedback = .one,
                cohortLimit: Int = 0) {
        self.limit = max(0, limit)
        let start = max(1, limit > 0 ? min(initial, limit) : initial)
        self.initial = start
        self.positive = positive
        self.negative = negative
        self.cohortLimit = max(0, cohortLimit)
        self.window = start
    }

    public var isDead: Bool { window == 0 }
    public var canStart: Bool { inFlight < window }

    public mutating func started() { inFlight += 1 }

    /// A delivery ended; `failed` when the agent reported a problem with
    /// the destination (or died). True when this declared it dead.
    @discardableResult
    public mutating func finished(failed: Bool) -> Bool {
        // Feedback counts the delivery that just ended as still busy.
        let busy = inFlight
        inFlight = max(0, inFlight - 1)
        if failed { return throttle() }
        unthrottle(busy: busy)
        return false
    }

    /// A delivery ended without saying anything about the destination.
    public mutating func abandoned() { inFlight = max(0, inFlight - 1) }

    /// Back from the dead: the best concurrency is anyone's guess.
    public mutating func revive() {
        guard window == 0 else { return }
        window = inFlight > 0 ? inFlight : initial
        success = 0
        failure = 0
        failedCohorts = 0
    }

    private mutating func unthrottle(busy: Int) {
        failedCohorts = 0
        if window == 0 {
            window = busy > 0 ? busy : initial
            success = 0
            failure = 0
            return
        }
        guard limit == 0 || window < limit, window < busy + initial else { return }
        let feedback = positive.value(window: window)
        success += feedback
        while success + feedback / 2 >= 1 {
            window += 1
            success -= 1
            failure = 0
        }
        if limit > 0 && window > limit { window = limit }
    }

    private mutating func throttle() -> Bool {
        guard window > 0 else { return false }
        failedCohorts += 1.0 / Double(window)
        if cohortLimit > 0 && failedCohorts >= Double(cohortLimit) {
            window = 0
            return true
        }
        let feedback = negative.value(window: window)
        failure -= feedback
        while failure + feedback / 2 < 0 {
            window -= 1
            success = 0
            failure += 1
        }
        if window < 1 { window = 1 }
        return false
    }
}
