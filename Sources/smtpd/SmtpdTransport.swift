// SmtpdTransport: the byte stream under an SMTP session. The plain socket
// is one implementation; after STARTTLS a TLS stream replaces it (the
// session swaps `SmtpdInput.transport` and drops buffered plaintext).
// SmtpdInput reads lines and counted chunks through a fixed-size buffer, so
// no client input can grow memory beyond it.
import Glibc
import Util

enum TransportError: Error, Equatable {
    case timeout
    case closed
    case system(Int32)
}

protocol SmtpdTransport: AnyObject {
    /// Reads what is available (at most `buffer.count` bytes) within
    /// `timeout` seconds; 0 means end of input.
    func receive(_ buffer: UnsafeMutableRawBufferPointer, timeout: Int32) throws(TransportError) -> Int
    /// Sends all of `bytes` within `timeout` seconds per write.
    func send(_ bytes: UnsafeRawBufferPointer, timeout: Int32) throws(TransportError)
    /// True when input is waiting (never blocks).
    func inputPending() -> Bool
}

/// The client's TCP connection; or, for a stand-alone smtpd (`-S`,
/// `sendmail -bs`), standard input and standard output, which may be pipes
/// or a terminal.
final class SocketTransport: SmtpdTransport {
    let fd: Int32
    let outputFD: Int32
    private let isSocket: Bool
    init(fd: Int32) { self.fd = fd; outputFD = fd; isSocket = true }
    /// Reads `input`, writes `output` (not sockets: no MSG_PEEK).
    init(input: Int32, output: Int32) {
        fd = input
        outputFD = output
        var st = stat()
        isSocket = fstat(input, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
    }

    private func wait(_ events: Int32, _ timeout: Int32) throws(TransportError) {
        var p = pollfd(fd: events == POLLOUT ? outputFD : fd, events: Int16(events), revents: 0)
        while true {
            let rc = poll(&p, 1, timeout > 0 ? timeout * 1000 : -1)
            if rc > 0 { return }
            if rc == 0 { throw .timeout }
            if errno != EINTR { throw .system(errno) }
        }
    }

    /// The receive timeout set on the socket (SO_RCVTIMEO), in seconds;
    /// nil before the first read or once the socket turned out to be
    /// non-blocking (then reads wait with poll()).
    private var socketTimeout: Int32?
    private var socketTimeoutUsable = true

    /// On a blocking socket one recv() with SO_RCVTIMEO waits for input
    /// and enforces the timeout (no poll() before each read); pipes,
    /// terminals and non-blocking sockets are polled first.
    func receive(_ buffer: UnsafeMutableRawBufferPointer, timeout: Int32) throws(TransportError) -> Int {
        if isSocket && socketTimeoutUsable {
            if socketTimeout != timeout {
                var tv = timeval(tv_sec: timeout > 0 ? Int(timeout) : 0, tv_usec: 0)
                if setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size)) == 0 {
                    socketTimeout = timeout
                } else {
                    socketTimeoutUsable = false
                }
            }
            while socketTimeoutUsable {
                let n = recv(fd, buffer.baseAddress, buffer.count, 0)
                if n >= 0 { return n }
                switch errno {
                case EINTR: continue
                case EAGAIN, EWOULDBLOCK:
                    // A blocking socket says so only when the timeout ran out.
                    if fcntl(fd, F_GETFL) & O_NONBLOCK == 0 { throw .timeout }
                    socketTimeoutUsable = false
                case ECONNRESET: return 0
                default: throw .system(errno)
                }
            }
        }
        while true {
            try wait(POLLIN, timeout)
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR || errno == EAGAIN { continue }
            if errno == ECONNRESET { return 0 }
            throw .system(errno)
        }
    }

    /// On a socket the reply is sent at once without blocking (it nearly
    /// always fits the socket buffer); poll() with the timeout only when it
    /// does not. Pipes and terminals (`-S`) are polled first.
    func send(_ bytes: UnsafeRawBufferPointer, timeout: Int32) throws(TransportError) {
        let direct = isSocket && outputFD == fd
        var mustWait = !direct
        var offset = 0
        while offset < bytes.count {
            if mustWait { try wait(POLLOUT, timeout) }
            let n = direct
                ? Glibc.send(outputFD, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                : Glibc.write(outputFD, bytes.baseAddress! + offset, bytes.count - offset)
            if n > 0 { offset += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { mustWait = true; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EPIPE || errno == ECONNRESET) { throw .closed }
            throw .system(errno)
        }
    }

    func inputPending() -> Bool {
        guard isSocket else {
            // A pipe or terminal: readable now (end of input does not count).
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            return poll(&p, 1, 0) > 0 && p.revents & Int16(POLLIN) != 0
        }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) > 0
    }
}

/// How a line read by SmtpdInput ended.
enum LineEnd: Equatable {
    case crlf
    case bareLF
    /// The line reached the length limit; the rest follows in the next read.
    case truncated
}

/// Buffered, bounded reading of lines and chunks.
final class SmtpdInput {
    var transport: SmtpdTransport
    var timeout: Int32
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0

    /// Called before a read that may wait for the client: the session
    /// flushes its pending replies there (as Postfix's double-buffered
    /// VSTREAM flushes before it refills), so a client never waits for a
    /// reply that sits in our buffer.
    var beforeRead: (() -> Void)?

    init(transport: SmtpdTransport, timeout: Int32, capacity: Int) {
        self.transport = transport
        self.timeout = timeout
        // Uninitialized: only bytes read from the client are ever looked at.
        let size = max(capacity, 4096)
        buffer = [UInt8](unsafeUninitializedCapacity: size) { _, count in count = size }
    }

    var capacity: Int { buffer.count }

    /// Bytes buffered and not consumed.
    var buffered: Int { end - start }

    /// True when the client has sent more than we have read.
    var hasPending: Bool { end > start || transport.inputPending() }

    /// Forgets buffered input (after STARTTLS).
    func discardBuffered() { start = 0; end = 0 }

    /// Up to `limit` buffered bytes, for the pipelining log line.
    func peekBuffered(limit: Int) -> [UInt8] {
        if end == start && transport.inputPending() { try? fill(wait: false) }
        return Array(buffer[start..<min(end, start + limit)])
    }

    private func fill(wait: Bool = true) throws(TransportError) {
        if start > 0 {
            let count = end - start
            if count > 0 {
                buffer.withUnsafeMutableBytes { raw in
                    _ = memmove(raw.baseAddress!, raw.baseAddress! + start, count)
                }
            }
            start = 0
            end = count
        }
        guard end < buffer.count else { return }
        if wait { beforeRead?() }
        let transport = self.transport
        let timeout = self.timeout
        let end = self.end
        let result = buffer.withUnsafeMutableBytes { raw -> Result<Int, TransportError> in
            do { return .success(try transport.receive(UnsafeMutableRawBufferPointer(rebasing: raw[end...]), timeout: timeout)) } catch {
                return .failure(error as? TransportError ?? .closed)
            }
        }
        let n = try result.get()
        if n == 0 { throw .closed }
        self.end += n
    }

    /// Reads one line of at most `limit` bytes (without its terminator).
    func readLine(limit: Int) throws(TransportError) -> ([UInt8], LineEnd) {
        let (line, end) = try readLineSlice(limit: limit)
        return (Array(line), end)
    }

    /// As `readLine`, but the line is a view of the input buffer (no copy;
    /// valid until the next read).
    func readLineSlice(limit: Int) throws(TransportError) -> (ArraySlice<UInt8>, LineEnd) {
        let limit = min(limit, buffer.count - 2)
        var scanned = 0
        while true {
            let from = start + scanned
            let end = self.end
            // memchr: the line scan is the busiest loop of a DATA transfer.
            let i = from >= end ? end : buffer.withUnsafeBytes { raw -> Int in
                guard let hit = memchr(raw.baseAddress! + from, 0x0A, end - from) else { return end }
                return raw.baseAddress!.distance(to: UnsafeRawPointer(hit))
            }
            if i < end {
                var lineEnd = i
                var kind = LineEnd.bareLF
                if lineEnd > start && buffer[lineEnd - 1] == 0x0D { lineEnd -= 1; kind = .crlf }
                if lineEnd - start > limit {
                    let line = buffer[start..<(start + limit)]
                    start += limit
                    return (line, .truncated)
                }
                let line = buffer[start..<lineEnd]
                start = i + 1
                return (line, kind)
            }
            scanned = end - start
            if scanned > limit {
                // Keep a trailing CR with its LF.
                var cut = limit
                if buffer[start + cut - 1] == 0x0D { cut -= 1 }
                let line = buffer[start..<(start + cut)]
                start += cut
                return (line, .truncated)
            }
            try fill()
        }
    }

    /// Reads `count` bytes, handing them over in pieces.
    func readChunk(_ count: Int, _ body: ([UInt8]) -> Void) throws(TransportError) {
        var left = count
        while left > 0 {
            if end == start { try fill() }
            let n = min(left, end - start)
            body(Array(buffer[start..<(start + n)]))
            start += n
            left -= n
        }
    }
}

/// Replies waiting to be sent: flushed when the client has nothing more
/// buffered (pipelining) or before the server waits.
final class SmtpdOutput {
    var transport: SmtpdTransport
    var timeout: Int32
    private var pending: [UInt8] = []

    init(transport: SmtpdTransport, timeout: Int32) {
        self.transport = transport
        self.timeout = timeout
        pending.reserveCapacity(1024)
    }

    var isEmpty: Bool { pending.isEmpty }

    func append(_ line: String) {
        pending.append(contentsOf: line.utf8)
        pending.append(0x0D)
        pending.append(0x0A)
    }

    func flush() throws(TransportError) {
        guard !pending.isEmpty else { return }
        defer { pending.removeAll(keepingCapacity: true) }
        let transport = self.transport
        let timeout = self.timeout
        let result = pending.withUnsafeBytes { raw -> Result<Void, TransportError> in
            do { try transport.send(raw, timeout: timeout); return .success(()) } catch { return .failure(error as? TransportError ?? .closed) }
        }
        try result.get()
    }
}
