// HeldTriggers: trigger connections a client keeps open. The usual
// trigger client connects, writes a request byte or two and closes; a
// client that wakes the same server for every message (cleanup waking qmgr)
// instead keeps one connection and writes a byte per wakeup (Global's
// TriggerChannel), which spares both sides a connect, an accept and two
// closes per message. The server reads whatever each connection sends until
// the client closes it. The open connections are watched through one epoll
// set, so the server's own poll() gains one descriptor, not one per client;
// at most `limit` are held (beyond that a connection is read once and
// closed, as a one-shot trigger: its client connects again on its next
// wakeup; a byte it sends between that read and the close is lost, which is
// why the limit, 256, is above the largest number of cleanup processes
// master starts by default, 100). A server that restarts loses what its
// held connections had not yet read: it scans its queue when it starts.
import Glibc
import CPosix
import Util

public final class HeldTriggers {
    private let limit: Int
    private var held = Set<Int32>()
    private var epoll: Int32 = -1

    public init(limit: Int = 256) { self.limit = limit }

    deinit {
        for fd in held { close(fd) }
        if epoll >= 0 { close(epoll) }
    }

    /// The descriptor to poll for input on held connections; nil while
    /// none is held.
    public var pollDescriptor: Int32? { held.isEmpty ? nil : epoll }

    /// How many connections are held (tests, logging).
    public var count: Int { held.count }

    /// Accepts a connection waiting on the non-blocking trigger socket
    /// `endpoint` and returns its request bytes (empty when it sent none
    /// yet); nil when no connection was waiting. The connection is closed
    /// when its client has closed it already, else held.
    public func accept(_ endpoint: Int32) -> [UInt8]? {
        guard let client = ServerRuntime.accept(endpoint) else { return nil }
        var bytes = TriggerServer.readRequest(client)
        let open = drain(client, into: &bytes)
        if open && held.count < limit && watch(client) {
            held.insert(client)
        } else {
            close(client)
        }
        return bytes
    }

    /// Reads what the held connections have sent and closes those whose
    /// client has gone.
    public func readReady() -> [UInt8] {
        guard epoll >= 0 else { return [] }
        var bytes: [UInt8] = []
        var ready = [Int32](repeating: -1, count: 64)
        let n = ready.withUnsafeMutableBufferPointer { posthorn_epoll_ready(epoll, $0.baseAddress, 64, 0) }
        for fd in ready.prefix(max(0, Int(n))) where held.contains(fd) {
            if !drain(fd, into: &bytes) {
                _ = posthorn_epoll_unwatch(epoll, fd)
                held.remove(fd)
                close(fd)
            }
        }
        return bytes
    }

    /// Reads everything `fd` holds now; false when the client has closed
    /// the connection (or it failed).
    private func drain(_ fd: Int32, into bytes: inout [UInt8]) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 256)
        // Sixteen reads at most: a client that writes without pause does
        // not keep the server here.
        for _ in 0..<16 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                // A bound on what one wakeup returns: requests are single
                // bytes, and repeating one adds nothing.
                if bytes.count < 1024 { bytes += buffer[0..<min(n, 1024 - bytes.count)] }
                // A short read took all there was: no second read only to
                // hear EAGAIN (a close still wakes the level-triggered poll).
                if n < buffer.count { return true }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
        }
        return true
    }

    private func watch(_ fd: Int32) -> Bool {
        if epoll < 0 { epoll = posthorn_epoll_create() }
        return epoll >= 0 && posthorn_epoll_watch(epoll, fd) == 0
    }
}
