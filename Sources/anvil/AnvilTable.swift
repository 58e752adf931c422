// AnvilTable: anvil's counting, apart from I/O and clocks: per ident the
// number of client connections that registered a connect, and the
// connection, message, recipient, new-TLS and AUTH counts in the current
// $anvil_rate_time_unit window (one window per ident, started by the first
// event and restarted by the first event after it ends); the peaks that the
// statistics lines report. Time is whole seconds, passed in.
import Glibc
import Global

struct AnvilTable {
    /// $anvil_rate_time_unit in seconds.
    let timeUnit: Int

    struct Remote: Equatable {
        var count = 0
        var rate = 0
        var mail = 0
        var rcpt = 0
        var newtls = 0
        var auth = 0
        /// Start of the current rate window.
        var start: Int

        /// True once the window that began at `start` has ended.
        func expired(_ now: Int, _ unit: Int) -> Bool { start + unit < now }
    }

    /// A peak: its value, whose it was and when it was reached.
    struct Peak: Equatable {
        var value: Int
        var ident: String
        var time: Int
    }

    private(set) var remotes: [String: Remote] = [:]
    /// The ident each anvil client connection holds a connect for.
    private(set) var clientIdent: [Int32: String] = [:]

    private(set) var maxConnectionRate: Peak?
    private(set) var maxConnectionCount: Peak?
    private(set) var maxMessageRate: Peak?
    private(set) var maxRecipientRate: Peak?
    private(set) var maxNewTLSRate: Peak?
    private(set) var maxAuthRate: Peak?
    private(set) var maxCacheSize: (value: Int, time: Int)?

    init(timeUnit: Int) {
        self.timeUnit = max(1, timeUnit)
    }

    /// Answers one request from anvil client connection `client`.
    mutating func handle(_ request: AnvilRequest, client: Int32, now: Int) -> AnvilReply {
        expire(now)
        let ident = request.ident
        switch request.kind {
        case .connect:
            release(client: client, now: now)
            var remote = self.remote(ident, now)
            remote.count += 1
            remote.rate += 1
            store(ident, remote, now)
            clientIdent[client] = ident
            raise(&maxConnectionRate, remote.rate, ident, now)
            raise(&maxConnectionCount, remote.count, ident, now)
            return AnvilReply(count: remote.count, rate: remote.rate)
        case .disconnect:
            if clientIdent[client] == ident { release(client: client, now: now) }
            return AnvilReply()
        case .message:
            var remote = self.remote(ident, now)
            remote.mail += 1
            store(ident, remote, now)
            raise(&maxMessageRate, remote.mail, ident, now)
            return AnvilReply(rate: remote.mail)
        case .recipient:
            var remote = self.remote(ident, now)
            remote.rcpt += 1
            store(ident, remote, now)
            raise(&maxRecipientRate, remote.rcpt, ident, now)
            return AnvilReply(rate: remote.rcpt)
        case .newtls:
            var remote = self.remote(ident, now)
            remote.newtls += 1
            store(ident, remote, now)
            raise(&maxNewTLSRate, remote.newtls, ident, now)
            return AnvilReply(rate: remote.newtls)
        case .newtlsReport:
            guard let remote = remotes[ident], !remote.expired(now, timeUnit) else { return AnvilReply(rate: 0) }
            return AnvilReply(rate: remote.newtls)
        case .auth:
            var remote = self.remote(ident, now)
            remote.auth += 1
            store(ident, remote, now)
            raise(&maxAuthRate, remote.auth, ident, now)
            return AnvilReply(rate: remote.auth)
        case .lookup:
            let r = remotes[ident] ?? Remote(start: now)
            return AnvilReply(count: r.count, rate: r.rate, mail: r.mail, rcpt: r.rcpt, newtls: r.newtls, auth: r.auth)
        }
    }

    /// Client connection `client` went away: its connect no longer counts.
    mutating func clientGone(_ client: Int32, now: Int) {
        release(client: client, now: now)
    }

    /// Drops idents with no connection whose rate window has ended.
    mutating func expire(_ now: Int) {
        for (ident, remote) in remotes where remote.count == 0 && remote.expired(now, timeUnit) {
            remotes[ident] = nil
        }
    }

    /// The statistics lines for the peaks since the last call (nothing when
    /// there was no activity); the peaks start over.
    mutating func statisticsLines(format time: (Int) -> String) -> [String] {
        var lines: [String] = []
        let unit = "/\(timeUnit)s"
        if let p = maxConnectionRate { lines.append("statistics: max connection rate \(p.value)\(unit) for (\(p.ident)) at \(time(p.time))") }
        if let p = maxConnectionCount { lines.append("statistics: max connection count \(p.value) for (\(p.ident)) at \(time(p.time))") }
        if let p = maxMessageRate { lines.append("statistics: max message rate \(p.value)\(unit) for (\(p.ident)) at \(time(p.time))") }
        if let p = maxRecipientRate { lines.append("statistics: max recipient rate \(p.value)\(unit) for (\(p.ident)) at \(time(p.time))") }
        if let p = maxNewTLSRate { lines.append("statistics: max newtls rate \(p.value)\(unit) for (\(p.ident)) at \(time(p.time))") }
        if let p = maxAuthRate { lines.append("statistics: max auth rate \(p.value)\(unit) for (\(p.ident)) at \(time(p.time))") }
        if let c = maxCacheSize { lines.append("statistics: max cache size \(c.value) at \(time(c.time))") }
        maxConnectionRate = nil
        maxConnectionCount = nil
        maxMessageRate = nil
        maxRecipientRate = nil
        maxNewTLSRate = nil
        maxAuthRate = nil
        maxCacheSize = nil
        return lines
    }

    /// "Nov 29 01:31:37" (ctime's form: the day padded with a space).
    static func formatTime(_ seconds: Int) -> String {
        var t = time_t(seconds)
        var parts = tm()
        localtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        _ = strftime(&buffer, buffer.count, "%b %e %H:%M:%S", &parts)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: - Helpers

    /// The entry for `ident`, new or with its rates restarted when its
    /// window has ended.
    private func remote(_ ident: String, _ now: Int) -> Remote {
        guard var remote = remotes[ident] else { return Remote(start: now) }
        if remote.expired(now, timeUnit) {
            remote = Remote(count: remote.count, start: now)
        }
        return remote
    }

    private mutating func store(_ ident: String, _ remote: Remote, _ now: Int) {
        let isNew = remotes[ident] == nil
        remotes[ident] = remote
        if isNew && remotes.count > (maxCacheSize?.value ?? 0) {
            maxCacheSize = (remotes.count, now)
        }
    }

    private mutating func release(client: Int32, now: Int) {
        guard let ident = clientIdent.removeValue(forKey: client), var remote = remotes[ident] else { return }
        if remote.count > 0 { remote.count -= 1 }
        if remote.count == 0 && remote.expired(now, timeUnit) {
            remotes[ident] = nil
        } else {
            remotes[ident] = remote
        }
    }

    private func raise(_ peak: inout Peak?, _ value: Int, _ ident: String, _ now: Int) {
        if value > (peak?.value ?? 0) { peak = Peak(value: value, ident: ident, time: now) }
    }
}
