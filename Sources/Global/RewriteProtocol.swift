// RewriteProtocol: the requests and replies of the trivial-rewrite service
// (trivial-rewrite(8), $rewrite_service_name), shared by the server and its
// clients (cleanup, smtpd, qmgr) through RewriteClient. Names, request
// words and flag bits are Postfix 3.7's, as observed on the wire:
//
//   (greeting, server to client)  protocol=trivial_rewrite_protocol
//   request=rewrite rule=local|remote address=A   -> flags=0 address=A'
//   request=resolve sender=S address=A            -> flags=0 transport=T nexthop=N
//                                                    recipient=R flags=F
//   request=verify  sender=S address=A            -> (as resolve, with the
//                                                    address_verify_* settings)
//
// A rewrite takes and returns the address in external (RFC 822 quoted)
// form; resolve and verify take and return the internal (unquoted) form.
// The first `flags` of every reply is the server's (always 0 here); the
// resolve reply's second `flags` holds the ResolveFlags below. An unknown
// request or rule, or a missing attribute, makes the server log a warning
// and close the connection without a reply.

/// Names and codes of the trivial-rewrite protocol.
public enum RewriteProtocol {
    /// The default service name (`$rewrite_service_name`).
    public static let service = "rewrite"
    /// The greeting Postfix's server sends when a client connects.
    public static let greeting = "trivial_rewrite_protocol"

    public enum Attribute {
        public static let request = "request"
        public static let rule = "rule"
        public static let address = "address"
        public static let sender = "sender"
        public static let flags = "flags"
        public static let transport = "transport"
        public static let nexthop = "nexthop"
        public static let recipient = "recipient"
        public static let proto = "protocol"
    }

    public enum Request: String, Sendable, CaseIterable {
        case rewrite, resolve, verify
    }

    /// The rewrite contexts (`rule=`): `local` appends $myorigin and
    /// $mydomain, `remote` $remote_header_rewrite_domain (if set).
    public enum Rule: String, Sendable, CaseIterable {
        case local, remote
    }

    /// The bits of a resolve reply's `flags` (Postfix's RESOLVE_FLAG_* and
    /// RESOLVE_CLASS_* values).
    public struct ResolveFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// Final delivery (reserved; never set by trivial-rewrite).
        public static let final = ResolveFlags(rawValue: 1)
        /// The address still has routing operators (`!`, `%`, `@`, a source route).
        public static let routed = ResolveFlags(rawValue: 2)
        /// The address is malformed (bad domain); transport and nexthop are placeholders.
        public static let error = ResolveFlags(rawValue: 4)
        /// A table lookup failed: try again later, never bounce.
        public static let fail = ResolveFlags(rawValue: 8)
        public static let classLocal = ResolveFlags(rawValue: 1 << 8)
        public static let classAlias = ResolveFlags(rawValue: 1 << 9)
        public static let classVirtual = ResolveFlags(rawValue: 1 << 10)
        public static let classRelay = ResolveFlags(rawValue: 1 << 11)
        public static let classDefault = ResolveFlags(rawValue: 1 << 12)
        public static let classMask: ResolveFlags = [.classLocal, .classAlias, .classVirtual, .classRelay, .classDefault]

        public var description: String {
            let names: [(ResolveFlags, String)] = [(.final, "final"), (.routed, "routed"), (.error, "error"), (.fail, "fail"),
                                                   (.classLocal, "local"), (.classAlias, "alias"), (.classVirtual, "virtual"),
                                                   (.classRelay, "relay"), (.classDefault, "default")]
            return names.filter { contains($0.0) }.map(\.1).joined(separator: "|")
        }
    }

    /// The transport and nexthop Postfix puts in a reply for a malformed address.
    public static let errorTransport = "CHANNEL NOT UPDATED"
    public static let errorNexthop = "NEXTHOP NOT UPDATED"

    public static func rewriteRequest(rule: String, address: String) -> AttributeList {
        AttributeList([(Attribute.request, Request.rewrite.rawValue), (Attribute.rule, rule), (Attribute.address, address)])
    }

    public static func resolveRequest(_ kind: Request = .resolve, sender: String, address: String) -> AttributeList {
        AttributeList([(Attribute.request, kind.rawValue), (Attribute.sender, sender), (Attribute.address, address)])
    }

    /// True for Postfix's connect-time greeting, which a client skips.
    public static func isGreeting(_ list: AttributeList) -> Bool {
        list[Attribute.proto] != nil && list[Attribute.flags] == nil
    }
}

/// A decoded trivial-rewrite request (server side).
public enum RewriteRequest: Equatable, Sendable {
    case rewrite(rule: String, address: String)
    /// `verify` is true for a `request=verify`.
    case resolve(verify: Bool, sender: String, address: String)

    /// Why a request was refused; each case carries Postfix's warning text.
    public enum DecodeError: Error, Equatable, Sendable {
        case unrecognized(String)
        case missing(String)
        case unknownRule(String)

        public var warning: String {
            switch self {
            case .unrecognized(let name): return "bad command \(name)"
            case .missing(let name): return "missing attribute \(name) in input from rewrite socket"
            case .unknownRule(let rule): return "unknown context: \(rule)"
            }
        }
    }

    public static func decode(_ list: AttributeList) -> Result<RewriteRequest, DecodeError> {
        typealias A = RewriteProtocol.Attribute
        guard let name = list[A.request] else { return .failure(.missing(A.request)) }
        guard let kind = RewriteProtocol.Request(rawValue: name) else { return .failure(.unrecognized(name)) }
        switch kind {
        case .rewrite:
            guard let rule = list[A.rule] else { return .failure(.missing(A.rule)) }
            guard let address = list[A.address] else { return .failure(.missing(A.address)) }
            guard RewriteProtocol.Rule(rawValue: rule) != nil else { return .failure(.unknownRule(rule)) }
            return .success(.rewrite(rule: rule, address: address))
        case .resolve, .verify:
            guard let sender = list[A.sender] else { return .failure(.missing(A.sender)) }
            guard let address = list[A.address] else { return .failure(.missing(A.address)) }
            return .success(.resolve(verify: kind == .verify, sender: sender, address: address))
        }
    }

    /// The request in wire form (what a client sends).
    public func encoded() -> AttributeList {
        switch self {
        case .rewrite(let rule, let address):
            return RewriteProtocol.rewriteRequest(rule: rule, address: address)
        case .resolve(let verify, let sender, let address):
            return RewriteProtocol.resolveRequest(verify ? .verify : .resolve, sender: sender, address: address)
        }
    }
}

/// The answer to a resolve or verify request.
public struct ResolveReply: Equatable, Sendable {
    public var transport: String
    public var nexthop: String
    /// The recipient in internal form.
    public var recipient: String
    public var flags: RewriteProtocol.ResolveFlags

    public init(transport: String, nexthop: String, recipient: String, flags: RewriteProtocol.ResolveFlags) {
        self.transport = transport
        self.nexthop = nexthop
        self.recipient = recipient
        self.flags = flags
    }

    /// The reply in wire form: server flags, transport, nexthop, recipient, flags.
    public func encoded(serverFlags: Int = 0) -> AttributeList {
        typealias A = RewriteProtocol.Attribute
        return AttributeList([(A.flags, String(serverFlags)), (A.transport, transport), (A.nexthop, nexthop),
                              (A.recipient, recipient), (A.flags, String(flags.rawValue))])
    }

    /// Decodes a reply; the resolve flags are the last `flags` attribute.
    public static func decode(_ list: AttributeList) -> ResolveReply? {
        typealias A = RewriteProtocol.Attribute
        guard let transport = list[A.transport], let nexthop = list[A.nexthop], let recipient = list[A.recipient],
              let flagText = list.pairs.last(where: { $0.name == A.flags })?.value, let flags = Int(flagText) else { return nil }
        return ResolveReply(transport: transport, nexthop: nexthop, recipient: recipient,
                            flags: RewriteProtocol.ResolveFlags(rawValue: flags))
    }
}

/// The answer to a rewrite request.
public struct RewriteReply: Equatable, Sendable {
    public var address: String
    public init(address: String) { self.address = address }

    public func encoded(serverFlags: Int = 0) -> AttributeList {
        AttributeList([(RewriteProtocol.Attribute.flags, String(serverFlags)), (RewriteProtocol.Attribute.address, address)])
    }

    public static func decode(_ list: AttributeList) -> RewriteReply? {
        list[RewriteProtocol.Attribute.address].map(RewriteReply.init(address:))
    }
}
