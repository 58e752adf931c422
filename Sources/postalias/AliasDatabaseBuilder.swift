// AliasDatabaseBuilder: builds one alias database from its aliases(5) file
// (through a temporary file renamed into place), or adds entries from
// standard input (-i); either way it then writes the NIS entries and the
// `@` sentinel, as Postfix does.
import Glibc
import Util
import Global
import Tables

struct AliasDatabaseBuilder {
    let type: String
    let name: String
    let options: TableCommandOptions
    let config: MailConfig

    private func key(_ text: String) -> String { options.foldCase ? text.asciiLowercased() : text }

    /// postalias [type:]file: a new database from the aliases file.
    func rebuild() {
        let fd = open(name, O_RDONLY | O_CLOEXEC)
        if fd < 0 { Diagnostics.fatal("open \(name): \(String(cString: strerror(errno)))") }
        if !IndexedTableFile.creatableTypes.contains(type) && !TableReference.knownTypes.contains(type) {
            Diagnostics.fatal("unsupported dictionary type: \(type). Is the postfix-\(type) package installed?")
        }
        var info = stat()
        _ = fstat(fd, &info)
        close(fd)
        IndexedTableFile.dropPrivileges(toOwnerOf: info, keep: options.keepPrivileges)
        let text: String
        do { text = try TextFile.read(name) } catch { Diagnostics.fatal("open \(name): \(error)") }
        let build: IndexedTableFile.Build
        do {
            build = try IndexedTableFile.Build(type: type, name: name, config: config,
                                               sourceMode: options.inheritMode ? info.st_mode : nil)
        } catch {
            Diagnostics.fatal(error.description)
        }
        let table = build.table
        table.nullTermination = options.nullTermination
        load(text, fileName: name, into: table)
        finish(table, incremental: false)
        do { try build.commit() } catch { Diagnostics.fatal(error.description) }
    }

    /// postalias -i: entries from standard input into the existing database.
    func addFromStandardInput() {
        guard IndexedTableFile.creatableTypes.contains(type) else {
            Diagnostics.fatal("unsupported dictionary type: \(type) does not support bulk-mode creation.")
        }
        let table: IndexedTable
        do {
            table = try IndexedTableFile.open(type: type, name: name, config: config, writable: true, create: true)
            table.nullTermination = options.nullTermination
            try table.beginBulkUpdate()
        } catch {
            Diagnostics.fatal(error.description)
        }
        var text = ""
        while let line = readLine(strippingNewline: false) { text += line }
        load(text, fileName: "stdin", into: table)
        finish(table, incremental: true)
        do { try table.close() } catch { Diagnostics.fatal(error.description) }
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
