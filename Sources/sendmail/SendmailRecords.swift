// SendmailRecords: the records sendmail hands to postdrop (reference §12):
// A rewrite_context=local, [A envelope_id, A ret_flags], F, S, [V],
// {[A notify_flags] R}, M, the lines as N (L chunks for long lines), X,
// the -t recipients, E. Also the -t header parser (To, Cc, Bcc; only the
// Resent- ones when the message has any).
import Global

struct SendmailRecords {
    var writer = QueueRecordWriter()
    let lineLimit: Int

    init(lineLimit: Int) { self.lineLimit = max(1, lineLimit) }

    var bytes: [UInt8] { writer.bytes }

    mutating func envelope(options: SendmailOptions, sender: String, fullName: String?) {
        writer.append(.attribute, "rewrite_context=local")
        if let e = options.envelopeID { writer.append(.attribute, "envelope_id=\(e)") }
        if let r = options.retFlags { writer.append(.attribute, "ret_flags=\(r)") }
        if let f = fullName { writer.append(.fullName, f) }
        writer.append(.sender, sender)
        if let v = options.verpDelimiters { writer.append(.verp, v) }
        for r in options.recipients { recipient(r, notify: options.notifyFlags) }
        writer.append(.message)
    }

    mutating func recipient(_ address: String, notify: Int?) {
        if let n = notify { writer.append(.attribute, "notify_flags=\(n)") }
        writer.append(.recipient, address)
    }

    mutating func content(_ lines: [[UInt8]]) {
        for line in lines { writer.appendLine(line, lineLimit: lineLimit) }
        writer.append(.extracted)
    }

    mutating func extracted(_ recipients: [String], notify: Int?) {
        for r in recipients { recipient(r, notify: notify) }
        writer.append(.end)
    }

    /// Recipients from To/Cc/Bcc (or Resent-To/Cc/Bcc) headers.
    static func headerRecipients(_ lines: [[UInt8]]) -> [String] {
        var headers: [(name: String, value: String)] = []
        for line in lines {
            if line.isEmpty { break }
            if line.first == 0x20 || line.first == 0x09 {
                if !headers.isEmpty { headers[headers.count - 1].value += " " + String(decoding: line, as: UTF8.self) }
                continue
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { break }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            headers.append((name.trimmingSpaces(), String(decoding: line[(colon + 1)...], as: UTF8.self)))
        }
        let resent = headers.contains { $0.name.hasPrefix("resent-") }
        let wanted: Set<String> = resent ? ["resent-to", "resent-cc", "resent-bcc"] : ["to", "cc", "bcc"]
        var out: [String] = []
        for h in headers where wanted.contains(h.name) { out += addresses(h.value) }
        return out
    }

    /// The addresses of an RFC 5322 address list: `a@b, Name <c@d>, "x" <e>,
    /// f (comment), group: g@h;`. Empty groups yield nothing.
    static func addresses(_ value: String) -> [String] {
        var out: [String] = []
        var current = ""
        var angle: String?
        var inQuote = false, inAngle = false
        var comment = 0
        func finish() {
            let a = (angle ?? current).trimmingSpaces()
            if !a.isEmpty { out.append(a) }
            current = ""; angle = nil
        }
        var escaped = false
        for c in value {
            if escaped { if inAngle { angle! .append(c) } else { current.append(c) }; escaped = false; continue }
            if c == "\\" && (inQuote || comment > 0) { escaped = true; if inQuote { current.append(c) }; continue }
            if comment > 0 {
                if c == "(" { comment += 1 } else if c == ")" { comment -= 1 }
                continue
            }
            if inQuote {
                if inAngle { angle!.append(c) } else { current.append(c) }
                if c == "\"" { inQuote = false }
                continue
            }
            switch c {
            case "\"": inQuote = true; if inAngle { angle!.append(c) } else { current.append(c) }
            case "(": comment = 1
            case "<": inAngle = true; angle = ""
            case ">": inAngle = false
            case ":" where !inAngle: current = ""  // group name
            case ";" where !inAngle: finish()
            case "," where !inAngle: finish()
            default:
                if inAngle { angle!.append(c) } else if c != " " && c != "\t" { current.append(c) } else if angle == nil {
                    // phrase words: keep only the last word as the address when there is no <...>
                    if !current.isEmpty { current.append(" ") }
                }
            }
        }
        finish()
        // "Name addr" without brackets is not an address: keep the last word.
        return out.map { a in a.contains(" ") && !a.hasPrefix("\"") ? String(a.split(separator: " ").last!) : a }
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
