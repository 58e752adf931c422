// MailLogBacklog: log lines that wait in the process instead of the process
// waiting for postlogd. Linux queues only net.unix.max_dgram_qlen datagrams
// (10) on postlogd's socket; when postlogd is behind, a sender blocks. For
// qmgr, the one process every delivery passes through, a blocked log line
// stalls all deliveries (up to 20 ms at a time, measured under load), and
// mail piles up in the active queue. With `deferWhenBusy` a line that
// cannot be sent at once joins an in-order backlog, which the process
// flushes when the socket has room (`deferredDescriptor` is the descriptor
// to poll for POLLOUT), before it exits, and before any fatal error. The
// backlog is bounded: past `deferLimit` lines the process waits as before.
import Glibc
import Util

extension MailLog {
    /// Lines wait in the process rather than the process in send() (qmgr).
    nonisolated(unsafe) public static var deferWhenBusy = false {
        didSet { if deferWhenBusy { registerExitFlush() } }
    }
    /// At most this many lines wait; beyond that, sending blocks again.
    static let deferLimit = 10_000
    nonisolated(unsafe) private static var deferred: [String] = []
    nonisolated(unsafe) private static var exitFlushRegistered = false

    /// The socket to poll for POLLOUT while lines wait; nil when none does.
    public static var deferredDescriptor: Int32? {
        deferred.isEmpty || datagramSocket < 0 ? nil : datagramSocket
    }

    /// How many lines wait (tests).
    public static var deferredCount: Int { deferred.count }

    /// Sends `line` if that can be done without waiting, or queues it
    /// behind earlier lines; false when the caller must send it the usual
    /// (blocking) way: no connection, backlog full, or postlogd gone.
    static func sendWithoutWaiting(_ line: String, to path: String) -> Bool {
        if !deferred.isEmpty {
            flushDeferred(wait: false)
            if !deferred.isEmpty {
                guard deferred.count < deferLimit else {
                    flushDeferred()
                    return false
                }
                deferred.append(line)
                return true
            }
        }
        guard datagramSocket >= 0 else { return false }
        switch trySend(line) {
        case .sent: return true
        case .busy:
            deferred.append(line)
            return true
        case .failed: return false
        }
    }

    /// Sends waiting lines in order: until the socket is full (`wait`
    /// false), or all of them (`wait` true; each blocks at most as long as
    /// a normal send).
    public static func flushDeferred(wait: Bool = true) {
        var sent = 0
        defer { if sent > 0 { deferred.removeFirst(sent) } }
        while sent < deferred.count {
            switch trySend(deferred[sent], wait: wait) {
            case .sent: sent += 1
            case .busy where !wait: return
            case .busy, .failed:
                // postlogd is gone, or stuck past the send timeout: the
                // rest goes where an unsent line goes.
                for line in deferred[sent...] { Diagnostics.write(line) }
                sent = deferred.count
                return
            }
        }
    }

    private enum SendResult { case sent, busy, failed }

    private static func trySend(_ line: String, wait: Bool = false) -> SendResult {
        var line = line
        let flags = Int32(MSG_NOSIGNAL) | (wait ? 0 : Int32(MSG_DONTWAIT))
        while true {
            let n = line.withUTF8 { raw in send(datagramSocket, raw.baseAddress, raw.count, flags) }
            if n >= 0 { return .sent }
            if errno == EINTR { continue }
            return errno == EAGAIN || errno == EWOULDBLOCK ? .busy : .failed
        }
    }

    private static func registerExitFlush() {
        guard !exitFlushRegistered else { return }
        exitFlushRegistered = true
        atexit { MailLog.flushDeferred() }
    }
}
