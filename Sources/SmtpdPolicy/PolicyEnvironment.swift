// PolicyEnvironment: the outside facts the restriction engine asks for while
// it decides: how trivial-rewrite classifies an address, whether a host
// name exists and what its addresses are. smtpd answers through its rewrite
// client and the system resolver; tests answer from a dictionary.
import Global

public enum HostLookupResult: Equatable, Sendable {
    case found, notFound, temporaryFailure
}

/// A host name's addresses as the system resolver (hosts file, DNS) gives
/// them, or its error text (gai_strerror's words).
public enum HostAddressResult: Equatable, Sendable {
    case found([String])
    case failed(String)
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
    /// The numeric addresses of `name` in the families asked for.
    func hostAddresses(_ name: String, ipv4: Bool, ipv6: Bool) -> HostAddressResult
}

extension PolicyEnvironment {
    /// Environments without a resolver know no addresses.
    public func hostAddresses(_ name: String, ipv4: Bool, ipv6: Bool) -> HostAddressResult {
        .failed("Name or service not known")
    }
}
