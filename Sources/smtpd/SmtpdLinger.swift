// SmtpdLinger: a graceful end for a session the server ends while the
// client may still be sending. Closing a TCP socket with unread input makes
// the kernel send a RST, and a RST can arrive before the client has read the
// server's last reply (a 221 or 421 after a protocol violation), which then
// never reaches it. So: stop sending (FIN), and read and drop what the
// client still sends for a short, bounded time before the close.
import Glibc

enum SmtpdLinger {
    /// At most this long, and this many bytes, are read and dropped.
    static let milliseconds: Int32 = 200
    static let byteLimit = 65536

    static func drain(fd: Int32) {
        // A client that has already gone answers with end of file at once.
        shutdown(fd, Int32(SHUT_WR))
        var buffer = [UInt8](repeating: 0, count: 4096)
        var total = 0
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Int64(deadline.tv_sec) * 1000 + Int64(deadline.tv_nsec) / 1_000_000 + Int64(milliseconds)
        while total < byteLimit {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = end - (Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000)
            if left <= 0 { return }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(left)) > 0 else { return }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n <= 0 { return }
            total += n
        }
    }
}
