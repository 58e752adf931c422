// ProxyTable: `proxy:type:name`, a table looked up through the proxymap
// service (or proxywrite, for a table opened writable and for every
// update and delete) over $queue_directory/private/SERVICE. The open
// request goes out once, when the table is opened, so a table the server
// does not approve fails at open time as Postfix's client does; lookups
// follow over the same connection, which is reopened once (with a new
// open request) when it turns out broken. The server folds keys (the
// FOLD_FIX flag) for table types that fold, so keys go out as given.
import Glibc
import Util
import Global

public final class ProxyTable: UpdatableTable {
    public let reference: String
    /// `type:name` of the table the server opens.
    public let inner: String
    /// The server decides the case of keys (see the FOLD_FIX flag).
    public var keyCase: KeyCase { .asGiven }
    public private(set) var isPatternTable = false

    private let readConnection: ProxyConnection
    private let writeConnection: ProxyConnection
    private let writable: Bool

    /// Flags every request carries: fold keys for tables that fold.
    static let requestFlags: ProxyProtocol.DictFlags = [.foldFixed]

    public init(type: String, name: String, context: TableContext) throws(LookupError) {
        reference = type + ":" + name
        inner = name
        guard let innerReference = TableReference.parse(name) else {
            throw .configuration("need dictionary_type:dictionary_name format: \"\(name)\"")
        }
        if innerReference.type == "proxy" {
            throw .configuration("\(reference): proxy map must not be used with another proxy map")
        }
        let config = context.config
        let queueDirectory = config?.value("queue_directory") ?? "/var/spool/postfix"
        func service(_ parameter: String, _ fallback: String) -> String {
            let value = config?.value(parameter) ?? ""
            return value.isEmpty ? fallback : value
        }
        let timeout = ProxyTable.seconds(config?.value("ipc_timeout") ?? "", fallback: 3600)
        let readService = service("proxymap_service_name", ProxyProtocol.readService)
        let writeService = service("proxywrite_service_name", ProxyProtocol.writeService)
        readConnection = ProxyConnection(service: readService, path: queueDirectory + "/private/" + readService,
                                         table: name, timeout: timeout)
        writeConnection = ProxyConnection(service: writeService, path: queueDirectory + "/private/" + writeService,
                                          table: name, timeout: timeout)
        writable = context.writable
        let flags = try (writable ? writeConnection : readConnection).open()
        isPatternTable = flags.contains(.pattern)
    }

    /// A time value as `ipc_timeout` writes it ("3600s", "1h", "60").
    static func seconds(_ text: String, fallback: Int32) -> Int32 {
        var digits = Substring(text)
        var scale: Int32 = 1
        if let unit = digits.last, unit.isLetter {
            switch unit {
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            case "d": scale = 86400
            case "w": scale = 604800
            default: return fallback
            }
            digits = digits.dropLast()
        }
        guard let n = Int32(digits), n > 0 else { return fallback }
        let (product, overflow) = n.multipliedReportingOverflow(by: scale)
        return overflow ? fallback : product
    }

    private var lookupConnection: ProxyConnection { writable ? writeConnection : readConnection }

    public func lookup(_ key: String) throws(LookupError) -> String? {
        let reply = try lookupConnection.call(ProxyProtocol.lookupRequest(table: inner, flags: ProxyTable.requestFlags, key: key))
        switch reply.status {
        case .ok: return reply.value ?? ""
        case .noKey: return nil
        default: throw failure(reply.status, connection: lookupConnection, operation: "lookup")
        }
    }

    public func update(_ key: String, _ value: String) throws(LookupError) {
        let request = ProxyProtocol.updateRequest(table: inner, flags: ProxyTable.requestFlags, key: key, value: value)
        let reply = try writeConnection.call(request)
        guard reply.status == .ok else { throw failure(reply.status, connection: writeConnection, operation: "update") }
    }

    public func delete(_ key: String) throws(LookupError) -> Bool {
        let reply = try writeConnection.call(ProxyProtocol.deleteRequest(table: inner, flags: ProxyTable.requestFlags, key: key))
        switch reply.status {
        case .ok: return true
        case .noKey: return false
        default: throw failure(reply.status, connection: writeConnection, operation: "delete")
        }
    }

    public func entries() throws(LookupError) -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = []
        var function = ProxyProtocol.SequenceFunction.first
        while true {
            let request = ProxyProtocol.sequenceRequest(table: inner, flags: ProxyTable.requestFlags, function: function)
            let reply = try lookupConnection.call(request)
            switch reply.status {
            case .ok: result.append((reply.key ?? "", reply.value ?? ""))
            case .noKey: return result
            default: throw failure(reply.status, connection: lookupConnection, operation: "sequence")
            }
            function = .next
        }
    }

    private func failure(_ status: ProxyProtocol.Status, connection: ProxyConnection, operation: String) -> LookupError {
        ProxyConnection.error(for: status, service: connection.service, table: inner, operation: operation)
    }
}

/// One connection to a proxymap service for one table.
final class ProxyConnection {
    let service: String
    let path: String
    let table: String
    let timeout: Int32
    private var stream: Stream?
    private var opened = false

    init(service: String, path: String, table: String, timeout: Int32) {
        self.service = service
        self.path = path
        self.table = table
        self.timeout = timeout
    }

    deinit { stream?.close() }

    /// The LookupError for a status other than ok and noKey.
    static func error(for status: ProxyProtocol.Status, service: String, table: String, operation: String) -> LookupError {
        switch status {
        case .deny: return .configuration("\(service) service is not configured for table \"\(table)\"")
        case .bad: return .configuration("\(service) service: malformed \(operation) request for table \"\(table)\"")
        case .config: return .configuration("\(service) service: configuration error for table \"\(table)\"")
        case .ok, .noKey, .retry: return .temporary("\(service) service: table \"\(table)\": \(operation) failed")
        }
    }

    /// Sends the open request; returns the table's flags.
    @discardableResult
    func open() throws(LookupError) -> ProxyProtocol.DictFlags {
        let reply: ProxyReply
        do {
            reply = try exchange(ProxyProtocol.openRequest(table: table, flags: ProxyTable.requestFlags), retry: true)
        } catch {
            throw error.lookupError
        }
        guard reply.status == .ok else {
            throw ProxyConnection.error(for: reply.status, service: service, table: table, operation: "open")
        }
        opened = true
        return reply.flags ?? []
    }

    /// Sends `request` (opening the table first when this connection has
    /// not), reconnecting once when the connection is broken.
    func call(_ request: AttributeList) throws(LookupError) -> ProxyReply {
        if !opened { try open() }
        var brokenOnce = false
        do {
            return try exchange(request, retry: false)
        } catch {
            guard case .broken = error else { throw error.lookupError }
            brokenOnce = true
        }
        precondition(brokenOnce)
        try open()
        do {
            return try exchange(request, retry: false)
        } catch {
            throw error.lookupError
        }
    }

    enum ExchangeError: Error {
        case broken(String)
        case unreachable(String)
        case protocolError(String)

        var lookupError: LookupError {
            switch self {
            case .broken(let text), .unreachable(let text), .protocolError(let text): return .temporary(text)
            }
        }
    }

    private func exchange(_ request: AttributeList, retry: Bool) throws(ExchangeError) -> ProxyReply {
        if retry {
            do { return try exchangeOnce(request) } catch .broken {
                return try exchangeOnce(request)
            }
        }
        return try exchangeOnce(request)
    }

    /// Throws .broken when the connection failed and a new one may help.
    private func exchangeOnce(_ request: AttributeList) throws(ExchangeError) -> ProxyReply {
        let stream = try connect()
        do {
            try AttributeCodec.write(request, to: stream)
            var reply = try AttributeCodec.read(from: stream)
            if ProxyProtocol.isGreeting(reply) { reply = try AttributeCodec.read(from: stream) }
            guard let decoded = ProxyReply.decode(reply) else {
                disconnect()
                throw ExchangeError.protocolError("\(service) service: malformed reply: \(reply)")
            }
            return decoded
        } catch let error as ExchangeError {
            throw error
        } catch {
            disconnect()
            let text = "\(service) service: \(path): \(error)"
            if case .stream(let e) = error as? AttributeError, e == .timeout { throw .protocolError(text) }
            throw .broken(text)
        }
    }

    private func connect() throws(ExchangeError) -> Stream {
        if let stream { return stream }
        Socket.ignoreBrokenPipe()
        do {
            let fd = try Socket.connectUnix(path)
            let s = Stream(fd: fd, timeout: timeout)
            stream = s
            return s
        } catch {
            throw .unreachable("connect to \(path): \(error)")
        }
    }

    private func disconnect() {
        stream?.close()
        stream = nil
        opened = false
    }
}
