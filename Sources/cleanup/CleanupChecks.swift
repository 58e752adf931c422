// CleanupChecks: the actions of header_checks(5) and body_checks as cleanup
// understands them, and the log line every action writes:
// `QID: ACTION: header|body TEXT from ORIGIN; from=<s>[ to=<r>][ proto=P][ helo=<h>][: TEXT]`.
// TEXT keeps the newlines of a folded header: the logger shows them as `?`,
// as Postfix's does.

/// One header_checks/body_checks action.
enum CheckAction: Equatable {
    case reject(String)
    case warn(String)
    case info(String)
    case hold(String)
    case discard(String)
    case redirect(String)
    case filter(String)
    case bcc(String)
    case prepend(String)
    case replace(String)
    case strip(String)
    case ignore
    case dunno
    case ok
    case pass(String)
    case unknown(String)

    /// Parses the action text a pattern table returned.
    static func parse(_ text: String) -> CheckAction {
        let trimmed = text.drop { $0 == " " || $0 == "\t" }
        let word = trimmed.prefix { $0 != " " && $0 != "\t" }
        let rest = String(trimmed.dropFirst(word.count).drop { $0 == " " || $0 == "\t" })
        switch word.uppercased() {
        case "REJECT": return .reject(rest)
        case "WARN": return .warn(rest)
        case "INFO": return .info(rest)
        case "HOLD": return .hold(rest)
        case "DISCARD": return .discard(rest)
        case "REDIRECT": return .redirect(rest)
        case "FILTER": return .filter(rest)
        case "BCC": return .bcc(rest)
        case "PREPEND": return .prepend(rest)
        case "REPLACE": return .replace(rest)
        case "STRIP": return .strip(rest)
        case "IGNORE": return .ignore
        case "DUNNO": return .dunno
        case "OK": return .ok
        case "PASS": return .pass(rest)
        default: return .unknown(String(trimmed))
        }
    }

    /// Reject text with a DSN status code in front ("5.7.1 ..." by default).
    static func rejectText(_ text: String) -> String {
        if text.isEmpty { return "5.7.1 message content rejected" }
        let first = text.prefix { $0 != " " }
        let parts = first.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }),
           first.first == "4" || first.first == "5" {
            return text
        }
        return "5.7.1 " + text
    }
}

/// Who and what a message is, for the check log lines.
struct CheckLogContext: Equatable {
    var queueID: String
    /// `CLIENT` (name[addr]) or "local".
    var origin: String = "local"
    var sender: String = ""
    /// The last recipient seen so far (absent with sendmail -t).
    var lastRecipient: String?
    var proto: String?
    var helo: String?

    /// The log text for `action` (reject, warning, hold, ...) on a header
    /// or body line.
    func line(_ action: String, _ part: String, _ text: [UInt8], optional: String?) -> String {
        let shown = text.count > 200 ? Array(text[0..<200]) : text
        var out = "\(queueID): \(action): \(part) \(String(decoding: shown, as: UTF8.self)) from \(origin); from=<\(sender)>"
        if let r = lastRecipient { out += " to=<\(r)>" }
        if let p = proto, !p.isEmpty { out += " proto=\(p)" }
        if let h = helo, !h.isEmpty { out += " helo=<\(h)>" }
        if let o = optional, !o.isEmpty { out += ": " + o }
        return out
    }
}

extension CheckLogContext {
    /// `QID: reject: mime-error TEXT: CONTEXT from ORIGIN; from=<s> to=<r>`
    /// (the context cut to 100 bytes; `unknown` when no recipient is known).
    func mimeError(_ error: String, _ context: [UInt8]) -> String {
        let shown = context.count > 100 ? Array(context[0..<100]) : context
        return "\(queueID): reject: mime-error \(error): \(String(decoding: shown, as: UTF8.self)) from \(origin); "
            + "from=<\(sender)> to=<\(lastRecipient ?? "unknown")>"
    }
}
