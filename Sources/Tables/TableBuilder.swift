// TableBuilder: the build steps postmap and postalias share: check the
// type, drop privileges to the source file's owner (as root), read the
// source, build through a temporary file renamed into place, or add
// entries from standard input (-i). The programs supply how source text
// becomes entries and what closing entries to add.
import Glibc
import Util
import Global

public struct TableBuilder {
    public let type: String
    public let name: String
    public let options: TableCommandOptions
    public let config: MailConfig

    public init(type: String, name: String, options: TableCommandOptions, config: MailConfig) {
        self.type = type
        self.name = name
        self.options = options
        self.config = config
    }

    /// A key as stored: folded to lower case unless -f.
    public func key(_ text: String) -> String { options.foldCase ? text.asciiLowercased() : text }

    /// A new table from the source file `name`, through a temporary file
    /// renamed into place: `load` fills it, `finish` adds closing entries.
    public func rebuild(load: (String, String, IndexedTable) -> Void, finish: (IndexedTable, Bool) -> Void) {
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
        load(text, name, table)
        finish(table, false)
        do { try build.commit() } catch { Diagnostics.fatal(error.description) }
    }

    /// Entries from standard input into the existing table (-i).
    public func addFromStandardInput(load: (String, String, IndexedTable) -> Void, finish: (IndexedTable, Bool) -> Void) {
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
        load(text, "stdin", table)
        finish(table, true)
        do { try table.close() } catch { Diagnostics.fatal(error.description) }
    }
}
