// DirectoryReader: opens a directory for reading without updating its
// access time. Queue directories change all the time, so with `relatime`
// every read of one (qmgr's scans, the spare-file pool) would also dirty
// the directory's inode; O_NOATIME avoids that for the directory's owner
// (the daemons run as mail_owner, who owns the queue), and other readers
// fall back to a plain open.
import Glibc
import CPosix

public enum DirectoryReader {
    /// `opendir(path)`, without an access-time update when allowed; nil
    /// when the directory cannot be opened.
    public static func open(_ path: String) -> OpaquePointer? {
        let fd = posthorn_open_directory(path)
        guard fd >= 0 else { return nil }
        guard let dir = fdopendir(fd) else { close(fd); return nil }
        return dir
    }
}
