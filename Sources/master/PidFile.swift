// PidFile: $queue_directory/pid/master.pid, locked for master's lifetime
// so a second master refuses to start. The content is Postfix's: the pid
// right-aligned in 32 columns and a newline, mode 0600.
import Glibc
import Util
import Global

enum PidFile {
    static func path(queueDirectory: String) -> String { queueDirectory + "/pid/master.pid" }

    /// Locks the pid file and writes our pid; ends master with Postfix's
    /// message when another master holds it.
    static func lock(queueDirectory: String) -> Int32 {
        let file = path(queueDirectory: queueDirectory)
        let fd: Int32?
        do {
            fd = try FileLock.lockPidFile(file)
        } catch {
            MailLog.fatal("open lock file \(file): \(error)")
        }
        guard let fd else { MailLog.fatal("the Postfix mail system is already running") }
        return fd
    }

    /// True when a master holds the lock (master -t, master -w).
    static func isLocked(queueDirectory: String) -> Bool {
        let fd = open(path(queueDirectory: queueDirectory), O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if FileLock.flockFile(fd, exclusive: true, wait: false) {
            FileLock.unlock(fd)
            return false
        }
        return true
    }
}
