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
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError()
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
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
