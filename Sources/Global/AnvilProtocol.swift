// AnvilProtocol: the requests and replies of the anvil(8) service, shared
// by the server and AnvilClient. Every message is an AttributeList in the
// attr0 wire form (docs/internal-protocol.md). Names and numbers are
// Postfix 3.7's (anvil(8)); `ident` is an opaque "service:client" string.
//
// Requests (client to server) and replies (server to client):
//
//   request=connect       ident=I -> status=0 count=N rate=N
//   request=disconnect    ident=I -> status=0
//   request=message       ident=I -> status=0 rate=N
//   request=recipient     ident=I -> status=0 rate=N
//   request=newtls        ident=I -> status=0 rate=N
//   request=newtls_report ident=I -> status=0 rate=N   (no update)
//   request=auth          ident=I -> status=0 rate=N
//   request=lookup        ident=I -> status=0 count=N rate=N mail=N rcpt=N newtls=N auth=N
//
// `count` is the number of client connections (anvil clients) that
// registered a connect for the ident and have not disconnected; each
// client connection counts for at most one ident at a time. The rates are
// events in the current $anvil_rate_time_unit window. An unknown request is
// answered with status=-1 (Postfix writes the same value as the unsigned
// 4294967295; clients accept both). Postfix 3.7's anvil speaks the plain
// `name=value` newline form and greets with `protocol=anvil_protocol`;
// Posthorn's uses attr0 without a greeting, and its client skips a greeting.

/// Names and codes of the anvil protocol.
public enum AnvilProtocol {
    public static let service = "anvil"

    public enum Attribute {
        public static let request = "request"
        public static let ident = "ident"
        public static let status = "status"
        public static let count = "count"
        public static let rate = "rate"
        public static let mail = "mail"
        public static let rcpt = "rcpt"
        public static let newtls = "newtls"
        public static let auth = "auth"
        public static let proto = "protocol"
    }

    public enum Request: String, Sendable, CaseIterable {
        case connect, disconnect, message, recipient, newtls
        case newtlsReport = "newtls_report"
        case auth, lookup
    }

    public static let statusOK = 0
    public static let statusFail = -1

    /// The request list for `request` about `ident`.
    public static func request(_ request: Request, ident: String) -> AttributeList {
        AttributeList([(Attribute.request, request.rawValue), (Attribute.ident, ident)])
    }

    /// True for a reply status meaning success.
    public static func isOK(_ reply: AttributeList) -> Bool {
        reply[Attribute.status] == "0"
    }
}

/// A decoded anvil request (server side).
public struct AnvilRequest: Equatable, Sendable {
    public var kind: AnvilProtocol.Request
    public var ident: String

    public init(kind: AnvilProtocol.Request, ident: String) {
        self.kind = kind
        self.ident = ident
    }

    public enum DecodeError: Error, Equatable, Sendable {
        case unrecognized(String)
        case missing(String)

        /// The warning anvil logs, in Postfix's words.
        public var warning: String {
            switch self {
            case .unrecognized(let name): return "unrecognized request: \"\(name)\", ignored"
            case .missing(let name): return "missing attribute \(name) in input from anvil socket"
            }
        }
    }

    public static func decode(_ list: AttributeList) -> Result<AnvilRequest, DecodeError> {
        typealias A = AnvilProtocol.Attribute
        guard let name = list[A.request] else { return .failure(.missing(A.request)) }
        guard let ident = list[A.ident] else { return .failure(.missing(A.ident)) }
        guard let kind = AnvilProtocol.Request(rawValue: name) else { return .failure(.unrecognized(name)) }
        return .success(AnvilRequest(kind: kind, ident: ident))
    }
}

/// The numbers of an anvil reply; absent fields are nil.
public struct AnvilReply: Equatable, Sendable {
    public var status: Int
    public var count: Int?
    public var rate: Int?
    public var mail: Int?
    public var rcpt: Int?
    public var newtls: Int?
    public var auth: Int?

    public init(status: Int = AnvilProtocol.statusOK, count: Int? = nil, rate: Int? = nil, mail: Int? = nil,
                rcpt: Int? = nil, newtls: Int? = nil, auth: Int? = nil) {
        self.status = status
        self.count = count
        self.rate = rate
        self.mail = mail
        self.rcpt = rcpt
        self.newtls = newtls
        self.auth = auth
    }

    public static let failure = AnvilReply(status: AnvilProtocol.statusFail)

    /// The wire form, fields in Postfix's order.
    public func encoded() -> AttributeList {
        typealias A = AnvilProtocol.Attribute
        var list = AttributeList([(A.status, String(status))])
        if let count { list.append(A.count, count) }
        if let rate { list.append(A.rate, rate) }
        if let mail { list.append(A.mail, mail) }
        if let rcpt { list.append(A.rcpt, rcpt) }
        if let newtls { list.append(A.newtls, newtls) }
        if let auth { list.append(A.auth, auth) }
        return list
    }

    /// Decodes a reply; a status other than 0 (including Postfix's
    /// 4294967295) becomes statusFail. Nil when status is missing.
    public static func decode(_ list: AttributeList) -> AnvilReply? {
        typealias A = AnvilProtocol.Attribute
        guard let text = list[A.status] else { return nil }
        return AnvilReply(status: text == "0" ? AnvilProtocol.statusOK : AnvilProtocol.statusFail,
                          count: list.int(A.count), rate: list.int(A.rate), mail: list.int(A.mail),
                          rcpt: list.int(A.rcpt), newtls: list.int(A.newtls), auth: list.int(A.auth))
    }
}
