// PolicyServiceSettings: the smtpd_policy_service_* parameters, and the
// per-service overrides of check_policy_service { endpoint, name=value, ... }
// (Postfix 3.0+ syntax): timeout, default_action, max_idle, max_ttl,
// try_limit, request_limit, retry_delay, policy_context. Values are single
// words: Postfix refuses "default_action=450 text" (fatal at start-up; here
// a warning and 451 4.3.5 when the restriction runs).
import Util
import Global

public struct PolicyServiceSettings: Equatable, Sendable {
    public var timeout = 100
    public var maxIdle = 300
    public var maxTTL = 1000
    public var defaultAction = "451 4.3.5 Server configuration problem"
    public var tryLimit = 2
    public var requestLimit = 0
    public var retryDelay = 1
    public var policyContext = ""

    public init() {}

    public init(config: MailConfig) {
        func seconds(_ name: String, _ fallback: Int) -> Int { PolicyServiceSettings.seconds(config.value(name)) ?? fallback }
        timeout = seconds("smtpd_policy_service_timeout", 100)
        maxIdle = seconds("smtpd_policy_service_max_idle", 300)
        maxTTL = seconds("smtpd_policy_service_max_ttl", 1000)
        retryDelay = seconds("smtpd_policy_service_retry_delay", 1)
        let action = config.value("smtpd_policy_service_default_action")
        if !action.isEmpty { defaultAction = action }
        tryLimit = max(1, Int(config.value("smtpd_policy_service_try_limit")) ?? 2)
        requestLimit = max(0, Int(config.value("smtpd_policy_service_request_limit")) ?? 0)
        policyContext = config.value("smtpd_policy_service_policy_context")
    }

    /// A Postfix time value in seconds: digits with an optional unit s, m, h, d, w.
    public static func seconds(_ text: String) -> Int? {
        let t = text.trimmingPostfixSpace()
        guard !t.isEmpty else { return nil }
        var digits = Substring(t)
        var unit: Character = "s"
        if let last = t.last, !last.isNumber { unit = Character(last.lowercased()); digits = digits.dropLast() }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(digits) else { return nil }
        switch unit {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        case "d": return n * 86400
        case "w": return n * 604800
        default: return nil
        }
    }

    /// Splits `check_policy_service` 's argument into the endpoint and the
    /// settings for that service; nil with a message when malformed.
    public func service(_ argument: String) -> Result<(endpoint: String, settings: PolicyServiceSettings), PolicyServiceSettingsError> {
        let text = argument.trimmingPostfixSpace()
        guard text.hasPrefix("{") else { return .success((text, self)) }
        guard text.hasSuffix("}") else { return .failure(PolicyServiceSettingsError("missing '}' in \"\(text)\"")) }
        let inner = String(text.dropFirst().dropLast())
        var words = inner.splitListGrouped(separators: ", \t\r\n")
        guard !words.isEmpty else { return .failure(PolicyServiceSettingsError("empty policy service in \"\(text)\"")) }
        let endpoint = words.removeFirst()
        // Join "name = value" and "name= value" back into one attribute.
        var pairs: [(String, String)] = []
        var i = 0
        while i < words.count {
            var word = words[i]
            i += 1
            if !word.contains("=") && i < words.count && words[i].hasPrefix("=") {
                word += words[i]; i += 1
            }
            if word.hasSuffix("=") && i < words.count { word += words[i]; i += 1 }
            guard let eq = word.firstIndex(of: "=") else {
                return .failure(PolicyServiceSettingsError("malformed option: missing '=' after attribute name: \"...\(word)...\""))
            }
            // Postfix 3.7 keeps braces in the value ("{ 450 text }" then fails
            // as an unknown restriction); so do we.
            let value = String(word[word.index(after: eq)...]).trimmingPostfixSpace()
            pairs.append((String(word[..<eq]).trimmingPostfixSpace().lowercased(), value))
        }
        var s = self
        for (name, value) in pairs {
            func time() -> Int? { PolicyServiceSettings.seconds(value) }
            switch name {
            case "timeout": guard let v = time(), v > 0 else { return .failure(.bad(name, value)) }; s.timeout = v
            case "max_idle": guard let v = time(), v > 0 else { return .failure(.bad(name, value)) }; s.maxIdle = v
            case "max_ttl": guard let v = time(), v > 0 else { return .failure(.bad(name, value)) }; s.maxTTL = v
            case "retry_delay": guard let v = time(), v > 0 else { return .failure(.bad(name, value)) }; s.retryDelay = v
            case "try_limit": guard let v = Int(value), v > 0 else { return .failure(.bad(name, value)) }; s.tryLimit = v
            case "request_limit": guard let v = Int(value), v >= 0 else { return .failure(.bad(name, value)) }; s.requestLimit = v
            case "default_action": s.defaultAction = value
            case "policy_context": s.policyContext = value
            default: return .failure(PolicyServiceSettingsError("unknown attribute name: \"\(name)\""))
            }
        }
        return .success((endpoint, s))
    }
}

public struct PolicyServiceSettingsError: Error, Equatable, Sendable {
    public let text: String
    public init(_ text: String) { self.text = text }
    static func bad(_ name: String, _ value: String) -> PolicyServiceSettingsError {
        PolicyServiceSettingsError("bad \(name) value: \"\(value)\"")
    }
}
