// DeliveryStatusLog: the per-recipient delivery status line every delivery
// agent (and qmgr, when it decides a recipient's fate itself) logs, in
// Postfix's exact format (reference log-lines.md §5):
//   QID: to=<r>[, orig_to=<o>], relay=R, delay=D, delays=a/b/c/d, dsn=X.Y.Z, status=S (TEXT)
// Delays use delay_logging_resolution_limit = 2 (two significant digits).
import Glibc
import Util

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
        var out: [UInt8] = []
        appendDelay(seconds, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `formatDelay` appended to a byte buffer (the status line is made
    /// as bytes: five delays per delivery).
    public static func appendDelay(_ seconds: Double, to out: inout [UInt8]) {
        let x = seconds.isFinite ? max(0, seconds) : 0
        // Scale by 100/10/1 and round half up on the scaled integer.
        if x < 1 {
            let n = Int((x * 100 + 0.5 + 1e-9).rounded(.down))
            if n >= 100 { out.append(UInt8(ascii: "1")); return }
            appendTrimmed(n, decimals: 2, to: &out)
        } else if x < 10 {
            let n = Int((x * 10 + 0.5 + 1e-9).rounded(.down))
            if n >= 100 { out.appendDecimal(10); return }
            appendTrimmed(n, decimals: 1, to: &out)
        } else {
            out.appendDecimal(Int((x + 0.5).rounded(.down)))
        }
    }

    /// `scaled` / 10^decimals with the fraction's trailing zeros (and a
    /// bare ".") dropped.
    private static func appendTrimmed(_ scaled: Int, decimals: Int, to out: inout [UInt8]) {
        var divisor = 1
        for _ in 0..<decimals { divisor *= 10 }
        out.appendDecimal(scaled / divisor)
        var fraction = scaled % divisor
        guard fraction != 0 else { return }
        var digits = decimals
        while fraction % 10 == 0 { fraction /= 10; digits -= 1 }
        out.append(UInt8(ascii: "."))
        // Leading zeros up to the remaining width.
        var width = 1, rest = fraction / 10
        while rest > 0 { width += 1; rest /= 10 }
        for _ in width..<digits { out.append(UInt8(ascii: "0")) }
        out.appendDecimal(fraction)
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
            var out: [UInt8] = []
            appendDelays(to: &out)
            return String(decoding: out, as: UTF8.self)
        }

        /// `delays` appended to a byte buffer.
        func appendDelays(to out: inout [UInt8]) {
            appendDelay(active - arrival, to: &out); out.append(UInt8(ascii: "/"))
            appendDelay(handoff - active, to: &out); out.append(UInt8(ascii: "/"))
            appendDelay(connected - handoff, to: &out); out.append(UInt8(ascii: "/"))
            appendDelay(done - connected, to: &out)
        }
    }

    /// The text after `QID: ` (made as bytes: one per delivered recipient).
    public static func line(queueID: String, recipient: String, original: String?, relay: String,
                            times: Times, dsn: String, status: String, text: String) -> String {
        var s: [UInt8] = []
        s.reserveCapacity(120 + recipient.utf8.count + relay.utf8.count + text.utf8.count)
        s.appendUTF8(queueID); s.appendUTF8(": to=<"); s.appendUTF8(recipient); s.append(UInt8(ascii: ">"))
        if let o = original, !o.isEmpty, o != recipient, o.lowercased() != recipient.lowercased() {
            s.appendUTF8(", orig_to=<"); s.appendUTF8(o); s.append(UInt8(ascii: ">"))
        }
        s.appendUTF8(", relay="); s.appendUTF8(relay)
        s.appendUTF8(", delay="); appendDelay(times.done - times.arrival, to: &s)
        s.appendUTF8(", delays="); times.appendDelays(to: &s)
        s.appendUTF8(", dsn="); s.appendUTF8(dsn)
        s.appendUTF8(", status="); s.appendUTF8(status)
        s.appendUTF8(" ("); s.appendUTF8(text); s.append(UInt8(ascii: ")"))
        return String(decoding: s, as: UTF8.self)
    }

    /// Logs the line (info).
    public static func log(queueID: String, recipient: String, original: String?, relay: String,
                           times: Times, dsn: String, status: String, text: String) {
        MailLog.info(line(queueID: queueID, recipient: recipient, original: original, relay: relay,
                          times: times, dsn: dsn, status: status, text: text))
    }
}
