// FlushLogFile: the per-destination logfiles of the fast flush service,
// in the `flush` queue directory: one file per destination, named by
// FlushProtocol.logName, holding one queue ID per line ("QID\n"),
// appended under an exclusive flock. Sending a logfile moves each listed
// message still in `deferred` to `incoming` (time stamps set to now) and
// truncates the file; its access time records when it was last read.
import Glibc
import Util
import Global

struct FlushLogFile {
    /// How a logfile is sent (Postfix's flush strategies).
    struct Mode: OptionSet {
        let rawValue: Int
        /// Refresh: move the messages without waking up dead destinations.
        static let refreshOnly: Mode = []
        /// send_site: ask qmgr to forget dead destinations and suspended
        /// transports (`F`) before the files move.
        static let unthrottleBefore = Mode(rawValue: 1)
        /// send_file: mark the file (group read bit) so that qmgr
        /// unthrottles and ignores defer_transports for this message only.
        static let unthrottleAfter = Mode(rawValue: 2)
    }

    /// The group-read bit qmgr reads as "flushed on request".
    static let unthrottleBit: mode_t = 0o040

    let directory: QueueDirectory
    /// public/<queue_service_name>, relative to the queue directory.
    let qmgrPath: String

    func path(_ name: String) -> String { directory.path(queue: "flush", id: name) }

    /// Appends one queue ID to the logfile `name` (created on demand).
    func add(name: String, queueID: String) -> FlushProtocol.Status {
        guard QueueID.isValid(name) else { return .bad }
        let file = path(name)
        let fd = open(file, O_CREAT | O_APPEND | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { MailLog.fatal("flush_add_path: open fast flush logfile \(name): \(SystemError())") }
        defer { close(fd) }
        guard FileLock.flockFile(fd) else { MailLog.fatal("flush_add_path: lock fast flush logfile \(name): \(SystemError())") }
        let line = Array((queueID + "\n").utf8)
        let n = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n != line.count { MailLog.warning("write fast flush logfile \(file): \(SystemError())") }
        FileLock.unlock(fd)
        return .ok
    }

    /// Sends the logfile `name`: no file means no mail for the destination.
    @discardableResult
    func send(name: String, mode: Mode, now: Int = Int(time(nil))) -> FlushProtocol.Status {
        guard QueueID.isValid(name) else { return .bad }
        let file = path(name)
        let fd = open(file, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 {
            if errno == ENOENT { return .ok }
            MailLog.fatal("flush_send_path: open fast flush logfile \(name): \(SystemError())")
        }
        defer { close(fd) }
        guard FileLock.flockFile(fd) else { MailLog.fatal("flush_send_path: lock fast flush logfile \(name): \(SystemError())") }
        if mode.contains(.unthrottleBefore) { Trigger.send([UInt8(ascii: "F")], to: qmgrPath) }
        let text = String(decoding: readAll(fd), as: UTF8.self)
        let (ids, bad) = FlushProtocol.parseLog(text)
        for b in bad {
            MailLog.warning("bad queue id \"\(String(b.prefix(30)))...\" in fast flush logfile \(name)")
        }
        var moved = 0
        for id in ids { moved += flushOne(id, now: now, mode: mode) }
        let lines = ids.count + bad.count
        if lines > 0 && ftruncate(fd, 0) != 0 {
            MailLog.fatal("flush_send_path: truncate fast flush logfile \(name): \(SystemError())")
        }
        // The access time says when the log was last read (refresh).
        _ = utimensat(AT_FDCWD, file, nil, 0)
        FileLock.unlock(fd)
        if lines + moved > 0 { Trigger.send([UInt8(ascii: "I")], to: qmgrPath) }
        return .ok
    }

    /// Moves one deferred message to incoming with its time stamps set to
    /// now; 1 when the message was found (in deferred or already in
    /// incoming), else 0.
    func flushOne(_ id: String, now: Int, mode: Mode) -> Int {
        var times = [timespec(tv_sec: now, tv_nsec: 0), timespec(tv_sec: now, tv_nsec: 0)]
        var queue = "deferred"
        var file = directory.path(queue: queue, id: id)
        while utimensat(AT_FDCWD, file, &times, 0) != 0 {
            if errno != ENOENT { MailLog.warning("flush_one_file: update \(file) time stamps: \(SystemError())") }
            if queue == "incoming" { return 0 }
            queue = "incoming"
            file = directory.path(queue: queue, id: id)
        }
        if mode.contains(.unthrottleAfter) {
            let fd = open(file, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
            guard fd >= 0 else {
                if errno != ENOENT { MailLog.warning("flush_one_file: open \(file): \(SystemError())") }
                return 0
            }
            var st = stat()
            if fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFREG && st.st_mode & 0o700 == 0o700 {
                if fchmod(fd, (st.st_mode & 0o7777) | Self.unthrottleBit) != 0 {
                    MailLog.warning("flush_one_file: fchmod \(file): \(SystemError())")
                }
            } else {
                close(fd)
                return 0
            }
            close(fd)
        }
        if queue != "incoming" {
            let target = directory.path(queue: "incoming", id: id)
            if rename(file, target) != 0 && errno != ENOENT {
                MailLog.warning("\(file): rename from \(queue) to incoming: \(SystemError())")
            }
        }
        return 1
    }

    /// refresh (maxAge = fast_flush_refresh_time) and purge (maxAge = 0):
    /// logfiles not read for maxAge seconds are sent (refresh only);
    /// empty ones unchanged for purgeTime seconds are removed.
    func refresh(maxAge: Int, purgeTime: Int, now: Int = Int(time(nil))) {
        for entry in QueueScanner.scan(directory, queue: "flush", readyOnly: false) {
            guard QueueID.isValid(entry.id) else { continue }
            var st = stat()
            guard stat(entry.path, &st) == 0 else {
                if errno != ENOENT { MailLog.warning("flush_refresh_service: stat \(entry.path): \(SystemError())") }
                continue
            }
            if st.st_size == 0 {
                if st.st_mtim.tv_sec + purgeTime < now && unlink(entry.path) != 0 {
                    MailLog.warning("remove logfile \(entry.path): \(SystemError())")
                }
            } else if st.st_atim.tv_sec + maxAge < now {
                send(name: entry.id, mode: .refreshOnly, now: now)
            }
        }
    }

    private func readAll(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        var offset: off_t = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n > 0 { out.append(contentsOf: chunk[0..<n]); offset += off_t(n); continue }
            if n < 0 && errno == EINTR { continue }
            return out
        }
    }
}
