// LMDBTable: lmdb: tables, NAME.lmdb in Postfix's form: one file (no
// subdirectory), LMDB's own lock file disabled, whole-file fcntl locks
// around every transaction (shared to read, exclusive to write), keys and
// values with a trailing NUL unless built with -n. When the map is full the
// map size (from lmdb_map_size) is doubled and the transaction retried.
// liblmdb is loaded on demand when the first lmdb: table opens (CLMDB's
// shim), as with Postfix's dynamicmaps; if it cannot be loaded the open
// fails.
import Glibc
import CLMDB
import Util

public final class LMDBTable: IndexedTable {
    public let reference: String
    /// The database file, NAME.lmdb (or the file given to `init(...file:)`).
    public let path: String
    public var keyCase: KeyCase { .foldToLower }
    public var nullTermination = NullTermination.either
    public var warningName: String { reference }
    private let displayPath: String
    private var env: OpaquePointer?
    private var dbi: MDB_dbi = 0
    private var fd: Int32 = -1
    private var mapSize: Int
    private let readOnly: Bool
    /// Bulk mode: one write transaction spans many updates; its operations
    /// are kept so that they can be replayed after the map grows.
    private var bulk = false
    private var bulkTxn: OpaquePointer?
    private var pending: [Operation] = []
    private static let bulkBatch = 10000

    private enum Operation {
        case put([UInt8], [UInt8], DuplicatePolicy)
        case delete([UInt8])
    }

    public convenience init(type: String, name: String, context: TableContext) throws(LookupError) {
        try self.init(type: type, name: name, file: name + ".lmdb", context: context)
    }

    /// Opens the LMDB file `file` as table `lmdb:name` (postmap builds a
    /// temporary file and renames it to NAME.lmdb).
    public init(type: String, name: String, file: String, context: TableContext, mode: mode_t = 0o644) throws(LookupError) {
        reference = type + ":" + name
        path = file
        displayPath = name + ".lmdb"
        readOnly = !(context.writable || context.create)
        if let error = posthorn_lmdb_load_error() {
            throw .configuration("\(reference): cannot load the LMDB library: \(String(cString: error))")
        }
        if let text = context.config?.value("lmdb_map_size"), let size = Int(text), size > 0 {
            mapSize = size
        } else {
            mapSize = 16777216
        }
        if !context.create && !TextFile.exists(file) {
            throw .configuration("open database \(displayPath): \(String(cString: strerror(ENOENT)))")
        }
        var handle: OpaquePointer?
        var rc = mdb_env_create(&handle)
        guard rc == 0, let handle else { throw LookupError.configuration("open database \(displayPath): \(Self.describe(rc))") }
        env = handle
        rc = mdb_env_set_mapsize(handle, mapSize)
        if rc == 0 {
            var flags = UInt32(MDB_NOSUBDIR) | UInt32(MDB_NOLOCK)
            if readOnly { flags |= UInt32(MDB_RDONLY) }
            rc = mdb_env_open(handle, file, flags, mode)
        }
        if rc != 0 {
            mdb_env_close(handle)
            env = nil
            throw .configuration("open database \(displayPath): \(Self.describe(rc))")
        }
        var descriptor: Int32 = -1
        if mdb_env_get_fd(handle, &descriptor) == 0 { fd = descriptor }
        var info = MDB_envinfo()
        if mdb_env_info(handle, &info) == 0 { mapSize = max(mapSize, info.me_mapsize) }
        // Open the main database once; the handle stays valid for the environment.
        try transaction(write: !readOnly) { txn in
            var d: MDB_dbi = 0
            let rc = mdb_dbi_open(txn, nil, 0, &d)
            if rc != 0 { throw LookupError.configuration("open database \(displayPath): \(Self.describe(rc))") }
            dbi = d
            if context.create {
                let rc = mdb_drop(txn, d, 0)
                if rc != 0 { throw LookupError.configuration("open database \(displayPath): \(Self.describe(rc))") }
            }
        }
    }

    deinit { try? close() }

    static func describe(_ rc: Int32) -> String { String(cString: mdb_strerror(rc)) }

    private func handle() throws(LookupError) -> OpaquePointer {
        guard let env else { throw .configuration("\(reference): table is closed") }
        return env
    }

    private func lock(_ type: Int32) {
        guard fd >= 0, !bulk else { return }
        var lk = Glibc.flock()
        lk.l_type = Int16(type)
        lk.l_whence = Int16(SEEK_SET)
        lk.l_start = 0
        lk.l_len = 0
        while fcntl(fd, F_SETLKW, &lk) != 0 && errno == EINTR {}
    }

    /// Runs `body` in a transaction under the matching lock, growing the map
    /// and retrying when it is full or was grown by another process.
    private func transaction<T>(write: Bool, _ body: (OpaquePointer) throws -> T) throws(LookupError) -> T {
        let env = try handle()
        lock(write ? F_WRLCK : F_RDLCK)
        defer { lock(F_UNLCK) }
        while true {
            var txn: OpaquePointer?
            var rc = mdb_txn_begin(env, nil, write ? 0 : UInt32(MDB_RDONLY), &txn)
            if rc == MDB_MAP_RESIZED {
                _ = mdb_env_set_mapsize(env, 0)
                continue
            }
            guard rc == 0, let txn else { throw .temporary("\(reference): \(Self.describe(rc))") }
            let result: T
            do {
                result = try body(txn)
            } catch MapFull.full {
                mdb_txn_abort(txn)
                try grow()
                continue
            } catch {
                mdb_txn_abort(txn)
                throw (error as? LookupError) ?? .temporary("\(reference): \(error)")
            }
            if !write {
                mdb_txn_abort(txn)
                return result
            }
            rc = mdb_txn_commit(txn)
            if rc == MDB_MAP_FULL { try grow(); continue }
            if rc != 0 { throw .temporary("\(reference): commit: \(Self.describe(rc))") }
            return result
        }
    }

    /// Thrown inside a transaction body when LMDB reports a full map.
    private enum MapFull: Error { case full }

    private func grow() throws(LookupError) {
        let env = try handle()
        mapSize *= 2
        let rc = mdb_env_set_mapsize(env, mapSize)
        if rc != 0 { throw .temporary("\(reference): resize to \(mapSize): \(Self.describe(rc))") }
    }

    private static func get(_ txn: OpaquePointer, _ dbi: MDB_dbi, _ bytes: [UInt8]) throws(LookupError) -> String? {
        var value = MDB_val()
        let rc = bytes.withUnsafeBytes { raw -> Int32 in
            var key = MDB_val(mv_size: raw.count, mv_data: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            return mdb_get(txn, dbi, &key, &value)
        }
        if rc == MDB_NOTFOUND { return nil }
        if rc != 0 { throw .temporary("error reading lmdb database: \(describe(rc))") }
        return IndexedBytes.text(value.mv_data, value.mv_size)
    }

    public func lookup(_ key: String) throws(LookupError) -> String? {
        let forms = nullTermination
        let dbi = self.dbi
        if let txn = bulkTxn {
            return try Self.lookupForms(txn, dbi, key, forms).value
        }
        let found = try transaction(write: false) { txn in try Self.lookupForms(txn, dbi, key, forms) }
        if found.value != nil { nullTermination = found.withNull ? .include : .exclude }
        return found.value
    }

    private static func lookupForms(_ txn: OpaquePointer, _ dbi: MDB_dbi, _ key: String, _ forms: NullTermination)
        throws(LookupError) -> (value: String?, withNull: Bool) {
        if forms.withNull, let v = try get(txn, dbi, IndexedBytes.key(key, withNull: true)) { return (v, true) }
        if forms.withoutNull, let v = try get(txn, dbi, IndexedBytes.key(key, withNull: false)) { return (v, false) }
        return (nil, false)
    }

    /// Applies one operation inside `txn`; MapFull when the map is full.
    private func apply(_ op: Operation, _ txn: OpaquePointer) throws -> InsertResult? {
        switch op {
        case .put(let k, let v, let policy):
            let flags = policy == .replace ? UInt32(0) : UInt32(MDB_NOOVERWRITE)
            let existed = policy == .replace ? (try Self.get(txn, dbi, k) != nil) : false
            let rc = k.withUnsafeBytes { kr in
                v.withUnsafeBytes { vr -> Int32 in
                    var key = MDB_val(mv_size: kr.count, mv_data: UnsafeMutableRawPointer(mutating: kr.baseAddress))
                    var value = MDB_val(mv_size: vr.count, mv_data: UnsafeMutableRawPointer(mutating: vr.baseAddress))
                    return mdb_put(txn, dbi, &key, &value, flags)
                }
            }
            if rc == MDB_KEYEXIST { return .duplicate }
            if rc == MDB_MAP_FULL { throw MapFull.full }
            if rc != 0 { throw LookupError.temporary("error writing \(reference): \(Self.describe(rc))") }
            return existed ? .replaced : .stored
        case .delete(let k):
            let rc = k.withUnsafeBytes { kr -> Int32 in
                var key = MDB_val(mv_size: kr.count, mv_data: UnsafeMutableRawPointer(mutating: kr.baseAddress))
                return mdb_del(txn, dbi, &key, nil)
            }
            if rc == MDB_NOTFOUND { return nil }
            if rc == MDB_MAP_FULL { throw MapFull.full }
            if rc != 0 { throw LookupError.temporary("error deleting from \(reference): \(Self.describe(rc))") }
            return .stored
        }
    }

    private func run(_ op: Operation) throws(LookupError) -> InsertResult? {
        if bulk { return try runBulk(op) }
        return try transaction(write: true) { txn in try apply(op, txn) }
    }

    private func runBulk(_ op: Operation) throws(LookupError) -> InsertResult? {
        let env = try handle()
        while true {
            if bulkTxn == nil {
                var txn: OpaquePointer?
                let rc = mdb_txn_begin(env, nil, 0, &txn)
                guard rc == 0, let txn else { throw .temporary("\(reference): \(Self.describe(rc))") }
                bulkTxn = txn
                var replayFailed = false
                for old in pending {
                    do { _ = try apply(old, txn) } catch MapFull.full { replayFailed = true; break } catch {
                        throw (error as? LookupError) ?? .temporary("\(reference): \(error)")
                    }
                }
                if replayFailed { mdb_txn_abort(txn); bulkTxn = nil; try grow(); continue }
            }
            do {
                let result = try apply(op, bulkTxn!)
                pending.append(op)
                if pending.count >= Self.bulkBatch { try commitBulk() }
                return result
            } catch MapFull.full {
                mdb_txn_abort(bulkTxn!)
                bulkTxn = nil
                try grow()
            } catch {
                throw (error as? LookupError) ?? .temporary("\(reference): \(error)")
            }
        }
    }

    private func commitBulk() throws(LookupError) {
        let env = try handle()
        while let txn = bulkTxn {
            let rc = mdb_txn_commit(txn)
            bulkTxn = nil
            if rc == 0 { pending.removeAll(keepingCapacity: true); return }
            if rc != MDB_MAP_FULL { throw .temporary("\(reference): commit: \(Self.describe(rc))") }
            try grow()
            // Replay the batch in a new transaction, then try again.
            var fresh: OpaquePointer?
            let begin = mdb_txn_begin(env, nil, 0, &fresh)
            guard begin == 0, let fresh else { throw .temporary("\(reference): \(Self.describe(begin))") }
            bulkTxn = fresh
            for old in pending {
                do { _ = try apply(old, fresh) } catch MapFull.full { break } catch {
                    throw (error as? LookupError) ?? .temporary("\(reference): \(error)")
                }
            }
        }
    }

    public func beginBulkUpdate() throws(LookupError) {
        _ = try handle()
        lock(F_WRLCK)
        bulk = true
    }

    public func insert(_ key: String, _ value: String, policy: DuplicatePolicy) throws(LookupError) -> InsertResult {
        let withNull = nullTermination.withNull
        if withNull { nullTermination.withoutNull = false }
        let op = Operation.put(IndexedBytes.key(key, withNull: withNull), IndexedBytes.key(value, withNull: withNull), policy)
        return try run(op) ?? .stored
    }

    public func update(_ key: String, _ value: String) throws(LookupError) {
        _ = try insert(key, value, policy: .replace)
    }

    public func delete(_ key: String) throws(LookupError) -> Bool {
        var forms: [Bool] = []
        if nullTermination.withNull { forms.append(true) }
        if nullTermination.withoutNull { forms.append(false) }
        for withNull in forms where try run(.delete(IndexedBytes.key(key, withNull: withNull))) != nil {
            nullTermination = withNull ? .include : .exclude
            return true
        }
        return false
    }

    public func entries() throws(LookupError) -> [(key: String, value: String)] {
        let dbi = self.dbi
        let body = { (txn: OpaquePointer) throws(LookupError) -> [(key: String, value: String)] in
            var cursor: OpaquePointer?
            var rc = mdb_cursor_open(txn, dbi, &cursor)
            guard rc == 0, let cursor else { throw .temporary("error reading lmdb database: \(Self.describe(rc))") }
            defer { mdb_cursor_close(cursor) }
            var result: [(key: String, value: String)] = []
            var k = MDB_val(), v = MDB_val()
            var op = MDB_FIRST
            while true {
                rc = mdb_cursor_get(cursor, &k, &v, op)
                if rc == MDB_NOTFOUND { break }
                if rc != 0 { throw .temporary("error reading lmdb database: \(Self.describe(rc))") }
                result.append((IndexedBytes.text(k.mv_data, k.mv_size), IndexedBytes.text(v.mv_data, v.mv_size)))
                op = MDB_NEXT
            }
            return result
        }
        if let txn = bulkTxn { return try body(txn) }
        return try transaction(write: false, body)
    }

    public func close() throws(LookupError) {
        guard let env else { return }
        var failure: LookupError?
        if bulkTxn != nil {
            do { try commitBulk() } catch { failure = error }
        }
        if !readOnly { _ = mdb_env_sync(env, 1) }
        mdb_env_close(env)
        self.env = nil
        if let failure { throw failure }
    }
}
