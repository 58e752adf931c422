// CleanupSession: one client, one message: create the queue file, send the
// queue ID, read the envelope (rewriting and mapping addresses as they
// arrive), pass the content through CleanupMessage, then write the whole
// file through QueueFileWriter and answer only after it is committed.
import Glibc
import Util
import Global
import Tables

struct CleanupEnvelope {
    var flags: CleanupProtocol.Flags = []
    var arrival: (Int, Int)?
    var fullName: String?
    var sender = ""
    var attributes: [QueueAttribute] = []
    var recipients: [QueueRecipient] = []
    var extracted: [QueueRecipient] = []
}

enum CleanupFailure: Error {
    case status(CleanupProtocol.Status, String)
}

final class CleanupSession {
    let settings: CleanupSettings
    let rewriter: RewriteClient
    let stream: Stream
    var writer: QueueFileWriter?
    var envelope = CleanupEnvelope()
    var seenRecipients = Set<String>()
    var lastRecipient: String?

    init(settings: CleanupSettings, rewriter: RewriteClient, stream: Stream) {
        self.settings = settings
        self.rewriter = rewriter
        self.stream = stream
    }

    func run() {
        let w: QueueFileWriter
        do {
            w = try QueueFileWriter(directory: settings.queue, queue: "incoming")
        } catch {
            MailLog.warning("\(error)")
            _ = try? AttributeCodec.write(CleanupProtocol.reply(.write, CleanupProtocol.Status.write.text), to: stream)
            return
        }
        writer = w
        defer { w.abort() }  // no-op after commit
        do {
            try AttributeCodec.write(AttributeList([(CleanupProtocol.Attribute.queueID, w.id)]), to: stream)
        } catch { return }
        let reply: AttributeList
        do {
            try receive(w)
            reply = CleanupProtocol.reply(.ok, "")
        } catch CleanupFailure.status(let status, let reason) {
            w.abort()
            if status == .bad { return }  // client broke off: nobody to tell
            reply = CleanupProtocol.reply(status, reason)
        } catch {
            w.abort()
            return
        }
        _ = try? AttributeCodec.write(reply, to: stream)
    }

    private func readList() throws(CleanupFailure) -> AttributeList {
        do { return try AttributeCodec.read(from: stream) } catch {
            if error != .stream(.endOfFile) { MailLog.warning("\(error) in input from cleanup socket") }
            throw .status(.bad, CleanupProtocol.Status.bad.text)
        }
    }

    private func rule() -> RewriteProtocol.Rule {
        envelope.attributes.first { $0.name == "rewrite_context" }?.value == "remote" ? .remote : .local
    }

    /// trivial-rewrite, then canonical (sender or recipient side).
    private func mapAddress(_ address: String, sender: Bool) throws(CleanupFailure) -> String {
        guard !address.isEmpty else { return address }
        var result: String
        do { result = try rewriter.rewrite(rule: rule(), address: address) } catch {
            throw .status(.deferred, "4.3.0 \(error)")
        }
        if envelope.flags.contains(.mapOK) {
            let cls = sender ? "envelope_sender" : "envelope_recipient"
            var lists: [AddressLookup] = []
            if sender, let t = settings.senderCanonical, settings.senderCanonicalClasses.contains(cls) {
                lists.append(CleanupSettings.addressLookup(t))
            }
            if !sender, let t = settings.recipientCanonical, settings.recipientCanonicalClasses.contains(cls) {
                lists.append(CleanupSettings.addressLookup(t))
            }
            if let t = settings.canonical, settings.canonicalClasses.contains(cls) {
                lists.append(CleanupSettings.addressLookup(t))
            }
            do { result = try maps().canonical(result, tables: lists) } catch {
                throw .status(.deferred, "4.3.0 \(error.text)")
            }
        }
        return result
    }

    private func maps() -> CleanupAddressMaps {
        let s = settings
        return CleanupAddressMaps(delimiters: s.delimiters, domainIsLocal: { s.domainIsLocal($0) },
                                  recursionLimit: s.recursionLimit, expansionLimit: s.expansionLimit)
    }

    /// Rewrites, maps and expands one recipient into final recipients.
    private func recipients(for given: QueueRecipient) throws(CleanupFailure) -> [QueueRecipient] {
        let original = given.original ?? given.address
        var rewritten: String
        do { rewritten = try rewriter.rewrite(rule: rule(), address: given.address) } catch {
            throw .status(.deferred, "4.3.0 \(error)")
        }
        let orcpt = given.dsnOriginalRecipient ?? ("rfc822;" + rewritten)
        rewritten = try mapAddress(given.address, sender: false)
        var finals = [rewritten]
        if envelope.flags.contains(.mapOK), let virtual = settings.virtualAlias {
            do { finals = try maps().expand(rewritten, table: CleanupSettings.addressLookup(virtual)) } catch {
                throw .status(.deferred, "4.3.0 \(error.text)")
            }
        }
        var out: [QueueRecipient] = []
        for address in finals {
            let key = address.asciiLowercased() + "\n" + String(given.notifyFlags ?? 0)
            guard seenRecipients.insert(key).inserted else { continue }
            out.append(QueueRecipient(address: address, original: original, dsnOriginalRecipient: orcpt,
                                      notifyFlags: given.notifyFlags))
            lastRecipient = address
        }
        return out
    }

    private func receive(_ w: QueueFileWriter) throws(CleanupFailure) {
        let flagsList = try readList()
        envelope.flags = CleanupProtocol.Flags(rawValue: flagsList.int(CleanupProtocol.Attribute.flags) ?? 0)
        // Envelope and envelope recipients, up to type=content.
        var finalRecipients: [QueueRecipient] = []
        var rawRecipients: [QueueRecipient] = []
        var sawEnvelope = false
        while true {
            let list = try readList()
            switch list[CleanupProtocol.Attribute.type] {
            case "envelope":
                sawEnvelope = true
                if let t = list[CleanupProtocol.Attribute.arrivalTime] {
                    let parts = t.split(separator: " ").compactMap { Int($0) }
                    if let s = parts.first { envelope.arrival = (s, parts.count > 1 ? parts[1] : 0) }
                }
                envelope.fullName = list[CleanupProtocol.Attribute.fullName]
                envelope.sender = list[CleanupProtocol.Attribute.sender] ?? ""
                for (name, value) in list.pairs where name == CleanupProtocol.Attribute.attribute {
                    guard let a = QueueAttribute(payload: Array(value.utf8)), !a.value.isEmpty,
                          a.name != "create_time" else { continue }
                    envelope.attributes.append(a)
                }
            case "recipient":
                do { rawRecipients.append(try CleanupProtocol.recipient(from: list)) } catch {
                    MailLog.warning("\(error) in input from cleanup socket")
                    throw .status(.bad, CleanupProtocol.Status.bad.text)
                }
            case "content":
                break
            default:
                MailLog.warning("unexpected list in input from cleanup socket: \(list)")
                throw .status(.bad, CleanupProtocol.Status.bad.text)
            }
            if list[CleanupProtocol.Attribute.type] == "content" { break }
        }
        guard sawEnvelope else { throw .status(.bad, CleanupProtocol.Status.bad.text) }
        var failure: (CleanupProtocol.Status, String)?
        do {
            envelope.sender = try mapAddress(envelope.sender, sender: true)
            for r in rawRecipients { finalRecipients += try recipients(for: r) }
        } catch CleanupFailure.status(let s, let t) {
            failure = (s, t)
        }

        let qid = w.id
        let attr = { (name: String) in self.envelope.attributes.first { $0.name == name }?.value }
        let now = Int(time(nil))
        let local = rule() == .local
        var ms = CleanupMessage.Settings()
        ms.headerChecks = CleanupSettings.checkLookup(settings.headerChecks)
        ms.mimeHeaderChecks = CleanupSettings.checkLookup(settings.mimeHeaderChecks)
        ms.bodyChecks = CleanupSettings.checkLookup(settings.bodyChecks)
        ms.filter = envelope.flags.contains(.filter)
        ms.addMissingHeaders = local || settings.alwaysAddMissingHeaders
        ms.dropBcc = local
        ms.headerSizeLimit = settings.headerSizeLimit
        ms.hopcountLimit = settings.hopcountLimit
        ms.myhostname = settings.myhostname
        ms.undisclosedRecipientsHeader = settings.undisclosedRecipientsHeader
        ms.queueID = qid
        ms.createTime = now
        ms.arrivalTime = envelope.arrival?.0 ?? w.arrivalSeconds
        ms.sender = envelope.sender
        ms.fullName = envelope.fullName
        ms.longQueueIDs = settings.queue.longQueueIDs
        var logContext = CheckLogContext(queueID: qid)
        logContext.origin = attr("log_message_origin") ?? "local"
        logContext.sender = envelope.sender
        logContext.lastRecipient = lastRecipient
        logContext.proto = attr("log_protocol_name")
        logContext.helo = attr("log_helo_name")
        var message = CleanupMessage(settings: ms, log: logContext)
        var logged = 0
        func flushLog() {
            let lines = message.logLines
            while logged < lines.count {
                let line = lines[logged]
                if line.hasPrefix("warning: ") { MailLog.warning(String(line.dropFirst(9))) } else { MailLog.info(line) }
                logged += 1
            }
        }

        // Content records up to X.
        var size = 0
        var tooBig = false
        var current: [UInt8] = []
        while true {
            let type: UInt8
            let payload: [UInt8]
            do {
                type = try stream.read(count: 1)[0]
                var length = 0
                var shift = 0
                while true {
                    let b = try stream.read(count: 1)[0]
                    length |= Int(b & 0x7F) << shift
                    if b & 0x80 == 0 { break }
                    shift += 7
                    if shift >= 32 { throw StreamError.lineTooLong }
                }
                guard length <= AttributeCodec.valueLimit else { throw StreamError.lineTooLong }
                payload = try stream.read(count: length)
            } catch {
                throw .status(.bad, CleanupProtocol.Status.bad.text)
            }
            if type == QueueRecordType.extracted.rawValue { break }
            guard type == QueueRecordType.normal.rawValue || type == QueueRecordType.continued.rawValue else {
                MailLog.warning("\(qid): unexpected record type \(type) in message content")
                throw .status(.bad, CleanupProtocol.Status.bad.text)
            }
            size += payload.count + (type == QueueRecordType.normal.rawValue ? 1 : 0)
            if settings.messageSizeLimit > 0 && size > settings.messageSizeLimit { tooBig = true }
            if tooBig || failure != nil { continue }
            current += payload
            if type == QueueRecordType.normal.rawValue {
                message.add(line: current)
                current = []
                flushLog()
            }
        }
        if !current.isEmpty { message.add(line: current) }
        message.finish()
        flushLog()

        // Extracted recipients, up to type=end.
        var extracted: [QueueRecipient] = []
        while true {
            let list = try readList()
            if list[CleanupProtocol.Attribute.type] == "end" { break }
            guard list[CleanupProtocol.Attribute.type] == "recipient" else {
                throw .status(.bad, CleanupProtocol.Status.bad.text)
            }
            do { extracted.append(try CleanupProtocol.recipient(from: list)) } catch {
                throw .status(.bad, CleanupProtocol.Status.bad.text)
            }
        }
        if let failure { throw .status(failure.0, failure.1) }
        if tooBig { throw .status(.size, CleanupProtocol.Status.size.text) }
        if let t = message.temporaryError { throw .status(.deferred, "4.3.0 \(t)") }
        if message.hops > settings.hopcountLimit {
            MailLog.info("\(qid): reject: hopcount exceeded from \(logContext.origin); from=<\(envelope.sender)>")
            throw .status(.hops, CleanupProtocol.Status.hops.text)
        }
        switch message.verdict {
        case .reject(let reason):
            if envelope.flags.contains(.bounce) {
                // Postfix returns the message to the sender; without a bounce
                // service the submission stays where it is (as Postfix when
                // private/bounce is down).
                MailLog.warning("connect to private/bounce: bounce service not available")
                throw .status(.deferred, "4.3.0 bounce service not available")
            }
            throw .status(.content, reason)
        case .discard:
            return
        case .accept:
            break
        }

        var extractedFinal: [QueueRecipient] = []
        for r in extracted { extractedFinal += try recipients(for: r) }
        // BCC actions, always_bcc, sender_bcc_maps, recipient_bcc_maps.
        var bcc = message.bccRecipients
        if envelope.flags.contains(.bccOK) {
            if !settings.alwaysBcc.isEmpty { bcc.append(settings.alwaysBcc) }
            do {
                if let t = settings.senderBcc, !envelope.sender.isEmpty,
                   let hit = try maps().find(envelope.sender, in: CleanupSettings.addressLookup(t)) {
                    bcc.append(hit.value)
                }
                if let t = settings.recipientBcc {
                    for r in finalRecipients + extractedFinal {
                        if let hit = try maps().find(r.address, in: CleanupSettings.addressLookup(t)) { bcc.append(hit.value) }
                    }
                }
            } catch {
                throw .status(.deferred, "4.3.0 \(error.text)")
            }
        }
        for b in bcc {
            for address in b.splitList() {
                extractedFinal += try recipients(for: QueueRecipient(address: address))
            }
        }
        if finalRecipients.isEmpty && extractedFinal.isEmpty {
            throw .status(.recipients, CleanupProtocol.Status.recipients.text)
        }
        try write(w, message: message, recipients: finalRecipients, extracted: extractedFinal, now: now)
        if message.hold {
            let from = settings.queue.path(queue: "incoming", id: w.id)
            let to = settings.queue.path(queue: "hold", id: w.id)
            if rename(from, to) != 0 {
                MailLog.warning("\(w.id): rename \(from) to \(to): \(SystemError())")
            }
        } else {
            Trigger.wakeup(settings.qmgrTrigger)
        }
    }

    private func write(_ w: QueueFileWriter, message: CleanupMessage, recipients: [QueueRecipient],
                       extracted: [QueueRecipient], now: Int) throws(CleanupFailure) {
        do {
            try w.append(.size)
            let arrival = envelope.arrival ?? (w.arrivalSeconds, w.arrivalMicroseconds)
            try w.append(.time, "\(arrival.0) \(arrival.1)")
            try w.append(.attribute, "create_time=\(now)")
            if !settings.contentFilter.isEmpty { try w.append(.contentFilter, settings.contentFilter) }
            for a in envelope.attributes { try w.append(.attribute, a.name + "=" + a.value) }
            if let f = envelope.fullName { try w.append(.fullName, f) }
            try w.append(.sender, envelope.sender)
            for r in recipients { try w.appendRecipient(r) }
            try w.append(.message)
            for line in message.output { try w.appendLine(line, lineLimit: settings.lineLengthLimit) }
            try w.append(.extracted)
            if let f = message.filterTarget { try w.append(.contentFilter, f) }
            if let r = message.redirect { try w.append(.redirect, r) }
            for r in extracted { try w.appendRecipient(r) }
            try w.append(.end)
            try w.commit()
        } catch {
            MailLog.warning("\(w.id): \(error)")
            throw .status(.write, CleanupProtocol.Status.write.text)
        }
    }
}
