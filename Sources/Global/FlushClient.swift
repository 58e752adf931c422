// FlushClient: how qmgr, postqueue and smtpd talk to the fast flush
// service (FlushProtocol) on public/<flush_service_name>: one connection
// per request; the server's protocol greeting is skipped. Any failure to
// reach the service or a malformed reply is FAIL, with the reason in
// `lastError` ("connect to public/flush: Connection refused") for the
// caller's warning. Callers decide eligibility (fast_flush_domains) first:
// `add` with an empty fast_flush_domains is DENY without a connection.
import Glibc
import Util

public final class FlushClient {
    /// Socket path (relative to the queue directory for daemons that run
    /// in it, absolute for commands).
    public let socketPath: String
    /// What the warning calls the service ("public/flush").
    public let serviceLabel: String
    public let timeout: Int32
    /// fast_flush_domains is not empty.
    public let enabled: Bool
    /// Why the last request failed.
    public private(set) var lastError = ""

    public init(socketPath: String, serviceLabel: String, timeout: Int32, enabled: Bool = true) {
        self.socketPath = socketPath
        self.serviceLabel = serviceLabel
        self.timeout = timeout
        self.enabled = enabled
    }

    /// The flush service of `config`; `base` is the queue directory prefix
    /// ("" for a process that runs in it).
    public convenience init(config: MailConfig, base: String = "", timeout: Int32? = nil) {
        let name = config.value("flush_service_name")
        let label = "public/" + (name.isEmpty ? FlushProtocol.service : name)
        let ipc = Int32(clamping: ValueChecker.seconds(config.value("ipc_timeout"), defaultUnit: "s") ?? 3600)
        self.init(socketPath: base + label, serviceLabel: label, timeout: timeout ?? max(1, ipc),
                  enabled: !config.value("fast_flush_domains").split(whereSeparator: { " ,\t\n".contains($0) }).isEmpty)
    }

    /// Appends `queueID` to the logfile of `site`.
    public func add(site: String, queueID: String) -> FlushProtocol.Status {
        guard enabled else { return .deny }
        return request(.add, [(FlushProtocol.Attribute.site, site), (FlushProtocol.Attribute.queueID, queueID)])
    }

    /// Asks for delivery of the mail deferred for `site`.
    public func sendSite(_ site: String) -> FlushProtocol.Status {
        request(.sendSite, [(FlushProtocol.Attribute.site, site)])
    }

    /// Asks for delivery of one deferred message.
    public func sendFile(queueID: String) -> FlushProtocol.Status {
        request(.sendFile, [(FlushProtocol.Attribute.queueID, queueID)])
    }

    public func refresh() -> FlushProtocol.Status { request(.refresh, []) }

    public func purge() -> FlushProtocol.Status { request(.purge, []) }

    private func request(_ kind: FlushProtocol.Request, _ attributes: [(String, String)]) -> FlushProtocol.Status {
        Socket.ignoreBrokenPipe()
        lastError = ""
        let fd: Int32
        do { fd = try Socket.connectUnix(socketPath) } catch {
            lastError = "connect to \(serviceLabel): \(error)"
            return .fail
        }
        let stream = Stream(fd: fd, timeout: max(1, timeout))
        defer { stream.close() }
        var list = AttributeList([(FlushProtocol.Attribute.request, kind.rawValue)])
        for (name, value) in attributes { list.append(name, value) }
        do {
            try AttributeCodec.write(list, to: stream)
            var reply = try AttributeCodec.read(from: stream)
            if reply[FlushProtocol.Attribute.proto] != nil && reply[FlushProtocol.Attribute.status] == nil {
                reply = try AttributeCodec.read(from: stream)
            }
            guard let code = reply.int(FlushProtocol.Attribute.status) else {
                lastError = "\(serviceLabel): malformed reply"
                return .fail
            }
            return FlushProtocol.Status(rawValue: code) ?? .fail
        } catch {
            lastError = "\(serviceLabel): \(error)"
            return .fail
        }
    }
}
