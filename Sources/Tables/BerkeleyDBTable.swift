// BerkeleyDBTable: hash: and btree: tables, Berkeley DB files NAME.db in
// Postfix's on-disk form (key and value stored with a trailing NUL unless
// built with -n; reads try with the NUL first, then without). Reads take a
// shared flock on the file, writes an exclusive one, as Postfix does.
// libdb is loaded on demand when the first hash: or btree: table opens
// (CBerkeleyDB's shim), as with Postfix's dynamicmaps; if it cannot be
// loaded the open fails.
import Glibc
import CBerkeleyDB

/// What an insert does when the key is already there (postmap -r, -w).
public enum DuplicatePolicy: Sendable, Equatable {
    /// Keep the old value; the caller warns ("duplicate entry").
    case warn
    /// Keep the old value silently (-w).
    case ignore
    /// Overwrite the old value (-r, and the plain `update`).
    case replace
}

/// Which key/value forms an indexed table reads and writes: with the
/// terminating NUL (Postfix's default on this platform), without it (-n,
/// and tables built by other programs), or whichever a first hit shows.
public struct NullTermination: Sendable, Equatable {
    public var withNull: Bool
    public var withoutNull: Bool
    public init(withNull: Bool = true, withoutNull: Bool = true) {
        self.withNull = withNull
        self.withoutNull = withoutNull
    }
    /// -N: always include the NUL.
    public static let include = NullTermination(withNull: true, withoutNull: false)
    /// -n: never include it.
    public static let exclude = NullTermination(withNull: false, withoutNull: true)
    /// Read both forms; write with the NUL.
    public static let either = NullTermination()
}

/// The result of `insert`.
public enum InsertResult: Sendable, Equatable {
    case stored, replaced, duplicate
}

/// Tables that postmap and postalias build: indexed files with explicit
/// NUL handling, duplicate policy and a name for duplicate warnings.
public protocol IndexedTable: UpdatableTable {
    var nullTermination: NullTermination { get set }
    /// The name Postfix uses in "duplicate entry" warnings
    /// (`file.db` for Berkeley DB, `lmdb:file` for LMDB).
    var warningName: String { get }
    func insert(_ key: String, _ value: String, policy: DuplicatePolicy) throws(LookupError) -> InsertResult
    /// Takes the exclusive lock for a run of updates (postmap, postalias):
    /// until `close`, updates neither lock nor sync one by one.
    func beginBulkUpdate() throws(LookupError)
    /// Flushes and closes; later calls fail.
    func close() throws(LookupError)
}

/// Byte helpers shared by the indexed tables.
enum IndexedBytes {
    static func key(_ text: String, withNull: Bool) -> [UInt8] {
        var bytes = Array(text.utf8)
        if withNull { bytes.append(0) }
        return bytes
    }

    /// A stored key or value as Postfix prints it: a trailing NUL removed
    /// and the text cut at any other NUL, as C strings are.
    static func text(_ pointer: UnsafeRawPointer?, _ count: Int) -> String {
        guard let pointer, count > 0 else { return "" }
        let buffer = UnsafeRawBufferPointer(start: pointer, count: count)
        let end = buffer.firstIndex(of: 0) ?? count
        return String(decoding: buffer[0..<end], as: UTF8.self)
    }
}

public final class BerkeleyDBTable: IndexedTable {
    public let reference: String
    /// The database file, NAME.db (or the file given to `init(...file:)`).
    public let path: String
    public var keyCase: KeyCase { .foldToLower }
    public var nullTermination = NullTermination.either
    public var warningName: String { displayPath }
    private let displayPath: String
    private var db: UnsafeMutablePointer<DB>?
    private var fd: Int32 = -1
    private var bulk = false

    /// Opens `type:name` (NAME.db); `context.create` truncates or creates
    /// it, `context.writable` opens it for update.
    public convenience init(type: String, name: String, context: TableContext) throws(LookupError) {
        try self.init(type: type, name: name, file: name + ".db", context: context)
    }

    /// Opens the Berkeley DB file `file` as table `type:name`; postmap uses
    /// it to build a temporary file that it renames to NAME.db afterwards.
    public init(type: String, name: String, file: String, context: TableContext, mode: mode_t = 0o644) throws(LookupError) {
        reference = type + ":" + name
        path = file
        displayPath = name + ".db"
        let dbType: DBTYPE
        switch type {
        case "hash": dbType = DB_HASH
        case "btree": dbType = DB_BTREE
        default: throw .configuration("unsupported dictionary type: \(type)")
        }
        if let error = posthorn_db_load_error() {
            throw .configuration("\(reference): cannot load the Berkeley DB library: \(String(cString: error))")
        }
        var flags: UInt32 = 0
        if context.create {
            flags = UInt32(DB_CREATE) | UInt32(DB_TRUNCATE)
        } else if !context.writable {
            flags = UInt32(DB_RDONLY)
        }
        // Postfix locks the file before Berkeley DB reads it, so that a
        // writer in progress is never seen half-done.
        if context.create || context.writable {
            let lockFd = open(file, O_RDWR | O_CLOEXEC | (context.create ? O_CREAT : 0), mode)
            if lockFd < 0 {
                throw .configuration("open database \(displayPath): \(String(cString: strerror(errno)))")
            }
            _ = flock(lockFd, LOCK_EX)
            defer { _ = flock(lockFd, LOCK_UN); Glibc.close(lockFd) }
            try openDatabase(file: file, type: dbType, flags: flags, mode: mode, context: context)
        } else {
            try openDatabase(file: file, type: dbType, flags: flags, mode: mode, context: context)
        }
    }

    private func openDatabase(file: String, type: DBTYPE, flags: UInt32, mode: mode_t, context: TableContext) throws(LookupError) {
        var handle: UnsafeMutablePointer<DB>?
        let size = flags & UInt32(DB_RDONLY) != 0 ? Self.bufferSize("berkeley_db_read_buffer_size", context, 131072)
            : Self.bufferSize("berkeley_db_create_buffer_size", context, 16777216)
        let err = posthorn_db_open_cache(&handle, file, type, flags, Int32(mode), size)
        guard err == 0, let handle else {
            throw .configuration("open database \(displayPath): \(Self.describe(err))")
        }
        db = handle
        var descriptor: Int32 = -1
        if posthorn_db_fd(handle, &descriptor) == 0 { fd = descriptor }
    }

    deinit { try? close() }

    private static func bufferSize(_ name: String, _ context: TableContext, _ fallback: UInt32) -> UInt32 {
        guard let text = context.config?.value(name), let n = UInt32(text), n > 0 else { return fallback }
        return n
    }

    public func beginBulkUpdate() throws(LookupError) {
        _ = try handle()
        lock(LOCK_EX)
        bulk = true
    }

    static func describe(_ err: Int32) -> String {
        if err > 0 { return String(cString: strerror(err)) }
        return String(cString: posthorn_db_strerror(err))
    }

    private func handle() throws(LookupError) -> UnsafeMutablePointer<DB> {
        guard let db else { throw .configuration("\(reference): table is closed") }
        return db
    }

    private func lock(_ operation: Int32) {
        guard fd >= 0, !bulk else { return }
        while flock(fd, operation) != 0 && errno == EINTR {}
    }

    public func close() throws(LookupError) {
        guard let db else { return }
        self.db = nil
        let err = posthorn_db_close(db)
        if err != 0 { throw .temporary("close database \(displayPath): \(Self.describe(err))") }
    }

    /// Reads the raw value stored under exactly `bytes`.
    private func get(_ db: UnsafeMutablePointer<DB>, _ bytes: [UInt8]) throws(LookupError) -> String? {
        var value: UnsafeMutableRawPointer?
        var length: UInt32 = 0
        let err = bytes.withUnsafeBytes { posthorn_db_get(db, $0.baseAddress, UInt32($0.count), &value, &length) }
        if err == DB_NOTFOUND { return nil }
        if err != 0 { throw .temporary("error reading \(displayPath): \(Self.describe(err))") }
        return IndexedBytes.text(value, Int(length))
    }

    public func lookup(_ key: String) throws(LookupError) -> String? {
        let db = try handle()
        lock(LOCK_SH)
        defer { lock(LOCK_UN) }
        if nullTermination.withNull, let value = try get(db, IndexedBytes.key(key, withNull: true)) {
            nullTermination.withoutNull = false
            return value
        }
        if nullTermination.withoutNull, let value = try get(db, IndexedBytes.key(key, withNull: false)) {
            nullTermination.withNull = false
            return value
        }
        return nil
    }

    public func insert(_ key: String, _ value: String, policy: DuplicatePolicy) throws(LookupError) -> InsertResult {
        let db = try handle()
        let withNull = nullTermination.withNull
        if withNull { nullTermination.withoutNull = false }
        let keyBytes = IndexedBytes.key(key, withNull: withNull)
        let valueBytes = IndexedBytes.key(value, withNull: withNull)
        lock(LOCK_EX)
        defer { lock(LOCK_UN) }
        let flags = policy == .replace ? UInt32(0) : UInt32(DB_NOOVERWRITE)
        var existed = false
        if policy == .replace {
            existed = try get(db, keyBytes) != nil
        }
        let err = keyBytes.withUnsafeBytes { k in
            valueBytes.withUnsafeBytes { v in
                posthorn_db_put(db, k.baseAddress, UInt32(k.count), v.baseAddress, UInt32(v.count), flags)
            }
        }
        if err == DB_KEYEXIST { return .duplicate }
        if err != 0 { throw .temporary("error writing \(displayPath): \(Self.describe(err))") }
        let syncErr = bulk ? 0 : posthorn_db_sync(db)
        if syncErr != 0 { throw .temporary("error writing \(displayPath): \(Self.describe(syncErr))") }
        return existed ? .replaced : .stored
    }

    /// Stores `key` (as given; callers fold case) with `value`, replacing any old value.
    public func update(_ key: String, _ value: String) throws(LookupError) {
        _ = try insert(key, value, policy: .replace)
    }

    public func delete(_ key: String) throws(LookupError) -> Bool {
        let db = try handle()
        lock(LOCK_EX)
        defer { lock(LOCK_UN) }
        var forms: [Bool] = []
        if nullTermination.withNull { forms.append(true) }
        if nullTermination.withoutNull { forms.append(false) }
        for withNull in forms {
            let bytes = IndexedBytes.key(key, withNull: withNull)
            let err = bytes.withUnsafeBytes { posthorn_db_del(db, $0.baseAddress, UInt32($0.count)) }
            if err == DB_NOTFOUND { continue }
            if err != 0 { throw .temporary("error deleting from \(displayPath): \(Self.describe(err))") }
            nullTermination = withNull ? .include : .exclude
            if !bulk { _ = posthorn_db_sync(db) }
            return true
        }
        return false
    }

    public func entries() throws(LookupError) -> [(key: String, value: String)] {
        let db = try handle()
        lock(LOCK_SH)
        defer { lock(LOCK_UN) }
        var cursor: UnsafeMutablePointer<DBC>?
        let err = posthorn_db_cursor(db, &cursor)
        guard err == 0, let cursor else { throw .temporary("error reading \(displayPath): \(Self.describe(err))") }
        defer { _ = posthorn_dbc_close(cursor) }
        var result: [(key: String, value: String)] = []
        var flags = UInt32(DB_FIRST)
        while true {
            var k: UnsafeMutableRawPointer?, v: UnsafeMutableRawPointer?
            var kl: UInt32 = 0, vl: UInt32 = 0
            let rc = posthorn_dbc_get(cursor, &k, &kl, &v, &vl, flags)
            if rc == DB_NOTFOUND { break }
            if rc != 0 { throw .temporary("error reading \(displayPath): \(Self.describe(rc))") }
            result.append((IndexedBytes.text(k, Int(kl)), IndexedBytes.text(v, Int(vl))))
            flags = UInt32(DB_NEXT)
        }
        return result
    }
}
