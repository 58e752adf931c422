// SmtpdReplyShaper: what happens to a reply between the code that makes it
// and the client, as in Postfix's smtpd: a 4xx/5xx reply gets the reject
// footer (smtpd_reject_footer_maps, keyed by the complete reply, else
// smtpd_reject_footer) with session macros expanded, and with soft_bounce
// every 5xx line goes out as 4xx (the enhanced code's class too).
//
// The footer template: `\n` starts a new line (the reply code and enhanced
// code repeated in front of it), `\c` at its very start appends the first
// footer line to the reply's own line. Macro values are filtered through
// smtpd_expansion_filter (other characters become `_`); an unknown macro
// is logged and expands to nothing.
import Util
import Global
import Tables
import SmtpdPolicy

struct SmtpdReplyShaper {
    var footer = ""
    var footerMaps: TableList?
    var softBounce = false
    /// smtpd_expansion_filter, unescaped: the bytes allowed in macro values.
    var allowedBytes: Set<UInt8> = []

    /// Whether replies are ever changed (the fast path skips all of this).
    var isActive: Bool { softBounce || !footer.isEmpty || footerMaps != nil }

    init() {}

    init(config c: MailConfig, tableContext: TableContext) {
        footer = c.rawValue("smtpd_reject_footer") ?? ""
        softBounce = c.bool("soft_bounce")
        allowedBytes = Set(SmtpdReplyShaper.unescape(c.rawValue("smtpd_expansion_filter") ?? ""))
        let maps = c.value("smtpd_reject_footer_maps")
        if !maps.isEmpty {
            do { footerMaps = try TableList(parameter: "smtpd_reject_footer_maps", value: maps, context: tableContext) } catch {
                MailLog.warning("smtpd_reject_footer_maps: \(error)")
            }
        }
    }

    /// The lines to send for `line` (one reply line, without CRLF).
    /// `macro` answers a name (nil: unknown); `warn` logs.
    func shape(_ line: String, macro: (String) -> String?, warn: (String) -> Void) -> [String] {
        var lines = [line]
        let first = line.utf8.first
        if first == UInt8(ascii: "4") || first == UInt8(ascii: "5"), let template = footerTemplate(for: line, warn: warn) {
            lines = withFooter(line, template: template, macro: macro, warn: warn)
        }
        if softBounce { lines = lines.map(SmtpdReplyShaper.softened) }
        return lines
    }

    /// A reject reply as logged (NOQUEUE: reject:, reject_warning): with
    /// soft_bounce its 5 becomes 4, as the client will see it.
    func logged(_ reply: String) -> String {
        softBounce ? SmtpdReplyShaper.softened(reply) : reply
    }

    private func footerTemplate(for line: String, warn: (String) -> Void) -> String? {
        if let maps = footerMaps {
            do {
                if let t = try maps.find(line) { return t }
            } catch {
                warn("smtpd_reject_footer_maps lookup error for \"\(line)\"")
            }
        }
        return footer.isEmpty ? nil : footer
    }

    private func withFooter(_ line: String, template: String, macro: (String) -> String?, warn: (String) -> Void) -> [String] {
        let bytes = Array(line.utf8)
        guard bytes.count >= 4, bytes[0...2].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), bytes[3] == 0x20 || bytes[3] == 0x2D
        else { return [line] }
        let code = String(decoding: bytes[0...2], as: UTF8.self)
        let dsn = SmtpReply.leadingDSN(Substring(line.dropFirst(4)))?.0
        var lines = [line]
        let parts = SmtpdReplyShaper.split(template)
        for (i, part) in parts.enumerated() {
            var text = part
            let last = i == parts.count - 1
            let expanded: String
            if i == 0 && text.hasPrefix("\\c") {
                text.removeFirst(2)
                expanded = expand(text, macro: macro, warn: warn)
                lines[lines.count - 1] += expanded
                continue
            }
            expanded = expand(text, macro: macro, warn: warn)
            lines.append(code + (last ? " " : "-") + (dsn.map { $0 + " " } ?? "") + expanded)
        }
        // Every line but the last continues the reply.
        for i in 0..<(lines.count - 1) {
            var b = Array(lines[i].utf8)
            if b.count >= 4 { b[3] = 0x2D }
            lines[i] = String(decoding: b, as: UTF8.self)
        }
        return lines
    }

    private func expand(_ text: String, macro: (String) -> String?, warn: (String) -> Void) -> String {
        let allowed = allowedBytes
        return withoutActuallyEscaping(macro) { macro in
            withoutActuallyEscaping(warn) { warn in
                var expander = ValueExpander(recursive: false) { name in
                    guard let value = macro(name) else {
                        warn("unknown macro name \"\(name)\" in expansion request")
                        return nil
                    }
                    return String(decoding: value.utf8.map { allowed.contains($0) ? $0 : UInt8(ascii: "_") }, as: UTF8.self)
                }
                return (try? expander.expand(text)) ?? text
            }
        }
    }

    /// The template split at each two-character `\n`.
    static func split(_ template: String) -> [String] {
        var parts: [String] = []
        var current: [UInt8] = []
        let b = Array(template.utf8)
        var i = 0
        while i < b.count {
            if b[i] == 0x5C, i + 1 < b.count, b[i + 1] == UInt8(ascii: "n") {
                parts.append(String(decoding: current, as: UTF8.self))
                current.removeAll()
                i += 2
            } else {
                current.append(b[i])
                i += 1
            }
        }
        parts.append(String(decoding: current, as: UTF8.self))
        return parts
    }

    /// soft_bounce on one line: 5xx becomes 4xx, and a 5.x.x after it 4.x.x.
    static func softened(_ line: String) -> String {
        var b = Array(line.utf8)
        guard b.first == UInt8(ascii: "5") else { return line }
        b[0] = UInt8(ascii: "4")
        if b.count > 4, b[4] == UInt8(ascii: "5") { b[4] = UInt8(ascii: "4") }
        return String(decoding: b, as: UTF8.self)
    }

    /// C-style escapes (`\t`, `\40`, `\\`...) as Postfix's unescape() reads
    /// them in smtpd_expansion_filter.
    static func unescape(_ text: String) -> [UInt8] {
        let b = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < b.count {
            guard b[i] == 0x5C, i + 1 < b.count else { out.append(b[i]); i += 1; continue }
            i += 1
            let c = b[i]
            switch c {
            case UInt8(ascii: "a"): out.append(7); i += 1
            case UInt8(ascii: "b"): out.append(8); i += 1
            case UInt8(ascii: "f"): out.append(12); i += 1
            case UInt8(ascii: "n"): out.append(10); i += 1
            case UInt8(ascii: "r"): out.append(13); i += 1
            case UInt8(ascii: "t"): out.append(9); i += 1
            case UInt8(ascii: "v"): out.append(11); i += 1
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var value = 0
                var n = 0
                while n < 3, i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "7") {
                    value = value * 8 + Int(b[i] - UInt8(ascii: "0"))
                    i += 1
                    n += 1
                }
                out.append(UInt8(truncatingIfNeeded: value))
            default: out.append(c); i += 1
            }
        }
        return out
    }
}
