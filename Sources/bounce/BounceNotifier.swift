// BounceNotifier: turns a flush, warn, trace or one request into
// notifications: who gets one (the sender; postmaster copies per
// notify_classes; double bounces to 2bounce_notice_recipient; nothing for
// a failed postmaster notice), which recipients it lists (DSN NOTIFY),
// how much of the original it returns (DSN RET, bounce_size_limit), and
// what becomes of the logfile. Each notice goes to cleanup as a new
// message from <> (postmaster notices from double-bounce@$myorigin).
import Glibc
import Util
import Global

/// Hands a finished notice to cleanup; returns its queue ID. A protocol
/// so unit tests can catch the notices.
protocol NoticeSubmitter {
    func submit(sender: String, recipient: String, build: (_ queueID: String) -> [[UInt8]]) throws(CleanupClientError) -> String
}

/// The real thing: public/cleanup.
struct CleanupSubmitter: NoticeSubmitter {
    let socketPath: String
    let timeout: Int32

    func submit(sender: String, recipient: String, build: (String) -> [[UInt8]]) throws(CleanupClientError) -> String {
        let client = try CleanupClient(socketPath: socketPath, timeout: timeout)
        client.begin(flags: [.mapOK], sender: sender,
                     recipients: [QueueRecipient(address: recipient, original: recipient,
                                                 dsnOriginalRecipient: "rfc822;" + recipient)])
        for line in build(client.queueID) { try client.writeLine(line) }
        let reply = try client.finish()
        guard reply.isOK else { throw .unavailable("cleanup: \(client.queueID): \(reply.reason)") }
        return client.queueID
    }
}

struct BounceNotifier {
    let settings: BounceSettings
    let config: MailConfig?
    let submitter: NoticeSubmitter
    var now: () -> Int = { Int(time(nil)) }

    /// Handles one request that arrived on service `service` (its name
    /// picks the logfile queue: bounce, defer or trace). Returns the
    /// reply status: 0 done, -1 try again later.
    func handle(_ request: BounceNotifyRequest, service: String, one: DeferLogEntry? = nil) -> Int {
        let queue = Self.logQueue(service: service, command: request.command)
        let kind: BounceReport.Kind
        switch request.command {
        case .warn: kind = .delay
        case .trace: kind = .success
        default: kind = .failure
        }
        let (action, statusClass): (String, Character) = kind == .delay ? ("delayed", "4")
            : kind == .success ? ("delivered", "2") : ("failed", "5")
        var log: BounceLogReader
        if let one {
            log = BounceLogReader()
            log.found = true
            log.entries = [one]
        } else {
            log = BounceLogReader.read(queue: queue, id: request.queueID, directory: settings.directory,
                                       action: action, statusClass: statusClass)
            // A delay report lists what is still delayed; the expiry flush
            // of the defer log reports those recipients as failed.
            if queue == DeferLog.deferQueue && kind == .failure {
                for i in log.entries.indices { log.entries[i].action = "failed" }
            }
        }
        for w in log.warnings { MailLog.warning(w) }
        let keepLog = kind == .delay || one != nil
        func finished(_ ok: Bool) -> Int {
            if (ok || request.flags.contains(.clean)) && !keepLog {
                DeferLog.remove(queue: queue, id: request.queueID, directory: settings.directory)
            }
            return ok ? 0 : -1
        }
        guard log.found, !log.entries.isEmpty else {
            if !log.found { MailLog.warning("\(request.queueID): no \(queue) logfile: no notification sent") }
            return finished(true)
        }
        if isDoubleBounceSender(request.sender) {
            MailLog.warning("\(request.queueID): undeliverable postmaster notification discarded")
            return finished(true)
        }
        let original = BounceOriginal.read(queue: request.queueName, id: request.queueID, directory: settings.directory)
        let classes = settings.notifyClasses

        if request.sender.isEmpty {
            // A notice about a notice: postmaster only, if asked for.
            switch kind {
            case .success:
                return finished(true)
            case .failure:
                guard !classes.isDisjoint(with: [.bounce, .doubleBounce]) else { return finished(true) }
                let ok = send(request, kind: kind, postmaster: true, to: settings.doubleBounceNoticeRecipient,
                              entries: log.entries, original: original, full: true, what: "postmaster non-delivery notification")
                return finished(ok)
            case .delay:
                guard classes.contains(.delay) else { return finished(true) }
                let ok = send(request, kind: kind, postmaster: true, to: settings.delayNoticeRecipient,
                              entries: log.entries, original: original, full: false, what: "postmaster delay notification")
                return finished(ok)
            }
        }

        let ret = request.returnFlags
        switch kind {
        case .failure:
            let wanted = log.entries.filter { BounceProtocol.Notify.wants($0.notifyFlags, BounceProtocol.Notify.failure) }
            if !wanted.isEmpty {
                guard send(request, kind: kind, postmaster: false, to: request.sender, entries: wanted, original: original,
                           full: ret & BounceProtocol.Return.headers == 0, what: "sender non-delivery notification")
                else { return finished(false) }
            }
            if classes.contains(.bounce) {
                _ = send(request, kind: kind, postmaster: true, to: settings.bounceNoticeRecipient, entries: log.entries,
                         original: original, full: false, what: "postmaster non-delivery notification")
            }
            return finished(true)
        case .delay:
            let wanted = log.entries.filter { BounceProtocol.Notify.wants($0.notifyFlags, BounceProtocol.Notify.delay) }
            if !wanted.isEmpty {
                guard send(request, kind: kind, postmaster: false, to: request.sender, entries: wanted, original: original,
                           full: ret & BounceProtocol.Return.full != 0, what: "sender delay notification")
                else { return finished(false) }
            }
            if classes.contains(.delay) {
                _ = send(request, kind: kind, postmaster: true, to: settings.delayNoticeRecipient, entries: log.entries,
                         original: original, full: false, what: "postmaster delay notification")
            }
            return finished(true)
        case .success:
            let ok = send(request, kind: kind, postmaster: false, to: request.sender, entries: log.entries,
                          original: original, full: ret & BounceProtocol.Return.full != 0,
                          what: "sender delivery status notification")
            return finished(ok)
        }
    }

    /// Builds and submits one notice; logs `QID: <what>: NEWQID`.
    private func send(_ request: BounceNotifyRequest, kind: BounceReport.Kind, postmaster: Bool, to: String,
                      entries: [DeferLogEntry], original: BounceOriginal, full: Bool, what: String) -> Bool {
        let template: BounceTemplate
        switch kind {
        case .failure: template = settings.templates.failure
        case .delay: template = settings.templates.delay
        case .success: template = settings.templates.success
        }
        let templateKind = kind == .failure ? "failure" : kind == .delay ? "delay" : "success"
        var text: [String] = []
        if !postmaster {
            let rendered = template.render(kind: templateKind, origin: settings.templates.origin) {
                settings.templateValue($0, config: config)
            }
            for w in rendered.warnings { MailLog.warning(w) }
            text = rendered.lines
        }
        let returnFull = full && original.size <= settings.bounceSizeLimit
        let time = now()
        let sender = postmaster ? settings.doubleBounceAddress : ""
        do {
            let id = try submitter.submit(sender: sender, recipient: to) { newID in
                BounceReport(kind: kind, postmaster: postmaster, template: template, text: text, to: to,
                             queueID: request.queueID, sender: request.sender, envelopeID: request.envelopeID,
                             entries: entries, original: original, returnFull: returnFull, newQueueID: newID,
                             now: time, myhostname: settings.myhostname, mailName: settings.mailName,
                             smtputf8: settings.smtputf8,
                             willRetryUntil: original.arrival.map { $0 + settings.maximalQueueLifetime }).lines()
            }
            MailLog.info("\(request.queueID): \(what): \(id)")
            return true
        } catch {
            MailLog.warning("\(request.queueID): \(what) failed: \(error)")
            return false
        }
    }

    /// True for the sender of postmaster notices (bare or qualified).
    func isDoubleBounceSender(_ sender: String) -> Bool {
        let s = sender.lowercased()
        return !s.isEmpty && (s == settings.doubleBounceAddress.lowercased() || s == settings.doubleBounceSender.lowercased())
    }

    /// The logfile queue of a service: its own name when that is one of
    /// the three, else what the command implies.
    static func logQueue(service: String, command: BounceProtocol.Command) -> String {
        if [DeferLog.bounceQueue, DeferLog.deferQueue, DeferLog.traceQueue].contains(service) { return service }
        switch command {
        case .warn: return DeferLog.deferQueue
        case .trace: return DeferLog.traceQueue
        default: return DeferLog.bounceQueue
        }
    }
}
