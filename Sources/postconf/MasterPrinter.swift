// MasterPrinter: `postconf -M` (entries), `-F` (fields) and `-P` (-o
// parameters), each optionally limited by service[/type[/name]] patterns,
// with Postfix's column layout and -f folding.
import Util
import Global

/// A `service/type/name` pattern; a missing part or `*` matches anything.
struct MasterPattern {
    let text: String
    let parts: [String]

    init(_ text: String) {
        self.text = text
        parts = text.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
    }

    private func part(_ i: Int, matches value: String) -> Bool {
        i >= parts.count || parts[i] == "*" || parts[i] == value
    }

    func matches(_ entry: MasterEntry) -> Bool {
        part(0, matches: entry.service) && part(1, matches: entry.type)
    }

    func matches(_ entry: MasterEntry, name: String) -> Bool {
        matches(entry) && part(2, matches: name)
    }
}

struct MasterPrinter {
    let options: PostconfOptions
    let config: MailConfig
    let entries: [MasterEntry]
    let out = StandardOutput()

    static let fieldNames = ["service", "type", "private", "unprivileged", "chroot", "wakeup", "process_limit", "command"]
    /// Column where each of the first seven fields ends (exclusive), before a space.
    static let columnWidths = [10, 5, 7, 7, 7, 7, 7]

    /// The seven fields laid out in Postfix's columns, then the command.
    static func fieldsLine(_ e: MasterEntry) -> String {
        let fields = [e.service, e.type, e.privateField, e.unprivilegedField, e.chrootField, e.wakeupField, e.processLimitField]
        var line = ""
        var column = 0
        for (field, width) in zip(fields, columnWidths) {
            line += field
            column += width + 1
            let used = line.utf8.count
            line += String(repeating: " ", count: used < column ? column - used : 1)
        }
        return line + e.command
    }

    private func expanded(_ text: String) -> String {
        guard options.expand else { return text }
        return (try? config.expand(text)) ?? text
    }

    /// One whole entry, arguments folded as postconf -Mf folds them.
    func entryText(_ e: MasterEntry) -> String {
        withArguments(e, start: Self.fieldsLine(e), limit: 79)
    }

    /// `start` followed by the entry's arguments: each `-o` pair on a line
    /// of its own when folding, other words folded normally.
    func withArguments(_ e: MasterEntry, start: String, limit: Int = 80) -> String {
        var folder = LineFolder(fold: options.fold, start: start, limit: limit)
        var afterOption = false
        for argument in e.arguments {
            switch argument {
            case .option(let name, let value):
                let pair = "\(name)=\(expanded(value))"
                let shown = pair.utf8.contains(where: { $0.isPostfixSpace }) ? "{\(pair)}" : pair
                if options.fold { folder.newLine("-o " + shown) } else { folder.append("-o"); folder.append(shown) }
                afterOption = true
            case .malformedOption(let text):
                if options.fold { folder.newLine(text.isEmpty ? "-o" : "-o " + text) } else {
                    folder.append("-o")
                    if !text.isEmpty { folder.append(text) }
                }
                afterOption = true
            case .plain(let text):
                if afterOption { folder.newLine(text) } else { folder.append(text) }
                afterOption = false
            }
        }
        return folder.text
    }

    private func matchingEntries() -> [MasterEntry] {
        let patterns = options.arguments.map(MasterPattern.init)
        guard !patterns.isEmpty else { return entries }
        for p in patterns where !entries.contains(where: { p.matches($0) }) {
            Diagnostics.warning("unmatched request: \"\(p.text)\"")
        }
        return entries.filter { e in patterns.contains { $0.matches(e) } }
    }

    func printEntries() -> Int32 {
        for e in matchingEntries() { out.write(entryText(e) + "\n") }
        out.flush()
        return 0
    }

    private func line(_ name: String, _ value: String) -> String {
        if options.namesOnly { return name }
        if options.valuesOnly { return LineFolder.valueOnly(value, fold: options.fold) }
        return LineFolder.nameValue(name, value, fold: options.fold)
    }

    func printFields() -> Int32 {
        let patterns = options.arguments.map(MasterPattern.init)
        var matched = Array(repeating: false, count: patterns.count)
        for e in entries {
            let command = ([e.command] + e.argumentWords).joined(separator: " ")
            let foldedCommand = withArguments(e, start: "\(e.key)/command = \(e.command)", limit: 79)
            let values = [e.service, e.type, e.privateField, e.unprivilegedField, e.chrootField, e.wakeupField, e.processLimitField, command]
            for (field, value) in zip(Self.fieldNames, values) {
                if !patterns.isEmpty {
                    let hits = patterns.indices.filter { patterns[$0].matches(e, name: field) }
                    if hits.isEmpty { continue }
                    for h in hits { matched[h] = true }
                }
                if field == "command" && options.fold && !options.valuesOnly && !options.namesOnly {
                    out.write(foldedCommand + "\n")
                } else {
                    out.write(line("\(e.key)/\(field)", value) + "\n")
                }
            }
        }
        for (p, hit) in zip(patterns, matched) where !hit {
            Diagnostics.warning("unmatched request: \"\(p.text)\"")
        }
        out.flush()
        return 0
    }

    func printParameters() -> Int32 {
        let patterns = options.arguments.map(MasterPattern.init)
        var matched = Array(repeating: false, count: patterns.count)
        for e in entries {
            var latest: [String: String] = [:]
            for (name, value) in e.options { latest[name] = value }
            for name in latest.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                if !patterns.isEmpty {
                    let hits = patterns.indices.filter { patterns[$0].matches(e, name: name) }
                    if hits.isEmpty { continue }
                    for h in hits { matched[h] = true }
                }
                out.write(line("\(e.key)/\(name)", expanded(latest[name]!)) + "\n")
            }
        }
        for (p, hit) in zip(patterns, matched) where !hit {
            Diagnostics.warning("unmatched request: \"\(p.text)\"")
        }
        out.flush()
        return 0
    }
}
