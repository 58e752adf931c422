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
    /// XVERP / sendmail -V delimiters (the queue file's V record).
    var verpDelimiters: String?
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
    /// A message went into incoming/: qmgr is woken before the client has
    /// its answer. (Answering first let clients outrun deliveries under
    /// load: the active queue grew to thousands of messages, the spare
    /// pool ran dry and cleanup created files again; see
    /// docs/PERFORMANCE.md.)
    var wakeQmgr = false

    /// The one connection to qmgr's trigger endpoint this process keeps.
    nonisolated(unsafe) private static var qmgrChannel: TriggerChannel?

    init(settings: CleanupSettings, rewriter: RewriteClient, stream: Stream) {
        self.settings = settings
        self.rewriter = rewriter
        self.stream = stream
    }

    /// Serves one message; true when the whole exchange was read and
    /// answered, and the reply offered the connection for another message
    /// (`keep=1` when `offerKeep`: CleanupProtocol, "Kept connections").
    @discardableResult
    func run(offerKeep: Bool = false) -> Bool {
        let w: QueueFileWriter
        do {
            w = try QueueFileWriter(directory: settings.queue, queue: "incoming")
        } catch {
            MailLog.warning("\(error)")
            _ = try? AttributeCodec.write(CleanupProtocol.reply(.write, CleanupProtocol.Status.write.text), to: stream)
            return false
        }
        writer = w
        defer { w.abort() }  // no-op after commit
        do {
            try AttributeCodec.write(AttributeList([(CleanupProtocol.Attribute.queueID, w.id)]), to: stream)
        } catch { return false }
        // Every status but `bad` is decided after the client's `type=end`:
        // the exchange is complete and the connection can carry another.
        let reply: AttributeList
        do {
            try receive(w)
            reply = CleanupProtocol.reply(.ok, "", keep: offerKeep)
        } catch CleanupFailure.status(let status, let reason) {
            w.abort()
            if status == .bad { return false }  // client broke off: nobody to tell
            reply = CleanupProtocol.reply(status, reason, keep: offerKeep)
        } catch {
            w.abort()
            return false
        }
        if wakeQmgr {
            let channel = Self.qmgrChannel?.path == settings.qmgrTrigger ? Self.qmgrChannel!
                : TriggerChannel(path: settings.qmgrTrigger)
            Self.qmgrChannel = channel
            channel.wakeup()
        }
        do { try AttributeCodec.write(reply, to: stream) } catch { return false }
        return offerKeep
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

    /// The context for header addresses: local, remote when
    /// $remote_header_rewrite_domain is set, or none (headers from remote
    /// clients stay as they are).
    private func headerRule() -> RewriteProtocol.Rule? {
        if rule() == .local { return .local }
        return settings.remoteHeaderRewriteDomain.isEmpty ? nil : .remote
    }

    /// trivial-rewrite on an internal-form address (quoted for the request).
    private func rewrite(_ address: String, rule: RewriteProtocol.Rule) throws(CleanupFailure) -> String {
        do {
            let external = try rewriter.rewrite(rule: rule, address: HeaderAddressParser.quoteInternal(address))
            return HeaderAddressParser.internalForm(external: external)
        } catch {
            throw .status(.deferred, "4.3.0 \(error)")
        }
    }

    /// Canonical maps and masquerading for one address of class `cls`
    /// (envelope_sender, envelope_recipient, header_sender, header_recipient).
    private func canonicalize(_ address: String, sender: Bool, cls: String) throws(CleanupTemporaryError) -> String {
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
        var result = try maps().canonical(address, tables: lists)
        if !settings.masqueradeDomains.isEmpty && settings.masqueradeClasses.contains(cls) {
            let s = settings
            result = CleanupAddressMaps.masquerade(result, domains: s.masqueradeDomains,
                                                   isException: { s.isMasqueradeException($0) })
        }
        return result
    }

    /// trivial-rewrite (envelope addresses always in the local context),
    /// then canonical and masquerading (sender or recipient side).
    private func mapAddress(_ address: String, sender: Bool) throws(CleanupFailure) -> String {
        guard !address.isEmpty else { return address }
        var result = try rewrite(address, rule: .local)
        if envelope.flags.contains(.mapOK) {
            do { result = try canonicalize(result, sender: sender, cls: sender ? "envelope_sender" : "envelope_recipient") } catch {
                throw .status(.deferred, "4.3.0 \(error.text)")
            }
        }
        return result
    }

    /// The rewriter for sender and recipient headers, or nil when headers
    /// are not rewritten.
    private func headerRewriter() -> HeaderAddressRewriter? {
        guard let rule = headerRule() else { return nil }
        let mapOK = envelope.flags.contains(.mapOK)
        return { [self] (external: String, sender: Bool) throws(CleanupTemporaryError) -> (address: String, changed: Bool) in
            let rewritten: String
            do { rewritten = try rewriter.rewrite(rule: rule, address: external) } catch {
                throw CleanupTemporaryError(text: "\(error)")
            }
            var changed = rewritten != external
            var address = HeaderAddressParser.internalForm(external: rewritten)
            if mapOK {
                let mapped = try canonicalize(address, sender: sender, cls: sender ? "header_sender" : "header_recipient")
                if mapped != address { changed = true; address = mapped }
            }
            return (address, changed)
        }
    }

    private func maps() -> CleanupAddressMaps {
        let s = settings
        return CleanupAddressMaps(delimiters: s.delimiters, domainIsLocal: { s.domainIsLocal($0) },
                                  recursionLimit: s.recursionLimit, expansionLimit: s.expansionLimit)
    }

    /// Rewrites, maps and expands one recipient into final recipients,
    /// followed by its recipient_bcc_maps recipient (bcc = a BCC
    /// recipient itself: no DSN, no further BCC).
    private func recipients(for given: QueueRecipient, bcc: Bool = false) throws(CleanupFailure) -> [QueueRecipient] {
        let original = given.original ?? given.address
        let rewritten = try rewrite(given.address, rule: .local)
        let orcpt = bcc ? nil : (given.dsnOriginalRecipient ?? ("rfc822;" + rewritten))
        let mapped = try mapAddress(given.address, sender: false)
        var finals = [mapped]
        if envelope.flags.contains(.mapOK), let virtual = settings.virtualAlias {
            do { finals = try maps().expand(mapped, table: CleanupSettings.addressLookup(virtual)) } catch {
                throw .status(.deferred, "4.3.0 \(error.text)")
            }
        }
        var out: [QueueRecipient] = []
        let notify = bcc ? CleanupSession.notifyNever : given.notifyFlags
        for address in finals {
            let key = address.asciiLowercased() + "\n" + String(notify ?? 0)
            guard seenRecipients.insert(key).inserted else { continue }
            out.append(QueueRecipient(address: address, original: original, dsnOriginalRecipient: orcpt,
                                      notifyFlags: notify))
            if !bcc { lastRecipient = address }
        }
        if !bcc, envelope.flags.contains(.bccOK), let t = settings.recipientBcc {
            let hit: (key: String, value: String)?
            do { hit = try maps().find(mapped, in: CleanupSettings.addressLookup(t)) } catch {
                throw .status(.deferred, "4.3.0 \(error.text)")
            }
            if let hit { out += try bccRecipients(hit.value) }
        }
        return out
    }

    /// DSN NOTIFY=NEVER, as Postfix gives every BCC recipient.
    static let notifyNever = 1

    /// The recipients of a BCC address list.
    private func bccRecipients(_ list: String) throws(CleanupFailure) -> [QueueRecipient] {
        var out: [QueueRecipient] = []
        for address in list.splitList() {
            out += try recipients(for: QueueRecipient(address: address, original: address), bcc: true)
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
                    // "seconds microseconds" read as bytes, as the T record
                    // (a Character split cost 8,000 instructions per message).
                    if let pair = QueueFile.arrivalTime(text: t) {
                        envelope.arrival = pair
                    } else {
                        let parts = t.split(separator: " ").compactMap { Int($0) }
                        if let s = parts.first { envelope.arrival = (s, parts.count > 1 ? parts[1] : 0) }
                    }
                }
                envelope.fullName = list[CleanupProtocol.Attribute.fullName]
                envelope.verpDelimiters = list[CleanupProtocol.Attribute.verpDelimiters]
                envelope.sender = list[CleanupProtocol.Attribute.sender] ?? ""
                for (name, value) in list.pairs where name == CleanupProtocol.Attribute.attribute {
                    guard let a = QueueAttribute(text: value), !a.value.isEmpty,
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
        do throws(CleanupFailure) {
            envelope.sender = try mapAddress(envelope.sender, sender: true)
            if envelope.flags.contains(.bccOK), let t = settings.senderBcc, !envelope.sender.isEmpty {
                let hit: (key: String, value: String)?
                do { hit = try maps().find(envelope.sender, in: CleanupSettings.addressLookup(t)) } catch {
                    throw CleanupFailure.status(.deferred, "4.3.0 \(error.text)")
                }
                if let hit { finalRecipients += try bccRecipients(hit.value) }
            }
            for r in rawRecipients { finalRecipients += try recipients(for: r) }
        } catch {
            if case .status(let s, let t) = error { failure = (s, t) }
        }

        let qid = w.id
        let attr = { (name: String) in self.envelope.attributes.first { $0.name == name }?.value }
        let now = Int(time(nil))
        var ms = CleanupMessage.Settings()
        ms.headerChecks = CleanupSettings.checkLookup(settings.headerChecks)
        ms.mimeHeaderChecks = CleanupSettings.checkLookup(settings.mimeHeaderChecks)
        ms.nestedHeaderChecks = CleanupSettings.checkLookup(settings.nestedHeaderChecks)
        ms.bodyChecks = CleanupSettings.checkLookup(settings.bodyChecks)
        ms.filter = envelope.flags.contains(.filter)
        ms.addMissingHeaders = headerRule() != nil || settings.alwaysAddMissingHeaders
        ms.dropHeaders = settings.dropHeaders
        ms.headerRewriter = headerRewriter()
        ms.tokenLimit = settings.tokenLimit
        ms.bodyChecksSizeLimit = settings.bodyChecksSizeLimit
        ms.mime = !settings.disableMime
        ms.mimeNestingLimit = settings.mimeNestingLimit
        ms.mimeBoundaryLengthLimit = settings.mimeBoundaryLengthLimit
        ms.reportNesting = settings.reportNesting
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
        let discarding = envelope.flags.contains(.discard)
        func flushLog() {
            let lines = message.logLines
            while logged < lines.count {
                let line = lines[logged]
                // A message the client discards is not logged by cleanup.
                if discarding && !line.hasPrefix("warning: ") { logged += 1; continue }
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
                type = try stream.readByte()
                var length = 0
                var shift = 0
                while true {
                    let b = try stream.readByte()
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
            if settings.messageSizeLimit > 0 && size > settings.messageSizeLimit && !tooBig {
                tooBig = true
                MailLog.warning("\(qid): queue file size limit exceeded")
            }
            if tooBig || failure != nil { continue }
            if type == QueueRecordType.normal.rawValue {
                if current.isEmpty {
                    message.add(line: payload)
                } else {
                    current += payload
                    message.add(line: current)
                    current = []
                }
                flushLog()
            } else {
                current += payload
            }
        }
        if !current.isEmpty { message.add(line: current) }
        message.finish()
        flushLog()

        // Extracted recipients, up to type=end (which carries the
        // client's access-map actions).
        var extracted: [QueueRecipient] = []
        var actions = CleanupActions()
        while true {
            let list = try readList()
            if list[CleanupProtocol.Attribute.type] == "end" {
                do { actions = try CleanupProtocol.actions(from: list) } catch {
                    MailLog.warning("\(error) in input from cleanup socket")
                    throw .status(.bad, CleanupProtocol.Status.bad.text)
                }
                break
            }
            guard list[CleanupProtocol.Attribute.type] == "recipient" else {
                throw .status(.bad, CleanupProtocol.Status.bad.text)
            }
            do { extracted.append(try CleanupProtocol.recipient(from: list)) } catch {
                throw .status(.bad, CleanupProtocol.Status.bad.text)
            }
        }
        envelope.flags.formUnion(actions.flags)
        if let failure { throw .status(failure.0, failure.1) }
        if let t = message.temporaryError { throw .status(.deferred, "4.3.0 \(t)") }
        // A message discarded by the client's access rules: no file, no
        // log line from cleanup (smtpd logged the action), success.
        if envelope.flags.contains(.discard) { return }
        var rejection: (CleanupProtocol.Status, String)?
        if tooBig {
            rejection = (.size, CleanupProtocol.Status.size.text)
        } else if message.hops >= settings.hopcountLimit {
            rejection = (.hops, CleanupProtocol.Status.hops.text)
        } else if case .reject(let reason) = message.verdict {
            rejection = (.content, reason)
        }
        if let rejection, !envelope.flags.contains(.bounce) { throw .status(rejection.0, rejection.1) }
        if rejection == nil && message.verdict == .discard { return }

        // Extracted recipients (each with its recipient_bcc_maps result),
        // then smtpd's BCC actions, always_bcc, and BCC actions of
        // header/body checks.
        var extractedFinal: [QueueRecipient] = []
        for r in extracted { extractedFinal += try recipients(for: r) }
        var neverNotify = 0
        for b in actions.bcc {
            // As Postfix writes smtpd's BCC recipients: with a DSN original
            // recipient, without notify_flags, yet NOTIFY=NEVER for qmgr.
            let added = try recipients(for: QueueRecipient(address: b, original: b))
            extractedFinal += added
            if !added.isEmpty { neverNotify = CleanupSession.notifyNever }
        }
        if envelope.flags.contains(.bccOK) && !settings.alwaysBcc.isEmpty {
            extractedFinal += try bccRecipients(settings.alwaysBcc)
        }
        for b in message.bccRecipients { extractedFinal += try bccRecipients(b) }
        if let rejection {
            // Local submissions (pickup) go back to the sender, as Postfix
            // does; every recipient the file would have had is listed.
            try bounce(w, message: message, recipients: finalRecipients + extractedFinal, status: rejection.0,
                       reason: rejection.1, now: now)
            return
        }
        if finalRecipients.isEmpty && extractedFinal.isEmpty {
            throw .status(.recipients, CleanupProtocol.Status.recipients.text)
        }
        let hold = message.hold || envelope.flags.contains(.hold)
        var notifyUnion = neverNotify
        for r in finalRecipients + extractedFinal { notifyUnion |= r.notifyFlags ?? 0 }
        do {
            try write(w, message: message, recipients: finalRecipients, extracted: extractedFinal, now: now,
                      filter: actions.filter ?? message.filterTarget, redirect: actions.redirect ?? message.redirect)
            // As Postfix, message_size_limit bounds the whole queue file
            // (envelope, added headers and record framing included), not
            // only the content counted while reading. Local submissions
            // were bounded by postdrop already.
            if settings.messageSizeLimit > 0 && w.offset > settings.messageSizeLimit
                && !envelope.flags.contains(.bounce) {
                MailLog.warning("\(w.id): queue file size limit exceeded")
                w.abort()
                throw CleanupFailure.status(.size, CleanupProtocol.Status.size.text)
            }
            try w.commit(qmgrFlags: notifyUnion << 1, destination: hold ? "hold" : nil)
        } catch let failure as CleanupFailure {
            throw failure
        } catch {
            MailLog.warning("\(w.id): \(error)")
            throw .status(.write, CleanupProtocol.Status.write.text)
        }
        if !hold { wakeQmgr = true }
    }

    /// Returns a message cleanup rejected to its sender (local mail, as
    /// Postfix's cleanup does): the file is written out (still mode 0600,
    /// so qmgr never takes it), every recipient goes into bounce/QID as
    /// failed with the reject reason and is logged `status=bounced`, the
    /// bounce daemon is asked for the non-delivery notice (headers only
    /// for a content or size reject), and the file is removed. When the
    /// notice cannot be sent the client is told to try again later.
    private func bounce(_ w: QueueFileWriter, message: CleanupMessage, recipients: [QueueRecipient],
                        status: CleanupProtocol.Status, reason: String, now: Int) throws(CleanupFailure) {
        let qid = w.id
        let (dsn, text) = DeliveryReason.split(reason, defaultCode: "5.0.0", forcedClass: "5")
        var offsets: [Int] = []
        do {
            offsets = try write(w, message: message, recipients: recipients, extracted: [], now: now,
                                filter: nil, redirect: nil)
            try w.writeOut()
        } catch {
            MailLog.warning("\(qid): \(error)")
            throw .status(.write, CleanupProtocol.Status.write.text)
        }
        let entries = zip(recipients, offsets).map { r, offset in
            DeferLogEntry(recipient: r.address, original: r.original ?? r.address, offset: offset,
                          dsnOriginalRecipient: r.dsnOriginalRecipient ?? "", notifyFlags: r.notifyFlags ?? 0,
                          status: dsn, action: "failed", reason: text)
        }
        let attr = { (name: String) in self.envelope.attributes.first { $0.name == name }?.value }
        var sent = false
        do {
            try DeferLog.append(entries, queue: DeferLog.bounceQueue, id: qid, directory: settings.queue)
            let arrival = envelope.arrival.map { Double($0.0) + Double($0.1) / 1e6 } ?? Double(w.arrivalSeconds)
            let done = DeliveryStatusLog.now()
            for r in recipients {
                DeliveryStatusLog.log(queueID: qid, recipient: r.address, original: r.original, relay: "none",
                                      times: .init(arrival: arrival, active: done, handoff: done, done: done),
                                      dsn: dsn, status: "bounced", text: text)
            }
            let headersOnly = !status.intersection([.content, .size]).isEmpty
            let request = BounceNotifyRequest(
                command: .flush, flags: [.clean], queueName: w.queue, queueID: qid,
                encoding: attr("encoding") ?? "", sender: envelope.sender, envelopeID: attr("envelope_id") ?? "",
                returnFlags: headersOnly ? BounceProtocol.Return.headers : Int(attr("ret_flags") ?? "") ?? 0)
            try BounceClient(socketPath: settings.bounceService, timeout: settings.ipcTimeout).notify(request)
            sent = true
        } catch {
            MailLog.warning("\(qid): \(error)")
        }
        if !sent {
            MailLog.warning("\(qid): bounce message failure")
            _ = DeferLog.remove(queue: DeferLog.bounceQueue, id: qid, directory: settings.queue)
        }
        w.abort()  // the rejected message itself is not kept
        if !sent { throw .status(.write, CleanupProtocol.Status.write.text) }
    }

    /// Writes every record up to `E` (the caller commits); returns the
    /// offsets of the envelope recipients' `R` records.
    @discardableResult
    private func write(_ w: QueueFileWriter, message: CleanupMessage, recipients: [QueueRecipient],
                       extracted: [QueueRecipient], now: Int, filter: String?, redirect: String?) throws(QueueFileError) -> [Int] {
        try w.append(.size)
        let arrival = envelope.arrival ?? (w.arrivalSeconds, w.arrivalMicroseconds)
        try w.append(.time, "\(arrival.0) \(arrival.1)")
        try w.appendAttribute("create_time", String(now))
        if !settings.contentFilter.isEmpty { try w.append(.contentFilter, settings.contentFilter) }
        // smtpd's attributes follow the sender except the first few, as
        // Postfix's smtpd sends them; a local submission has them all
        // before the full name and sender.
        let fromSMTPD = envelope.attributes.contains { $0.name == "log_client_name" }
        // One set lookup per attribute, not one per pass.
        let early = envelope.attributes.map { !fromSMTPD || CleanupSession.beforeSender.contains($0.name) }
        for (a, first) in zip(envelope.attributes, early) where first { try w.appendAttribute(a.name, a.value) }
        if let f = envelope.fullName { try w.append(.fullName, f) }
        try w.append(.sender, envelope.sender)
        for (a, first) in zip(envelope.attributes, early) where !first { try w.appendAttribute(a.name, a.value) }
        if let v = envelope.verpDelimiters { try w.append(.verp, v) }
        if settings.delayWarningTime > 0 && !envelope.sender.isEmpty {
            try w.append(.warningTime, QueueSizeRecord.pad15(arrival.0 + settings.delayWarningTime))
        }
        var offsets: [Int] = []
        for r in recipients { offsets.append(try w.appendRecipient(r)) }
        try w.append(.message)
        for line in message.output { try w.appendLine(line, lineLimit: settings.lineLengthLimit) }
        try w.append(.extracted)
        if let f = filter { try w.append(.contentFilter, f) }
        if let r = redirect { try w.append(.redirect, r) }
        for r in extracted { try w.appendRecipient(r) }
        try w.append(.end)
        return offsets
    }

    /// Attributes smtpd sends before the sender (Postfix's order).
    static let beforeSender: Set<String> = ["log_ident", "rewrite_context", "sasl_method", "sasl_username",
                                            "sasl_sender", "envelope_id", "ret_flags"]
}
