// MailLog: the mail log every Posthorn program writes, with Postfix's line
// format (an API for pflogsumm, fail2ban and exporters): to syslog as
// `syslog_name/program[pid]`, or, when maillog_file is set, as datagrams
// to the postlog service that postlogd appends to the file. Severities are
// Postfix's: info (no tag), `warning: `, `error: `, `fatal: `, `panic: `.
// Lines are cut at 2000 bytes; non-printable bytes become "?".
import Glibc
import Util
import CPosix

public enum MailLog {
    public enum Severity: Sendable {
        case info, warning, error, fatal, panic

        var tag: String {
            switch self {
            case .info: return ""
            case .warning: return "warning: "
            case .error: return "error: "
            case .fatal: return "fatal: "
            case .panic: return "panic: "
            }
        }

        var syslogPriority: Int32 {
            switch self {
            case .info: return LOG_INFO
            case .warning: return LOG_WARNING
            case .error: return LOG_ERR
            case .fatal, .panic: return LOG_CRIT
            }
        }
    }

    /// Where lines go.
    public enum Destination: Sendable, Equatable {
        /// syslog(3) with the given facility.
        case syslog(facility: Int32)
        /// Datagrams to the postlog socket (postlogd writes maillog_file).
        case postlog(socketPath: String)
        /// Appended directly to a file (postlogd itself, and commands
        /// running without a mail system).
        case file(path: String)
        /// Standard error only (before configuration is read).
        case standardError
    }

    nonisolated(unsafe) public private(set) static var tag = "postfix"
    nonisolated(unsafe) public private(set) static var destination: Destination = .standardError
    /// Also copy each line to standard error (command-line programs do).
    nonisolated(unsafe) public static var alsoStandardError = false
    /// `-v` count; `debug` lines are written only when it is positive.
    nonisolated(unsafe) public static var verbose = 0
    nonisolated(unsafe) static var datagramSocket: Int32 = -1
    nonisolated(unsafe) private static var hostLabel = "localhost"
    /// Set by commands (postfix, postlog): when postlogd cannot be reached,
    /// append to maillog_file directly, as Postfix's commands do while the
    /// mail system is down. Daemons keep the standard-error fallback.
    nonisolated(unsafe) public static var fileWhenPostlogDown = false
    nonisolated(unsafe) private static var fallbackFile = ""

    public static let lineLimit = 2000

    /// Sets the tag (`syslog_name/program`) and destination from main.cf.
    /// `program` is the process name (the master.cf command's basename).
    public static func configure(program: String, config: MailConfig) {
        let name = config.value("syslog_name")
        tag = (name.isEmpty ? "postfix" : name) + "/" + program
        hostLabel = String(config.value("myhostname").split(separator: ".").first ?? "localhost")
        let file = config.value("maillog_file")
        if file.isEmpty {
            let facility = facilityCode(config.value("syslog_facility")) ?? LOG_MAIL
            destination = .syslog(facility: facility)
            openlog(strdup(tag), LOG_PID | LOG_NDELAY, facility)
        } else {
            let service = config.value("postlog_service_name")
            let socketPath = config.value("queue_directory") + "/public/" + (service.isEmpty ? "postlog" : service)
            destination = .postlog(socketPath: socketPath)
            fallbackFile = file
        }
    }

    /// Writes every line to `path` directly (postlogd, and tests).
    public static func useFile(_ path: String) {
        destination = .file(path: path)
    }

    /// Sends lines to the given postlog socket.
    public static func usePostlog(_ socketPath: String) {
        destination = .postlog(socketPath: socketPath)
    }

    /// Changes the program part of the tag (e.g. after -o syslog_name).
    public static func setTag(_ newTag: String) {
        tag = newTag
    }

    static func facilityCode(_ name: String) -> Int32? {
        let table: [String: Int32] = [
            "mail": LOG_MAIL, "daemon": LOG_DAEMON, "user": LOG_USER, "local0": LOG_LOCAL0, "local1": LOG_LOCAL1,
            "local2": LOG_LOCAL2, "local3": LOG_LOCAL3, "local4": LOG_LOCAL4, "local5": LOG_LOCAL5,
            "local6": LOG_LOCAL6, "local7": LOG_LOCAL7, "auth": LOG_AUTH, "authpriv": LOG_AUTHPRIV,
        ]
        return table[name.lowercased()]
    }

    /// `Mmm dd HH:MM:SS` in local time, day zero-padded, as postlogd writes.
    public static func timestamp(_ time: time_t = Glibc.time(nil)) -> String {
        // Most lines of a process fall in the second of the line before.
        if time == stampSecond { return stampText }
        var t = time
        var parts = tm()
        localtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        _ = strftime(&buffer, buffer.count, "%b %d %H:%M:%S", &parts)
        stampText = String(cString: buffer)
        stampSecond = time
        return stampText
    }

    nonisolated(unsafe) private static var stampSecond: time_t = -1
    nonisolated(unsafe) private static var stampText = ""

    /// The text after `PROG[PID]: `, sanitized and cut to the limit.
    static func body(_ severity: Severity, _ text: String) -> String {
        var bytes: [UInt8] = []
        appendBody(severity, text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the severity tag and `text`, cut at `lineLimit` bytes, with
    /// control characters as "?" (a character cut in two is repaired when
    /// the bytes become text).
    private static func appendBody(_ severity: Severity, _ text: String, to line: inout [UInt8]) {
        let start = line.count
        line.appendUTF8(severity.tag)
        line.appendUTF8(text)
        if line.count - start > lineLimit { line.removeLast(line.count - start - lineLimit) }
        line.withUnsafeMutableBufferPointer { b in
            for i in start..<b.count where b[i] < 0x20 || b[i] == 0x7F { b[i] = UInt8(ascii: "?") }
        }
    }

    /// This process's ID, asked once: Posthorn never forks without exec
    /// (children are made with posix_spawn), so it cannot change.
    private static let processID = getpid()

    /// The whole line as postlogd writes it to maillog_file.
    public static func fileLine(_ severity: Severity, _ text: String) -> String {
        if linePrefix.tag != tag || linePrefix.host != hostLabel {
            linePrefix = (tag, hostLabel, " \(hostLabel) \(tag)[\(processID)]: ")
        }
        // Made as bytes (String appends cost a few hundred instructions
        // each; every process logs a few lines per message).
        var line: [UInt8] = []
        line.reserveCapacity(32 + linePrefix.text.utf8.count + text.utf8.count)
        line.appendUTF8(timestamp())
        line.appendUTF8(linePrefix.text)
        appendBody(severity, text, to: &line)
        line.append(UInt8(ascii: "\n"))
        return String(decoding: line, as: UTF8.self)
    }

    /// ` host tag[pid]: `, made again only when the tag or host changes.
    nonisolated(unsafe) private static var linePrefix: (tag: String, host: String, text: String) = ("", "", "")

    public static func log(_ severity: Severity, _ text: String) {
        if alsoStandardError {
            Diagnostics.write("\(Diagnostics.programName): \(severity.tag)\(Diagnostics.printable(text))\n")
        }
        switch destination {
        case .syslog:
            posthorn_syslog(severity.syslogPriority, body(severity, text))
        case .postlog(let path):
            sendDatagram(fileLine(severity, text), to: path)
        case .file(let path):
            appendToFile(fileLine(severity, text), path: path)
        case .standardError:
            if !alsoStandardError { Diagnostics.write("\(tag): \(body(severity, text))\n") }
        }
    }

    public static func info(_ text: String) { log(.info, text) }
    public static func warning(_ text: String) { log(.warning, text) }
    public static func error(_ text: String) { log(.error, text) }

    /// Logs and exits with status 1, as Postfix's msg_fatal.
    public static func fatal(_ text: String) -> Never {
        log(.fatal, text)
        flushDeferred()
        exit(1)
    }

    /// Logs and aborts (a bug), as Postfix's msg_panic.
    public static func panic(_ text: String) -> Never {
        log(.panic, text)
        flushDeferred()
        abort()
    }

    /// Verbose logging (-v): written only when `verbose` > 0.
    public static func debug(_ text: String) {
        if verbose > 0 { log(.info, text) }
    }

    /// The postlog socket the datagram socket is connected to: connected
    /// once, so the kernel does not look the path up for every line.
    nonisolated(unsafe) private static var datagramPath = ""

    /// A datagram socket connected to `path`; false when postlogd cannot
    /// be reached.
    private static func connectDatagram(_ path: String) -> Bool {
        if datagramSocket >= 0 && datagramPath == path { return true }
        if datagramSocket >= 0 { close(datagramSocket); datagramSocket = -1 }
        datagramPath = ""
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        // A busy postlogd (the kernel queues only max_dgram_qlen
        // datagrams, often 10) makes the sender wait, never drops the
        // line; a postlogd that is stuck for 2 s gets the fallback.
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { close(fd); return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { close(fd); return false }
        datagramSocket = fd
        datagramPath = path
        return true
    }

    private static func sendDatagram(_ line: String, to path: String) {
        var line = line
        if deferWhenBusy && sendWithoutWaiting(line, to: path) { return }
        var sent = -1
        // Twice at most: a postlogd restarted since the connect has a new
        // socket under the same name (the old one refuses).
        for _ in 0..<2 {
            guard connectDatagram(path) else { break }
            sent = line.withUTF8 { raw in
                var n: Int
                repeat { n = send(datagramSocket, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL)) } while n < 0 && errno == EINTR
                return n
            }
            if sent >= 0 || (errno != ECONNREFUSED && errno != ENOTCONN) { break }
            close(datagramSocket)
            datagramSocket = -1
            datagramPath = ""
        }
        if sent < 0 {
            // postlogd is not running (or stuck): as Postfix, write
            // maillog_file directly; failing that, never block the program
            // on its log: keep the line on standard error instead.
            if !fileWhenPostlogDown || fallbackFile.isEmpty || !appendToFile(line, path: fallbackFile, quiet: true) {
                Diagnostics.write(line)
            }
        }
    }

    @discardableResult
    private static func appendToFile(_ line: String, path: String, quiet: Bool = false) -> Bool {
        if path == "/dev/stdout" || path == "/dev/stderr" {
            let fd: Int32 = path == "/dev/stdout" ? 1 : 2
            _ = line.withCString { Glibc.write(fd, $0, strlen($0)) }
            return true
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            if !quiet {
                Diagnostics.write("\(Diagnostics.programName): fatal: open logfile '\(path)': cannot open file: \(SystemError())\n")
            }
            return false
        }
        _ = line.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
        return true
    }
}
