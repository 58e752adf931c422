// pickup: moves locally submitted mail from `maildrop` into the queue, as
// Postfix 3.7's pickup(8). Woken by postdrop (public/pickup) or master's
// wakeup timer, it scans maildrop once per trigger; each ready file (a
// valid queue ID name, regular, owner bits rwx) is checked record by record
// (PickupFile), handed to cleanup through CleanupClient with a
// `Received: by $myhostname ($mail_name, from userid UID)` header in front,
// logged as `QID: uid=UID from=<sender>[ orig_id=ID]` (QID = cleanup's new
// queue ID) and removed only after cleanup said it is queued (or, for a
// message cleanup rejected, returned to the sender: pickup sets the bounce
// flag). A file cleanup could not take stays for the next scan; a malformed
// one is removed with a warning.
//
// SECURITY: runs as $mail_owner; maildrop files are written by any local
// user through postdrop and are untrusted: only the record types postdrop
// writes are accepted, and records cleanup must not take from users
// (content filter, redirect, legacy records) are dropped.
// CONFIGURATION PARAMETERS: queue_directory, myhostname, mail_name,
// mail_owner, line_length_limit, receive_override_options,
// cleanup_service_name, ipc_timeout, max_idle, max_use.
import Glibc
import Util
import Global
import ServerSkeleton

func scanMaildrop(_ bytes: [UInt8], _ context: ServiceContext) {
    let config = context.config
    let queue = QueueDirectory(config: config)
    let directory = queue.path + "/maildrop"
    guard let dir = DirectoryReader.open(directory) else {
        MailLog.warning("open directory \(directory): \(SystemError())")
        return
    }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if QueueID.isValid(name) { names.append(name) }
    }
    closedir(dir)
    var mailOwnerUID: uid_t = uid_t.max
    if let pw = getpwnam(config.value("mail_owner")) { mailOwnerUID = pw.pointee.pw_uid }
    let lineLimit = Int(config.value("line_length_limit")) ?? 2048
    for name in names.sorted() {
        let path = directory + "/" + name
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_mode & 0o700 == 0o700 else { continue }
        let file: PickupFile
        do {
            file = try PickupFile.read(path: path, lengthLimit: lineLimit)
        } catch {
            MailLog.warning("uid=\(st.st_uid): \(error): maildrop/\(name)")
            unlink(path)
            continue
        }
        let requeued = st.st_uid == mailOwnerUID && st.st_mode & 0o004 == 0
        if deliver(file, uid: st.st_uid, mtime: Int(st.st_mtim.tv_sec), origID: requeued ? name : nil, config: config) {
            unlink(path)
        }
    }
}

/// Hands one file to cleanup; true when cleanup has queued it.
func deliver(_ file: PickupFile, uid: uid_t, mtime: Int, origID: String?, config: MailConfig) -> Bool {
    let client: CleanupClient
    do { client = try CleanupClient(config: config) } catch {
        MailLog.warning("\(error)")
        return false
    }
    let qid = client.queueID
    MailLog.info("\(qid): uid=\(uid) from=<\(file.sender)>" + (origID.map { " orig_id=\($0)" } ?? ""))
    var flags = CleanupProtocol.Flags.external(receiveOverrideOptions: config.value("receive_override_options"))
    flags.insert(.bounce)
    client.begin(flags: flags, sender: file.sender, fullName: file.fullName, arrival: file.arrival,
                 attributes: file.attributes, recipients: file.recipients, verp: file.verpDelimiters)
    do {
        let mailName = config.value("mail_name")
        try client.writeLine(Array("Received: by \(config.value("myhostname")) (\(mailName.isEmpty ? "Postfix" : mailName), from userid \(uid))".utf8))
        try client.writeLine(Array("\tid \(qid); \(MailDate.format(mtime))".utf8))
        for record in file.content {
            try client.writeRecord(continued: record.type != QueueRecordType.normal.rawValue, record.payload)
        }
        let reply = try client.finish(extracted: file.extracted)
        if reply.isOK { return true }
        MailLog.warning("maildrop/\(origID ?? file.name): \(qid): \(reply.reason)")
        return false
    } catch {
        MailLog.warning("\(error)")
        return false
    }
}

TriggerServer.run(program: "pickup", handler: scanMaildrop)
