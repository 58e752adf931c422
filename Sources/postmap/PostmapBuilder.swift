// PostmapBuilder: how postmap turns a source file into table entries
// (the `key whitespace value` format, warnings in file order).
import Util
import Tables

struct PostmapBuilder {
    let builder: TableBuilder

    func load(_ text: String, fileName: String, into table: IndexedTable) {
        for item in SourceFile.items(text, fileName: fileName) {
            switch item {
            case .warning(let text): Diagnostics.warning(text)
            case .entry(let entry):
                IndexedTableFile.store(builder.key(entry.key), entry.value, in: table, policy: builder.options.duplicates)
            }
        }
    }

    func run() {
        let load = { (text: String, file: String, table: IndexedTable) in self.load(text, fileName: file, into: table) }
        if builder.options.incremental {
            builder.addFromStandardInput(load: load) { _, _ in }
        } else {
            builder.rebuild(load: load) { _, _ in }
        }
    }
}
