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

    private func expanded(_ text: String) -> String {
        guard options.expand else { return text }
        return (try? config.expand(text)) ?? text
    }

    /// The entry's layout, with -o values expanded under -x.
    private func layout(_ e: MasterEntry) -> MasterEntryLayout {
        var copy = e
        if options.expand {
            copy.arguments = e.arguments.map { argument in
                if case let .option(name, value) = argument { return .option(name: name, value: expanded(value)) }
                return argument
            }
        }
        return copy.layout
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
        for e in matchingEntries() { out.write(layout(e).renderLine(fold: options.fold) + "\n") }
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
        for p in patterns where p.parts.count > 2 && p.parts[2] != "*" && !Self.fieldNames.contains(p.parts[2]) {
            Diagnostics.fatal("invalid service attribute name: \"\(p.parts[2])\"")
        }
        var matched = Array(repeating: false, count: patterns.count)
        for e in entries {
            let command = e.layout.renderCommand(prefix: "", fold: false)
            let values = [e.service, e.type, e.privateField, e.unprivilegedField, e.chrootField, e.wakeupField, e.processLimitField, command]
            for (field, value) in zip(Self.fieldNames, values) {
                if !patterns.isEmpty {
                    let hits = patterns.indices.filter { patterns[$0].matches(e, name: field) }
                    if hits.isEmpty { continue }
                    for h in hits { matched[h] = true }
                }
                let name = "\(e.key)/\(field)"
                if options.namesOnly {
                    out.write(name + "\n")
                } else if field == "command" {
                    out.write(e.layout.renderCommand(prefix: options.valuesOnly ? "" : "\(name) = ", fold: options.fold) + "\n")
                } else {
                    out.write(MasterEntryLayout.renderField(prefix: options.valuesOnly ? "" : "\(name) = ", value: value,
                                                            fold: options.fold) + "\n")
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
