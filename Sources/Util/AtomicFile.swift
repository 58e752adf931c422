// AtomicFile: the one helper that replaces a file's contents safely:
// write a temporary file beside it, fsync, rename over the old name, fsync
// the directory. Readers see either the old or the new file, never a mix.
import Glibc

public enum AtomicFile {
    /// Replaces `path` with `bytes`. The new file keeps the old file's mode
    /// (or `defaultMode` when there was none) and, when run as root, its owner.
    public static func write(_ bytes: [UInt8], to path: String, defaultMode: mode_t = 0o644) throws(SystemError) {
        var old = stat()
        let hadOld = stat(path, &old) == 0
        let mode = hadOld ? old.st_mode & 0o7777 : defaultMode
        let temp = path + ".posthorn-tmp.\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError() }
        var ok = false
        defer { if !ok { unlink(temp) } }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                let e = SystemError(); close(fd); throw e
            }
            offset += n
        }
        if hadOld && geteuid() == 0 { _ = fchown(fd, old.st_uid, old.st_gid) }
        _ = fchmod(fd, mode)
        if fsync(fd) != 0 { let e = SystemError(); close(fd); throw e }
        if close(fd) != 0 { throw SystemError() }
        if rename(temp, path) != 0 { throw SystemError() }
        ok = true
        let dir = directoryName(path)
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// The directory part of a path ("." when there is none).
    public static func directoryName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }
}
