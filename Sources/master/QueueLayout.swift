// QueueLayout: the directories master needs under the queue directory
// (pid, private, public), created when missing with Postfix's modes;
// as root private and public belong to $mail_owner.
import Glibc
import Util
import Global

enum QueueLayout {
    static func prepare(queueDirectory: String, config: MailConfig) {
        var owner: (uid_t, gid_t)? = nil
        if geteuid() == 0, let entry = getpwnam(config.value("mail_owner")) {
            owner = (entry.pointee.pw_uid, entry.pointee.pw_gid)
        }
        for (name, mode, owned) in [("pid", mode_t(0o755), false), ("private", mode_t(0o700), true), ("public", mode_t(0o710), true)] {
            let path = queueDirectory + "/" + name
            var info = stat()
            if stat(path, &info) == 0 { continue }
            guard mkdir(path, mode) == 0 || errno == EEXIST else {
                MailLog.fatal("mkdir \(path): \(SystemError())")
            }
            chmod(path, mode)
            if owned, let (uid, gid) = owner { _ = chown(path, uid, gid) }
        }
    }
}
