// MasterConfigFile: master.cf read exactly as Postfix reads it: the eight
// fields (service, type, private, unpriv, chroot, wakeup, maxproc, command),
// `-` for defaults, then arguments where `{ text with spaces }` is one
// argument and `-o name=value` / `-o { name = value }` override main.cf.
import Util

/// One argument after the command name.
public enum MasterArgument: Sendable, Equatable {
    /// `-o name=value`; the value may be empty.
    case option(name: String, value: String)
    /// `-o` followed by text that is not `name=value` (kept as written).
    case malformedOption(String)
    /// Any other argument, braces removed.
    case plain(String)
}

/// One service definition.
public struct MasterEntry: Sendable, Equatable {
    public var service: String
    public var type: String
    public var privateField: String
    public var unprivilegedField: String
    public var chrootField: String
    public var wakeupField: String
    public var processLimitField: String
    public var command: String
    public var arguments: [MasterArgument]
    public var firstLine: Int
    public var lastLine: Int

    public static let types: Set<String> = ["inet", "unix", "unix-dgram", "fifo", "pass"]

    /// "service/type", the name postconf uses for the entry.
    public var key: String { "\(service)/\(type)" }

    /// The `-o` overrides in order.
    public var options: [(name: String, value: String)] {
        arguments.compactMap { if case let .option(n, v) = $0 { return (n, v) } else { return nil } }
    }

    /// The arguments as words, `-o name=value` pairs included (for `-F` and `-M`).
    public var argumentWords: [String] {
        var words: [String] = []
        for argument in arguments {
            switch argument {
            case .option(let name, let value):
                words.append("-o")
                let pair = "\(name)=\(value)"
                words.append(pair.utf8.contains(where: { $0.isPostfixSpace }) ? "{\(pair)}" : pair)
            case .malformedOption(let text):
                words.append("-o")
                if !text.isEmpty { words.append(text) }
            case .plain(let text):
                words.append(text)
            }
        }
        return words
    }
}

public struct MasterConfigFile: Sendable {
    public let path: String
    public var entries: [MasterEntry]
    /// Warnings Postfix prints while reading.
    public let warnings: [String]

    /// Reads `path`; a missing master.cf is an error, as in Postfix.
    public static func load(path: String) throws(ConfigError) -> MasterConfigFile {
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            throw ConfigError(file: path, line: nil, "open \(path): \(error)", postfixText: "open \(path): \(error)")
        }
        return try parse(text, path: path)
    }

    /// Splits a master.cf logical line into words: white space separates
    /// words, and `{` starts a group that runs to its matching `}`. A word
    /// that is one whole group loses its braces and surrounding space.
    /// Returns words and the "missing '}'" warnings.
    public static func words(_ text: String) -> (words: [String], braced: [Bool], warnings: [String]) {
        let bytes = Array(text.utf8)
        var words: [String] = [], braced: [Bool] = [], warnings: [String] = []
        var i = 0
        while i < bytes.count {
            while i < bytes.count && bytes[i].isPostfixSpace { i += 1 }
            if i >= bytes.count { break }
            let start = i
            var depth = 0
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "{") { depth += 1 } else if b == UInt8(ascii: "}") { if depth > 0 { depth -= 1 } } else if b.isPostfixSpace && depth == 0 { break }
                i += 1
            }
            var word = Array(bytes[start..<i])
            var isBraced = false
            if depth > 0 {
                warnings.append("missing '}' in \"\(String(decoding: word, as: UTF8.self))\"")
                if word.first == UInt8(ascii: "{") {
                    word.removeFirst()
                    words.append(String(decoding: word, as: UTF8.self).trimmingPostfixSpace())
                    braced.append(true)
                    continue
                }
            } else if word.first == UInt8(ascii: "{"), word.last == UInt8(ascii: "}"),
                      Self.closingIndex(word) == word.count - 1 {
                word = Array(word[1..<(word.count - 1)])
                isBraced = true
                words.append(String(decoding: word, as: UTF8.self).trimmingPostfixSpace())
                braced.append(isBraced)
                continue
            }
            words.append(String(decoding: word, as: UTF8.self))
            braced.append(isBraced)
        }
        return (words, braced, warnings)
    }

    /// Index of the brace closing the one at index 0.
    private static func closingIndex(_ word: [UInt8]) -> Int? {
        var depth = 0
        for (k, b) in word.enumerated() {
            if b == UInt8(ascii: "{") { depth += 1 } else if b == UInt8(ascii: "}") {
                depth -= 1
                if depth == 0 { return k }
            }
        }
        return nil
    }

    public static func parse(_ text: String, path: String) throws(ConfigError) -> MasterConfigFile {
        var warnings: [String] = []
        let lines = LogicalLines.split(text) { _, line in
            warnings.append(LogicalLines.orphanWarning(path: path, line: line))
        }
        var entries: [MasterEntry] = []
        for line in lines {
            let (entry, lineWarnings) = try parseEntry(line, path: path)
            warnings += lineWarnings
            entries.append(entry)
        }
        return MasterConfigFile(path: path, entries: entries, warnings: warnings)
    }

    /// Parses one logical line into an entry. Errors carry Postfix's text;
    /// the line number is kept in the error for `postfix check`.
    public static func parseEntry(_ line: LogicalLine, path: String) throws(ConfigError) -> (MasterEntry, [String]) {
        let (words, braced, wordWarnings) = words(line.text)
        var warnings = wordWarnings.map { "master.cf: \($0)" }
        guard words.count >= 8 else {
            throw ConfigError(file: path, line: line.firstLine, "bad field count",
                              postfixText: "file \(path): line \(line.firstLine): bad field count")
        }
        let shown = line.text
        func invalid(_ field: String, _ value: String) -> ConfigError {
            ConfigError(file: path, line: line.firstLine, "invalid \(field) field \"\(value)\"",
                        postfixText: "invalid \(field) field \"\(value)\" in \"\(shown)\"")
        }
        let type = words[1]
        guard MasterEntry.types.contains(type) else { throw invalid("type", type) }
        for (index, field) in [(2, "private"), (3, "unprivileged"), (4, "chroot")] {
            let v = words[index]
            guard v == "y" || v == "n" || v == "-" else { throw invalid(field, v) }
        }
        guard isWakeup(words[5]) else { throw invalid("wakeup", words[5]) }
        guard words[6] == "-" || (words[6].utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }) else {
            throw invalid("process_limit", words[6])
        }
        var arguments: [MasterArgument] = []
        var k = 8
        while k < words.count {
            if words[k] == "-o" && !braced[k] {
                guard k + 1 < words.count else {
                    arguments.append(.malformedOption(""))
                    k += 1
                    continue
                }
                let pair = words[k + 1]
                if let (name, value) = splitOption(pair) {
                    arguments.append(.option(name: name, value: value))
                } else {
                    if braced[k + 1] { warnings.append("master.cf: missing '=' after attribute name: \"\(pair)\"") }
                    arguments.append(.malformedOption(pair))
                }
                k += 2
                continue
            }
            arguments.append(.plain(words[k]))
            k += 1
        }
        let entry = MasterEntry(service: words[0], type: type, privateField: words[2], unprivilegedField: words[3],
                                chrootField: words[4], wakeupField: words[5], processLimitField: words[6],
                                command: words[7], arguments: arguments,
                                firstLine: line.firstLine, lastLine: line.lastLine)
        return (entry, warnings)
    }

    /// `-` or digits, optionally followed by `?`.
    static func isWakeup(_ v: String) -> Bool {
        if v == "-" { return true }
        var digits = Substring(v)
        if digits.hasSuffix("?") { digits = digits.dropLast() }
        return !digits.isEmpty && digits.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// `name=value` with white space around both trimmed; nil without `=` or name.
    public static func splitOption(_ text: String) -> (String, String)? {
        guard let eq = text.firstIndex(of: "=") else { return nil }
        let name = text[..<eq].trimmingPostfixSpace()
        let value = text[text.index(after: eq)...].trimmingPostfixSpace()
        guard !name.isEmpty, !name.utf8.contains(where: { $0.isPostfixSpace }) else { return nil }
        return (name, value)
    }
}
