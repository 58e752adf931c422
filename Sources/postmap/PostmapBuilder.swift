// PostmapBuilder: builds one table from its source file (through a
// temporary file renamed into place), or adds entries from standard input
// to the existing table (-i).
import Glibc
import Util
import Global
import Tables

struct PostmapBuilder {
    let type: String
    let name: String
    let options: TableCommandOptions
    let config: MailConfig

    private func key(_ text: String) -> String { options.foldCase ? text.asciiLowercased() : text }

    /// postmap [type:]file: a new table from the source file.
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
        do { try build.commit() } catch { Diagnostics.fatal(error.description) }
    }

    /// postmap -i: entries from standard input into the existing table.
    func addFromStandardInput() {
        guard IndexedTableFile.creatableTypes.contains(type) else {
            Diagnostics.fatal("unsupported dictionary type: \(type) does not support bulk-mode creation.")
        }
        var table: IndexedTable
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
        do { try table.close() } catch { Diagnostics.fatal(error.description) }
    }

    private func load(_ text: String, fileName: String, into table: IndexedTable) {
        for item in SourceFile.items(text, fileName: fileName) {
            switch item {
            case .warning(let text): Diagnostics.warning(text)
            case .entry(let entry): IndexedTableFile.store(key(entry.key), entry.value, in: table, policy: options.duplicates)
            }
        }
    }
}
