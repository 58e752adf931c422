// MasterProcess: master's state: the configuration in force, the running
// service instances, the processes of retired instances (after a reload),
// the event loop and the signal pipe.
import Glibc
import Util
import Global

/// Written by the signal handlers, read by the event loop.
nonisolated(unsafe) var signalPipeWrite: Int32 = -1

final class MasterProcess {
    let loop = EventLoop()
    let configDirectory: String
    let verbose: Int
    var config: MailConfig
    var services: [ServiceInstance] = []
    /// Processes of replaced or removed services: pid -> program path.
    var retiredChildren: [pid_t: String] = [:]
    var generation = 0
    var stopping = false
    var childEnvironment: [String] = []
    var throttleSeconds = 60

    init(configDirectory: String, config: MailConfig, verbose: Int) {
        self.configDirectory = configDirectory
        self.config = config
        self.verbose = verbose
        applyConfig()
    }

    func isCurrent(_ service: ServiceInstance) -> Bool {
        services.contains { $0 === service }
    }

    /// Values master derives from main.cf (again at each reload).
    func applyConfig() {
        throttleSeconds = Self.time(config, "service_throttle_time", fallback: 60)
        childEnvironment = Self.environment(importList: config.value("import_environment"), configDirectory: configDirectory)
    }

    static func time(_ config: MailConfig, _ name: String, fallback: Int) -> Int {
        let text = config.value(name)
        var digits = Substring(text)
        var scale = 1
        if let unit = digits.last, unit.isLetter {
            digits = digits.dropLast()
            switch unit {
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            case "d": scale = 86400
            case "w": scale = 604800
            default: MailLog.fatal("parameter \(name): bad time value or unit: \(text)")
            }
        }
        guard let n = Int(digits), n >= 0 else { MailLog.fatal("parameter \(name): bad time value or unit: \(text)") }
        return n == 0 ? fallback : n * scale
    }

    /// The children's environment: import_environment (NAME copies the
    /// variable when set, NAME=value sets it) plus MAIL_CONFIG and
    /// SWIFT_BACKTRACE.
    static func environment(importList: String, configDirectory: String) -> [String] {
        var result: [String: String] = [:]
        var order: [String] = []
        for word in importList.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" || $0 == "\n" }) {
            let item = String(word)
            if let eq = item.firstIndex(of: "=") {
                let name = String(item[..<eq])
                if result[name] == nil { order.append(name) }
                result[name] = String(item[item.index(after: eq)...])
            } else if let value = getenv(item) {
                if result[item] == nil { order.append(item) }
                result[item] = String(cString: value)
            }
        }
        if result["MAIL_CONFIG"] == nil { order.append("MAIL_CONFIG") }
        result["MAIL_CONFIG"] = configDirectory
        // The Swift runtime's crash backtracer looks for its helper program
        // at every process start unless told where it is (a walk of the
        // executable's symbol table: 200,000 instructions, 7% of an smtpd
        // start-up, docs/PERFORMANCE.md); no helper is installed beside the
        // daemons, and their stderr is /dev/null. An import_environment
        // entry for SWIFT_BACKTRACE still wins.
        if result["SWIFT_BACKTRACE"] == nil {
            order.append("SWIFT_BACKTRACE")
            result["SWIFT_BACKTRACE"] = "enable=no,swift-backtrace=/dev/null"
        }
        return order.map { "\($0)=\(result[$0]!)" }
    }

    /// Starts the instances for `specs`, reusing listening descriptors of
    /// the same endpoints from `pool` (a reload).
    func startServices(_ specs: [ServiceSpec], pool: inout [String: [Int32]], fatalErrors: Bool) {
        for spec in specs {
            var fds: [Int32]
            if let reused = pool.removeValue(forKey: spec.endpoint.identity) {
                fds = reused
            } else {
                do {
                    fds = try Endpoints.open(spec.endpoint, isPrivate: spec.isPrivate)
                } catch {
                    if fatalErrors { MailLog.fatal(error.text) }
                    MailLog.warning("\(error.text); service \(spec.key) disabled")
                    continue
                }
            }
            let service: ServiceInstance
            do {
                service = try ServiceInstance(spec: spec, listenFDs: fds, generation: generation)
            } catch {
                MailLog.fatal("pipe: \(error)")
            }
            services.append(service)
            loop.watchReadable(service.statusRead) { [unowned self] in self.readStatus(service) }
            updateListening(service)
            scheduleWakeup(service)
        }
    }

    /// Runs until a stop signal.
    func run() -> Never {
        while true { loop.runOnce(maxWait: 1.0) }
    }

    /// Installs handlers that turn SIGCHLD, SIGHUP, SIGTERM, SIGINT and
    /// SIGQUIT into bytes on a pipe the event loop watches.
    func installSignals() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { MailLog.fatal("pipe: \(SystemError())") }
        for fd in fds {
            Socket.setCloseOnExec(fd)
            Socket.setNonBlocking(fd)
        }
        signalPipeWrite = fds[1]
        let readEnd = fds[0]
        signal(SIGPIPE, SIG_IGN)
        for sig in [SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                let saved = errno
                _ = write(signalPipeWrite, &byte, 1)
                errno = saved
            }
            action.sa_flags = SA_RESTART
            sigemptyset(&action.sa_mask)
            sigaction(sig, &action, nil)
        }
        loop.watchReadable(readEnd) { [unowned self] in
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            var signals = Set(buffer[0..<n].map { Int32($0) })
            if signals.remove(SIGCHLD) != nil { self.reapChildren() }
            for stop in [SIGTERM, SIGINT, SIGQUIT] where signals.contains(stop) { self.stop(signal: stop) }
            if signals.contains(SIGHUP) { self.reload() }
        }
    }
}
