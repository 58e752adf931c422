// SQLiteTable: sqlite:/file.cf tables — a query (or the legacy settings)
// over an SQLite database file (`dbpath`), opened read-only once and kept
// open. Keys are quoted as SQLite's %q does (single quotes doubled); the
// first column of every row is a value. A busy or unreadable database is a
// temporary error, never "not found". libsqlite3 is loaded on demand when
// the first sqlite: table opens (CSQLite's shim), as with Postfix's
// dynamicmaps; if it cannot be loaded the open fails.
import CSQLite
import Util

public final class SQLiteTable: LookupTable {
    public let reference: String
    public var keyCase: KeyCase { .foldToLower }
    private let rules: SQLTableLookup
    private let databasePath: String
    private var database: OpaquePointer?

    /// How long a lookup waits for a writer's lock before giving up.
    static let busyTimeoutMilliseconds: Int32 = 5000

    public init(type: String, name: String, context: TableContext) throws(LookupError) {
        reference = type + ":" + name
        if let error = posthorn_sqlite3_load_error() {
            throw .configuration("\(reference): cannot load the SQLite library: \(String(cString: error))")
        }
        let config = try SQLTableConfig(name: name, context: context)
        rules = try SQLTableLookup(type: "sqlite", config: config, context: context)
        databasePath = try config.required("dbpath")
        var handle: OpaquePointer?
        let status = sqlite3_open_v2(databasePath, &handle, SQLITE_OPEN_READONLY, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
            sqlite3_close(handle)
            throw .configuration("\(reference): open database \(databasePath): \(message)")
        }
        sqlite3_busy_timeout(handle, SQLiteTable.busyTimeoutMilliseconds)
        database = handle
    }

    deinit {
        sqlite3_close(database)
    }

    /// Quotes text for use inside '...' as SQLite's %q does.
    /// Works on bytes, not Characters: a quote followed by a combining
    /// mark is one Character but still a quote to SQLite.
    public static func escape(_ text: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 2)
        for byte in text.utf8 {
            bytes.append(byte)
            if byte == UInt8(ascii: "'") { bytes.append(byte) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func lookup(_ key: String) throws(LookupError) -> String? {
        guard let query = try rules.queryText(for: key, escape: SQLiteTable.escape) else { return nil }
        return try rules.answer(values: try run(query), key: key)
    }

    /// The first column of every row the query returns.
    private func run(_ query: String) throws(LookupError) -> [String?] {
        guard let database else { throw .temporary("\(reference): database is closed") }
        var statement: OpaquePointer?
        let utf8 = Array(query.utf8)
        let prepared = utf8.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                sqlite3_prepare_v2(database, $0.baseAddress, Int32($0.count), &statement, nil)
            }
        }
        defer { sqlite3_finalize(statement) }
        guard prepared == SQLITE_OK, let statement else {
            let message = String(cString: sqlite3_errmsg(database))
            if isTransient(prepared) {
                Diagnostics.warning("dict_sqlite_lookup: \(rules.name): SQL prepare failed: \(message)")
                throw .temporary("\(reference): SQL prepare failed: \(message)")
            }
            throw .configuration("dict_sqlite_lookup: \(rules.name): SQL prepare failed: \(message)")
        }
        var values: [String?] = []
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else {
                let message = String(cString: sqlite3_errmsg(database))
                Diagnostics.warning("dict_sqlite_lookup: \(rules.name): SQL step failed: \(message)")
                throw .temporary("\(reference): SQL step failed: \(message)")
            }
            guard sqlite3_column_count(statement) > 0,
                  sqlite3_column_type(statement, 0) != SQLITE_NULL,
                  let text = sqlite3_column_text(statement, 0) else {
                values.append(nil)
                continue
            }
            let length = Int(sqlite3_column_bytes(statement, 0))
            values.append(String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self))
        }
        return values
    }

    private func isTransient(_ status: Int32) -> Bool {
        let primary = status & 0xFF
        return primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_IOERR
            || primary == SQLITE_NOMEM || primary == SQLITE_CANTOPEN || primary == SQLITE_PROTOCOL
    }
}
