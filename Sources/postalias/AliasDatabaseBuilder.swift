// AliasDatabaseBuilder: how postalias turns an aliases(5) file into
// entries, then writes the NIS entries and the `@` sentinel, as Postfix does.
import Glibc
import Util
import Global
import Tables

struct AliasDatabaseBuilder {
    let builder: TableBuilder
    private var options: TableCommandOptions { builder.options }
    private var config: MailConfig { builder.config }
    private func key(_ text: String) -> String { builder.key(text) }

    func run() {
        let load = { (text: String, file: String, table: IndexedTable) in self.load(text, fileName: file, into: table) }
        let finish = { (table: IndexedTable, incremental: Bool) in self.finish(table, incremental: incremental) }
        if options.incremental {
            builder.addFromStandardInput(load: load, finish: finish)
        } else {
            builder.rebuild(load: load, finish: finish)
        }
    }

    private func load(_ text: String, fileName: String, into table: IndexedTable) {
        let parsed = AliasesFile.parse(text, fileName: fileName)
        var warnings = parsed.warnings[...]
        // Warnings and duplicate reports come out in file order.
        var byLine: [Int: [String]] = [:]
        for warning in warnings {
            let line = lineNumber(warning)
            byLine[line, default: []].append(warning)
        }
        warnings = []
        var printedUpTo = -1
        func flushWarnings(through line: Int) {
            for l in byLine.keys.sorted() where l > printedUpTo && l <= line {  // 0: file-level
                for w in byLine[l]! { Diagnostics.warning(w) }
            }
            printedUpTo = max(printedUpTo, line)
        }
        for entry in parsed.entries {
            flushWarnings(through: entry.line)
            IndexedTableFile.store(key(entry.name), entry.value, in: table, policy: options.duplicates)
        }
        flushWarnings(through: Int.max)
    }

    /// The line a warning names (0 for file-level warnings, printed first).
    private func lineNumber(_ warning: String) -> Int {
        let parts = warning.split(separator: ",", maxSplits: 1)
        guard parts.count == 2, parts[1].hasPrefix(" line ") else { return 0 }
        return Int(parts[1].dropFirst(6).prefix { $0.isNumber }) ?? 0
    }

    /// The NIS entries (stored without NUL) and the `@` sentinel.
    private func finish(_ table: IndexedTable, incremental: Bool) {
        let saved = table.nullTermination
        table.nullTermination = .exclude
        IndexedTableFile.store("YP_LAST_MODIFIED", String(time(nil)), in: table, policy: .replace)
        IndexedTableFile.store("YP_MASTER_NAME", config.value("myhostname"), in: table, policy: .replace)
        table.nullTermination = saved
        IndexedTableFile.store("@", "@", in: table, policy: incremental ? .replace : options.duplicates)
    }
}
