// FileLock: advisory locks on open files (flock and fcntl), and the
// pid-file lock master holds so that a second master refuses to start.
import Glibc

public enum FileLock {
    /// Takes an exclusive (or shared) flock; with `wait: false` returns
    /// false instead of blocking when another process holds it.
    public static func flockFile(_ fd: Int32, exclusive: Bool = true, wait: Bool = true) -> Bool {
        var operation = exclusive ? LOCK_EX : LOCK_SH
        if !wait { operation |= LOCK_NB }
        while true {
            if flock(fd, operation) == 0 { return true }
            if errno == EINTR { continue }
            return false
        }
    }

    public static func unlock(_ fd: Int32) {
        _ = flock(fd, LOCK_UN)
    }

    /// Opens (creating, mode 0600) `path`, locks it exclusively without
    /// waiting and writes our pid in Postfix's pid-file format: right-aligned
    /// in 32 columns, then "\n". Returns the open descriptor, or nil when
    /// another process holds it.
    public static func lockPidFile(_ path: String) throws(SystemError) -> Int32? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError() }
        guard flockFile(fd, exclusive: true, wait: false) else {
            close(fd)
            return nil
        }
        let digits = String(getpid())
        let text = String(repeating: " ", count: max(0, 32 - digits.count)) + digits + "\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        _ = fchmod(fd, 0o600)
        return fd
    }

    /// The pid in a pid file, or nil.
    public static func readPid(_ path: String) -> pid_t? {
        guard let text = try? TextFile.read(path) else { return nil }
        return pid_t(text.trimmingPostfixSpace())
    }
}
