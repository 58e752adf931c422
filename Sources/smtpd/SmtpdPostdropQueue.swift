// SmtpdPostdropQueue: the queue of a stand-alone smtpd (`smtpd -S`, run by
// `sendmail -bs` as an ordinary user or root, not as $mail_owner): each
// message goes through `$command_directory/postdrop -r` into maildrop, as
// Postfix's smtpd does, because such a process may not talk to cleanup.
// postdrop announces `queue_id` first (the ID smtpd logs and replies with);
// smtpd then pipes the records a local submission may carry: `S`,
// [`A encoding`], per recipient [`A notify_flags`] `A dsn_orig_rcpt` `R`,
// `M`, the content as `N`/`L`, `X`, `E`. No client or DSN envelope
// attributes (log_*, client_*, envelope_id, ret_flags): Postfix 3.7's
// stand-alone smtpd sends none of them, and pickup adds its own Received:.
// postdrop answers `status=N reason=TEXT` (CleanupProtocol.Status).
import Glibc
import Util
import Global

/// Spawns one postdrop per message.
final class PostdropQueue: SmtpdQueue {
    let config: MailConfig
    init(config: MailConfig) { self.config = config }
    func open() throws(CleanupClientError) -> SmtpdQueueFile { try PostdropQueueFile(config: config) }
}

/// One message on its way through postdrop.
final class PostdropQueueFile: SmtpdQueueFile {
    let queueID: String
    private let pid: pid_t
    private let toPostdrop: Stream
    private let fromPostdrop: Stream
    private var unflushed = 0
    private var done = false

    init(config: MailConfig) throws(CleanupClientError) {
        let path = config.value("command_directory") + "/postdrop"
        var toChild: [Int32] = [-1, -1]
        var fromChild: [Int32] = [-1, -1]
        guard pipe(&toChild) == 0 else { throw .unavailable("pipe: \(SystemError())") }
        guard pipe(&fromChild) == 0 else {
            close(toChild[0]); close(toChild[1])
            throw .unavailable("pipe: \(SystemError())")
        }
        for fd in toChild + fromChild { Socket.setCloseOnExec(fd) }
        var environment: [String] = []
        var envp = environ
        while let p = envp.pointee {
            let entry = String(cString: p)
            if !entry.hasPrefix("MAIL_CONFIG=") { environment.append(entry) }
            envp += 1
        }
        environment.append("MAIL_CONFIG=" + config.configDirectory)
        do {
            pid = try ProcessSpawner.spawn(path: path, arguments: ["postdrop", "-r"], environment: environment,
                                           descriptors: [0: toChild[0], 1: fromChild[1], 2: 2])
        } catch {
            for fd in toChild + fromChild { close(fd) }
            throw .unavailable("execute \(path) -r: \(error)")
        }
        close(toChild[0])
        close(fromChild[1])
        let seconds = Int32(config.value("ipc_timeout").prefix { $0.isNumber }) ?? 3600
        toPostdrop = Stream(fd: toChild[1], timeout: max(1, seconds))
        fromPostdrop = Stream(fd: fromChild[0], timeout: max(1, seconds))
        let announced = try? AttributeCodec.read(from: fromPostdrop)
        guard let id = announced?[CleanupProtocol.Attribute.queueID], !id.isEmpty else {
            toPostdrop.close()
            fromPostdrop.close()
            _ = PostdropQueueFile.reap(pid)
            throw .unavailable("\(path): no queue ID")
        }
        queueID = id
    }

    deinit {
        // An abandoned transaction: postdrop sees end of input before the
        // end record and removes its file.
        if !done {
            toPostdrop.close()
            fromPostdrop.close()
            _ = PostdropQueueFile.reap(pid)
        }
    }

    private static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    func begin(flags: CleanupProtocol.Flags, sender: String, arrival: (Int, Int), attributes: [QueueAttribute],
               recipients: [QueueRecipient], verp: String?) {
        var w = QueueRecordWriter()
        w.append(.sender, sender)
        if let v = verp { w.append(.verp, v) }
        for a in attributes where a.name == "encoding" { w.append(.attribute, "encoding=\(a.value)") }
        for r in recipients {
            if let n = r.notifyFlags { w.append(.attribute, "notify_flags=\(n)") }
            let orcpt = r.dsnOriginalRecipient ?? "rfc822;" + SmtpdSession.quoteLocal(r.original ?? r.address)
            w.append(.attribute, "dsn_orig_rcpt=\(orcpt)")
            w.append(.recipient, r.address)
        }
        w.append(.message)
        toPostdrop.write(w.bytes)
    }

    func writeRecord(continued: Bool, _ payload: ArraySlice<UInt8>) throws(CleanupClientError) {
        toPostdrop.write([continued ? QueueRecordType.contentFilter.rawValue : QueueRecordType.normal.rawValue])
        toPostdrop.write(QueueRecordLength.encode(payload.count))
        toPostdrop.write(payload)
        unflushed += payload.count + 6
        if unflushed >= 65536 {
            unflushed = 0
            do { try toPostdrop.flush() } catch { throw .unavailable("postdrop: write: \(error)") }
        }
    }

    func finish(actions: CleanupActions) throws(CleanupClientError) -> CleanupReply {
        var w = QueueRecordWriter()
        w.append(.extracted)
        w.append(.end)
        toPostdrop.write(w.bytes)
        done = true
        defer {
            toPostdrop.close()
            fromPostdrop.close()
            _ = PostdropQueueFile.reap(pid)
        }
        do { try toPostdrop.flush() } catch { throw .unavailable("postdrop: write: \(error)") }
        let reply: AttributeList
        do { reply = try AttributeCodec.read(from: fromPostdrop) } catch {
            throw .unavailable("postdrop: read: \(error)")
        }
        guard let status = reply.int(CleanupProtocol.Attribute.status) else {
            throw .unavailable("postdrop: no status")
        }
        return CleanupReply(status: CleanupProtocol.Status(rawValue: status),
                            reason: reply[CleanupProtocol.Attribute.reason] ?? "")
    }
}
