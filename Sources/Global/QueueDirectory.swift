// QueueDirectory: the queue directory as Postfix lays it out: queue names,
// their owners and modes, hashing (hash_queue_names, hash_queue_depth) and
// creation of missing directories. Reference §11.
import Glibc
import Util

/// The owner class and mode of one queue subdirectory.
public struct QueueDirectorySpec: Sendable, Equatable {
    public enum Owner: Sendable, Equatable {
        /// mail_owner:root
        case mailOwner
        /// mail_owner:setgid_group
        case mailOwnerSetgidGroup
        /// root:root
        case root
    }
    public let name: String
    public let mode: mode_t
    public let owner: Owner
}

public struct QueueDirectory: Sendable {
    /// Every queue subdirectory with Postfix's owner and mode.
    public static let layout: [QueueDirectorySpec] = [
        .init(name: "active", mode: 0o700, owner: .mailOwner),
        .init(name: "bounce", mode: 0o700, owner: .mailOwner),
        .init(name: "corrupt", mode: 0o700, owner: .mailOwner),
        .init(name: "defer", mode: 0o700, owner: .mailOwner),
        .init(name: "deferred", mode: 0o700, owner: .mailOwner),
        .init(name: "flush", mode: 0o700, owner: .mailOwner),
        .init(name: "hold", mode: 0o700, owner: .mailOwner),
        .init(name: "incoming", mode: 0o700, owner: .mailOwner),
        .init(name: "maildrop", mode: 0o730, owner: .mailOwnerSetgidGroup),
        .init(name: "pid", mode: 0o755, owner: .root),
        .init(name: "private", mode: 0o700, owner: .mailOwner),
        .init(name: "public", mode: 0o710, owner: .mailOwnerSetgidGroup),
        .init(name: "saved", mode: 0o700, owner: .mailOwner),
        .init(name: "spare", mode: 0o700, owner: .mailOwner),
        .init(name: "trace", mode: 0o700, owner: .mailOwner),
    ]

    /// Queues that hold message files (postcat -q searches these, in order).
    public static let postcatSearchOrder = ["maildrop", "incoming", "active", "deferred", "hold", "saved"]

    public let path: String
    public let hashedQueues: Set<String>
    public let hashDepth: Int
    public let longQueueIDs: Bool

    public init(path: String, hashedQueues: Set<String> = ["deferred", "defer"], hashDepth: Int = 1,
                longQueueIDs: Bool = false) {
        self.path = path
        self.hashedQueues = hashedQueues
        self.hashDepth = max(1, hashDepth)
        self.longQueueIDs = longQueueIDs
    }

    /// The queue directory as `config` describes it.
    public init(config: MailConfig) {
        self.init(path: config.value("queue_directory"),
                  hashedQueues: QueueID.hashedQueueNames(config.value("hash_queue_names")),
                  hashDepth: Int(config.value("hash_queue_depth")) ?? 1,
                  longQueueIDs: config.bool("enable_long_queue_ids"))
    }

    /// The queue ID of a file with inode `inode` named at time `tv`, in
    /// the short or long form this queue uses.
    public func queueID(at tv: timeval, inode: UInt64) -> String {
        longQueueIDs
            ? QueueID.long(seconds: Int(tv.tv_sec), microseconds: Int(tv.tv_usec), inode: inode)
            : QueueID.short(microseconds: Int(tv.tv_usec), inode: inode)
    }

    /// "deferred/2/2A908F78165"
    public func relativePath(queue: String, id: String) -> String {
        QueueID.relativePath(queue: queue, id: id, hashedQueues: hashedQueues, depth: hashDepth)
    }

    /// The absolute path of `id` in `queue`.
    public func path(queue: String, id: String) -> String {
        path + "/" + relativePath(queue: queue, id: id)
    }

    /// Creates missing queue subdirectories with Postfix's modes; as root
    /// also sets their owners (`mailOwner` uid/gid, `setgidGroup` gid).
    /// Existing directories are left as they are.
    public func createMissing(mailOwner: (uid: uid_t, gid: gid_t)? = nil, setgidGroup: gid_t? = nil) throws(SystemError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw SystemError() }
        for spec in Self.layout {
            let p = path + "/" + spec.name
            if mkdir(p, spec.mode) != 0 {
                if errno == EEXIST { continue }
                throw SystemError()
            }
            _ = chmod(p, spec.mode)  // the umask may have cleared bits
            if geteuid() == 0 {
                switch spec.owner {
                case .root: _ = chown(p, 0, 0)
                case .mailOwner: if let o = mailOwner { _ = chown(p, o.uid, 0) }
                case .mailOwnerSetgidGroup:
                    if let o = mailOwner { _ = chown(p, o.uid, setgidGroup ?? o.gid) }
                }
            }
        }
    }

    /// Makes the hashed subdirectories leading to `relative` (mode 0700).
    func createParents(of relative: String) throws(SystemError) {
        // "queue/ID" (no hashed subdirectories) has no parents to make.
        var slashes = 0
        for byte in relative.utf8 where byte == 0x2F { slashes += 1 }
        guard slashes > 1 else { return }
        let parts = relative.split(separator: "/").map(String.init)
        guard parts.count > 2 else { return }
        var current = path + "/" + parts[0]
        for part in parts[1..<parts.count - 1] {
            current += "/" + part
            if mkdir(current, 0o700) != 0 && errno != EEXIST { throw SystemError() }
        }
    }
}
