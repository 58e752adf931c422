// PolicyEnvironment: the outside facts the restriction engine asks for while
// it decides: how trivial-rewrite classifies an address, and whether a host
// name exists. smtpd answers through its rewrite client and the system
// resolver; tests answer from a dictionary.
import Global

public enum HostLookupResult: Equatable, Sendable {
    case found, notFound, temporaryFailure
}

public struct PolicyTemporaryFailure: Error, Equatable, Sendable {
    public let text: String
    public init(_ text: String) { self.text = text }
}

public protocol PolicyEnvironment: AnyObject {
    /// trivial-rewrite's answer for `address` (internal form).
    func resolve(_ address: String) throws(PolicyTemporaryFailure) -> ResolveReply
    /// Whether `name` has an address (A/AAAA/MX as far as known).
    func lookupHost(_ name: String) -> HostLookupResult
}
