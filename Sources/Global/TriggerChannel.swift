// TriggerChannel: one wakeup connection kept open across requests. A
// daemon that wakes the same trigger server for every message (cleanup
// waking qmgr) connects once and then writes one byte per wakeup, instead of
// connecting, writing and closing each time (Trigger.send); the server reads
// such a connection until it is closed (ServerSkeleton's HeldTriggers). A
// server that went away (restart, reload) shows as a failed write: the
// channel connects again once. Endpoints that are fifos, or a server that
// cannot be reached, get Trigger.send's one-shot behaviour.
import Glibc
import Util

public final class TriggerChannel {
    public let path: String
    private var fd: Int32 = -1

    public init(path: String) { self.path = path }

    deinit { if fd >= 0 { close(fd) } }

    /// Sends `byte`; false when nobody listens. Never blocks: a full
    /// socket buffer means the server has unread wakeups already.
    @discardableResult
    public func send(_ byte: UInt8) -> Bool {
        for _ in 0..<2 {
            if fd < 0 {
                // Non-blocking (see Trigger.send): a server that is not
                // accepting never holds this process.
                do { fd = try Socket.connectUnix(path, nonBlocking: true) } catch {
                    return error.code == EAGAIN ? false : Trigger.send([byte], to: path)
                }
            }
            var value = byte
            let n = Glibc.send(fd, &value, 1, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            if n == 1 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { return true }
            if n < 0 && errno == EINTR { continue }
            close(fd)
            fd = -1
        }
        return false
    }

    /// Sends the wakeup byte (`W`).
    @discardableResult
    public func wakeup() -> Bool { send(Trigger.wakeup) }
}
