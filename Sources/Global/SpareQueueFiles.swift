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
    /// At most this many files are kept (at most 15 MiB of disk; a pool
    /// that holds a quarter of a second of a busy server's messages keeps
    /// cleanup from ever creating a file while deliveries keep pace). 240
    /// names of up to 8 hex digits (16-byte entries) fit one 4 KiB
    /// directory block: ext4 indexes a directory once it outgrows one
    /// block, and then every read of it builds a sorted tree of all its
    /// names (the pool is read every few messages); a one-block directory
    /// is read as it lies.
    public static let capacity = 240

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
        guard let dir = DirectoryReader.open(path) else { return nil }
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
    /// Inodes named in spare/ and not tried yet (this process's view).
    nonisolated(unsafe) private static var names: [UInt64] = []
    /// The spare/ directory `names` is about.
    nonisolated(unsafe) private static var readFrom = ""
    /// Names taken from one reading of the directory, at most (20 cleanup
    /// processes read the same directory: a small random share each keeps
    /// them from racing for the same files).
    private static let batch = 8
    /// A cheap generator for that random share (the system's asks the
    /// kernel for every number); seeded from the process ID and the clock.
    nonisolated(unsafe) private static var random = SplitMix64(seed: UInt64(getpid()) &* 0x9E37_79B9_7F4A_7C15
                                                                 ^ UInt64(UInt(bitPattern: time(nil))))

    /// A spare file moved to `queue` under its new queue ID and opened:
    /// (descriptor, queue ID, relative path, old size, seconds, microseconds).
    static func take(directory: QueueDirectory, queue: String)
        -> (fd: Int32, id: String, relative: String, oldSize: Int, seconds: Int, microseconds: Int)? {
        let spare = directory.path + "/" + SpareQueueFiles.queue
        if spare != readFrom { readFrom = spare; names = [] }
        var readings = 0
        while true {
            if names.isEmpty {
                // Two readings of the directory per message at most (the
                // names of the first may all have been taken by other
                // cleanup processes). An empty directory costs three
                // system calls to read: far less than creating an inode,
                // so it is read again for every message (no back-off).
                if readings == 2 || !refill(spare) { return nil }
                readings += 1
            }
            guard let inode = names.popLast() else { continue }
            let name = SpareQueueFiles.name(inode: inode)
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
    static func forget() { readFrom = ""; names = [] }

    /// Reads a random share of spare/'s names (reservoir sampling, the
    /// names parsed in place: no string per directory entry); false when
    /// there is none.
    private static func refill(_ spare: String) -> Bool {
        guard let dir = DirectoryReader.open(spare) else { return false }
        defer { closedir(dir) }
        var seen: UInt64 = 0
        names.removeAll(keepingCapacity: true)
        while let entry = readdir(dir) {
            guard let inode = withUnsafePointer(to: entry.pointee.d_name, { name in
                name.withMemoryRebound(to: UInt8.self, capacity: 256) { SpareFileTaker.hexValue($0) }
            }) else { continue }
            seen += 1
            if names.count < batch {
                names.append(inode)
            } else {
                let slot = random.next() % seen
                if slot < UInt64(batch) { names[Int(slot)] = inode }
            }
        }
        return !names.isEmpty
    }

    /// The value of a NUL-terminated lower-case hex name of 1-16 digits;
    /// nil for anything else ("." and "..", stray files).
    static func hexValue(_ name: UnsafePointer<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        var i = 0
        while name[i] != 0 {
            let c = name[i]
            let digit: UInt64
            switch c {
            case 0x30...0x39: digit = UInt64(c - 0x30)
            case 0x61...0x66: digit = UInt64(c - 0x61 + 10)
            default: return nil
            }
            guard i < 16 else { return nil }
            value = value << 4 | digit
            i += 1
        }
        return i == 0 ? nil : value
    }
}

/// SplitMix64: a small, fast pseudo-random generator (not for secrets).
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
