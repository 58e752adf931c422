// QueueManager: qmgr's active queue and its event loop: feeds files from
// incoming (on triggers) and deferred (every queue_run_delay) into active,
// resolves and batches recipients per destination, sends delivery requests
// with per-destination concurrency, and decides each message's fate (reports
// sent through the bounce daemon, removed, deferred with backoff and a delay
// warning, expired) once its last request has ended.
import Glibc
import Util
import Global

struct QmgrSettings {
    var queueRunDelay: Int
    var minimalBackoff: Int
    var maximalBackoff: Int
    var maximalLifetime: Int
    var bounceLifetime: Int
    var initialConcurrency: Int
    var defaultConcurrencyLimit: Int
    var defaultRecipientLimit: Int
    var activeLimit: Int
    var ipcTimeout: Int
    var deferTransports: Set<String>
    var defaultFilterNexthop: String
    var config: MailConfig

    /// `<transport>_<suffix>` when set to a number, else `fallback`.
    func perTransport(_ transport: String, _ suffix: String, fallback: Int) -> Int {
        let text = config.value(transport + "_" + suffix)
        return Int(text) ?? fallback
    }
}

/// A message in the active queue.
final class ActiveMessage {
    let id: String
    let message: QueueMessage
    let mode: mode_t
    let activeTime: Double
    let flushAll: Bool
    /// Recipients not yet final, by R-record offset.
    var pending: [Int: QueueRecipient] = [:]
    /// Last deferral per offset (dsn, text), for expiry.
    var deferrals: [Int: (String, String)] = [:]
    var outstanding = 0

    init(id: String, message: QueueMessage, mode: mode_t, activeTime: Double, flushAll: Bool) {
        self.id = id
        self.message = message
        self.mode = mode
        self.activeTime = activeTime
        self.flushAll = flushAll
    }

    var arrival: Double {
        Double(message.arrivalSeconds ?? message.createTime ?? 0) + Double(message.arrivalMicroseconds ?? 0) / 1e6
    }
    var sender: String { message.sender ?? "" }
}

struct DeliveryJob {
    let message: ActiveMessage
    let transport: String
    let nexthop: String
    let recipients: [QueueRecipient]
}

final class Destination {
    var window: DestinationWindow
    var jobs: [DeliveryJob] = []
    init(window: DestinationWindow) { self.window = window }
}

/// A delivery request in flight.
final class Delivery {
    let job: DeliveryJob
    let key: String
    let stream: Stream
    var replied: Set<Int> = []
    init(job: DeliveryJob, key: String, stream: Stream) {
        self.job = job
        self.key = key
        self.stream = stream
    }
}

final class QueueManager {
    let settings: QmgrSettings
    let directory: QueueDirectory
    let rewrite: RewriteClient
    let triggerFD: Int32
    let triggerIsFifo: Bool
    let hasMaster: Bool
    var requests = QmgrTriggers()
    var lastDeferredScan = 0.0
    var messages: [String: ActiveMessage] = [:]
    var destinations: [String: Destination] = [:]
    var deliveries: [Int32: Delivery] = [:]
    /// The bounce daemon's three services (QmgrNotices).
    let bounceClient: BounceClient
    let deferClient: BounceClient
    let traceClient: BounceClient

    init(settings: QmgrSettings, directory: QueueDirectory, rewrite: RewriteClient, triggerFD: Int32, triggerIsFifo: Bool,
         hasMaster: Bool) {
        self.settings = settings
        self.directory = directory
        self.rewrite = rewrite
        let timeout = Int32(max(1, settings.ipcTimeout))
        bounceClient = BounceClient(service: .flush, config: settings.config, timeout: timeout)
        deferClient = BounceClient(service: .warn, config: settings.config, timeout: timeout)
        traceClient = BounceClient(service: .trace, config: settings.config, timeout: timeout)
        self.triggerFD = triggerFD
        self.triggerIsFifo = triggerIsFifo
        self.hasMaster = hasMaster
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
        if hasMaster {
            var generation = 0
            if let text = getenv("GENERATION"), let n = Int(String(cString: text)) { generation = n }
            let record = MasterProtocol.Record(pid: getpid(), generation: generation, status: .available).encoded()
            _ = record.withUnsafeBytes { write(MasterProtocol.statusFD, $0.baseAddress, $0.count) }
        }
        requests = QmgrTriggers.parse(first)
        requests.scanIncoming = true
        while true {
            let now = EventLoop.now()
            if now - lastDeferredScan >= Double(settings.queueRunDelay) { requests.scanDeferred = true }
            if requests.flushDead { requests.flushDead = false }
            if requests.scanIncoming {
                requests.scanIncoming = false
                feed(queue: "incoming", all: false)
            }
            if requests.scanDeferred {
                let all = requests.scanAll
                requests.scanDeferred = false
                requests.scanAll = false
                lastDeferredScan = now
                feed(queue: "deferred", all: all)
            }
            dispatch()
            wait()
        }
    }

    /// Polls the trigger endpoint, master's status pipe and the agents.
    private func wait() {
        var fds = [pollfd(fd: triggerFD, events: Int16(POLLIN), revents: 0)]
        if hasMaster { fds.append(pollfd(fd: MasterProtocol.statusFD, events: 0, revents: 0)) }
        let agentFDs = Array(deliveries.keys)
        for fd in agentFDs { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
        let untilScan = Double(settings.queueRunDelay) - (EventLoop.now() - lastDeferredScan)
        let timeout = Int32(max(10, min(60_000, untilScan * 1000 + 10)))
        let rc = poll(&fds, nfds_t(fds.count), timeout)
        if rc < 0 {
            if errno == EINTR { return }
            MailLog.fatal("poll: \(SystemError())")
        }
        if hasMaster && fds[1].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { exit(0) }
        if fds[0].revents != 0 { readTriggers() }
        let base = hasMaster ? 2 : 1
        for (i, fd) in agentFDs.enumerated() where fds[base + i].revents != 0 {
            finishDelivery(fd)
        }
    }

    private func readTriggers() {
        var buffer = [UInt8](repeating: 0, count: 1024)
        var fd = triggerFD
        if !triggerIsFifo {
            fd = Glibc.accept(triggerFD, nil, nil)
            if fd < 0 { return }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, 1000)
        }
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if !triggerIsFifo { close(fd) }
        if n > 0 { requests.merge(QmgrTriggers.parse(Array(buffer[0..<n]))) }
    }

    // MARK: - feeding the active queue

    /// Moves ready files of `queue` into active and loads them.
    private func feed(queue: String, all: Bool) {
        let now = Int(time(nil))
        for entry in QueueScanner.scan(directory, queue: queue) {
            if messages.count >= settings.activeLimit { return }
            if !all && entry.mtime > now + 1 { continue }
            let target = directory.path(queue: "active", id: entry.id)
            guard rename(entry.path, target) == 0 else {
                if errno != ENOENT { MailLog.warning("\(entry.id): rename \(queue) to active: \(SystemError())") }
                continue
            }
            if queue == "deferred" { DeferLog.remove(queue: DeferLog.deferQueue, id: entry.id, directory: directory) }
            load(id: entry.id, mode: entry.mode, flushAll: all)
        }
    }

    private func load(id: String, mode: mode_t, flushAll: Bool) {
        let path = directory.path(queue: "active", id: id)
        let parsed: QueueMessage
        do {
            parsed = try QueueFile.read(path: path)
            guard parsed.size != nil else { throw QueueFileError.corrupt("missing size record") }
        } catch {
            MailLog.warning("\(id): \(error)")
            saveCorrupt(id: id)
            return
        }
        let active = ActiveMessage(id: id, message: parsed, mode: mode, activeTime: DeliveryStatusLog.now(), flushAll: flushAll)
        let size = parsed.size.map { $0.contentLength > 0 ? $0.contentLength : $0.contentSize } ?? 0
        MailLog.info("\(id): from=<\(active.sender)>, size=\(size), nrcpt=\(parsed.size?.recipientCount ?? 0) (queue active)")
        messages[id] = active
        let recipients = (parsed.recipients + parsed.extractedRecipients).filter { $0.state == .pending }
        for r in recipients { active.pending[r.offset] = r }
        route(active, recipients)
        if active.outstanding == 0 { finishMessage(active) }
    }

    private func saveCorrupt(id: String) {
        MailLog.warning("saving corrupt file \"\(id)\" from queue \"active\" to queue \"corrupt\"")
        let target = directory.path(queue: "corrupt", id: id)
        if rename(directory.path(queue: "active", id: id), target) != 0 {
            MailLog.warning("\(id): rename active to corrupt: \(SystemError())")
        }
    }

    /// Resolves each recipient and queues delivery requests per destination.
    private func route(_ active: ActiveMessage, _ recipients: [QueueRecipient]) {
        let filter = active.message.contentFilter ?? active.message.extractedContentFilter
        var groups: [String: (String, String, [QueueRecipient])] = [:]
        var order: [String] = []
        for r in recipients {
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
            let key = transport + "\0" + nexthop
            if groups[key] == nil { groups[key] = (transport, nexthop, []); order.append(key) }
            groups[key]!.2.append(r)
        }
        for key in order {
            let (transport, nexthop, list) = groups[key]!
            let limit = settings.perTransport(transport, "destination_recipient_limit", fallback: settings.defaultRecipientLimit)
            let destination = destinations[key] ?? Destination(window: DestinationWindow(
                initial: settings.perTransport(transport, "initial_destination_concurrency", fallback: settings.initialConcurrency),
                limit: settings.perTransport(transport, "destination_concurrency_limit", fallback: settings.defaultConcurrencyLimit)))
            destinations[key] = destination
            for batch in QmgrPolicy.batches(list, limit: limit) {
                destination.jobs.append(DeliveryJob(message: active, transport: transport, nexthop: nexthop, recipients: batch))
                active.outstanding += 1
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
                active.pending[r.offset] = nil
            } catch {
                MailLog.warning("\(active.id): \(error)")
                status = .deferred
            }
        }
        if status == .deferred {
            try? DeferLog.append([entry], queue: DeferLog.deferQueue, id: active.id, directory: directory)
            active.deferrals[r.offset] = (dsn, text)
        }
        let now = DeliveryStatusLog.now()
        let times = DeliveryStatusLog.Times(arrival: active.arrival, active: active.activeTime, handoff: now, done: now)
        DeliveryStatusLog.log(queueID: active.id, recipient: r.address, original: r.original, relay: "none",
                              times: times, dsn: dsn, status: status.rawValue, text: text)
    }

    // MARK: - deliveries

    private func dispatch() {
        for (key, destination) in destinations {
            while destination.window.canStart, !destination.jobs.isEmpty {
                let job = destination.jobs.removeFirst()
                start(job, key: key, destination: destination)
            }
            if destination.jobs.isEmpty && destination.window.inFlight == 0 { destinations[key] = nil }
        }
    }

    private func start(_ job: DeliveryJob, key: String, destination: Destination) {
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
        let fd: Int32
        do { fd = try Socket.connectUnix("private/" + job.transport) } catch {
            MailLog.warning("connect to transport private/\(job.transport): \(error)")
            destination.window.started()
            destination.window.finished(failed: true)
            for r in job.recipients { decide(m, r, status: .deferred, dsn: "4.3.0", text: "mail transport unavailable") }
            jobEnded(m)
            return
        }
        let stream = Stream(fd: fd, timeout: Int32(max(1, settings.ipcTimeout)))
        do { try AttributeCodec.write(request.encoded(), to: stream) } catch {
            stream.close()
            destination.window.started()
            destination.window.finished(failed: true)
            for r in job.recipients { decide(m, r, status: .deferred, dsn: "4.3.0", text: "mail transport unavailable") }
            jobEnded(m)
            return
        }
        destination.window.started()
        deliveries[fd] = Delivery(job: job, key: key, stream: stream)
    }

    /// Reads an agent's replies (it sends them all before it closes).
    private func finishDelivery(_ fd: Int32) {
        guard let delivery = deliveries.removeValue(forKey: fd) else { return }
        let m = delivery.job.message
        var failed = false
        while true {
            let list: AttributeList
            do { list = try AttributeCodec.read(from: delivery.stream) } catch { failed = true; break }
            let reply: DeliveryReply?
            do { reply = try DeliveryReply.decode(list) } catch { failed = true; break }
            guard let reply else {
                if list.int("status") != 0 { failed = true }
                break
            }
            delivery.replied.insert(reply.offset)
            switch reply.status {
            case .sent, .bounced: m.pending[reply.offset] = nil
            case .deferred: m.deferrals[reply.offset] = (reply.dsn, reply.text)
            }
        }
        delivery.stream.close()
        for r in delivery.job.recipients where !delivery.replied.contains(r.offset) {
            decide(m, r, status: .deferred, dsn: "4.3.0",
                   text: "delivery temporarily suspended: unknown mail transport error")
        }
        destinations[delivery.key]?.window.finished(failed: failed)
        jobEnded(m)
    }

    private func jobEnded(_ m: ActiveMessage) {
        m.outstanding -= 1
        if m.outstanding == 0 { finishMessage(m) }
    }

    // MARK: - the end of a message's pass

    private func finishMessage(_ m: ActiveMessage) {
        messages[m.id] = nil
        let path = directory.path(queue: "active", id: m.id)
        let now = Int(time(nil))
        let created = m.message.createTime ?? m.message.arrivalSeconds ?? now
        let forced = m.mode & 0o010 != 0
        if !m.pending.isEmpty && QmgrPolicy.expired(now: now, createTime: created, sender: m.sender,
                                                    maximalLifetime: settings.maximalLifetime,
                                                    bounceLifetime: settings.bounceLifetime, forced: forced) {
            MailLog.info("\(m.id): from=<\(m.sender)>, status=\(forced ? "force-expired" : "expired"), returned to sender")
            // The undelivered recipients go to the bounce log (for the bounce
            // daemon's report) and are marked done.
            let entries = m.pending.values.sorted { $0.offset < $1.offset }.map { r -> DeferLogEntry in
                let (dsn, text) = m.deferrals[r.offset] ?? ("4.4.7", "message expired")
                return DeferLogEntry(recipient: r.address, original: r.original ?? "", offset: r.offset,
                                     dsnOriginalRecipient: r.dsnOriginalRecipient ?? "", notifyFlags: r.notifyFlags ?? 0,
                                     status: dsn, action: "failed", reason: text)
            }
            do {
                try DeferLog.append(entries, queue: DeferLog.bounceQueue, id: m.id, directory: directory)
                for r in entries {
                    try QueueFile.markDone(path: path, offset: r.offset)
                    m.pending[r.offset] = nil
                }
            } catch {
                MailLog.warning("\(m.id): expire: \(error)")
            }
        }
        // Reports first (bounce/ and trace/ logfiles): the message leaves
        // the queue only once they are with cleanup.
        let reported = sendReports(m)
        if m.pending.isEmpty && reported {
            remove(m, path: path)
            return
        }
        if !m.pending.isEmpty { sendDelayWarning(m, path: path) }
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

    private func remove(_ m: ActiveMessage, path: String) {
        DeferLog.remove(queue: DeferLog.deferQueue, id: m.id, directory: directory)
        if unlink(path) == 0 || errno == ENOENT {
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
