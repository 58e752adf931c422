// ProxyProtocol: the requests and replies of the proxymap and proxywrite
// services (proxymap(8)), shared by the server and the `proxy:` table
// client. Every message is an AttributeList in the attr0 wire form
// (docs/internal-protocol.md). The attribute names, request names, status
// codes and flag bits are Postfix 3.7's, as observed on the wire.
//
// Requests (client to server) and replies (server to client):
//
//   request=open     table=TYPE:NAME flags=N            -> status=S flags=N
//   request=lookup   table=TYPE:NAME flags=N key=K      -> status=S value=V
//   request=update   table=TYPE:NAME flags=N key=K value=V -> status=S
//   request=delete   table=TYPE:NAME flags=N key=K      -> status=S
//   request=sequence table=TYPE:NAME flags=N function=F -> status=S key=K value=V
//
// `flags` are Postfix's dictionary flags (DictFlags); the client's
// FOLD_FIX bit asks the server to lower-case the key for tables that fold.
// The open reply's flags tell a pattern table (PATTERN) from a fixed-string
// table (FIXED). `function` is 0 for the first entry and 1 for the next.
// A missing or unknown request is answered with status BAD; a table that is
// not listed in $proxy_read_maps (proxymap) or $proxy_write_maps
// (proxywrite) with status DENY. Postfix 3.7's server also sends
// `protocol=proxymap_protocol` when a client connects; Posthorn's server
// does not, and Posthorn's client skips that list when it sees it.

/// Names and codes of the proxymap protocol.
public enum ProxyProtocol {
    /// The read-only service (`$proxymap_service_name`).
    public static let readService = "proxymap"
    /// The read-write service (`$proxywrite_service_name`).
    public static let writeService = "proxywrite"

    /// Attribute names.
    public enum Attribute {
        public static let request = "request"
        public static let table = "table"
        public static let flags = "flags"
        public static let key = "key"
        public static let value = "value"
        public static let status = "status"
        public static let function = "function"
        /// The server's greeting (`protocol=proxymap_protocol`) in Postfix.
        public static let proto = "protocol"
    }

    /// The request names.
    public enum Request: String, Sendable, CaseIterable {
        case open, lookup, update, delete, sequence
    }

    /// Request completion status.
    public enum Status: Int, Sendable, Equatable {
        /// Found, done.
        case ok = 0
        /// Not found (lookup, delete, end of sequence).
        case noKey = 1
        /// Try again later: the table failed.
        case retry = 2
        /// Malformed request.
        case bad = 3
        /// The table is not approved for this service.
        case deny = 4
        /// The table's configuration is broken.
        case config = 5
    }

    /// The `function` of a sequence request.
    public enum SequenceFunction: Int, Sendable {
        case first = 0
        case next = 1
    }

    /// Postfix's dictionary flag bits that travel in `flags`.
    public struct DictFlags: OptionSet, Sendable, Hashable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let duplicateWarn = DictFlags(rawValue: 1 << 0)
        public static let duplicateIgnore = DictFlags(rawValue: 1 << 1)
        public static let tryNoNull = DictFlags(rawValue: 1 << 2)
        public static let tryNull = DictFlags(rawValue: 1 << 3)
        public static let fixed = DictFlags(rawValue: 1 << 4)
        public static let pattern = DictFlags(rawValue: 1 << 5)
        public static let lock = DictFlags(rawValue: 1 << 6)
        public static let duplicateReplace = DictFlags(rawValue: 1 << 7)
        public static let syncUpdate = DictFlags(rawValue: 1 << 8)
        public static let noRegsub = DictFlags(rawValue: 1 << 11)
        public static let foldFixed = DictFlags(rawValue: 1 << 14)
        public static let foldMultiple = DictFlags(rawValue: 1 << 15)
        public static let utf8Request = DictFlags(rawValue: 1 << 19)

        /// The bits a client may set per request (Postfix's request mask).
        public static let requestMask: DictFlags = [.duplicateWarn, .duplicateIgnore, .duplicateReplace, .lock,
                                                    .syncUpdate, .noRegsub, .foldFixed, .foldMultiple, .utf8Request]
    }

    // MARK: - Building requests (client side)

    public static func openRequest(table: String, flags: DictFlags) -> AttributeList {
        AttributeList([(Attribute.request, Request.open.rawValue), (Attribute.table, table),
                       (Attribute.flags, String(flags.rawValue))])
    }

    public static func lookupRequest(table: String, flags: DictFlags, key: String) -> AttributeList {
        AttributeList([(Attribute.request, Request.lookup.rawValue), (Attribute.table, table),
                       (Attribute.flags, String(flags.rawValue)), (Attribute.key, key)])
    }

    public static func updateRequest(table: String, flags: DictFlags, key: String, value: String) -> AttributeList {
        AttributeList([(Attribute.request, Request.update.rawValue), (Attribute.table, table),
                       (Attribute.flags, String(flags.rawValue)), (Attribute.key, key), (Attribute.value, value)])
    }

    public static func deleteRequest(table: String, flags: DictFlags, key: String) -> AttributeList {
        AttributeList([(Attribute.request, Request.delete.rawValue), (Attribute.table, table),
                       (Attribute.flags, String(flags.rawValue)), (Attribute.key, key)])
    }

    public static func sequenceRequest(table: String, flags: DictFlags, function: SequenceFunction) -> AttributeList {
        AttributeList([(Attribute.request, Request.sequence.rawValue), (Attribute.table, table),
                       (Attribute.flags, String(flags.rawValue)), (Attribute.function, String(function.rawValue))])
    }

    /// True for Postfix's connect-time greeting list, which a client skips.
    public static func isGreeting(_ list: AttributeList) -> Bool {
        list[Attribute.proto] != nil && list[Attribute.status] == nil
    }

    /// The status of a reply; nil when missing or not a known code.
    public static func status(of reply: AttributeList) -> Status? {
        reply.int(Attribute.status).flatMap(Status.init(rawValue:))
    }
}

/// A decoded proxymap request (server side).
public struct ProxyRequest: Equatable, Sendable {
    public var kind: ProxyProtocol.Request
    public var table: String
    public var flags: ProxyProtocol.DictFlags
    public var key: String?
    public var value: String?
    public var function: ProxyProtocol.SequenceFunction?

    public init(kind: ProxyProtocol.Request, table: String, flags: ProxyProtocol.DictFlags,
                key: String? = nil, value: String? = nil, function: ProxyProtocol.SequenceFunction? = nil) {
        self.kind = kind
        self.table = table
        self.flags = flags
        self.key = key
        self.value = value
        self.function = function
    }

    /// Why a request could not be decoded; each case carries Postfix's
    /// warning text.
    public enum DecodeError: Error, Equatable, Sendable {
        /// `request` names no known request.
        case unrecognized(String)
        /// A required attribute is absent or malformed.
        case missing(String)

        /// The warning proxymap logs (`service` is the socket's service name).
        public func warning(service: String) -> String {
            switch self {
            case .unrecognized(let name): return "unrecognized request: \"\(name)\", ignored"
            case .missing(let name): return "missing attribute \(name) in input from \(service) socket"
            }
        }
    }

    /// Decodes `list` strictly: the attributes each request needs, in any
    /// order; extra attributes are ignored.
    public static func decode(_ list: AttributeList) -> Result<ProxyRequest, DecodeError> {
        typealias A = ProxyProtocol.Attribute
        guard let name = list[A.request] else { return .failure(.missing(A.request)) }
        guard let kind = ProxyProtocol.Request(rawValue: name) else { return .failure(.unrecognized(name)) }
        guard let table = list[A.table] else { return .failure(.missing(A.table)) }
        guard let flagText = list[A.flags], let flagValue = Int(flagText), flagValue >= 0 else {
            return .failure(.missing(A.flags))
        }
        var request = ProxyRequest(kind: kind, table: table, flags: ProxyProtocol.DictFlags(rawValue: flagValue))
        switch kind {
        case .open:
            break
        case .lookup, .delete:
            guard let key = list[A.key] else { return .failure(.missing(A.key)) }
            request.key = key
        case .update:
            guard let key = list[A.key] else { return .failure(.missing(A.key)) }
            guard let value = list[A.value] else { return .failure(.missing(A.value)) }
            request.key = key
            request.value = value
        case .sequence:
            guard let text = list[A.function], let n = Int(text),
                  let function = ProxyProtocol.SequenceFunction(rawValue: n) else {
                return .failure(.missing(A.function))
            }
            request.function = function
        }
        return .success(request)
    }

    /// The request in wire form (what a client sends).
    public func encoded() -> AttributeList {
        typealias P = ProxyProtocol
        switch kind {
        case .open: return P.openRequest(table: table, flags: flags)
        case .lookup: return P.lookupRequest(table: table, flags: flags, key: key ?? "")
        case .update: return P.updateRequest(table: table, flags: flags, key: key ?? "", value: value ?? "")
        case .delete: return P.deleteRequest(table: table, flags: flags, key: key ?? "")
        case .sequence: return P.sequenceRequest(table: table, flags: flags, function: function ?? .first)
        }
    }
}

/// A proxymap reply (server side builds it, client side reads it).
public struct ProxyReply: Equatable, Sendable {
    public var status: ProxyProtocol.Status
    /// open: the table's flags.
    public var flags: ProxyProtocol.DictFlags?
    /// sequence: the key found.
    public var key: String?
    /// lookup and sequence: the value found.
    public var value: String?

    public init(status: ProxyProtocol.Status, flags: ProxyProtocol.DictFlags? = nil, key: String? = nil, value: String? = nil) {
        self.status = status
        self.flags = flags
        self.key = key
        self.value = value
    }

    /// The reply to a request of `kind`, with the attributes that request's
    /// reply always carries (empty when there is nothing to say), as Postfix.
    public func encoded(for kind: ProxyProtocol.Request?) -> AttributeList {
        typealias A = ProxyProtocol.Attribute
        var list = AttributeList([(A.status, String(status.rawValue))])
        switch kind {
        case .open?: list.append(A.flags, String((flags ?? []).rawValue))
        case .lookup?: list.append(A.value, value ?? "")
        case .sequence?:
            list.append(A.key, key ?? "")
            list.append(A.value, value ?? "")
        case .update?, .delete?, nil: break
        }
        return list
    }

    /// Decodes a reply; nil when the status is missing or unknown.
    public static func decode(_ list: AttributeList) -> ProxyReply? {
        typealias A = ProxyProtocol.Attribute
        guard let status = ProxyProtocol.status(of: list) else { return nil }
        return ProxyReply(status: status, flags: list.int(A.flags).map(ProxyProtocol.DictFlags.init(rawValue:)),
                          key: list[A.key], value: list[A.value])
    }
}
