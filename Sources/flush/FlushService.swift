// FlushService: one fast flush request (FlushProtocol) per connection:
// greeting, request, checks (eligible destination per fast_flush_domains,
// valid site and queue ID), the logfile work (FlushLogFile), one reply.
// refresh and purge reply first and then do the work.
import Glibc
import Util
import Global
import Tables

final class FlushService {
    let log: FlushLogFile
    /// fast_flush_domains; nil when the list could not be opened (FAIL).
    let domains: DomainMatchList?
    let refreshTime: Int
    let purgeTime: Int

    init(log: FlushLogFile, domains: DomainMatchList?, refreshTime: Int, purgeTime: Int) {
        self.log = log
        self.domains = domains
        self.refreshTime = refreshTime
        self.purgeTime = purgeTime
    }

    /// The request read from a client: a master wakeup or an attribute list.
    enum Incoming: Equatable {
        case wakeup
        case list(AttributeList)
    }

    /// Reads a request: a master wakeup is a lone "W" (optionally with a
    /// NUL); anything else is an attribute list.
    static func readRequest(_ stream: Stream) -> Incoming? {
        guard let first = try? stream.read(count: 1) else { return nil }
        if first == [UInt8(ascii: "W")] {
            if stream.bufferedCount == 0 || ((try? stream.read(count: 1)) == [0]) { return .wakeup }
        }
        if first == [0] { return .list(AttributeList()) }
        guard let restOfName = try? stream.read(until: 0, limit: 256) else { return nil }
        let nameBytes = first + restOfName
        guard nameBytes.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D }) else {
            MailLog.warning("bad attribute name: \"\(String(decoding: nameBytes, as: UTF8.self))\"")
            return nil
        }
        guard let value = try? stream.read(until: 0, limit: AttributeCodec.valueLimit),
              let rest = try? AttributeCodec.read(from: stream) else { return nil }
        var list = AttributeList([(String(decoding: nameBytes, as: UTF8.self), String(decoding: value, as: UTF8.self))])
        for (n, v) in rest.pairs { list.append(n, v) }
        return .list(list)
    }

    /// Serves one client.
    func serve(_ stream: Stream) {
        try? AttributeCodec.write(AttributeList([(FlushProtocol.Attribute.proto, FlushProtocol.protocolName)]), to: stream)
        guard let incoming = Self.readRequest(stream) else { return }
        switch incoming {
        case .wakeup:
            reply(.ok, stream)
            log.refresh(maxAge: refreshTime, purgeTime: purgeTime)
        case .list(let list):
            handle(list, stream)
        }
    }

    private func reply(_ status: FlushProtocol.Status, _ stream: Stream) {
        try? AttributeCodec.write(AttributeList([(FlushProtocol.Attribute.status, String(status.rawValue))]), to: stream)
    }

    private func require(_ list: AttributeList, _ name: String) -> String? {
        if let v = list[name] { return v }
        MailLog.warning("missing attribute \(name) in input from flush socket")
        return nil
    }

    func handle(_ list: AttributeList, _ stream: Stream) {
        guard let name = list[FlushProtocol.Attribute.request], let request = FlushProtocol.Request(rawValue: name) else {
            // Postfix's flush answers nothing to a request it does not know.
            return
        }
        switch request {
        case .add:
            guard let site = require(list, FlushProtocol.Attribute.site),
                  let id = require(list, FlushProtocol.Attribute.queueID) else { return reply(.bad, stream) }
            reply(add(site: site, queueID: id), stream)
        case .sendSite:
            guard let site = require(list, FlushProtocol.Attribute.site) else { return reply(.bad, stream) }
            reply(sendSite(site), stream)
        case .sendFile:
            guard let id = require(list, FlushProtocol.Attribute.queueID) else { return reply(.bad, stream) }
            reply(sendFile(id), stream)
        case .refresh:
            reply(.ok, stream)
            log.refresh(maxAge: refreshTime, purgeTime: purgeTime)
        case .purge:
            reply(.ok, stream)
            log.refresh(maxAge: 0, purgeTime: purgeTime)
        }
    }

    /// DENY for a destination not in fast_flush_domains, FAIL when the
    /// list cannot be searched.
    func eligible(_ site: String) -> FlushProtocol.Status? {
        guard let domains else { return .fail }
        do { return try domains.matches(site) ? nil : .deny } catch {
            MailLog.warning("fast_flush_domains: \(error)")
            return .fail
        }
    }

    func add(site: String, queueID: String) -> FlushProtocol.Status {
        guard QueueID.isValid(queueID) else { return .bad }
        let site = site.asciiLowercased()
        if let refused = eligible(site) { return refused }
        return log.add(name: FlushProtocol.logName(site: site), queueID: queueID)
    }

    func sendSite(_ site: String) -> FlushProtocol.Status {
        let site = site.asciiLowercased()
        if let refused = eligible(site) { return refused }
        return log.send(name: FlushProtocol.logName(site: site), mode: .unthrottleBefore)
    }

    func sendFile(_ id: String) -> FlushProtocol.Status {
        guard QueueID.isValid(id) else { return .bad }
        if log.flushOne(id, now: Int(time(nil)), mode: .unthrottleAfter) > 0 {
            Trigger.send([UInt8(ascii: "I")], to: log.qmgrPath)
        }
        return .ok
    }
}
