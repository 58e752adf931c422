// Trigger: the one-shot wakeups Postfix programs send each other (as
// mail_trigger): a few bytes written to a fifo (non-blocking) or to a
// UNIX-domain stream socket (connect, write, close). `W` asks qmgr for an
// incoming scan and pickup for a maildrop scan; qmgr also takes `I`, `D`,
// `A`, `F` (see Sources/qmgr).
import Glibc
import Util

public enum Trigger {
    /// TRIGGER_REQ_WAKEUP.
    public static let wakeup: UInt8 = UInt8(ascii: "W")

    /// Writes `bytes` to the endpoint at `path`; false when nobody listens.
    @discardableResult
    public static func send(_ bytes: [UInt8], to path: String) -> Bool {
        // A socket first (qmgr's and pickup's usual endpoint): no stat per
        // trigger. Connecting to a fifo fails, and then it is opened as one.
        // A non-blocking connect: when the server does not accept (killed
        // and throttled by master, its backlog full) the wakeup is dropped
        // at once rather than holding the sender (sendmail, cleanup) until
        // it comes back; it scans its queue when it starts anyway.
        do {
            let fd = try Socket.connectUnix(path, nonBlocking: true)
            defer { close(fd) }
            // Never blocks, and a listener that went away is a failed send,
            // not SIGPIPE.
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            return n == bytes.count
        } catch {
            if error.code == EAGAIN { return false }
        }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFIFO else { return false }
        let fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        return n == bytes.count
    }

    /// Sends the single wakeup byte.
    @discardableResult
    public static func wakeup(_ path: String) -> Bool {
        send([wakeup], to: path)
    }
}
