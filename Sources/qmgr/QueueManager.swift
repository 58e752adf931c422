// QueueManager: qmgr's active queue and its event loop: feeds files from
// incoming (on triggers) and deferred (every queue_run_delay) into active
// while the active queue holds fewer than qmgr_message_active_limit
// messages and qmgr_message_recipient_limit recipients, reads each
// message's recipients a slice at a time (QmgrRecipientReader), resolves
// and batches them into delivery jobs, lets QmgrScheduler pick which jobs
// start (per-transport process limits, per-destination windows with
// feedback, rate delays, round robin between messages), reads the agents'
// replies without blocking, and decides each message's fate (reports sent
// through the bounce daemon, removed, deferred with backoff and a delay
// warning, expired) once its last job has ended and its last recipient
// has been read.
import Glibc
import Util
import Global
import ServerSkeleton

struct QmgrSettings {
    var queueRunDelay: Int
    var minimalBackoff: Int
    var maximalBackoff: Int
    var maximalLifetime: Int
    var bounceLifetime: Int
    var activeLimit: Int
    var ipcTimeout: Int
    /// ipc_idle / ipc_ttl: how long a kept agent connection may sit unused / live.
    var ipcIdle = 5
    var ipcTTL = 1000
    var deferTransports: Set<String>
    var defaultFilterNexthop: String
    var config: MailConfig
    /// qmgr_message_recipient_limit: recipients held in memory at once.
    var recipientLimit = 20000
    /// qmgr_message_recipient_minimum: a message may always hold this many.
    var recipientMinimum = 10
    /// default_recipient_refill_limit / default_recipient_refill_delay.
    var refillLimit = 100
    var refillDelay = 5.0
    /// master.cf maxproc per unix service.
    var processLimits: [String: Int] = [:]
}

/// A message in the active queue. Only its envelope stays in memory (no
/// content, no recipient list); recipients live in their delivery jobs.
final class ActiveMessage {
    let id: String
    let message: QueueMessage
    let mode: mode_t
    let activeTime: Double
    let flushAll: Bool
    /// Where the next slice of recipients is read from; nil when every
    /// recipient has been read in this pass.
    var cursor: QmgrRecipientCursor?
    /// When the last slice was read (monotonic clock, as the scheduler).
    var lastRefill: Double
    /// Recipients read and not yet final in this pass.
    var inMemory = 0
    /// Recipients that stay queued after this pass (deferred, or not read).
    var deferredCount = 0
    /// Some recipient was deferred in this pass, so defer/QID may exist
    /// (it was removed when the message became active).
    var deferLogMayExist = false
    /// The sites of deferred recipients, for the fast flush service.
    var deferredSites: [String] = []
    private var siteSet: Set<String> = []
    /// Jobs queued or in flight.
    var outstanding = 0
    /// A REDIRECT message's one delivery has been scheduled.
    var redirectDelivered = false

    init(id: String, message: QueueMessage, mode: mode_t, activeTime: Double, flushAll: Bool) {
        self.id = id
        self.message = message
        self.mode = mode
        self.activeTime = activeTime
        self.flushAll = flushAll
        self.lastRefill = EventLoop.now()
    }

    var arrival: Double {
        Double(message.arrivalSeconds ?? message.createTime ?? 0) + Double(message.arrivalMicroseconds ?? 0) / 1e6
    }
    var sender: String { message.sender ?? "" }

    func noteDeferred(_ address: String) {
        deferredCount += 1
        deferLogMayExist = true
        if let site = FlushProtocol.site(ofRecipient: address), siteSet.insert(site).inserted { deferredSites.append(site) }
    }
}

/// One delivery request's worth of recipients.
struct DeliveryJob {
    let message: ActiveMessage
    let transport: String
    let nexthop: String
    let recipients: [QueueRecipient]
}

/// A delivery request in flight: its replies are read as they arrive.
final class Delivery {
    let job: DeliveryJob
    let destination: String
    let stream: Stream
    /// When the connection was made, and whether it carried an earlier
    /// request (a kept connection: QmgrAgentPool).
    let opened: Double
    let reused: Bool
    var buffer = QmgrReplyBuffer()
    /// Some reply bytes arrived.
    var answered = false
    var expected: Set<Int>
    var replied: Set<Int> = []
    /// The final list: status and text (and an optional dsn), and whether
    /// the agent offers the connection for another request.
    var final: (status: Int, dsn: String, text: String, keep: Bool)?
    init(job: DeliveryJob, destination: String, stream: Stream, opened: Double, reused: Bool) {
        self.job = job
        self.destination = destination
        self.stream = stream
        self.opened = opened
        self.reused = reused
        expected = Set(job.recipients.map(\.offset))
    }
}

final class QueueManager {
    let settings: QmgrSettings
    let directory: QueueDirectory
    let rewrite: RewriteClient
    let triggerFD: Int32
    let triggerIsFifo: Bool
    /// Trigger connections kept open by their clients.
    private let heldTriggers = HeldTriggers()
    let hasMaster: Bool
    var requests = QmgrTriggers()
    var lastDeferredScan = 0.0
    var messages: [String: ActiveMessage] = [:]
    var scheduler = QmgrScheduler<DeliveryJob>()
    var policies: [String: QmgrTransportPolicy] = [:]
    var deliveries: [Int32: Delivery] = [:]
    /// Agent connections kept between requests.
    var agentPool: QmgrAgentPool
    /// Recipients read and not yet final, over all messages.
    var inMemoryTotal = 0
    /// Messages with recipients still to read, in arrival order.
    var refillWaiting: [String] = []
    /// A scan stopped at a limit: go on when there is room again.
    var incomingBacklog = false
    var deferredBacklog: (all: Bool, flush: Bool)?
    /// The bounce daemon's three services (QmgrNotices).
    let bounceClient: BounceClient
    let deferClient: BounceClient
    let traceClient: BounceClient
    /// The fast flush service: deferred recipients' destinations are logged there.
    let flushClient: FlushClient
    /// Where the files of messages that left the queue are kept for reuse.
    let spareFiles: SpareFileKeeper
    /// `F` arrived: the next scan of each queue ignores defer_transports
    /// (Postfix's QMGR_FLUSH_DFXP), even when `I` or `D` comes later.
    var flushIncoming = false
    var flushDeferred = false

    init(settings: QmgrSettings, directory: QueueDirectory, rewrite: RewriteClient, triggerFD: Int32, triggerIsFifo: Bool,
         hasMaster: Bool) {
        self.settings = settings
        self.directory = directory
        self.rewrite = rewrite
        let timeout = Int32(max(1, settings.ipcTimeout))
        bounceClient = BounceClient(service: .flush, config: settings.config, timeout: timeout)
        deferClient = BounceClient(service: .warn, config: settings.config, timeout: timeout)
        traceClient = BounceClient(service: .trace, config: settings.config, timeout: timeout)
        flushClient = FlushClient(config: settings.config, timeout: timeout)
        spareFiles = SpareFileKeeper(directory: directory)
        self.triggerFD = triggerFD
        self.triggerIsFifo = triggerIsFifo
        self.hasMaster = hasMaster
        agentPool = QmgrAgentPool(idleLimit: Double(max(1, settings.ipcIdle)), lifeLimit: Double(max(1, settings.ipcTTL)))
        lastDeferredScan = EventLoop.now()
    }

    /// Files left in active by a previous qmgr go back to incoming (they
    /// are delivered again; recipients already done stay done).
    static func recover(_ directory: QueueDirectory) {
        for entry in QueueScanner.scan(directory, queue: "active", readyOnly: false) {
            let target = directory.path(queue: "incoming", id: entry.id)
            if rename(entry.path, target) != 0 {
                MailLog.warning("\(entry.id): rename active to incoming: \(SystemError())")
            }
        }
    }

    // MARK: - the loop

    func run(first: [UInt8]) -> Never {
        // qmgr reads its own triggers from here on: tell master it is
        // available (not busy), so wakeups are written to it, not counted
        // as clients waiting for another process.
        if hasMaster { MasterStatusLink.report(.available) }
        requests = QmgrTriggers.parse(first)
        requests.scanIncoming = true
        while true {
            let now = EventLoop.now()
            if now - lastDeferredScan >= Double(settings.queueRunDelay) { requests.scanDeferred = true }
            if requests.flushDead {
                requests.flushDead = false
                flushIncoming = true
                flushDeferred = true
                // Dead transports and destinations get another chance.
                scheduler.prune(now: now, forgetDead: true)
            }
            if requests.scanIncoming {
                requests.scanIncoming = false
                let flush = flushIncoming
                flushIncoming = false
                feed(queue: "incoming", all: false, flush: flush)
            } else if incomingBacklog && hasRoom {
                feed(queue: "incoming", all: false)
            }
            if requests.scanDeferred {
                let all = requests.scanAll
                requests.scanDeferred = false
                requests.scanAll = false
                lastDeferredScan = now
                let flush = flushDeferred
                flushDeferred = false
                scheduler.prune(now: now, forgetDead: false)
                feed(queue: "deferred", all: all, flush: flush)
            } else if let backlog = deferredBacklog, hasRoom {
                feed(queue: "deferred", all: backlog.all, flush: backlog.flush)
            }
            refill(now: EventLoop.now())
            dispatch()
            wait()
        }
    }

    /// Room in the active queue for another message.
    private var hasRoom: Bool { messages.count < settings.activeLimit && inMemoryTotal < settings.recipientLimit }

    /// Polls the trigger endpoint, master's status pipe and the agents,
    /// until the next deferred scan, rate delay or recipient refill.
    private func wait() {
        var fds = [pollfd(fd: triggerFD, events: Int16(POLLIN), revents: 0)]
        if hasMaster { fds.append(pollfd(fd: MasterProtocol.statusFD, events: 0, revents: 0)) }
        let held = heldTriggers.pollDescriptor
        if let held { fds.append(pollfd(fd: held, events: Int16(POLLIN), revents: 0)) }
        let agentFDs = Array(deliveries.keys)
        for fd in agentFDs { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
        let keptFDs = agentPool.descriptors
        for fd in keptFDs { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
        // Log lines that postlogd had no room for: sent when it has.
        MailLog.flushDeferred(wait: false)
        let logFD = MailLog.deferredDescriptor
        if let logFD { fds.append(pollfd(fd: logFD, events: Int16(POLLOUT), revents: 0)) }
        let now = EventLoop.now()
        var until = Double(settings.queueRunDelay) - (now - lastDeferredScan)
        if let wake = scheduler.wakeTime(now: now) { until = min(until, wake - now) }
        if let wake = refillWakeTime(now: now) { until = min(until, wake - now) }
        if let expiry = agentPool.nextExpiry { until = min(until, expiry - now) }
        if (incomingBacklog || deferredBacklog != nil) && hasRoom { until = 0 }
        let timeout = Int32(max(0, min(60_000, until * 1000 + 10)))
        let rc = poll(&fds, nfds_t(fds.count), timeout)
        if rc < 0 {
            if errno == EINTR { return }
            MailLog.fatal("poll: \(SystemError())")
        }
        if hasMaster && fds[1].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { exit(0) }
        if fds[0].revents != 0 { readTriggers() }
        let base = (hasMaster ? 2 : 1) + (held == nil ? 0 : 1)
        if held != nil && fds[base - 1].revents != 0 { readHeldTriggers() }
        for (i, fd) in agentFDs.enumerated() where fds[base + i].revents != 0 {
            readReplies(fd)
        }
        // A kept connection became readable: its agent closed it.
        for (i, fd) in keptFDs.enumerated() where fds[base + agentFDs.count + i].revents != 0 {
            agentPool.drop(fd: fd)
        }
        agentPool.expire(now: EventLoop.now())
        if logFD != nil && fds[fds.count - 1].revents != 0 { MailLog.flushDeferred(wait: false) }
    }

    /// Reads the waiting triggers: what the fifo holds, or every
    /// connection already queued on the socket (up to 64 per wake-up; under
    /// load many cleanup processes trigger at once, and one scan of
    /// incoming serves them all).
    private func readTriggers() {
        if triggerIsFifo {
            var buffer = [UInt8](repeating: 0, count: 1024)
            let n = buffer.withUnsafeMutableBytes { read(triggerFD, $0.baseAddress, $0.count) }
            if n > 0 { requests.merge(QmgrTriggers.parse(Array(buffer[0..<n]))) }
            return
        }
        for _ in 0..<64 {
            guard let bytes = heldTriggers.accept(triggerFD) else { return }
            if !bytes.isEmpty { requests.merge(QmgrTriggers.parse(bytes)) }
        }
    }

    /// Requests on trigger connections their clients keep open (cleanup).
    private func readHeldTriggers() {
        let bytes = heldTriggers.readReady()
        if !bytes.isEmpty { requests.merge(QmgrTriggers.parse(bytes)) }
    }

    // MARK: - feeding the active queue

    /// Moves ready files of `queue` into active and loads them, while the
    /// active queue has room (else the scan goes on when it has).
    /// `flush`: ignore defer_transports for the messages of this scan.
    private func feed(queue: String, all: Bool, flush: Bool = false) {
        let now = Int(time(nil))
        if queue == "incoming" { incomingBacklog = false } else { deferredBacklog = nil }
        for entry in QueueScanner.scan(directory, queue: queue) {
            if !hasRoom {
                if queue == "incoming" { incomingBacklog = true } else { deferredBacklog = (all, flush) }
                return
            }
            if !all && entry.mtime > now + 1 { continue }
            let target = directory.path(queue: "active", id: entry.id)
            guard rename(entry.path, target) == 0 else {
                if errno != ENOENT { MailLog.warning("\(entry.id): rename \(queue) to active: \(SystemError())") }
                continue
            }
            // The flush service moves deferred mail to incoming: either
            // way the old delay reasons go.
            DeferLog.remove(queue: DeferLog.deferQueue, id: entry.id, directory: directory)
            var mode = entry.mode
            if mode & 0o040 != 0 {
                // Flushed on request (postqueue -i): this message ignores
                // defer_transports; the mark is used once.
                mode &= ~0o040
                if chmod(target, mode) != 0 { MailLog.warning("\(entry.id): chmod: \(SystemError())") }
            }
            load(id: entry.id, mode: mode, flushAll: all || flush || entry.mode & 0o040 != 0)
        }
    }

    /// Reads a message's envelope and its first slice of recipients.
    private func load(id: String, mode: mode_t, flushAll: Bool) {
        let path = directory.path(queue: "active", id: id)
        var parsed: QueueMessage
        do {
            // Per-recipient A records (notify_flags, dsn_orig_rcpt) are
            // not the named attributes the default limit is about.
            parsed = try QueueFile.read(path: path, attributeLimit: Int.max, envelopeOnly: true)
            guard let size = parsed.size else { throw QueueFileError.corrupt("missing size record") }
            // The size record must describe this file: content starts
            // right after the `M` record and ends at or before `X`.
            guard size.dataOffset == parsed.dataOffset, size.contentSize >= 0,
                  parsed.extractedOffset == 0 || size.dataOffset + size.contentSize <= parsed.extractedOffset else {
                throw QueueFileError.corrupt("size record data offset \(size.dataOffset) content size \(size.contentSize)"
                                             + " does not match the file")
            }
        } catch {
            MailLog.warning("\(id): \(error)")
            saveCorrupt(id: id)
            return
        }
        let room = QmgrRefill.room(budget: settings.recipientLimit, inMemoryTotal: inMemoryTotal, inMemoryMessage: 0,
                                   minimum: settings.recipientMinimum)
        let (slice, cursor) = QmgrRecipientReader.firstSlice(parsed, limit: room)
        // Keep the envelope only: the recipients are read in slices and the
        // content is the delivery agents' business.
        parsed.recipients = []
        parsed.extractedRecipients = []
        parsed.content = []
        let active = ActiveMessage(id: id, message: parsed, mode: mode, activeTime: DeliveryStatusLog.now(), flushAll: flushAll)
        let size = parsed.size.map { $0.contentLength > 0 ? $0.contentLength : $0.contentSize } ?? 0
        var line: [UInt8] = []  // as bytes: one line per message
        line.reserveCapacity(80 + id.utf8.count + active.sender.utf8.count)
        line.appendUTF8(id); line.appendUTF8(": from=<"); line.appendUTF8(active.sender)
        line.appendUTF8(">, size="); line.appendDecimal(size)
        line.appendUTF8(", nrcpt="); line.appendDecimal(parsed.size?.recipientCount ?? 0)
        line.appendUTF8(" (queue active)")
        MailLog.info(String(decoding: line, as: UTF8.self))
        messages[id] = active
        active.cursor = cursor
        if cursor != nil { refillWaiting.append(id) }
        admit(active, slice)
        checkDone(active)
    }

    private func saveCorrupt(id: String) {
        MailLog.warning("saving corrupt file \"\(id)\" from queue \"active\" to queue \"corrupt\"")
        let target = directory.path(queue: "corrupt", id: id)
        if rename(directory.path(queue: "active", id: id), target) != 0 {
            MailLog.warning("\(id): rename active to corrupt: \(SystemError())")
        }
    }

    // MARK: - recipient slices

    /// Reads the next slice of each message whose refill is due.
    private func refill(now: Double) {
        guard !refillWaiting.isEmpty else { return }
        var still: [String] = []
        for id in refillWaiting {
            guard let m = messages[id], let cursor = m.cursor else { continue }
            let room = QmgrRefill.room(budget: settings.recipientLimit, inMemoryTotal: inMemoryTotal,
                                       inMemoryMessage: m.inMemory, minimum: settings.recipientMinimum)
            guard QmgrRefill.due(room: room, inMemoryMessage: m.inMemory, refillLimit: settings.refillLimit,
                                 sinceLast: now - m.lastRefill, refillDelay: settings.refillDelay) else {
                still.append(id)
                continue
            }
            m.lastRefill = now
            do {
                let bytes: [UInt8]
                do { bytes = try TextFile.readBytes(directory.path(queue: "active", id: id)) } catch {
                    throw QueueFileError.system("read \(id)", error.code)
                }
                let (slice, next) = try QmgrRecipientReader.slice(bytes, after: cursor,
                                                                  extractedOffset: m.message.extractedOffset, limit: room)
                m.cursor = next
                if next != nil { still.append(id) }
                admit(m, slice)
            } catch {
                // The rest stays queued for the next pass.
                MailLog.warning("\(id): read recipients: \(error)")
                m.cursor = nil
                m.deferredCount += 1
            }
            checkDone(m)
        }
        refillWaiting = still + refillWaiting.filter { id in !still.contains(id) && messages[id]?.cursor != nil }
    }

    /// When a waiting refill becomes due by its delay alone.
    private func refillWakeTime(now: Double) -> Double? {
        var best: Double?
        for id in refillWaiting {
            guard let m = messages[id], m.cursor != nil else { continue }
            let room = QmgrRefill.room(budget: settings.recipientLimit, inMemoryTotal: inMemoryTotal,
                                       inMemoryMessage: m.inMemory, minimum: settings.recipientMinimum)
            guard room > 0 else { continue }
            let t = m.lastRefill + settings.refillDelay
            best = min(best ?? t, t)
        }
        return best
    }

    /// Takes recipients into memory and routes them.
    private func admit(_ m: ActiveMessage, _ recipients: [QueueRecipient]) {
        m.inMemory += recipients.count
        inMemoryTotal += recipients.count
        route(m, recipients)
    }

    /// A recipient is final for this pass.
    private func recipientDone(_ m: ActiveMessage, deferred address: String?) {
        m.inMemory -= 1
        inMemoryTotal -= 1
        if let address { m.noteDeferred(address) }
    }

    func policy(_ transport: String) -> QmgrTransportPolicy {
        if let p = policies[transport] { return p }
        let p = QmgrTransportPolicy.read(transport: transport, config: settings.config, processLimits: settings.processLimits,
                                         warn: { MailLog.warning($0) })
        policies[transport] = p
        return p
    }

    /// Resolves each recipient and queues delivery jobs per destination.
    private func route(_ active: ActiveMessage, _ recipients: [QueueRecipient]) {
        // REDIRECT (header_checks or an smtpd access map) sends every
        // recipient to one address, logged with orig_to=, and overrides
        // FILTER; the copies for the second and later recipients are
        // marked done silently, as Postfix delivers the address once.
        let redirect = (active.message.redirect ?? active.message.extractedRedirect).flatMap { $0.isEmpty ? nil : $0 }
        let filter = redirect == nil ? (active.message.contentFilter ?? active.message.extractedContentFilter) : nil
        var groups: [String: (transport: String, nexthop: String, destination: String, list: [QueueRecipient])] = [:]
        var order: [String] = []
        for var r in recipients {
            if let redirect {
                if active.redirectDelivered {
                    do {
                        try QueueFile.markDone(path: directory.path(queue: "active", id: active.id), offset: r.offset)
                        recipientDone(active, deferred: nil)
                    } catch {
                        MailLog.warning("\(active.id): \(error)")
                        recipientDone(active, deferred: r.address)
                    }
                    continue
                }
                active.redirectDelivered = true
                r.original = r.original ?? r.address
                r.address = redirect
            }
            var transport: String
            var nexthop: String
            if let filter, !filter.isEmpty {
                (transport, nexthop) = QmgrPolicy.filterRoute(filter, recipient: r.address,
                                                              defaultNexthop: settings.defaultFilterNexthop)
            } else {
                let reply: ResolveReply
                do { reply = try rewrite.resolve(sender: active.sender, address: r.address) } catch {
                    decide(active, r, status: .deferred, dsn: "4.3.0", text: "address resolver failure")
                    continue
                }
                if reply.flags.contains(.fail) {
                    decide(active, r, status: .deferred, dsn: "4.3.0", text: "address resolver failure")
                    continue
                }
                if reply.flags.contains(.error) {
                    decide(active, r, status: .bounced, dsn: "5.1.3", text: "bad address syntax")
                    continue
                }
                transport = reply.transport
                nexthop = reply.nexthop
            }
            if settings.deferTransports.contains(transport) && !active.flushAll {
                decide(active, r, status: .deferred, dsn: "4.3.2", text: "deferred transport")
                continue
            }
            let destination = policy(transport).destination(recipient: r.address, nexthop: nexthop)
            let key = transport + "\0" + nexthop + "\0" + destination
            if groups[key] == nil { groups[key] = (transport, nexthop, destination, []); order.append(key) }
            groups[key]!.list.append(r)
        }
        let now = EventLoop.now()
        for key in order {
            let group = groups[key]!
            let p = policy(group.transport)
            for batch in QmgrPolicy.batches(group.list, limit: p.recipientLimit) {
                let job = DeliveryJob(message: active, transport: group.transport, nexthop: group.nexthop, recipients: batch)
                if let why = scheduler.enqueue(job, message: active.id, transport: group.transport,
                                               destination: group.destination, policy: p, now: now) {
                    for r in batch { decide(active, r, status: .deferred, dsn: why.dsn, text: why.text) }
                } else {
                    active.outstanding += 1
                }
            }
        }
    }

    /// qmgr decides a recipient's fate itself: log, logfile, done-marking.
    private func decide(_ active: ActiveMessage, _ r: QueueRecipient, status: DeliveryStatus, dsn: String, text: String) {
        let entry = DeferLogEntry(recipient: r.address, original: r.original ?? "", offset: r.offset,
                                  dsnOriginalRecipient: r.dsnOriginalRecipient ?? "", notifyFlags: r.notifyFlags ?? 0,
                                  status: dsn, action: status == .deferred ? "delayed" : "failed", reason: text)
        var status = status
        if status == .bounced {
            do {
                try DeferLog.append([entry], queue: DeferLog.bounceQueue, id: active.id, directory: directory)
                try QueueFile.markDone(path: directory.path(queue: "active", id: active.id), offset: r.offset)
            } catch {
                MailLog.warning("\(active.id): \(error)")
                status = .deferred
            }
        }
        if status == .deferred {
            try? DeferLog.append([entry], queue: DeferLog.deferQueue, id: active.id, directory: directory)
        }
        recipientDone(active, deferred: status == .deferred ? r.address : nil)
        let now = DeliveryStatusLog.now()
        let times = DeliveryStatusLog.Times(arrival: active.arrival, active: active.activeTime, handoff: now, done: now)
        DeliveryStatusLog.log(queueID: active.id, recipient: r.address, original: r.original, relay: "none",
                              times: times, dsn: dsn, status: status.rawValue, text: text)
    }

    // MARK: - deliveries

    private func dispatch() {
        while let start = scheduler.next(now: EventLoop.now()) {
            startDelivery(start.job, destination: start.destination)
        }
    }

    /// `fresh`: on a new connection even when one is kept (a kept one
    /// just failed).
    private func startDelivery(_ job: DeliveryJob, destination: String, fresh: Bool = false) {
        let m = job.message
        let request = DeliveryRequest(
            queueName: "active", queueID: m.id, dataOffset: m.message.size?.dataOffset ?? m.message.dataOffset,
            dataSize: m.message.size?.contentSize ?? 0, nexthop: job.nexthop, sender: m.sender,
            envelopeID: m.message.attribute("envelope_id") ?? "", returnFlags: Int(m.message.attribute("ret_flags") ?? "") ?? 0,
            arrivalTime: m.arrival, activeTime: m.activeTime,
            recipients: job.recipients.map {
                DeliveryRecipient(original: $0.original ?? "", address: $0.address, offset: $0.offset,
                                  dsnOriginalRecipient: $0.dsnOriginalRecipient ?? "", notifyFlags: $0.notifyFlags ?? 0)
            })
        let unavailable = QmgrOutcome.transportFailure(QmgrSuspension(dsn: "4.3.0", text: "mail transport unavailable"))
        let wire = request.wireBytes()
        if !fresh, let kept = agentPool.take(job.transport, now: EventLoop.now()) {
            do {
                try AttributeCodec.write(wire: wire, to: kept.stream)
                deliveries[kept.stream.fd] = Delivery(job: job, destination: destination, stream: kept.stream,
                                                      opened: kept.opened, reused: true)
                return
            } catch {
                kept.stream.close()  // the agent went away meanwhile: connect
            }
        }
        let fd: Int32
        do { fd = try Socket.connectUnix("private/" + job.transport) } catch {
            MailLog.warning("connect to transport private/\(job.transport): \(error)")
            ended(job, destination: destination, outcome: unavailable, unanswered: job.recipients)
            return
        }
        let stream = Stream(fd: fd, timeout: Int32(max(1, settings.ipcTimeout)))
        do { try AttributeCodec.write(wire: wire, to: stream) } catch {
            MailLog.warning("write to transport private/\(job.transport): \(error)")
            stream.close()
            ended(job, destination: destination, outcome: unavailable, unanswered: job.recipients)
            return
        }
        deliveries[fd] = Delivery(job: job, destination: destination, stream: stream, opened: EventLoop.now(),
                                  reused: false)
    }

    /// Reads what an agent has sent so far; ends the delivery at its final
    /// list, at end of file or on a protocol error.
    private func readReplies(_ fd: Int32) {
        guard let delivery = deliveries[fd] else { return }
        let m = delivery.job.message
        // Replies are a few hundred bytes: a small uninitialized stack buffer
        // (a zeroed 64 KiB array here cost as much as the rest of the reply
        // handling put together). 1 KiB is the most Swift places on the
        // stack; a longer reply is read on the next readiness.
        let n = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { chunk -> Int in
            let n = recv(fd, chunk.baseAddress, chunk.count, Int32(MSG_DONTWAIT))
            if n > 0 {
                delivery.buffer.append(UnsafeBufferPointer(rebasing: chunk[0..<n]))
                delivery.answered = true
            }
            return n
        }
        var over = false
        if n > 0 {
            do {
                while delivery.final == nil, let list = try delivery.buffer.next() {
                    if let reply = try DeliveryReply.decode(list) {
                        guard delivery.expected.contains(reply.offset), delivery.replied.insert(reply.offset).inserted else {
                            MailLog.warning("\(m.id): transport \(delivery.job.transport): unexpected reply for offset \(reply.offset)")
                            continue
                        }
                        recipientDone(m, deferred: reply.status == .deferred
                                      ? delivery.job.recipients.first { $0.offset == reply.offset }?.address ?? "" : nil)
                    } else {
                        delivery.final = (list.int("status") ?? 1, list["dsn"] ?? "", list["text"] ?? "",
                                          DeliveryReply.offersKeep(list))
                    }
                }
            } catch {
                MailLog.warning("\(m.id): transport \(delivery.job.transport): bad reply: \(error)")
                over = true
            }
            if delivery.final != nil { over = true }
        } else if n == 0 {
            over = true
        } else if errno != EAGAIN && errno != EINTR {
            over = true
        }
        guard over else { return }
        deliveries[fd] = nil
        if delivery.reused && !delivery.answered && delivery.final == nil {
            // A kept connection closed before any answer: the agent ended
            // its wait (or exited) as the request went out. It did nothing
            // with it; the request goes out again on a new connection.
            delivery.stream.close()
            startDelivery(delivery.job, destination: delivery.destination, fresh: true)
            return
        }
        if let final = delivery.final, final.keep, delivery.buffer.isEmpty {
            agentPool.put(delivery.job.transport, stream: delivery.stream, opened: delivery.opened, now: EventLoop.now())
        } else {
            delivery.stream.close()
        }
        let crashed = QmgrSuspension(dsn: "4.3.0", text: "delivery temporarily suspended: unknown mail transport error")
        var outcome = QmgrOutcome.success
        if let final = delivery.final {
            if final.status != 0 {
                // The agent reports a problem with the destination (or
                // gave up): negative feedback.
                let dsn = final.dsn.isEmpty ? "4.3.0" : final.dsn
                outcome = .siteFailure(final.text.isEmpty ? crashed
                                       : QmgrSuspension(dsn: dsn, text: "delivery temporarily suspended: " + final.text))
            }
        } else {
            MailLog.warning("transport \(delivery.job.transport) failure -- see a previous warning/fatal/panic logfile record for the problem description")
            outcome = .siteFailure(crashed)
        }
        let unanswered = delivery.job.recipients.filter { !delivery.replied.contains($0.offset) }
        ended(delivery.job, destination: delivery.destination, outcome: outcome, unanswered: unanswered)
    }

    /// A started job is over: feedback to the scheduler, deferral of what
    /// got no answer and of the jobs a dead destination or transport gives
    /// back.
    private func ended(_ job: DeliveryJob, destination: String, outcome: QmgrOutcome, unanswered: [QueueRecipient]) {
        let m = job.message
        var answer = QmgrSuspension(dsn: "4.3.0", text: "delivery temporarily suspended: unknown mail transport error")
        switch outcome {
        case .success: break
        case .siteFailure(let why), .transportFailure(let why): answer = why
        }
        for r in unanswered { decide(m, r, status: .deferred, dsn: answer.dsn, text: answer.text) }
        let (given, reason) = scheduler.finished(transport: job.transport, destination: destination, outcome: outcome,
                                                 now: EventLoop.now())
        jobEnded(m)
        guard let reason else { return }
        for other in given {
            for r in other.recipients { decide(other.message, r, status: .deferred, dsn: reason.dsn, text: reason.text) }
            jobEnded(other.message)
        }
    }

    private func jobEnded(_ m: ActiveMessage) {
        m.outstanding -= 1
        checkDone(m)
    }

    /// A message whose recipients have all been read and whose jobs have
    /// all ended is done with this pass.
    private func checkDone(_ m: ActiveMessage) {
        guard m.outstanding == 0, m.cursor == nil, messages[m.id] === m else { return }
        finishMessage(m)
    }

    // MARK: - the end of a message's pass

    private func finishMessage(_ m: ActiveMessage) {
        messages[m.id] = nil
        let path = directory.path(queue: "active", id: m.id)
        let now = Int(time(nil))
        let created = m.message.createTime ?? m.message.arrivalSeconds ?? now
        let forced = m.mode & 0o010 != 0
        if m.deferredCount > 0 && QmgrPolicy.expired(now: now, createTime: created, sender: m.sender,
                                                     maximalLifetime: settings.maximalLifetime,
                                                     bounceLifetime: settings.bounceLifetime, forced: forced) {
            MailLog.info("\(m.id): from=<\(m.sender)>, status=\(forced ? "force-expired" : "expired"), returned to sender")
            expire(m, path: path)
        }
        // Reports first (bounce/ and trace/ logfiles): the message leaves
        // the queue only once they are with cleanup.
        let reported = sendReports(m)
        if m.deferredCount == 0 && reported {
            remove(m, path: path)
            return
        }
        if m.deferredCount > 0 {
            sendDelayWarning(m, path: path)
            addToFlushLogs(m)
        }
        let next = now + QmgrPolicy.backoff(now: now, createTime: created, minimal: settings.minimalBackoff,
                                            maximal: settings.maximalBackoff)
        var times = [timespec(tv_sec: next, tv_nsec: 0), timespec(tv_sec: next, tv_nsec: 0)]
        if utimensat(AT_FDCWD, path, &times, 0) != 0 { MailLog.warning("\(m.id): set retry time: \(SystemError())") }
        let relative = directory.relativePath(queue: "deferred", id: m.id)
        makeParents(relative)
        if rename(path, directory.path + "/" + relative) != 0 {
            MailLog.warning("\(m.id): rename active to deferred: \(SystemError())")
        }
    }

    /// The recipients still undelivered go to the bounce log (with the
    /// reason of their last deferral, from defer/QID) and are marked done.
    private func expire(_ m: ActiveMessage, path: String) {
        let pending: [QueueRecipient]
        do {
            let file = try QueueFile.read(path: path, attributeLimit: Int.max)
            pending = (file.recipients + file.extractedRecipients).filter { $0.state == .pending }
        } catch {
            MailLog.warning("\(m.id): expire: \(error)")
            return
        }
        var reasons: [Int: (String, String)] = [:]
        for e in DeferLog.read(queue: DeferLog.deferQueue, id: m.id, directory: directory) {
            reasons[e.offset] = (e.status, e.reason)
        }
        let entries = pending.map { r -> DeferLogEntry in
            let (dsn, text) = reasons[r.offset] ?? ("4.4.7", "message expired")
            return DeferLogEntry(recipient: r.address, original: r.original ?? "", offset: r.offset,
                                 dsnOriginalRecipient: r.dsnOriginalRecipient ?? "", notifyFlags: r.notifyFlags ?? 0,
                                 status: dsn, action: "failed", reason: text)
        }
        var left = entries.count
        do {
            try DeferLog.append(entries, queue: DeferLog.bounceQueue, id: m.id, directory: directory)
            for r in entries {
                try QueueFile.markDone(path: path, offset: r.offset)
                left -= 1
            }
        } catch {
            MailLog.warning("\(m.id): expire: \(error)")
        }
        m.deferredCount = left
    }

    /// Tells the fast flush service which destinations the message is
    /// deferred for: one `add` per site of a deferred recipient (the
    /// recipients themselves are no longer in memory; nothing when
    /// fast_flush_domains is empty).
    private func addToFlushLogs(_ m: ActiveMessage) {
        guard flushClient.enabled else { return }
        for site in m.deferredSites {
            switch flushClient.add(site: site, queueID: m.id) {
            case .ok, .deny: break
            default: MailLog.warning("\(m.id): \(FlushProtocol.service) service failure")
            }
        }
    }

    private func remove(_ m: ActiveMessage, path: String) {
        if m.deferLogMayExist { DeferLog.remove(queue: DeferLog.deferQueue, id: m.id, directory: directory) }
        let size = m.message.size.map { $0.dataOffset + $0.contentSize } ?? Int.max
        if spareFiles.park(path: path, id: m.id, size: size) || unlink(path) == 0 || errno == ENOENT {
            MailLog.info("\(m.id): removed")
        } else {
            MailLog.warning("\(m.id): remove \(path): \(SystemError())")
        }
    }

    private func makeParents(_ relative: String) {
        let parts = relative.split(separator: "/").map(String.init)
        guard parts.count > 2 else { return }
        var current = directory.path + "/" + parts[0]
        for part in parts[1..<parts.count - 1] {
            current += "/" + part
            _ = mkdir(current, 0o700)
        }
    }
}
