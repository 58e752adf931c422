// postlogd: the Postfix-compatible logging service (Postfix 3.4+ postlogd(8)).
// Every Posthorn program formats its own log line and sends it as one
// datagram to the `postlog` unix-dgram service; postlogd appends each
// datagram, unchanged, to $maillog_file (the datagrams of one burst, in
// arrival order, with one write when no more are waiting). `/dev/stdout` (with
// `postfix start-fg`) and `/dev/stderr` write to the inherited descriptor.
// The file is reopened on SIGHUP and when it was rotated away (renamed or
// removed; looked for at most once a second), so logrotate needs no
// copytruncate.
//
// SECURITY: opens maillog_file before the skeleton drops privileges (as
// root on a real system, then it runs as $mail_owner); refuses a path that
// does not start with one of $maillog_file_prefixes. Talks only to the
// datagram socket master hands it.
//
// CONFIGURATION PARAMETERS: maillog_file, maillog_file_prefixes.
// A new file is created with mode 0644 (before the umask), as Postfix 3.7.
import Glibc
import Util
import Global
import ServerSkeleton

/// The open log file, reopened when rotated or on SIGHUP.
final class LogFileWriter: @unchecked Sendable {
    let path: String
    let mode: mode_t
    private var fd: Int32 = -1
    private var device: dev_t = 0
    private var inode: ino_t = 0

    init(path: String, mode: mode_t) {
        self.path = path
        self.mode = mode
    }

    var isStandardStream: Bool { path == "/dev/stdout" || path == "/dev/stderr" }

    /// Opens the file; false (with errno set) when that fails.
    func open() -> Bool {
        if isStandardStream {
            fd = path == "/dev/stdout" ? 1 : 2
            return true
        }
        if fd >= 0 { Glibc.close(fd) }
        fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode)
        guard fd >= 0 else { return false }
        var info = stat()
        if fstat(fd, &info) == 0 {
            device = info.st_dev
            inode = info.st_ino
        }
        return true
    }

    private var lastRotationCheck = 0.0

    /// Reopens when the path no longer names the file we hold open; looks
    /// at most once a second (a stat per burst was a fifth of postlogd's
    /// system calls; lines written meanwhile go to the rotated file).
    func reopenIfRotated(now: Double = EventLoop.now()) {
        guard !isStandardStream else { return }
        if fd >= 0 && now - lastRotationCheck < 1 { return }
        lastRotationCheck = now
        var info = stat()
        if fd < 0 || stat(path, &info) != 0 || info.st_dev != device || info.st_ino != inode {
            _ = open()
        }
    }

    /// Lines received but not yet written: a burst of datagrams becomes
    /// one write (flush() runs when the socket is drained, or at 64 KiB).
    private var pending: [UInt8] = []

    func append(_ bytes: [UInt8]) {
        pending.append(contentsOf: bytes)
        if pending.last != UInt8(ascii: "\n") { pending.append(UInt8(ascii: "\n")) }
        if pending.count >= 65536 { flush() }
    }

    /// Writes the pending lines (O_APPEND: one write per burst).
    func flush() {
        defer { pending.removeAll(keepingCapacity: true) }
        guard fd >= 0, !pending.isEmpty else { return }
        var offset = 0
        while offset < pending.count {
            let n = pending.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}

/// True when `path` starts with one of the comma/space separated prefixes.
func allowedByPrefixes(_ path: String, _ prefixes: String) -> Bool {
    let list = prefixes.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" || $0 == "\n" })
    return list.contains { path.hasPrefix(String($0)) }
}

nonisolated(unsafe) var writer: LogFileWriter? = nil
nonisolated(unsafe) var reopenRequested: sig_atomic_t = 0

DatagramServer.run(program: "postlogd", handler: { datagram, _ in
    writer?.append(datagram)
}, drained: {
    guard let writer else { return }
    if reopenRequested != 0 {
        reopenRequested = 0
        _ = writer.open()
    } else {
        writer.reopenIfRotated()
    }
    writer.flush()
}, prepare: { context in
    let path = context.string("maillog_file")
    // postlogd's own messages must not be sent to itself.
    if !path.isEmpty { MailLog.useFile(path) } else { MailLog.useFile("/dev/stderr") }
    guard !path.isEmpty else { MailLog.fatal("no maillog_file is configured") }
    let prefixes = context.string("maillog_file_prefixes")
    guard allowedByPrefixes(path, prefixes) else {
        MailLog.useFile("/dev/stderr")
        MailLog.fatal("maillog_file value '\(path)' does not match any prefix in maillog_file_prefixes")
    }
    let file = LogFileWriter(path: path, mode: 0o644)
    guard file.open() else {
        MailLog.useFile("/dev/stderr")
        MailLog.fatal("open logfile '\(path)': cannot open file: \(SystemError())")
    }
    writer = file
    signal(SIGHUP) { _ in reopenRequested = 1 }
})
