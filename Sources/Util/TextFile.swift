// TextFile: read a whole file as bytes or text, and describe errno values
// the way Postfix's messages do ("No such file or directory").
import Glibc

public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public init(_ code: Int32 = errno) { self.code = code }
    /// strerror text, e.g. "No such file or directory".
    public var description: String { String(cString: strerror(code)) }
}

public enum TextFile {
    /// Reads the whole file at `path`.
    public static func readBytes(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError() }
        defer { close(fd) }
        return try readAll(fd: fd)
    }

    /// Reads everything from `fd`: from its current position, or with
    /// `fromStart` from offset 0 without moving it (pread). Sized by fstat
    /// and read straight into the array's storage (no zero-filled scratch
    /// buffer); copes with a file that grows or shrinks meanwhile.
    public static func readAll(fd: Int32, fromStart: Bool = false) throws(SystemError) -> [UInt8] {
        var info = stat()
        let expected = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG ? max(Int(info.st_size), 0) : 0
        var result: [UInt8] = []
        var position: off_t = 0
        if expected > 0 {
            // The common case: the size fstat gave, read straight into the
            // result (one more byte of room tells a file that grew).
            var failure: Int32 = 0
            var ended = false
            result = [UInt8](unsafeUninitializedCapacity: expected + 1) { buffer, count in
                var got = 0
                while got < buffer.count {
                    let n = fromStart ? pread(fd, buffer.baseAddress! + got, buffer.count - got, off_t(got))
                                      : Glibc.read(fd, buffer.baseAddress! + got, buffer.count - got)
                    if n < 0 { if errno == EINTR { continue }; failure = errno; break }
                    if n == 0 { ended = true; break }
                    got += n
                }
                count = got
            }
            if failure != 0 { throw SystemError(failure) }
            if ended { return result }
            position = off_t(result.count)
        } else {
            result.reserveCapacity(1)
        }
        while true {
            let want = max(result.capacity - result.count, 65536)
            var n = 0
            var failure: Int32 = 0
            let chunk = [UInt8](unsafeUninitializedCapacity: want) { buffer, count in
                n = fromStart ? pread(fd, buffer.baseAddress, want, position) : Glibc.read(fd, buffer.baseAddress, want)
                if n < 0 { failure = errno }
                count = max(n, 0)
            }
            if n < 0 { if failure == EINTR { continue }; throw SystemError(failure) }
            if n == 0 { break }
            result.append(contentsOf: chunk)
            position += off_t(n)
        }
        return result
    }

    /// Reads the whole file at `path` as UTF-8 text (invalid bytes repaired).
    public static func read(_ path: String) throws(SystemError) -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    /// True when `path` names an existing file system object.
    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }
}
