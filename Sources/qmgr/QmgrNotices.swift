// QmgrNotices: what qmgr asks of the bounce daemon when a message's pass
// ends: send the non-delivery report for bounce/QID (flush), the
// delivery status report for trace/QID (NOTIFY=SUCCESS), and a delay
// warning for defer/QID once the queue file's W time has come (after
// which the W record is rewritten in place as -1: warn once). Also the
// pure decision helpers the unit tests drive.
import Glibc
import Util
import Global

enum QmgrWarning {
    /// Where the W record's payload is, and its value; nil without one.
    static func find(in bytes: [UInt8]) -> (payloadOffset: Int, length: Int, value: Int)? {
        var reader = QueueRecordReader(bytes: bytes)
        while let record = try? reader.next() {
            if record.type == QueueRecordType.message.rawValue { return nil }
            if record.type == QueueRecordType.warningTime.rawValue {
                let text = String(decoding: record.payload, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
                let start = reader.offset - record.payload.count
                return (start, record.payload.count, Int(text) ?? 0)
            }
        }
        return nil
    }

    /// True when a delay warning is due: a W time > 0 that has passed.
    static func due(warningTime: Int?, now: Int) -> Bool {
        guard let w = warningTime, w > 0 else { return false }
        return now >= w
    }

    /// Rewrites the W record of the file at `path` as -1, same width, and
    /// fsyncs.
    static func markSent(path: String) throws(QueueFileError) {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .system("open \(path)", errno) }
        defer { close(fd) }
        let bytes: [UInt8]
        do { bytes = try QueueRecordReader(fd: fd).bytes } catch { throw .system("read \(path)", error.code) }
        guard let w = find(in: bytes) else { throw .corrupt("no warning time record") }
        var text = "-1"
        if w.length > text.count { text = String(repeating: " ", count: w.length - text.count) + text }
        guard text.utf8.count == w.length else { throw .corrupt("warning time record too short") }
        let payload = Array(text.utf8)
        let n = payload.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(w.payloadOffset)) }
        guard n == payload.count else { throw .system("rewrite warning time \(path)", errno) }
        if fsync(fd) != 0 { throw .system("fsync \(path)", errno) }
    }
}

extension QueueManager {
    /// The bounce request for `m` (sender, DSN envelope values).
    func notifyRequest(_ m: ActiveMessage, command: BounceProtocol.Command) -> BounceNotifyRequest {
        let encoding = m.message.attribute("encoding")
            ?? m.message.extractedAttributes.first { $0.name == "encoding" }?.value ?? ""
        return BounceNotifyRequest(command: command, queueName: "active", queueID: m.id, encoding: encoding,
                                   smtputf8: m.message.size?.smtputf8 ?? 0, sender: m.sender,
                                   envelopeID: m.message.attribute("envelope_id") ?? "",
                                   returnFlags: Int(m.message.attribute("ret_flags") ?? "") ?? 0)
    }

    /// Sends the reports whose logfiles exist (bounce, then trace).
    /// False when one could not be sent: the message must stay queued
    /// (its logfile too) and the report is asked for again next pass.
    func sendReports(_ m: ActiveMessage) -> Bool {
        var ok = true
        for (queue, command) in [(DeferLog.bounceQueue, BounceProtocol.Command.flush),
                                 (DeferLog.traceQueue, BounceProtocol.Command.trace)] {
            guard access(directory.path(queue: queue, id: m.id), F_OK) == 0 else { continue }
            let client = command == .trace ? traceClient : bounceClient
            do { try client.notify(notifyRequest(m, command: command)) } catch {
                MailLog.warning("\(m.id): \(queue == DeferLog.bounceQueue ? "bounce" : "trace") notification failed: \(error)")
                ok = false
            }
        }
        return ok
    }

    /// Sends the delay warning when it is due and marks it sent.
    func sendDelayWarning(_ m: ActiveMessage, path: String) {
        guard QmgrWarning.due(warningTime: m.message.warningTime, now: Int(time(nil))) else { return }
        guard access(directory.path(queue: DeferLog.deferQueue, id: m.id), F_OK) == 0 else { return }
        do { try deferClient.notify(notifyRequest(m, command: .warn)) } catch {
            MailLog.warning("\(m.id): delay notification failed: \(error)")
            return
        }
        do { try QmgrWarning.markSent(path: path) } catch {
            MailLog.warning("\(m.id): update warning time: \(error)")
        }
    }
}
