// BounceClient: how qmgr and delivery agents talk to the bounce daemon
// (BounceProtocol): connect to private/<bounce|defer|trace service>, send
// one request, read `status`. Any failure to reach the daemon or a
// non-zero status is `.failed`: the caller keeps the message and tries
// again later, so nothing is lost.
import Glibc
import Util

public enum BounceClientError: Error, Equatable, Sendable, CustomStringConvertible {
    case failed(String)

    public var description: String {
        switch self { case .failed(let text): return text }
    }
}

public struct BounceClient: Sendable {
    /// Socket path of the service (relative to the queue directory for
    /// daemons that chdir there, as qmgr does).
    public let socketPath: String
    public let timeout: Int32

    public init(socketPath: String, timeout: Int32 = 3600) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// The bounce, defer or trace service of `config`; `base` is the
    /// queue directory prefix ("" for a process that runs in it).
    public init(service: BounceProtocol.Command, config: MailConfig, base: String = "", timeout: Int32 = 3600) {
        let parameter: String
        let fallback: String
        switch service {
        case .warn: (parameter, fallback) = ("defer_service_name", BounceProtocol.deferService)
        case .trace: (parameter, fallback) = ("trace_service_name", BounceProtocol.traceService)
        default: (parameter, fallback) = ("bounce_service_name", BounceProtocol.bounceService)
        }
        let name = config.value(parameter)
        self.init(socketPath: base + "private/" + (name.isEmpty ? fallback : name), timeout: timeout)
    }

    /// Sends one request and returns when the daemon has answered 0.
    public func send(_ request: AttributeList) throws(BounceClientError) {
        Socket.ignoreBrokenPipe()
        let fd: Int32
        do { fd = try Socket.connectUnix(socketPath) } catch {
            throw .failed("connect to \(socketPath): \(error)")
        }
        let stream = Stream(fd: fd, timeout: max(1, timeout))
        defer { stream.close() }
        let reply: AttributeList
        do {
            try AttributeCodec.write(request, to: stream)
            reply = try AttributeCodec.read(from: stream)
        } catch {
            throw .failed("\(socketPath): \(error)")
        }
        guard let status = reply.int(BounceProtocol.Attribute.status) else {
            throw .failed("\(socketPath): malformed reply: \(reply)")
        }
        guard status == 0 else { throw .failed("\(socketPath): request failed (status \(status))") }
    }

    public func notify(_ request: BounceNotifyRequest) throws(BounceClientError) {
        try send(request.encoded())
    }

    public func append(_ request: BounceAppendRequest) throws(BounceClientError) {
        try send(request.encoded())
    }
}
