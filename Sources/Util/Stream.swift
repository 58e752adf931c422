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
    /// Bytes written and not yet flushed: raw memory, so that each write
    /// is a capacity check and a copy (an array's generic append costs
    /// about a hundred instructions per call, and protocol encoders write
    /// a name, a NUL, a value and a NUL per attribute).
    private var output: UnsafeMutablePointer<UInt8>?
    private var outputCount = 0
    private var outputCapacity = 0

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

    deinit {
        scratchStorage?.deallocate()
        output?.deallocate()
    }

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

    /// As `read(until:limit:)`, the bytes made into text in place
    /// (invalid UTF-8 repaired): no array and no generic call, for the
    /// attribute lists every request and reply is made of.
    public func readString(until delimiter: UInt8, limit: Int = 1 << 20) throws(StreamError) -> String {
        // Specialized here, in Stream's own module (callers elsewhere got
        // the unspecialized generic version).
        try read(until: delimiter, limit: limit) { String(decoding: $0, as: UTF8.self) }
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

    /// Room for `count` more bytes at the end of the output buffer.
    @inline(__always)
    private func outputSpace(_ count: Int) -> UnsafeMutablePointer<UInt8> {
        if outputCapacity - outputCount < count { growOutput(count) }
        return output.unsafelyUnwrapped + outputCount
    }

    private func growOutput(_ count: Int) {
        let capacity = Swift.max(outputCount + count, outputCapacity * 2, 512)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        if let output {
            grown.initialize(from: output, count: outputCount)
            output.deallocate()
        }
        output = grown
        outputCapacity = capacity
    }

    private func write(raw bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        UnsafeMutableRawPointer(outputSpace(bytes.count)).copyMemory(from: base, byteCount: bytes.count)
        outputCount += bytes.count
    }

    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write(raw: $0) }
    }

    public func write(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { write(raw: $0) }
    }

    public func write(byte: UInt8) {
        outputSpace(1).pointee = byte
        outputCount += 1
    }

    public func write(_ text: String) {
        var text = text  // small strings have no storage: withUTF8 gives a stack copy
        text.withUTF8 { write(raw: UnsafeRawBufferPointer($0)) }
    }

    /// False once `fd` turned out not to be a socket.
    private var isSocket = true

    /// Sends everything buffered. With a timeout, a socket is written at
    /// once without blocking and polled (within the timeout) only when its
    /// buffer is full; other descriptors are polled first.
    public func flush() throws(StreamError) {
        var offset = 0
        defer { outputCount = 0 }
        var mustWait = false
        while offset < outputCount {
            let direct = timeout > 0 && isSocket
            if mustWait || !direct { try wait(Int16(POLLOUT)) }
            let start = output.unsafelyUnwrapped + offset, count = outputCount - offset
            let n = direct ? Glibc.send(fd, start, count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                           : Glibc.write(fd, start, count)
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
