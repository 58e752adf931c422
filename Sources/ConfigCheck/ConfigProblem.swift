// ConfigProblem: one finding of `postfix check`, with file and line.

public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: Sendable, Equatable { case warning, error }
    public let severity: Severity
    public let file: String
    public let line: Int?
    public let message: String

    public init(_ severity: Severity, file: String, line: Int?, _ message: String) {
        self.severity = severity
        self.file = file
        self.line = line
        self.message = message
    }

    /// "file, line N: message".
    public var description: String {
        if let line { return "\(file), line \(line): \(message)" }
        return "\(file): \(message)"
    }
}
