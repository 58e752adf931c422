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

    /// The arguments as postconf keeps them (braces removed).
    public var argumentWords: [String] {
        arguments.flatMap { argument -> [String] in
            switch argument {
            case .option(let name, let value): return ["-o", "\(name)=\(value)"]
            case .malformedOption(let text): return ["-o", text]
            case .plain(let text): return [text]
            }
        }
    }

    /// The entry in postconf's layout (for printing and editing).
    public var layout: MasterEntryLayout {
        MasterEntryLayout(fields: [service, type, privateField, unprivilegedField, chrootField, wakeupField, processLimitField],
                          command: command, arguments: argumentWords)
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
    /// the line number is kept in the error for `postfix check`. Only the
    /// `-o` pairs right after the command are overrides, as for Postfix's
    /// daemons (their getopt stops at the first other word).
    public static func parseEntry(_ line: LogicalLine, path: String) throws(ConfigError) -> (MasterEntry, [String]) {
        guard let (layout, warnings) = MasterEntryLayout.parse(line.text) else {
            throw ConfigError(file: path, line: line.firstLine, "bad field count",
                              postfixText: "file \(path): line \(line.firstLine): bad field count")
        }
        let shown = line.text
        func invalid(_ field: String, _ value: String) -> ConfigError {
            ConfigError(file: path, line: line.firstLine, "invalid \(field) field \"\(value)\"",
                        postfixText: "invalid \(field) field \"\(value)\" in \"\(shown)\"")
        }
        let words = layout.fields
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
        var k = 0
        let words8 = layout.arguments
        while k + 1 < words8.count && words8[k] == "-o" {
            if let (name, value) = splitOption(words8[k + 1]) {
                arguments.append(.option(name: name, value: value))
            } else {
                arguments.append(.malformedOption(words8[k + 1]))
            }
            k += 2
        }
        arguments += words8[k...].map { .plain($0) }
        let entry = MasterEntry(service: words[0], type: type, privateField: words[2], unprivilegedField: words[3],
                                chrootField: words[4], wakeupField: words[5], processLimitField: words[6],
                                command: layout.command, arguments: arguments,
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
