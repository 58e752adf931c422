// IndexedTableFile: opening and building the indexed tables that postmap and
// postalias create (hash, btree, lmdb). A build writes a temporary file
// beside the table and renames it over NAME.db / NAME.lmdb once complete
// and fsynced, so that readers see the old table or the new one, never a
// half-built one; the file keeps the old table's mode and owner, or takes
// the source file's group and other read permissions, as Postfix's does.
import Glibc
import Util
import Global

public enum IndexedTableFile {
    /// Types that postmap and postalias can create.
    public static let creatableTypes: Set<String> = ["hash", "btree", "lmdb"]

    /// NAME.db or NAME.lmdb.
    public static func fileName(type: String, name: String) -> String {
        type == "lmdb" ? name + ".lmdb" : name + ".db"
    }

    /// Opens an existing table of a creatable type (for -i, -d, -q, -s),
    /// creating an empty one when `create` is set and it does not exist.
    public static func open(type: String, name: String, config: MailConfig?, writable: Bool,
                            create: Bool = false) throws(LookupError) -> IndexedTable {
        let file = fileName(type: type, name: name)
        let context = TableContext(config: config, writable: writable || create,
                                   create: create && !TextFile.exists(file))
        return try open(type: type, name: name, file: file, context: context)
    }

    static func open(type: String, name: String, file: String, context: TableContext,
                     mode: mode_t = 0o644) throws(LookupError) -> IndexedTable {
        switch type {
        case "hash", "btree": return try BerkeleyDBTable(type: type, name: name, file: file, context: context, mode: mode)
        case "lmdb": return try LMDBTable(type: type, name: name, file: file, context: context, mode: mode)
        default: throw .configuration("unsupported dictionary type: \(type) does not support bulk-mode creation.")
        }
    }

    /// A table being built into a temporary file.
    public final class Build {
        public let table: IndexedTable
        public let finalPath: String
        /// nil when rebuilding in place.
        private let tempPath: String?
        private let mode: mode_t
        private let owner: (uid: uid_t, gid: gid_t)?
        private var done = false

        /// Starts building `type:name`. `sourceMode` is the source file's
        /// mode (nil with -p or when there is no source file).
        public init(type: String, name: String, config: MailConfig?, sourceMode: mode_t?) throws(LookupError) {
            guard creatableTypes.contains(type) else {
                throw .configuration("unsupported dictionary type: \(type) does not support bulk-mode creation.")
            }
            finalPath = fileName(type: type, name: name)
            var old = stat()
            if stat(finalPath, &old) == 0 {
                mode = old.st_mode & 0o7777
                owner = (old.st_uid, old.st_gid)
            } else {
                mode = sourceMode.map { 0o600 | ($0 & 0o044) } ?? 0o644
                owner = nil
            }
            let context = TableContext(config: config, writable: true, create: true)
            let temp = finalPath + ".posthorn-tmp.\(getpid())"
            unlink(temp)
            do {
                table = try IndexedTableFile.open(type: type, name: name, file: temp, context: context, mode: mode)
                tempPath = temp
            } catch {
                // A directory we may not write to, holding a table we may
                // write to: rebuild in place under the exclusive lock, as
                // Postfix always does.
                guard owner != nil, faccessat(AT_FDCWD, AtomicFile.directoryName(finalPath), W_OK, AT_EACCESS) != 0,
                      faccessat(AT_FDCWD, finalPath, W_OK, AT_EACCESS) == 0 else { throw error }
                table = try IndexedTableFile.open(type: type, name: name, file: finalPath, context: context, mode: mode)
                tempPath = nil
            }
            try table.beginBulkUpdate()
        }

        deinit { if !done, let tempPath { unlink(tempPath) } }

        /// Closes the table, gives it its mode and owner, and renames it into place.
        public func commit() throws(LookupError) {
            done = true
            guard let tempPath else {
                try table.close()
                return
            }
            do {
                try table.close()
            } catch {
                unlink(tempPath)
                throw error
            }
            let fd = Glibc.open(tempPath, O_RDONLY | O_CLOEXEC)
            if fd >= 0 {
                if let owner, geteuid() == 0 { _ = fchown(fd, owner.uid, owner.gid) }
                _ = fchmod(fd, mode)
                _ = fsync(fd)
                Glibc.close(fd)
            }
            if rename(tempPath, finalPath) != 0 {
                let text = String(cString: strerror(errno))
                unlink(tempPath)
                throw .configuration("rename \(tempPath) to \(finalPath): \(text)")
            }
            let dfd = Glibc.open(AtomicFile.directoryName(finalPath), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dfd >= 0 { _ = fsync(dfd); Glibc.close(dfd) }
        }

        /// Drops the temporary file.
        public func abandon() {
            done = true
            try? table.close()
            if let tempPath { unlink(tempPath) }
        }
    }
}

extension IndexedTableFile {
    /// Stores one entry as postmap and postalias do: duplicates are kept,
    /// skipped silently or replaced per `policy`, with Postfix's warning
    /// (`file.db: duplicate entry: "key"`) for a kept duplicate. Fatal on
    /// write errors.
    public static func store(_ key: String, _ value: String, in table: IndexedTable, policy: DuplicatePolicy) {
        do {
            if try table.insert(key, value, policy: policy) == .duplicate && policy == .warn {
                Diagnostics.warning("\(table.warningName): duplicate entry: \"\(key)\"")
            }
        } catch {
            Diagnostics.fatal(error.description)
        }
    }

    /// As root, and unless told otherwise (-o), continues as the owner of a
    /// non-root source file, as Postfix's postmap and postalias do.
    public static func dropPrivileges(toOwnerOf info: stat, keep: Bool) {
        guard !keep, geteuid() == 0, info.st_uid != 0 else { return }
        if setegid(info.st_gid) != 0 || seteuid(info.st_uid) != 0 {
            Diagnostics.fatal("set_eugid: \(String(cString: strerror(errno)))")
        }
    }
}
