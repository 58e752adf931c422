// ProcessSpawner: start a program with posix_spawn (fork+exec semantics,
// never a bare fork of a Swift process), placing given descriptors at
// fixed numbers in the child, as master hands services their sockets.
import Glibc
import CPosix

public enum ProcessSpawner {
    /// Spawns `path` with `arguments` (argv[0] included) and `environment`.
    /// `descriptors` maps child fd number to parent fd; every other
    /// descriptor is closed in the child unless it is 0, 1 or 2.
    public static func spawn(path: String, arguments: [String], environment: [String],
                             descriptors: [Int32: Int32] = [:], newSession: Bool = false) throws(SystemError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Move sources out of the way first so a source never equals another target.
        var staged: [(target: Int32, temp: Int32)] = []
        var tempBase: Int32 = 1000
        for (target, source) in descriptors.sorted(by: { $0.key < $1.key }) {
            posix_spawn_file_actions_adddup2(&actions, source, tempBase)
            staged.append((target, tempBase))
            tempBase += 1
        }
        for (target, temp) in staged {
            posix_spawn_file_actions_adddup2(&actions, temp, target)
            posix_spawn_file_actions_addclose(&actions, temp)
        }
        // Nothing else leaks into the child, close-on-exec or not.
        let highest = max(2, descriptors.keys.max() ?? 2)
        posthorn_spawn_add_closefrom(&actions, highest + 1)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var flags = Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newSession { flags |= 0x80 }  // POSIX_SPAWN_SETSID (glibc >= 2.26), not imported
        posix_spawnattr_setflags(&attributes, flags)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, &argv, &envp)
        guard rc == 0 else { throw SystemError(rc) }
        return pid
    }
}
