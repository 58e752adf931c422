// QueuePermissions: the owner and mode checks postfix-script makes before
// start and on `postfix check` (queue, data and configuration
// directories), the creation of missing queue directories with Postfix's
// owners and modes, and `set-permissions`. As root the expected owners are
// root, $mail_owner and $setgid_group; in unprivileged mode (not root)
// everything belongs to the invoking user and group checks are skipped.
import Glibc
import Util
import Global

struct QueuePermissions {
    struct Owner {
        let uid: uid_t
        let name: String
    }

    let config: MailConfig
    let privileged: Bool
    let root: Owner
    let mailOwner: Owner
    /// setgid_group (root only).
    let postdrop: (gid: gid_t, name: String)?

    /// The queue directories with their owner (mail_owner or root), group
    /// (setgid_group or unchanged) and mode, as Postfix creates them.
    static let layout: [(name: String, mailOwned: Bool, postdropGroup: Bool, mode: mode_t)] = [
        ("active", true, false, 0o700), ("bounce", true, false, 0o700), ("corrupt", true, false, 0o700),
        ("defer", true, false, 0o700), ("deferred", true, false, 0o700), ("flush", true, false, 0o700),
        ("hold", true, false, 0o700), ("incoming", true, false, 0o700), ("maildrop", true, true, 0o730),
        ("pid", false, false, 0o755), ("private", true, false, 0o700), ("public", true, true, 0o710),
        ("saved", true, false, 0o700), ("spare", true, false, 0o700), ("trace", true, false, 0o700),
    ]

    init(config: MailConfig) {
        self.config = config
        privileged = geteuid() == 0
        if privileged {
            root = Owner(uid: 0, name: "root")
            let name = config.value("mail_owner")
            guard let entry = getpwnam(name) else {
                ScriptLog.commandFatal("file \(config.configDirectory)/main.cf: parameter mail_owner: unknown user name value: \(name)")
            }
            mailOwner = Owner(uid: entry.pointee.pw_uid, name: name)
            let group = config.value("setgid_group")
            guard let g = getgrnam(group) else {
                ScriptLog.commandFatal("file \(config.configDirectory)/main.cf: parameter setgid_group: unknown group name: \(group)")
            }
            postdrop = (g.pointee.gr_gid, group)
        } else {
            let uid = geteuid()
            let name = getpwuid(uid).map { String(cString: $0.pointee.pw_name) } ?? String(uid)
            root = Owner(uid: uid, name: name)
            mailOwner = root
            postdrop = nil
        }
    }

    var queueDirectory: String { config.value("queue_directory") }

    // MARK: create-missing (check-fatal)

    /// Creates missing queue directories and data_directory with Postfix's
    /// owners and modes; existing ones are left alone (set-permissions fixes them).
    func createMissing() {
        for item in Self.layout {
            let path = queueDirectory + "/" + item.name
            if exists(path) { continue }
            makeDirectory(path, mailOwned: item.mailOwned, postdropGroup: item.postdropGroup, mode: item.mode)
        }
        let data = config.value("data_directory")
        if !data.isEmpty && !exists(data) {
            makeParents(data)
            makeDirectory(data, mailOwned: true, postdropGroup: false, mode: 0o700)
        }
    }

    private func makeParents(_ path: String) {
        var prefix = ""
        for part in path.split(separator: "/").dropLast() {
            prefix += "/" + part
            if !exists(prefix) { _ = mkdir(prefix, 0o755) }
        }
    }

    private func makeDirectory(_ path: String, mailOwned: Bool, postdropGroup: Bool, mode: mode_t) {
        guard mkdir(path, mode) == 0 || errno == EEXIST else {
            ScriptLog.fatal("mkdir \(path): \(SystemError())")
        }
        apply(path, mailOwned: mailOwned, postdropGroup: postdropGroup, mode: mode)
    }

    /// Sets owner, group and mode (root: as Postfix; otherwise mode only).
    private func apply(_ path: String, mailOwned: Bool, postdropGroup: Bool, mode: mode_t) {
        if privileged {
            let uid = mailOwned ? mailOwner.uid : root.uid
            let gid: gid_t = postdropGroup ? (postdrop?.gid ?? gid_t.max) : gid_t.max  // max = unchanged
            _ = chown(path, uid, gid)
        }
        _ = chmod(path, mode)
    }

    // MARK: check-warn

    /// Every warning postfix-script gives about owners and modes, logged as it does.
    func warnings() {
        let q = queueDirectory
        // The queue directory itself and pid/: root's, not group/other writable.
        for path in [q + "/.", q + "/pid"] where exists(path) {
            guard let info = lstatOf(path) else { continue }
            if info.st_uid != root.uid { warn("not owned by \(root.name): \(path)") }
        }
        for path in [q + "/.", q + "/pid"] where exists(path) {
            guard let info = lstatOf(path) else { continue }
            if info.st_mode & 0o022 != 0 { warn("group or other writable: \(path)") }
        }
        // Configuration, program and library directories: root's, recursively.
        var dirs = Set<String>()
        for name in ["meta_directory", "config_directory", "shlib_directory", "daemon_directory"] {
            let value = name == "config_directory" ? config.configDirectory : config.value(name)
            if !value.isEmpty && value != "no" && exists(value) { dirs.insert(value + "/.") }
        }
        let sorted = dirs.sorted()
        for top in sorted {
            walk(top, follow: false) { path, info in
                // Unprivileged mode: files installed by root are fine too.
                if info.st_uid != root.uid && (privileged || info.st_uid != 0) {
                    warn("not owned by \(root.name): \(path)")
                }
            }
        }
        for top in sorted {
            walk(top, follow: true) { path, info in
                if info.st_mode & 0o022 != 0 { warn("group or other writable: \(path)") }
            }
        }
        // data_directory: mail_owner's, not group/other writable.
        let data = config.value("data_directory")
        if !data.isEmpty && exists(data) {
            walk(data + "/.", follow: false) { path, info in
                if info.st_uid != mailOwner.uid { warn("not owned by \(mailOwner.name): \(path)") }
            }
            walk(data + "/.", follow: false) { path, info in
                if info.st_mode & 0o022 != 0 { warn("group or other writable: \(path)") }
            }
        }
        // Queue directories: mail_owner's (sockets and fifos excepted).
        let queueNames = ["active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming",
                          "private", "public", "saved", "trace"]
        for name in queueNames where exists(q + "/" + name) {
            walk(q + "/" + name, follow: false) { path, info in
                let type = info.st_mode & S_IFMT
                if type == S_IFIFO || type == S_IFSOCK { return }
                if info.st_uid != mailOwner.uid { warn("not owned by \(mailOwner.name): \(path)") }
            }
        }
        let maildrop = q + "/maildrop"
        if let info = lstatOf(maildrop), info.st_uid != mailOwner.uid {
            warn("not owned by \(mailOwner.name): \(maildrop)")
        }
        // The set-gid programs and the directories they write.
        if let postdrop {
            let commands = config.value("command_directory")
            let programs = [commands + "/postqueue", commands + "/postdrop"]
            for path in programs + [q + "/public", maildrop] {
                if let info = lstatOf(path), info.st_gid != postdrop.gid {
                    warn("not owned by group \(postdrop.name): \(path)")
                }
            }
            for path in programs {
                if let info = lstatOf(path), info.st_mode & 0o2111 != 0o2111 {
                    warn("not set-gid or not owner+group+world executable: \(path)")
                }
            }
        }
        // Damaged messages (paths relative to the queue directory).
        walk(q + "/corrupt", follow: false) { path, info in
            if info.st_mode & S_IFMT == S_IFREG {
                warn("damaged message: " + String(path.dropFirst(q.count + 1)))
            }
        }
    }

    // MARK: set-permissions

    /// Puts owners and modes right: queue directories and their files,
    /// data_directory, and (as root) the set-gid programs.
    func setPermissions() {
        createMissing()
        let q = queueDirectory
        if privileged { _ = chown(q, 0, gid_t.max) }
        for item in Self.layout {
            let path = q + "/" + item.name
            apply(path, mailOwned: item.mailOwned, postdropGroup: item.postdropGroup, mode: item.mode)
            guard item.mailOwned, privileged else { continue }
            walk(path, follow: false) { file, info in
                let type = info.st_mode & S_IFMT
                if type == S_IFIFO || type == S_IFSOCK || file == path { return }
                _ = lchown(file, mailOwner.uid, gid_t.max)
            }
        }
        let data = config.value("data_directory")
        if !data.isEmpty && exists(data) {
            apply(data, mailOwned: true, postdropGroup: false, mode: 0o700)
            if privileged {
                walk(data, follow: false) { file, _ in _ = lchown(file, mailOwner.uid, gid_t.max) }
            }
        }
        if let postdrop {
            let commands = config.value("command_directory")
            for name in ["postqueue", "postdrop"] {
                let path = commands + "/" + name
                guard exists(path) else { continue }
                _ = chown(path, 0, postdrop.gid)
                _ = chmod(path, 0o2555)
            }
        }
    }

    // MARK: helpers

    private func warn(_ text: String) { ScriptLog.warning(text) }

    private func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    private func lstatOf(_ path: String) -> stat? {
        var info = stat()
        return lstat(path, &info) == 0 ? info : nil
    }

    /// Visits `top` and everything below it, as find(1) does (with
    /// `follow`, as find -L: symbolic links are followed, loops skipped).
    private func walk(_ top: String, follow: Bool, _ visit: (String, stat) -> Void) {
        var seen = Set<[UInt64]>()
        func go(_ path: String) {
            var info = stat()
            let rc = follow ? stat(path, &info) : lstat(path, &info)
            guard rc == 0 else { return }
            visit(path, info)
            guard info.st_mode & S_IFMT == S_IFDIR else { return }
            let key = [UInt64(info.st_dev), UInt64(info.st_ino)]
            guard seen.insert(key).inserted else { return }
            guard let dir = opendir(path) else { return }
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(dir)
            for name in names.sorted() { go(path + "/" + name) }
        }
        go(top)
    }
}
