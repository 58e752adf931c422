// ServerUsage: the max_use / max_idle bookkeeping of a service process,
// as a pure value: how many clients were served, whether the process
// should take another, and how long it may still sit idle.

public struct ServerUsage: Equatable, Sendable {
    /// max_use; 0 means no limit.
    public let maxUse: Int
    /// max_idle in seconds; 0 means no limit.
    public let maxIdle: Double
    public private(set) var served = 0
    public private(set) var idleSince: Double

    public init(maxUse: Int, maxIdle: Double, now: Double) {
        self.maxUse = maxUse
        self.maxIdle = maxIdle
        self.idleSince = now
    }

    /// Records one client (or request) served.
    public mutating func served(at now: Double) {
        served += 1
        idleSince = now
    }

    /// Restarts the idle clock (activity without a completed use).
    public mutating func touch(at now: Double) { idleSince = now }

    /// True when the process has served max_use clients and should exit.
    public var exhausted: Bool { maxUse > 0 && served >= maxUse }

    /// Seconds left before the idle limit (nil: no limit).
    public func idleRemaining(at now: Double) -> Double? {
        guard maxIdle > 0 else { return nil }
        return max(0, idleSince + maxIdle - now)
    }

    /// True when the process has been idle for max_idle seconds.
    public func idleExpired(at now: Double) -> Bool {
        guard let left = idleRemaining(at: now) else { return false }
        return left <= 0
    }
}
