// SASLSecurityOptions: smtpd_sasl_security_options and
// smtpd_sasl_tls_security_options (noanonymous, noplaintext, noactive,
// nodictionary, mutual_auth, forward_secrecy), applied to the mechanism
// properties a Dovecot server announces.
import Util

public struct SASLSecurityOptions: Equatable, Sendable {
    public var noAnonymous = false
    public var noPlaintext = false
    public var noActive = false
    public var noDictionary = false
    public var mutualAuth = false
    public var forwardSecrecy = false

    public init() {}

    /// nil names the first unknown option.
    public static func parse(_ text: String) -> Result<SASLSecurityOptions, SASLError> {
        var o = SASLSecurityOptions()
        for word in text.splitList() {
            switch word.lowercased() {
            case "noanonymous": o.noAnonymous = true
            case "noplaintext": o.noPlaintext = true
            case "noactive": o.noActive = true
            case "nodictionary": o.noDictionary = true
            case "mutual_auth": o.mutualAuth = true
            case "forward_secrecy": o.forwardSecrecy = true
            default: return .failure(.configuration("unknown SASL security option \"\(word)\""))
            }
        }
        return .success(o)
    }

    /// True when a mechanism with these Dovecot properties may be offered.
    public func allows(_ m: SASLMechanism) -> Bool {
        if m.properties.contains("private") { return false }
        if noAnonymous && m.properties.contains("anonymous") { return false }
        if noPlaintext && m.properties.contains("plaintext") { return false }
        if noActive && m.properties.contains("active") { return false }
        if noDictionary && m.properties.contains("dictionary") { return false }
        if mutualAuth && !m.properties.contains("mutual-auth") { return false }
        if forwardSecrecy && !m.properties.contains("forward-secrecy") { return false }
        return true
    }
}

/// A mechanism as the server announced it: `MECH PLAIN plaintext`.
public struct SASLMechanism: Equatable, Sendable {
    public var name: String
    public var properties: Set<String>

    public init(name: String, properties: Set<String>) {
        self.name = name
        self.properties = properties
    }
}

public enum SASLError: Error, Equatable, CustomStringConvertible {
    case configuration(String)
    /// The authentication server cannot be reached or broke the protocol.
    case unavailable(String)

    public var description: String {
        switch self {
        case .configuration(let t), .unavailable(let t): return t
        }
    }
}

/// One step of an exchange as the authentication server answers it.
public enum SASLStep: Equatable, Sendable {
    /// Send `334 CHALLENGE` (base64, as the server gave it).
    case challenge(String)
    case success(username: String)
    /// `reason` as the server gave it; `username` when it told us.
    case failure(reason: String?, username: String?, temporary: Bool)
}
