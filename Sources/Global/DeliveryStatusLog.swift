// DeliveryStatusLog: the per-recipient delivery status line every delivery
// agent (and qmgr, when it decides a recipient's fate itself) logs, in
// Postfix's exact format (reference log-lines.md §5):
//   QID: to=<r>[, orig_to=<o>], relay=R, delay=D, delays=a/b/c/d, dsn=X.Y.Z, status=S (TEXT)
// Delays use delay_logging_resolution_limit = 2 (two significant digits).
import Glibc

public enum DeliveryStatusLog {
    /// Wall-clock seconds since the epoch, with microseconds.
    public static func now() -> Double {
        var tv = timeval()
        gettimeofday(&tv, nil)
        return Double(tv.tv_sec) + Double(tv.tv_usec) / 1e6
    }

    /// A delay as Postfix prints it: < 1 s at most 2 decimals, 1-9.x s one
    /// decimal, >= 10 s an integer; half up; trailing zeros and a bare "."
    /// dropped; negative values print 0.
    public static func formatDelay(_ seconds: Double) -> String {
        let x = seconds.isFinite ? max(0, seconds) : 0
        // Scale by 100/10/1 and round half up on the scaled integer.
        if x < 1 {
            let n = Int((x * 100 + 0.5 + 1e-9).rounded(.down))
            if n >= 100 { return "1" }
            return trimmed(n, decimals: 2)
        }
        if x < 10 {
            let n = Int((x * 10 + 0.5 + 1e-9).rounded(.down))
            if n >= 100 { return "10" }
            return trimmed(n, decimals: 1)
        }
        return String(Int((x + 0.5).rounded(.down)))
    }

    private static func trimmed(_ scaled: Int, decimals: Int) -> String {
        if scaled == 0 { return "0" }
        var divisor = 1
        for _ in 0..<decimals { divisor *= 10 }
        let whole = scaled / divisor
        var fraction = String(scaled % divisor)
        while fraction.count < decimals { fraction = "0" + fraction }
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return fraction.isEmpty ? String(whole) : "\(whole).\(fraction)"
    }

    /// The four-part delays: arrival -> active, active -> handoff to the
    /// agent, handoff -> connection set up, set up -> done.
    public struct Times: Sendable, Equatable {
        public var arrival: Double
        public var active: Double
        public var handoff: Double
        public var connected: Double
        public var done: Double

        public init(arrival: Double, active: Double, handoff: Double, connected: Double? = nil, done: Double) {
            self.arrival = arrival
            self.active = active
            self.handoff = handoff
            self.connected = connected ?? handoff
            self.done = done
        }

        public var delay: String { formatDelay(done - arrival) }
        public var delays: String {
            [active - arrival, handoff - active, connected - handoff, done - connected].map(formatDelay).joined(separator: "/")
        }
    }

    /// The text after `QID: `.
    public static func line(queueID: String, recipient: String, original: String?, relay: String,
                            times: Times, dsn: String, status: String, text: String) -> String {
        var s = "\(queueID): to=<\(recipient)>"
        if let o = original, !o.isEmpty, o != recipient, o.lowercased() != recipient.lowercased() { s += ", orig_to=<\(o)>" }
        s += ", relay=\(relay), delay=\(times.delay), delays=\(times.delays), dsn=\(dsn), status=\(status) (\(text))"
        return s
    }

    /// Logs the line (info).
    public static func log(queueID: String, recipient: String, original: String?, relay: String,
                           times: Times, dsn: String, status: String, text: String) {
        MailLog.info(line(queueID: queueID, recipient: recipient, original: original, relay: relay,
                          times: times, dsn: dsn, status: status, text: text))
    }
}
