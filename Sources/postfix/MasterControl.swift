// MasterControl: start, start-fg, stop, abort, reload and status — the
// commands that find master through $queue_directory/pid/master.pid (the
// pid, locked with flock while master runs) and signal it, with
// postfix-script's messages and exit codes.
import Glibc
import Util
import Global

struct MasterControl {
    let config: MailConfig
    let configDirectory: String
    let verbose: Int

    var queueDirectory: String { config.value("queue_directory") }
    var pidPath: String { queueDirectory + "/pid/master.pid" }
    var masterPath: String { config.value("daemon_directory") + "/master" }

    /// The pid of the running master, or nil when none holds the pid file's lock.
    func runningMaster() -> pid_t? {
        let fd = open(pidPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if FileLock.flockFile(fd, exclusive: false, wait: false) {
            FileLock.unlock(fd)
            return nil
        }
        return FileLock.readPid(pidPath) ?? 0
    }

    func status() -> Never {
        guard let pid = runningMaster() else {
            ScriptLog.info("the Postfix mail system is not running")
            exit(1)
        }
        ScriptLog.info("the Postfix mail system is running: PID: \(pid)")
        exit(0)
    }

    /// The environment master starts with: ours, with MAIL_CONFIG set.
    func environment() -> [String] {
        var result: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if !text.hasPrefix("MAIL_CONFIG=") { result.append(text) }
            cursor += 1
        }
        result.append("MAIL_CONFIG=\(configDirectory)")
        return result
    }

    func masterArguments(_ flags: [String]) -> [String] {
        var argv = [masterPath, "-c", configDirectory] + flags
        if verbose > 0 { argv.append("-" + String(repeating: "v", count: verbose)) }
        return argv
    }

    /// `postfix start`: refuse when running, check, log, start master -w.
    func start(check: () -> Void) -> Never {
        if runningMaster() != nil { ScriptLog.fatal("the Postfix mail system is already running") }
        check()
        ScriptLog.info("starting the Postfix mail system")
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(path: masterPath, arguments: masterArguments(["-w"]), environment: environment())
        } catch {
            ScriptLog.fatal("mail system startup failed")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED && WEXITSTATUS == 0
        if status & 0x7f == 0 && (status >> 8) & 0xff == 0 { exit(0) }
        ScriptLog.fatal("mail system startup failed")
    }

    /// `postfix start-fg`: as start, then master itself in the foreground
    /// (exec, so signals for this process reach master).
    func startForeground(check: () -> Void) -> Never {
        if runningMaster() != nil { ScriptLog.fatal("the Postfix mail system is already running") }
        check()
        ScriptLog.info("starting the Postfix mail system")
        setenv("MAIL_CONFIG", configDirectory, 1)
        let argv = masterArguments(["-d"])
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        execv(masterPath, &cArgs)
        ScriptLog.fatal("mail system startup failed")
    }

    /// `postfix stop`: SIGTERM, then wait up to five seconds for master to
    /// go; after that, force it (SIGKILL) and exit 1, as Postfix says.
    func stop() -> Never {
        guard let pid = runningMaster() else { ScriptLog.fatal("the Postfix mail system is not running") }
        ScriptLog.info("stopping the Postfix mail system")
        // Give postlogd a moment to write that line before master stops it.
        usleep(100_000)
        if pid > 0 { kill(pid, SIGTERM) }
        // A short grace period, then "waiting" once a second, five times.
        for _ in 0..<5 {
            if runningMaster() == nil { exit(0) }
            usleep(100_000)
        }
        for _ in 0..<5 {
            if runningMaster() == nil { exit(0) }
            ScriptLog.info("waiting for the Postfix mail system to terminate")
            for _ in 0..<10 {
                usleep(100_000)
                if runningMaster() == nil { exit(0) }
            }
        }
        if runningMaster() == nil { exit(0) }
        ScriptLog.log(.warning, "stopping the Postfix mail system with force")
        if pid > 0 { kill(pid, SIGKILL) }
        exit(1)
    }

    /// `postfix abort`: SIGTERM without waiting.
    func abort() -> Never {
        guard let pid = runningMaster() else { ScriptLog.fatal("the Postfix mail system is not running") }
        ScriptLog.info("aborting the Postfix mail system")
        if pid > 0 { kill(pid, SIGTERM) }
        exit(0)
    }

    /// `postfix reload`: SIGHUP; master logs `reload -- version ...`.
    func reload(check: () -> Void) -> Never {
        guard let pid = runningMaster() else { ScriptLog.fatal("the Postfix mail system is not running") }
        check()
        ScriptLog.info("refreshing the Postfix mail system")
        if pid > 0 { kill(pid, SIGHUP) }
        exit(0)
    }
}
