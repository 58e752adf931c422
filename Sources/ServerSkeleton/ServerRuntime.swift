// ServerRuntime: the start-up and the master link every skeleton shares:
// parse the master's arguments, read main.cf with the -o overrides, set up
// logging, change to the queue directory, run the daemon's `prepare`, drop
// privileges (mail_owner, optional chroot into the queue directory), then
// keep master's status page and records (MasterStatusLink) and notice when
// master goes away.
//
// SECURITY: starts as whatever master runs as; when that is root and `-u`
// is given, ends as $mail_owner (setgid, setgroups, setuid), chrooted into
// $queue_directory when `-r` is given. Not root: runs as the invoking user.
import Glibc
import Util
import Global
import CPosix

struct ServerRuntime {
    let options: ServerOptions
    let context: ServiceContext
    var usage: ServerUsage
    /// False in stand-alone mode: no status records are written.
    let hasMaster: Bool

    /// Everything up to the point where the process can take a client.
    static func start(program: String, prepare: ((ServiceContext) -> Void)?) -> ServerRuntime {
        signal(SIGPIPE, SIG_IGN)
        Diagnostics.programName = program
        MailLog.setTag("postfix/" + program)
        let options: ServerOptions
        switch ServerOptions.parse(Array(CommandLine.arguments.dropFirst())) {
        case .success(let parsed): options = parsed
        case .failure(let problem): MailLog.fatal(problem.text)
        }
        MailLog.verbose = options.verbose
        let directory = MailConfig.directory(option: options.configDirectory)
        var config: MailConfig
        do {
            config = try MailConfig.load(directory: directory, programName: program)
        } catch {
            MailLog.fatal(error.postfixText)
        }
        config.overrides = options.overrideTable
        let late = LateServiceDefaults {
            (try? MasterConfigFile.load(path: directory + "/master.cf")).map { ServiceParameters.defaults(for: $0.entries) } ?? [:]
        }
        config.lateServiceDefaults = late
        MailLog.configure(program: program, config: config)
        let context = ServiceContext(config: config, serviceName: options.serviceName ?? program,
                                     serviceType: options.serviceType ?? "unix", programName: program,
                                     arguments: options.arguments, standalone: options.standalone)
        let maxUse = context.integer("max_use")
        let maxIdle = context.seconds("max_idle")

        let queueDirectory = config.value("queue_directory")
        // master.cf must be read before a relative configuration directory
        // stops resolving (chdir) or becomes unreachable (chroot).
        if !directory.hasPrefix("/") || options.chroot { _ = late.values }
        if chdir(queueDirectory) != 0 && !options.standalone {
            MailLog.fatal("chdir(\"\(queueDirectory)\"): \(SystemError())")
        }
        prepare?(context)
        dropPrivileges(options: options, config: config, queueDirectory: queueDirectory)

        var hasMaster = false
        if !options.standalone {
            guard fcntl(MasterProtocol.statusFD, F_GETFD) >= 0 else {
                // Master closed or never gave us the status pipe: nothing to serve.
                exit(0)
            }
            for fd in 0..<Int32(options.socketCount) where fcntl(MasterProtocol.firstListenFD + fd, F_GETFD) < 0 {
                MailLog.fatal("no service endpoint on descriptor \(MasterProtocol.firstListenFD + fd); run by master, or with -S")
            }
            hasMaster = true
        }
        var generation = 0
        if let text = getenv("GENERATION"), let n = Int(String(cString: text)) { generation = n }
        if hasMaster { MasterStatusLink.connect(generation: generation) }
        return ServerRuntime(options: options, context: context,
                             usage: ServerUsage(maxUse: maxUse, maxIdle: Double(maxIdle), now: EventLoop.now()),
                             hasMaster: hasMaster)
    }

    /// Root only: chroot (with -r) and switch to mail_owner (with -u).
    private static func dropPrivileges(options: ServerOptions, config: MailConfig, queueDirectory: String) {
        guard geteuid() == 0 else { return }
        var uid: uid_t = 0
        var gid: gid_t = 0
        if options.dropPrivileges {
            let owner = config.value("mail_owner")
            guard let entry = getpwnam(owner) else {
                MailLog.fatal("file \(config.configDirectory)/main.cf: parameter mail_owner: unknown user name value: \(owner)")
            }
            uid = entry.pointee.pw_uid
            gid = entry.pointee.pw_gid
            if uid == 0 {
                MailLog.fatal("file \(config.configDirectory)/main.cf: parameter mail_owner: user \(owner) has privileged user ID")
            }
        }
        if options.chroot {
            guard chroot(queueDirectory) == 0 else { MailLog.fatal("chroot(\(queueDirectory)): \(SystemError())") }
            guard chdir("/") == 0 else { MailLog.fatal("chdir(/): \(SystemError())") }
            if case .postlog(let path) = MailLog.destination, path.hasPrefix(queueDirectory + "/") {
                MailLog.usePostlog(String(path.dropFirst(queueDirectory.count)))
            }
        }
        if options.dropPrivileges {
            guard setgid(gid) == 0 else { MailLog.fatal("setgid(\(gid)): \(SystemError())") }
            var groups = [gid]
            guard setgroups(1, &groups) == 0 else { MailLog.fatal("setgroups(1, &\(gid)): \(SystemError())") }
            guard setuid(uid) == 0 else { MailLog.fatal("setuid(\(uid)): \(SystemError())") }
        }
    }

    /// Tells master's status protocol that this process is idle or busy
    /// (MasterStatusLink: most changes need no record).
    func report(_ status: MasterProtocol.Status) {
        guard hasMaster else { return }
        MasterStatusLink.report(status)
    }

    /// True when master has closed its end of the status pipe.
    func masterGone(revents: Int16) -> Bool {
        revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0
    }

    /// The listening descriptors master handed over (4, 5, ...).
    var listenFDs: [Int32] {
        (0..<options.socketCount).map { MasterProtocol.firstListenFD + Int32($0) }
    }

    /// Waits until `fd` is readable; exits when master goes away or the
    /// idle limit passes (when `idleLimit` is true).
    func waitReadable(_ fd: Int32, idleLimit: Bool = true) {
        _ = waitReadable([fd], idleLimit: idleLimit)
    }

    /// Waits until one of `watched` is readable and returns it.
    func waitReadable(_ watched: [Int32], idleLimit: Bool = true) -> Int32 {
        while true {
            var fds = watched.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if hasMaster { fds.append(pollfd(fd: MasterProtocol.statusFD, events: 0, revents: 0)) }
            var timeout: Int32 = -1
            if idleLimit, let left = usage.idleRemaining(at: EventLoop.now()) {
                timeout = Int32(min(left * 1000 + 1, Double(Int32.max)))
            }
            let rc = poll(&fds, nfds_t(fds.count), timeout)
            if rc < 0 {
                if errno == EINTR { continue }
                MailLog.fatal("poll: \(SystemError())")
            }
            if hasMaster && masterGone(revents: fds[watched.count].revents) { exit(0) }
            if let ready = fds.prefix(watched.count).first(where: { $0.revents != 0 }) { return ready.fd }
            if idleLimit && usage.idleExpired(at: EventLoop.now()) { exit(0) }
        }
    }

    /// Waits up to `seconds` for the client of a kept connection to send
    /// its next request: true when bytes are there to read; false at end
    /// of file, on an error or when the wait runs out. Exits when master
    /// goes away (a reload or stop ends kept connections too).
    func waitForNextRequest(on stream: Stream, seconds: Int) -> Bool {
        if stream.bufferedCount > 0 { return true }
        let deadline = EventLoop.now() + Double(seconds)
        while true {
            var fds = [pollfd(fd: stream.fd, events: Int16(POLLIN), revents: 0)]
            if hasMaster { fds.append(pollfd(fd: MasterProtocol.statusFD, events: 0, revents: 0)) }
            let left = deadline - EventLoop.now()
            if left <= 0 { return false }
            let rc = poll(&fds, nfds_t(fds.count), Int32(min(left * 1000 + 1, Double(Int32.max))))
            if rc < 0 {
                if errno == EINTR { continue }
                return false
            }
            if hasMaster && masterGone(revents: fds[1].revents) { exit(0) }
            guard fds[0].revents != 0 else { continue }
            // Readable: a request, or the client closed (end of file).
            var byte: UInt8 = 0
            let n = recv(stream.fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
            if n > 0 { return true }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            return false
        }
    }

    /// Accepts one connection on a non-blocking listener; nil when another
    /// process was quicker.
    static func accept(_ listenFD: Int32) -> Int32? {
        while true {
            // Close-on-exec and blocking from the start: no fcntl() calls.
            let fd = posthorn_accept_cloexec(listenFD)
            if fd >= 0 { return fd }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED { return nil }
            MailLog.warning("accept connection: \(SystemError())")
            return nil
        }
    }
}
