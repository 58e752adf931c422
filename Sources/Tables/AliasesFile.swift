// AliasesFile: the aliases(5) source format that postalias and newaliases
// read: `name: value, value, ...` logical lines (comments, continuation
// lines), quoted names, `:include:/file`, `|command` and `/file` values.
// The line is split into RFC 822 tokens; the name is the text before the
// first `:` (quotes removed), and the value is written back in Postfix's
// canonical spacing (", " after commas, one space between words, none
// around other specials), so that the stored value is what Postfix stores.
import Util
import Global

public enum AliasesFile {
    public struct Entry: Sendable, Equatable {
        /// The alias name, unquoted and not yet case-folded.
        public let name: String
        /// The value in Postfix's canonical form.
        public let value: String
        /// The physical line where the logical line starts.
        public let line: Int
    }

    /// Entries in file order, and the warnings Postfix prints for the lines
    /// it skips, in its words (`FILE, line N: need name:value pair`).
    public static func parse(_ text: String, fileName: String) -> (entries: [Entry], warnings: [String]) {
        var entries: [Entry] = []
        var warnings: [String] = []
        let lines = LogicalLines.split(text) { _, line in
            warnings.append("\(fileName): logical line must not start with whitespace: \"\(line)\"")
        }
        for line in lines {
            switch parseLine(line.text) {
            case .entry(let name, let value):
                entries.append(Entry(name: name, value: value, line: line.firstLine))
            case .problem(let text):
                warnings.append("\(fileName), line \(line.firstLine): \(text)")
            }
        }
        return (entries, warnings)
    }

    public enum LineResult: Equatable, Sendable {
        case entry(name: String, value: String)
        case problem(String)
    }

    /// Parses one logical line.
    public static func parseLine(_ text: String) -> LineResult {
        let tokens = tokenize(text)
        guard let colon = tokens.firstIndex(of: .special(UInt8(ascii: ":"))), colon > 0, colon + 1 < tokens.count else {
            return .problem("need name:value pair")
        }
        let nameTokens = tokens[..<colon]
        for token in nameTokens {
            switch token {
            case .special(UInt8(ascii: "@")): return .problem("name must be local")
            case .atom(let bytes) where bytes.contains(UInt8(ascii: "%")): return .problem("name must be local")
            default: continue
            }
        }
        return .entry(name: internalize(nameTokens), value: externalize(tokens[(colon + 1)...]))
    }

    // MARK: RFC 822 tokens

    enum Token: Equatable, Sendable {
        /// Text with backslash escapes removed.
        case atom([UInt8])
        /// Contents without the quotes, escapes removed.
        case quoted([UInt8])
        /// The comment as written, parentheses and escapes included.
        case comment([UInt8])
        /// Contents without the brackets, escapes removed.
        case domainLiteral([UInt8])
        case special(UInt8)

        var isWord: Bool {
            if case .special = self { return false }
            return true
        }
    }

    static let specials = Set("()<>@,;:\\\".[]".utf8)

    static func tokenize(_ text: String) -> [Token] {
        let bytes = Array(text.utf8)
        var tokens: [Token] = []
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c.isPostfixSpace { i += 1; continue }
            switch c {
            case UInt8(ascii: "("):
                let start = i
                var depth = 0
                while i < bytes.count {
                    let b = bytes[i]
                    if b == UInt8(ascii: "\\") { i += 2; continue }
                    if b == UInt8(ascii: "(") { depth += 1 }
                    if b == UInt8(ascii: ")") { depth -= 1; if depth == 0 { i += 1; break } }
                    i += 1
                }
                i = min(i, bytes.count)
                tokens.append(.comment(Array(bytes[start..<i])))
            case UInt8(ascii: "\""), UInt8(ascii: "["):
                let close = c == UInt8(ascii: "\"") ? UInt8(ascii: "\"") : UInt8(ascii: "]")
                var content: [UInt8] = []
                i += 1
                while i < bytes.count && bytes[i] != close {
                    if bytes[i] == UInt8(ascii: "\\") {
                        i += 1
                        if i < bytes.count { content.append(bytes[i]) }
                    } else {
                        content.append(bytes[i])
                    }
                    i += 1
                }
                i += 1
                tokens.append(c == UInt8(ascii: "\"") ? .quoted(content) : .domainLiteral(content))
            default:
                if specials.contains(c) && c != UInt8(ascii: "\\") {
                    tokens.append(.special(c))
                    i += 1
                    continue
                }
                var content: [UInt8] = []
                while i < bytes.count {
                    let b = bytes[i]
                    if b == UInt8(ascii: "\\") {
                        i += 1
                        if i < bytes.count { content.append(bytes[i]); i += 1 }
                        continue
                    }
                    if b.isPostfixSpace || specials.contains(b) { break }
                    content.append(b)
                    i += 1
                }
                if !content.isEmpty { tokens.append(.atom(content)) }
            }
        }
        return tokens
    }

    /// The name as Postfix keys it: words joined by one space, quotes removed.
    static func internalize(_ tokens: ArraySlice<Token>) -> String {
        var out: [UInt8] = []
        var previous: Token?
        for token in tokens {
            if let previous, previous.isWord && token.isWord { out.append(UInt8(ascii: " ")) }
            switch token {
            case .atom(let b), .quoted(let b), .comment(let b): out += b
            case .domainLiteral(let b): out.append(UInt8(ascii: "[")); out += b; out.append(UInt8(ascii: "]"))
            case .special(let c): out.append(c)
            }
            previous = token
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value in Postfix's canonical external form.
    static func externalize(_ tokens: ArraySlice<Token>) -> String {
        var out: [UInt8] = []
        var previous: Token?
        for token in tokens {
            if let previous {
                if previous.isWord && token.isWord {
                    out.append(UInt8(ascii: " "))
                } else if token == .special(UInt8(ascii: "<")) && previous != .special(UInt8(ascii: ",")) {
                    out.append(UInt8(ascii: " "))
                }
            }
            switch token {
            case .atom(let b):
                if b.contains(where: { $0.isPostfixSpace || specials.contains($0) || $0 < 0x20 }) {
                    out += quote(b)
                } else {
                    out += b
                }
            case .quoted(let b): out += quote(b)
            case .comment(let b): out += b
            case .domainLiteral(let b): out.append(UInt8(ascii: "[")); out += b; out.append(UInt8(ascii: "]"))
            case .special(let c):
                out.append(c)
                if c == UInt8(ascii: ",") { out.append(UInt8(ascii: " ")) }
            }
            previous = token
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func quote(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for b in bytes {
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
            out.append(b)
        }
        out.append(UInt8(ascii: "\""))
        return out
    }
}
