// MailDate: dates as Postfix writes them in headers (Date:, Received:,
// Arrival-Date: of delivery status reports), RFC 5322 with the day of the
// month space-padded and the zone name in parentheses:
// `Sun, 29 Nov 2026 06:16:07 +0000 (UTC)`. Local time, as Postfix.
import Glibc

public enum MailDate {
    /// The RFC 5322 date of `time` (seconds since the epoch).
    public static func format(_ time: Int) -> String {
        // Messages of the same second share the text (one per process).
        if time == cached.time { return cached.text }
        let text = formatUncached(time)
        cached = (time, text)
        return text
    }

    nonisolated(unsafe) private static var cached: (time: Int, text: String) = (Int.min, "")

    private static func formatUncached(_ time: Int) -> String {
        var t = time_t(time)
        var parts = tm()
        localtime_r(&t, &parts)
        let offset = Int(parts.tm_gmtoff)
        let minutes = abs(offset) / 60
        let zone = (offset < 0 ? "-" : "+") + twoDigits(minutes / 60) + twoDigits(minutes % 60)
        return strftime("%a, %e %b %Y %H:%M:%S ", &parts) + zone + " (" + strftime("%Z", &parts) + ")"
    }

    /// strftime(3) of `time` in local time.
    public static func strftime(_ pattern: String, _ time: Int) -> String {
        var t = time_t(time)
        var parts = tm()
        localtime_r(&t, &parts)
        return strftime(pattern, &parts)
    }

    private static func strftime(_ pattern: String, _ parts: inout tm) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        let n = Glibc.strftime(&buffer, buffer.count, pattern, &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}
