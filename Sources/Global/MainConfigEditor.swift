// MainConfigEditor: the text transformations behind `postconf -e`, `-X` and
// `-#`: old main.cf bytes plus requested edits give new main.cf bytes, laid
// out exactly as Postfix 3.7's postconf leaves the file (comments, blank
// lines and untouched definitions kept byte for byte).
import Util

public enum MainConfigEditor {
    /// What to do with every definition of one parameter.
    public enum Action: Sendable, Equatable {
        /// Replace each definition by `name = value` (appended when absent).
        case update(value: String)
        /// Delete each definition with its continuation lines.
        case remove
        /// Prefix each physical line of each definition with `#`.
        case commentOut
    }

    /// One requested edit.
    public struct Request: Sendable, Equatable {
        public let name: String
        public let action: Action

        public init(name: String, action: Action) {
            self.name = name
            self.action = action
        }
    }

    /// The edited file and the warnings postconf prints while editing.
    public struct Result: Sendable, Equatable {
        public let bytes: [UInt8]
        public let warnings: [String]

        public var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// The line postconf writes for a definition: `name = value`.
    public static func definitionLine(name: String, value: String) -> String {
        "\(name) = \(value)\n"
    }

    /// Applies `requests` to `text`. A later request for the same name
    /// replaces an earlier one (callers warn about it, see `mergeRequests`).
    /// `path` only names the file in warnings.
    public static func edit(_ text: [UInt8], requests: [Request], path: String) -> Result {
        var byName: [String: Action] = [:]
        var order: [String] = []
        for request in requests {
            if byName[request.name] == nil { order.append(request.name) }
            byName[request.name] = request.action
        }
        var output: [UInt8] = []
        output.reserveCapacity(text.count + 64)
        var seen: [String: Int] = [:]
        var warnings: [String] = []
        // The action applying to the current definition (nil: keep it).
        var current: Action? = nil
        for line in physicalLines(text) {
            if isIgnorable(line) {
                output.append(contentsOf: line)
                continue
            }
            if line[line.startIndex].isPostfixSpace {
                switch current {
                case nil: output.append(contentsOf: line)
                case .update, .remove: break
                case .commentOut: output.append(UInt8(ascii: "#")); output.append(contentsOf: line)
                }
                continue
            }
            let name = definitionName(line)
            current = byName[name]
            guard let action = current else {
                output.append(contentsOf: line)
                continue
            }
            seen[name, default: 0] += 1
            if seen[name] == 2 { warnings.append("\(path): multiple entries for \"\(name)\"") }
            switch action {
            case .update(let value): output.append(contentsOf: definitionLine(name: name, value: value).utf8)
            case .remove: break
            case .commentOut: output.append(UInt8(ascii: "#")); output.append(contentsOf: line)
            }
        }
        for name in order where seen[name] == nil {
            if case .update(let value) = byName[name]! {
                output.append(contentsOf: definitionLine(name: name, value: value).utf8)
            }
        }
        return Result(bytes: output, warnings: warnings)
    }

    /// String convenience for tests and callers holding text.
    public static func edit(_ text: String, requests: [Request], path: String) -> Result {
        edit(Array(text.utf8), requests: requests, path: path)
    }

    /// Physical lines with their line terminators (the last one may lack it).
    static func physicalLines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") {
            lines.append(bytes[start...i])
            start = i + 1
        }
        if start < bytes.count { lines.append(bytes[start...]) }
        return lines
    }

    /// True for blank lines and comments (`#` after optional white space).
    static func isIgnorable(_ line: ArraySlice<UInt8>) -> Bool {
        for b in line {
            if b.isPostfixSpace { continue }
            return b == UInt8(ascii: "#")
        }
        return true
    }

    /// The name a definition line starts with: up to white space or `=`.
    static func definitionName(_ line: ArraySlice<UInt8>) -> String {
        var end = line.startIndex
        while end < line.endIndex && !line[end].isPostfixSpace && line[end] != UInt8(ascii: "=") { end += 1 }
        return String(decoding: line[line.startIndex..<end], as: UTF8.self)
    }

    /// Splits a `name=value` command-line argument as postconf does: white
    /// space around both trimmed, no white space inside the name. Returns
    /// Postfix's error text on failure.
    public static func splitAssignment(_ argument: String) -> Assignment {
        let bytes = Array(argument.utf8)
        var i = 0
        while i < bytes.count && bytes[i].isPostfixSpace { i += 1 }
        let nameStart = i
        while i < bytes.count && !bytes[i].isPostfixSpace && bytes[i] != UInt8(ascii: "=") { i += 1 }
        let name = String(decoding: bytes[nameStart..<i], as: UTF8.self)
        if name.isEmpty { return .invalid("missing attribute name: \"\(argument)\"") }
        while i < bytes.count && bytes[i].isPostfixSpace { i += 1 }
        guard i < bytes.count && bytes[i] == UInt8(ascii: "=") else {
            return .invalid("missing '=' after attribute name: \"\(argument)\"")
        }
        let value = String(decoding: bytes[(i + 1)...], as: UTF8.self).trimmingPostfixSpace()
        return .valid(name: name, value: value)
    }

    /// The outcome of `splitAssignment`.
    public enum Assignment: Sendable, Equatable {
        case valid(name: String, value: String)
        /// Postfix's error text.
        case invalid(String)
    }
}
