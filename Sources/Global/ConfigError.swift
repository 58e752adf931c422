// ConfigError: a configuration problem with the file and line it comes
// from. `description` is Postfix's own wording for the problem (which does
// not always name the line); `located` always names file and line, for
// `postfix check`.

public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    /// 1-based line number, or nil when the problem concerns the whole file.
    public let line: Int?
    /// The problem without its location.
    public let message: String
    /// Exactly what Postfix prints for this problem.
    public let postfixText: String

    /// A problem Postfix reports as "file, line N: message".
    public init(file: String, line: Int?, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
        if let line { postfixText = "\(file), line \(line): \(message)" } else { postfixText = "\(file): \(message)" }
    }

    /// A problem whose Postfix wording is given in full.
    public init(file: String, line: Int?, _ message: String, postfixText: String) {
        self.file = file
        self.line = line
        self.message = message
        self.postfixText = postfixText
    }

    public var description: String { postfixText }

    /// "file, line N: message" whatever Postfix's wording.
    public var located: String {
        if let line { return "\(file), line \(line): \(message)" }
        return "\(file): \(message)"
    }
}
