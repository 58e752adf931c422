// SpareQueueFiles: queue files kept for reuse. When a small message has
// left the queue, qmgr does not unlink its file: it sets mode 0600 ("being
// written", which every reader skips) and moves it to `spare/`, named by
// its inode number. cleanup takes a spare file for the next message by
// renaming it straight to `incoming/<new queue ID>` (the ID encodes the
// same inode), overwrites it from the start and cuts the old tail before
// the completion protocol's fchmod 0700 + fsync.
//
// Why: creating and deleting an inode per message is the file system's
// most expensive part of a queue file's life (inode and block allocation
// and release; on ext4 without a journal the allocator also walks past
// every inode freed in the last minute). A reused file keeps its inode
// and its blocks. Readers cannot tell: a file enters `incoming/` under its
// queue ID with mode 0600 exactly as a newly created one, and a writer
// killed before commit leaves the same kind of 0600 file as Postfix's.
// The pool is bounded (count and file size) and optional: when `spare/`
// is missing or empty, files are created and unlinked as before.
import Glibc
import Util

public enum SpareQueueFiles {
    /// The queue subdirectory (mail_owner, 0700; created by `postfix check`).
    public static let queue = "spare"
    /// Files larger than this are unlinked, not kept.
    public static let largestKept = 64 * 1024
    /// At most this many files are kept.
    public static let capacity = 64

    /// The spare file's name: its inode number in hex.
    static func name(inode: UInt64) -> String { String(inode, radix: 16) }

    /// The inode a queue ID encodes.
    static func inode(ofQueueID id: String) -> UInt64? {
        if let long = QueueID.decodeLong(id) { return long.inode }
        return QueueID.decodeShort(id)?.inode
    }
}

/// qmgr's side: parks the file of a message that has left the queue.
public final class SpareFileKeeper {
    private let directory: QueueDirectory
    private let spare: String
    /// The pool's size when last counted plus the files parked since: an
    /// upper bound (cleanup takes files meanwhile). Counted again after
    /// every `recount` messages, so that a pool hovering at capacity costs
    /// one directory read per `recount` messages, not one per message.
    private var estimate = 0
    private var sinceCount = 0
    private static let recount = 16
    private var available = true

    public init(directory: QueueDirectory) {
        self.directory = directory
        spare = directory.path + "/" + SpareQueueFiles.queue
        estimate = SpareFileKeeper.count(spare) ?? SpareQueueFiles.capacity
        available = access(spare, W_OK) == 0
    }

    /// Moves the finished queue file `path` (queue ID `id`, `size` bytes)
    /// to the pool; false when it should be unlinked instead (pool full or
    /// missing, file too large, ID without an inode, or a failure, with
    /// the file left where it was).
    public func park(path: String, id: String, size: Int) -> Bool {
        guard available, size <= SpareQueueFiles.largestKept,
              let inode = SpareQueueFiles.inode(ofQueueID: id) else { return false }
        sinceCount += 1
        if sinceCount >= Self.recount || estimate < 0 {
            sinceCount = 0
            estimate = SpareFileKeeper.count(spare) ?? SpareQueueFiles.capacity
        }
        if estimate >= SpareQueueFiles.capacity { return false }
        // Mode 0600 before the move: a file in spare/ is never "complete",
        // so cleanup can never bring an old message back into incoming/.
        guard chmod(path, 0o600) == 0 else { return false }
        let target = spare + "/" + SpareQueueFiles.name(inode: inode)
        guard QueueFileWriter.renameNoReplace(path, target) == 0 else {
            if errno == ENOENT && access(spare, W_OK) != 0 { available = false }
            return false
        }
        estimate += 1
        return true
    }

    /// How many entries `path` holds; nil when it cannot be read.
    static func count(_ path: String) -> Int? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var n = 0
        while let entry = readdir(dir) {
            if entry.pointee.d_name.0 != 0x2E { n += 1 }
        }
        return n
    }
}

/// cleanup's side: takes a spare file for a new message in `incoming/`.
enum SpareFileTaker {
    /// Names read from spare/ and not tried yet (this process's view).
    nonisolated(unsafe) private static var names: [String] = []
    /// The spare/ directory `names` and `emptyAt` are about.
    nonisolated(unsafe) private static var readFrom = ""
    /// When spare/ was found empty or unreadable: not read again before
    /// a second has passed.
    nonisolated(unsafe) private static var emptyAt: Int = -1
    /// Names taken from one reading of the directory, at most (20 cleanup
    /// processes read the same directory: a small random share each keeps
    /// them from racing for the same files).
    private static let batch = 8

    /// A spare file moved to `queue` under its new queue ID and opened:
    /// (descriptor, queue ID, relative path, old size, seconds, microseconds).
    static func take(directory: QueueDirectory, queue: String)
        -> (fd: Int32, id: String, relative: String, oldSize: Int, seconds: Int, microseconds: Int)? {
        let spare = directory.path + "/" + SpareQueueFiles.queue
        if spare != readFrom { readFrom = spare; names = []; emptyAt = -1 }
        var readOnce = false
        while true {
            if names.isEmpty {
                // One reading of the directory per message at most.
                if readOnce || !refill(spare) { return nil }
                readOnce = true
            }
            guard let name = names.popLast(), let inode = UInt64(name, radix: 16) else { continue }
            var tv = timeval()
            gettimeofday(&tv, nil)
            let id = directory.queueID(at: tv, inode: inode)
            let relative = directory.relativePath(queue: queue, id: id)
            let path = directory.path + "/" + relative
            guard (try? directory.createParents(of: relative)) != nil else { return nil }
            // Taken by another process meanwhile (ENOENT), or the ID is in
            // use (EEXIST): try the next one.
            guard QueueFileWriter.renameNoReplace(spare + "/" + name, path) == 0 else { continue }
            let fd = open(path, O_RDWR | O_CLOEXEC)
            var st = stat()
            guard fd >= 0, fstat(fd, &st) == 0, UInt64(st.st_ino) == inode, st.st_nlink == 1,
                  (st.st_mode & S_IFMT) == S_IFREG, st.st_mode & 0o777 == 0o600 else {
                // Not what the pool holds (misnamed or tampered with): drop it.
                if fd >= 0 { close(fd) }
                unlink(path)
                continue
            }
            return (fd, id, relative, Int(st.st_size), Int(tv.tv_sec), Int(tv.tv_usec))
        }
    }

    /// Forgets what this process read from spare/ (tests).
    static func forget() { readFrom = ""; names = []; emptyAt = -1 }

    /// Reads a random share of spare/'s names; false when there is none.
    private static func refill(_ spare: String) -> Bool {
        let now = Int(time(nil))
        if emptyAt >= 0 && now - emptyAt < 1 { return false }
        var all: [String] = []
        if let dir = opendir(spare) {
            while let entry = readdir(dir) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if !name.hasPrefix(".") { all.append(name) }
            }
            closedir(dir)
        }
        guard !all.isEmpty else {
            emptyAt = now
            return false
        }
        emptyAt = -1
        // A random share, from a random place (one random number: a
        // shuffle would ask the kernel for one per name).
        let start = Int.random(in: 0..<all.count)
        names = (0..<min(batch, all.count)).map { all[(start + $0) % all.count] }
        return true
    }
}
