// AnvilClient: what smtpd (and postscreen) use to ask the anvil service
// for connection counts and rates (anvil(8)), over one long-lived
// connection to $queue_directory/private/anvil. A broken connection is
// reopened once per request; the anvil server counts a connect for as long
// as this client's connection stays open, so a process keeps one client.
import Glibc
import Util

public enum AnvilClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The service could not be reached or the connection broke.
    case unavailable(String)
    /// The server answered with a failure status or a malformed reply.
    case failed(String)

    public var description: String {
        switch self {
        case .unavailable(let text), .failed(let text): return text
        }
    }
}

public final class AnvilClient {
    public let socketPath: String
    /// Seconds each read or write may take ($ipc_timeout).
    public let timeout: Int32
    private var stream: Stream?

    public init(socketPath: String, timeout: Int32 = 3600) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// The client for the instance `config` describes.
    public convenience init(config: MailConfig) {
        let name = config.value("anvil_service_name")
        self.init(socketPath: config.value("queue_directory") + "/private/" + (name.isEmpty ? AnvilProtocol.service : name))
    }

    deinit { stream?.close() }

    /// The ident smtpd uses: "service:client address".
    public static func ident(service: String, client: String) -> String {
        service + ":" + client
    }

    /// Registers a connection; returns the concurrent count and the rate.
    public func connect(ident: String) throws(AnvilClientError) -> (count: Int, rate: Int) {
        let reply = try call(.connect, ident)
        guard let count = reply.count, let rate = reply.rate else { throw .failed("anvil: malformed connect reply") }
        return (count, rate)
    }

    public func disconnect(ident: String) throws(AnvilClientError) {
        _ = try call(.disconnect, ident)
    }

    /// Registers a message (MAIL FROM); returns the message rate.
    public func message(ident: String) throws(AnvilClientError) -> Int { try rate(.message, ident) }
    /// Registers a recipient; returns the recipient rate.
    public func recipient(ident: String) throws(AnvilClientError) -> Int { try rate(.recipient, ident) }
    /// Registers a new TLS session; returns the new-session rate.
    public func newTLS(ident: String) throws(AnvilClientError) -> Int { try rate(.newtls, ident) }
    /// The new-TLS-session rate, without counting one.
    public func newTLSReport(ident: String) throws(AnvilClientError) -> Int { try rate(.newtlsReport, ident) }
    /// Registers an AUTH command; returns the AUTH rate.
    public func auth(ident: String) throws(AnvilClientError) -> Int { try rate(.auth, ident) }

    /// Every counter for `ident`, without changing any.
    public func lookup(ident: String) throws(AnvilClientError) -> AnvilReply {
        try call(.lookup, ident)
    }

    public func close() {
        stream?.close()
        stream = nil
    }

    private func rate(_ request: AnvilProtocol.Request, _ ident: String) throws(AnvilClientError) -> Int {
        let reply = try call(request, ident)
        guard let rate = reply.rate else { throw .failed("anvil: malformed \(request.rawValue) reply") }
        return rate
    }

    /// Sends one request and reads its reply, reconnecting once when the
    /// connection turns out to be broken.
    private func call(_ request: AnvilProtocol.Request, _ ident: String) throws(AnvilClientError) -> AnvilReply {
        let list = AnvilProtocol.request(request, ident: ident)
        var attempt = 0
        while true {
            attempt += 1
            let stream = try open()
            do {
                try AttributeCodec.write(list, to: stream)
                var reply = try AttributeCodec.read(from: stream)
                if reply[AnvilProtocol.Attribute.proto] != nil && reply[AnvilProtocol.Attribute.status] == nil {
                    reply = try AttributeCodec.read(from: stream)
                }
                guard let decoded = AnvilReply.decode(reply) else { throw AttributeError.missing("status") }
                guard decoded.status == AnvilProtocol.statusOK else {
                    throw AnvilClientError.failed("anvil: \(request.rawValue) request failed")
                }
                return decoded
            } catch let error as AnvilClientError {
                throw error
            } catch let error as AttributeError {
                close()
                if case .stream(let e) = error, e != .timeout, attempt == 1 { continue }
                throw .unavailable("anvil: \(socketPath): \(error)")
            } catch {
                close()
                throw .unavailable("anvil: \(socketPath): \(error)")
            }
        }
    }

    private func open() throws(AnvilClientError) -> Stream {
        if let stream { return stream }
        // A server that went away must be an error to retry, not a SIGPIPE.
        Socket.ignoreBrokenPipe()
        do {
            let fd = try Socket.connectUnix(socketPath)
            let s = Stream(fd: fd, timeout: timeout)
            stream = s
            return s
        } catch {
            throw .unavailable("connect to \(socketPath): \(error)")
        }
    }
}
