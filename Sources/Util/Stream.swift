// Stream: a buffered, blocking byte stream over a file descriptor with a
// deadline per operation (Postfix's VSTREAM with timeouts): read a line or
// a count of bytes, write and flush. Timeouts and EOF are errors the
// caller sees, never a hang.
import Glibc

public enum StreamError: Error, Equatable, Sendable {
    case timeout
    case endOfFile
    case system(Int32)
    /// A line longer than the limit.
    case lineTooLong
}

public final class Stream {
    public let fd: Int32
    /// Seconds each read or write may wait; 0 means no limit.
    public var timeout: Int32
    private var input: [UInt8] = []
    private var inputStart = 0
    private var output: [UInt8] = []

    /// Where read(2) puts bytes before they join `input` (one allocation
    /// per stream, not one per read; made at the first read, so a stream
    /// that only writes, such as qmgr's request to a delivery agent, costs
    /// no 8 KiB allocation).
    private var scratchStorage: UnsafeMutableRawBufferPointer?
    private var scratch: UnsafeMutableRawBufferPointer {
        if let scratchStorage { return scratchStorage }
        let made = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 8)
        scratchStorage = made
        return made
    }

    public init(fd: Int32, timeout: Int32 = 0) {
        self.fd = fd
        self.timeout = timeout
    }

    deinit { scratchStorage?.deallocate() }

    /// Waits until `fd` is ready for `events`, within the timeout.
    private func wait(_ events: Int16) throws(StreamError) {
        guard timeout > 0 else { return }
        var p = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let rc = poll(&p, 1, timeout * 1000)
            if rc > 0 { return }
            if rc == 0 { throw .timeout }
            if errno != EINTR { throw .system(errno) }
        }
    }

    /// The timeout set on the socket with SO_RCVTIMEO (seconds), so that a
    /// read waits and times out by itself without a poll() before it; nil
    /// while not set. Pipes, files and non-blocking sockets are polled.
    private var socketTimeout: Int32?
    private var socketTimeoutUsable = true

    /// Sets SO_RCVTIMEO to the current timeout; false when reads must be
    /// polled instead.
    private func armSocketTimeout() -> Bool {
        guard timeout > 0, isSocket, socketTimeoutUsable else { return false }
        if socketTimeout == timeout { return true }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        guard setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            socketTimeoutUsable = false
            return false
        }
        socketTimeout = timeout
        return true
    }

    private func fill() throws(StreamError) {
        if inputStart > 0 && inputStart == input.count {
            input.removeAll(keepingCapacity: true)
            inputStart = 0
        } else if inputStart >= 65536 {
            // Consumed bytes do not pile up while a long input streams through.
            input.removeSubrange(0..<inputStart)
            inputStart = 0
        }
        var timedRead = armSocketTimeout()
        if !timedRead { try wait(Int16(POLLIN)) }
        let buffer = scratch
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            let failure = n < 0 ? errno : 0
            if n > 0 { input.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n])); return }
            if n == 0 { throw .endOfFile }
            if failure == EINTR { continue }
            if failure == EAGAIN {
                // On a blocking socket: the receive timeout ran out.
                if timedRead && fcntl(fd, F_GETFL) & O_NONBLOCK == 0 { throw .timeout }
                if timedRead { socketTimeoutUsable = false; timedRead = false }
                try wait(Int16(POLLIN))
                continue
            }
            throw .system(failure)
        }
    }

    /// Bytes already buffered but not yet consumed.
    public var bufferedCount: Int { input.count - inputStart }

    /// Reads up to and including "\n"; returns the line without "\r\n" or
    /// "\n". Lines longer than `limit` throw `.lineTooLong` after the
    /// excess is consumed up to the newline.
    public func readLine(limit: Int = 65536) throws(StreamError) -> [UInt8] {
        while true {
            if let nl = find(0x0A, from: inputStart) {
                var line = Array(input[inputStart..<nl])
                inputStart = nl + 1
                if line.last == 0x0D { line.removeLast() }
                if line.count > limit { throw .lineTooLong }
                return line
            }
            try fill()
        }
    }

    /// The index of the first `byte` in `input` at or after `from` (memchr).
    private func find(_ byte: UInt8, from: Int) -> Int? {
        guard from < input.count else { return nil }
        return input.withUnsafeBytes { raw -> Int? in
            guard let hit = memchr(raw.baseAddress! + from, Int32(byte), raw.count - from) else { return nil }
            return raw.baseAddress!.distance(to: UnsafeRawPointer(hit))
        }
    }

    /// Reads one byte.
    public func readByte() throws(StreamError) -> UInt8 {
        if inputStart == input.count { try fill() }
        let byte = input[inputStart]
        inputStart += 1
        return byte
    }

    /// Reads exactly `count` bytes.
    public func read(count: Int) throws(StreamError) -> [UInt8] {
        while bufferedCount < count { try fill() }
        let bytes = Array(input[inputStart..<(inputStart + count)])
        inputStart += count
        return bytes
    }

    /// Reads bytes up to and including the first `delimiter`; returns them
    /// without the delimiter.
    public func read(until delimiter: UInt8, limit: Int = 1 << 20) throws(StreamError) -> [UInt8] {
        // Scanned bytes are counted from inputStart: fill() may compact
        // the buffer and move inputStart back to 0.
        var scanned = 0
        while true {
            if let i = find(delimiter, from: inputStart + scanned) {
                let bytes = Array(input[inputStart..<i])
                inputStart = i + 1
                return bytes
            }
            scanned = input.count - inputStart
            if scanned > limit { throw .lineTooLong }
            try fill()
        }
    }

    /// As `read(until:limit:)`, but hands the bytes (without the
    /// delimiter) to `body` in place instead of copying them into an array.
    public func read<R>(until delimiter: UInt8, limit: Int = 1 << 20,
                        _ body: (UnsafeBufferPointer<UInt8>) -> R) throws(StreamError) -> R {
        var scanned = 0
        while true {
            if let i = find(delimiter, from: inputStart + scanned) {
                let start = inputStart
                inputStart = i + 1
                return input.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start..<i])) }
            }
            scanned = input.count - inputStart
            if scanned > limit { throw .lineTooLong }
            try fill()
        }
    }

    public func write(_ bytes: [UInt8]) {
        output.append(contentsOf: bytes)
    }

    public func write(_ bytes: ArraySlice<UInt8>) {
        output.append(contentsOf: bytes)
    }

    public func write(byte: UInt8) {
        output.append(byte)
    }

    public func write(_ text: String) {
        output.appendUTF8(text)  // a contiguous copy where the string has one (DecimalBytes.swift)
    }

    /// False once `fd` turned out not to be a socket.
    private var isSocket = true

    /// Sends everything buffered. With a timeout, a socket is written at
    /// once without blocking and polled (within the timeout) only when its
    /// buffer is full; other descriptors are polled first.
    public func flush() throws(StreamError) {
        var offset = 0
        defer { output.removeAll(keepingCapacity: true) }
        var mustWait = false
        while offset < output.count {
            let direct = timeout > 0 && isSocket
            if mustWait || !direct { try wait(Int16(POLLOUT)) }
            let n = output.withUnsafeBytes {
                direct ? Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                       : Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset)
            }
            if n > 0 { offset += n; mustWait = false; continue }
            if n < 0 && direct && errno == ENOTSOCK { isSocket = false; continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { mustWait = true; continue }
            if n < 0 && errno == EINTR { continue }
            throw .system(errno)
        }
    }

    public func close() {
        Glibc.close(fd)
    }
}
