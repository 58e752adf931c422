// QmgrTransportPolicy: the scheduler settings of one transport, read once
// per transport name: <transport>_destination_concurrency_limit,
// _initial_destination_concurrency, _destination_recipient_limit,
// _destination_concurrency_{positive,negative}_feedback,
// _destination_concurrency_failed_cohort_limit, _destination_rate_delay,
// _transport_rate_delay (each falling back to its default_ parameter), the
// transport's process limit (master.cf maxproc, `-` = default_process_limit,
// 0 = none), transport_retry_time and how long a dead destination stays
// dead (minimal_backoff_time, as Postfix).
import Util
import Global

public struct QmgrTransportPolicy: Equatable, Sendable {
    /// Recipients per delivery request (0 = no limit; 1 = the destination
    /// is the recipient, not the next hop).
    public var recipientLimit = 50
    public var concurrencyLimit = 20
    public var initialConcurrency = 5
    public var positiveFeedback = QmgrFeedback.one
    public var negativeFeedback = QmgrFeedback.one
    public var cohortLimit = 1
    /// Seconds between deliveries to one destination (0 = none).
    public var destinationRateDelay = 0.0
    /// Seconds between deliveries through the transport (0 = none).
    public var transportRateDelay = 0.0
    /// Parallel deliveries through the transport (0 = no limit).
    public var processLimit = 100
    /// Seconds a transport whose agent cannot be reached stays dead.
    public var retryTime = 60.0
    /// Seconds a dead destination stays dead.
    public var deadTime = 300.0

    public init() {}

    /// The destination window a new destination of this transport starts with.
    /// A rate delay means one delivery at a time, as in Postfix.
    public func newWindow() -> DestinationWindow {
        let limit = destinationRateDelay > 0 ? 1 : concurrencyLimit
        return DestinationWindow(initial: destinationRateDelay > 0 ? 1 : initialConcurrency, limit: limit,
                                 positive: positiveFeedback, negative: negativeFeedback, cohortLimit: cohortLimit)
    }

    /// The effective number of deliveries the transport may run at once.
    public var transportLimit: Int { transportRateDelay > 0 ? 1 : processLimit }

    /// The per-destination queue name: the next hop (case folded), or
    /// `localpart@nexthop` when every recipient is its own destination.
    public func destination(recipient: String, nexthop: String) -> String {
        guard recipientLimit == 1 else { return nexthop.lowercased() }
        let local = recipient.lastIndex(of: "@").map { String(recipient[..<$0]) } ?? recipient
        return (local + "@" + nexthop).lowercased()
    }

    /// Reads the policy of `transport` from `config`; unparsable values fall
    /// back to the global defaults (and are reported through `warn`).
    public static func read(transport: String, config: MailConfig, processLimits: [String: Int],
                            warn: (String) -> Void = { _ in }) -> QmgrTransportPolicy {
        func value(_ suffix: String, _ fallback: String) -> String {
            let own = config.value(transport + "_" + suffix)
            return own.isEmpty ? config.value(fallback) : own
        }
        func int(_ suffix: String, _ fallback: String, _ dflt: Int) -> Int {
            let text = value(suffix, fallback)
            if let n = Int(text.trimmed) { return n }
            warn("\(transport)_\(suffix): bad numerical value \"\(text)\"; using \(dflt)")
            return dflt
        }
        func seconds(_ name: String, _ text: String, _ dflt: Double) -> Double {
            if let n = ValueChecker.seconds(text.trimmed, defaultUnit: "s") { return Double(n) }
            warn("\(name): bad time value \"\(text)\"; using \(Int(dflt))s")
            return dflt
        }
        func feedback(_ suffix: String, _ fallback: String) -> QmgrFeedback {
            let text = value(suffix, fallback)
            if let f = QmgrFeedback.parse(text) { return f }
            warn("\(transport)_\(suffix): bad feedback value \"\(text)\"; using 1")
            return .one
        }
        var p = QmgrTransportPolicy()
        p.recipientLimit = max(0, int("destination_recipient_limit", "default_destination_recipient_limit", 50))
        p.concurrencyLimit = max(0, int("destination_concurrency_limit", "default_destination_concurrency_limit", 20))
        p.initialConcurrency = max(1, int("initial_destination_concurrency", "initial_destination_concurrency", 5))
        p.positiveFeedback = feedback("destination_concurrency_positive_feedback",
                                      "default_destination_concurrency_positive_feedback")
        p.negativeFeedback = feedback("destination_concurrency_negative_feedback",
                                      "default_destination_concurrency_negative_feedback")
        p.cohortLimit = max(0, int("destination_concurrency_failed_cohort_limit",
                                   "default_destination_concurrency_failed_cohort_limit", 1))
        p.destinationRateDelay = seconds(transport + "_destination_rate_delay",
                                         value("destination_rate_delay", "default_destination_rate_delay"), 0)
        p.transportRateDelay = seconds(transport + "_transport_rate_delay",
                                       value("transport_rate_delay", "default_transport_rate_delay"), 0)
        let defaultProcesses = Int(config.value("default_process_limit").trimmed) ?? 100
        p.processLimit = max(0, processLimits[transport] ?? defaultProcesses)
        p.retryTime = max(1, seconds("transport_retry_time", config.value("transport_retry_time"), 60))
        p.deadTime = max(1, seconds("minimal_backoff_time", config.value("minimal_backoff_time"), 300))
        return p
    }

    /// maxproc of each `unix` service in master.cf (`-` = default_process_limit).
    public static func processLimits(master: MasterConfigFile, defaultLimit: Int) -> [String: Int] {
        var limits: [String: Int] = [:]
        for entry in master.entries where entry.type == "unix" {
            let field = entry.processLimitField
            limits[entry.service] = field == "-" ? defaultLimit : (Int(field) ?? defaultLimit)
        }
        return limits
    }
}

extension String {
    fileprivate var trimmed: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
