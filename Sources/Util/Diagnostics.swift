// Diagnostics: Postfix-style messages on standard error for command-line
// programs ("postconf: warning: ...", "postconf: fatal: ..."), with the exit
// status Postfix uses for fatal errors.
import Glibc

/// Where command-line programs report warnings and fatal errors.
public enum Diagnostics {
    /// The name printed before each message; Postfix prints the path the
    /// program was invoked by (argv[0]).
    nonisolated(unsafe) public static var programName = "posthorn"
    /// Count of warnings written so far (tests and exit decisions read it).
    nonisolated(unsafe) public private(set) static var warningCount = 0

    public static func warning(_ text: String) {
        warningCount += 1
        write("\(programName): warning: \(printable(text))\n")
    }

    public static func error(_ text: String) {
        write("\(programName): error: \(printable(text))\n")
    }

    public static func info(_ text: String) {
        write("\(programName): \(printable(text))\n")
    }

    /// Reports a fatal error and exits with status 1, as Postfix's msg_fatal does.
    public static func fatal(_ text: String) -> Never {
        StandardOutput().flush()
        write("\(programName): fatal: \(printable(text))\n")
        exit(1)
    }

    /// The text with every byte outside printable ASCII replaced by "?",
    /// as Postfix sanitizes its messages.
    public static func printable(_ text: String) -> String {
        var bytes = Array(text.utf8)
        for i in bytes.indices where bytes[i] < 0x20 || bytes[i] > 0x7E {
            bytes[i] = UInt8(ascii: "?")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes to standard error without buffering.
    public static func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 { if errno == EINTR { continue }; return }
            offset += n
        }
    }
}

/// Writes text to standard output through one process-wide buffer;
/// `flush()` before exit (fatal errors flush it first).
public struct StandardOutput: Sendable {
    nonisolated(unsafe) private static var buffer: [UInt8] = []

    public init() {}

    public func write(_ text: String) {
        Self.buffer.append(contentsOf: text.utf8)
        if Self.buffer.count >= 65536 { flush() }
    }

    public func flush() {
        var offset = 0
        while offset < Self.buffer.count {
            let n = Self.buffer.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 { if errno == EINTR { continue }; break }
            offset += n
        }
        Self.buffer.removeAll(keepingCapacity: true)
    }
}
