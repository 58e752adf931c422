// CleanupMessage: the content side of cleanup as a value type that takes
// message lines and returns what to write: the primary header block is
// collected into logical headers (continuation lines joined), each header
// goes through header_checks (mime_header_checks for Content-* headers),
// Bcc headers are dropped for local submissions, hops are counted, missing
// Message-Id, Date, From (and $undisclosed_recipients_header) are added
// at the end of the headers, and body lines go through body_checks. Log
// lines and verdicts are collected for the caller; no I/O happens here.

/// A header or body check table: returns the action text or nil.
typealias CheckLookup = (String) throws(CleanupTemporaryError) -> String?

struct CleanupTemporaryError: Error, Equatable {
    var text: String
}

/// What the content checks decided for the whole message.
enum ContentVerdict: Equatable {
    case accept
    case reject(String)
    case discard
}

struct CleanupMessage {
    struct Settings {
        var headerChecks: CheckLookup?
        var mimeHeaderChecks: CheckLookup?
        var bodyChecks: CheckLookup?
        /// Apply the checks at all (CLEANUP_FLAG_FILTER).
        var filter = true
        /// Add missing headers (local submission or always_add_missing_headers).
        var addMissingHeaders = true
        /// Drop Bcc: headers (local submissions).
        var dropBcc = true
        var headerSizeLimit = 102400
        var hopcountLimit = 50
        var myhostname = "localhost"
        /// $undisclosed_recipients_header ("" = none).
        var undisclosedRecipientsHeader = ""
        /// For the added headers.
        var queueID = ""
        var createTime = 0
        var arrivalTime = 0
        var sender = ""
        var fullName: String?
        var longQueueIDs = false
    }

    let settings: Settings
    var log: CheckLogContext
    /// Lines to write as content, in order (physical lines).
    private(set) var output: [[UInt8]] = []
    /// Info-level log lines ("QID: ...") and warnings, in order.
    private(set) var logLines: [String] = []
    private(set) var verdict: ContentVerdict = .accept
    private(set) var hold = false
    private(set) var holdReason = ""
    private(set) var redirect: String?
    private(set) var filterTarget: String?
    private(set) var bccRecipients: [String] = []
    private(set) var hops = 0
    private(set) var temporaryError: String?
    private(set) var messageIDLogged = false

    private var inHeaders = true
    private var pending: [[UInt8]] = []   // the logical header being collected
    private var headerBytes = 0
    private var bodyChecksOff = false
    private var seen = Set<String>()

    init(settings: Settings, log: CheckLogContext) {
        self.settings = settings
        self.log = log
    }

    /// True while lines are still headers.
    var inHeaderBlock: Bool { inHeaders }

    /// Feeds one message line (without its terminator).
    mutating func add(line: [UInt8]) {
        if inHeaders {
            if !pending.isEmpty && (line.first == 0x20 || line.first == 0x09) {
                pending.append(line)
                return
            }
            flushHeader()
            if Self.isHeader(line) {
                pending = [line]
                return
            }
            endHeaders()
        }
        body(line)
    }

    /// Ends the message (a message without body still gets its headers).
    mutating func finish() {
        if inHeaders {
            flushHeader()
            endHeaders()
        }
    }

    /// `Name:` at the start of a line (RFC 5322 field name characters).
    static func isHeader(_ line: [UInt8]) -> Bool {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return false }
        var end = colon
        while end > 0 && (line[end - 1] == 0x20 || line[end - 1] == 0x09) { end -= 1 }
        guard end > 0 else { return false }
        return line[0..<end].allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }
    }

    /// The lower-cased name of a header line.
    static func headerName(_ line: [UInt8]) -> String {
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.count
        var end = colon
        while end > 0 && (line[end - 1] == 0x20 || line[end - 1] == 0x09) { end -= 1 }
        return String(decoding: line[0..<end], as: UTF8.self).lowercased()
    }

    /// The value of a logical header, continuation lines unfolded, trimmed.
    static func headerValue(_ lines: [[UInt8]]) -> String {
        var joined: [UInt8] = []
        for (i, l) in lines.enumerated() {
            if i == 0 {
                let colon = l.firstIndex(of: UInt8(ascii: ":")) ?? l.count - 1
                joined += l[(colon + 1)...]
            } else {
                joined += l
            }
        }
        return String(decoding: joined, as: UTF8.self).trimmingPostfixSpaceCompat()
    }

    private mutating func flushHeader() {
        guard !pending.isEmpty else { return }
        var lines = pending
        pending = []
        // header_size_limit: the rest of an oversized header is dropped.
        var size = 0
        var kept: [[UInt8]] = []
        for l in lines {
            if size + l.count > settings.headerSizeLimit {
                let room = max(0, settings.headerSizeLimit - size)
                if room > 0 { kept.append(Array(l[0..<room])) }
                break
            }
            size += l.count + 1
            kept.append(l)
        }
        lines = kept
        guard !lines.isEmpty else { return }
        headerBytes += size
        processHeader(lines)
    }

    private mutating func processHeader(_ lines: [[UInt8]]) {
        let name = Self.headerName(lines[0])
        var joined: [UInt8] = []
        for (i, l) in lines.enumerated() {
            if i > 0 { joined.append(0x0A) }
            joined += l
        }
        if settings.filter && verdict == .accept {
            let table = name.hasPrefix("content-") ? (settings.mimeHeaderChecks ?? settings.headerChecks) : settings.headerChecks
            if let table {
                let text = String(decoding: joined, as: UTF8.self)
                do {
                    if let actionText = try table(text) {
                        switch apply(CheckAction.parse(actionText), part: "header", text: joined) {
                        case .keep: break
                        case .drop: return
                        case .replace(let replacement):
                            output.append(Array(replacement.utf8))
                            return
                        case .prepend(let extra):
                            output.append(Array(extra.utf8))
                        }
                    }
                } catch {
                    temporaryError = error.text
                }
            }
        }
        switch name {
        case "received", "delivered-to": hops += 1
        case "message-id", "resent-message-id":
            let value = Self.headerValue(lines)
            logLines.append("\(settings.queueID): \(name)=\(value)")
            if name == "message-id" { messageIDLogged = true }
        case "bcc", "resent-bcc":
            seen.insert(name)
            if settings.dropBcc { return }
        default: break
        }
        seen.insert(name)
        output += lines
    }

    private enum HeaderOutcome { case keep, drop, replace(String), prepend(String) }

    /// Performs `action` for a header or body line; logs as Postfix does.
    private mutating func apply(_ action: CheckAction, part: String, text: [UInt8]) -> HeaderOutcome {
        switch action {
        case .reject(let t):
            let reason = CheckAction.rejectText(t)
            logLines.append(log.line("reject", part, text, optional: reason))
            verdict = .reject(reason)
        case .warn(let t):
            logLines.append(log.line("warning", part, text, optional: t))
        case .info(let t):
            logLines.append(log.line("info", part, text, optional: t))
        case .hold(let t):
            logLines.append(log.line("hold", part, text, optional: t))
            hold = true
            holdReason = t
        case .discard(let t):
            logLines.append(log.line("discard", part, text, optional: t))
            verdict = .discard
        case .redirect(let t):
            logLines.append(log.line("redirect", part, text, optional: t))
            redirect = t
        case .filter(let t):
            logLines.append(log.line("filter", part, text, optional: t))
            filterTarget = t
        case .bcc(let t):
            logLines.append(log.line("bcc", part, text, optional: t))
            bccRecipients.append(t)
        case .prepend(let t):
            logLines.append(log.line("prepend", part, text, optional: t))
            return .prepend(t)
        case .replace(let t):
            logLines.append(log.line("replace", part, text, optional: t))
            return .replace(t)
        case .ignore:
            return .drop
        case .pass:
            bodyChecksOff = true
        case .dunno, .ok:
            break
        case .unknown(let t):
            logLines.append("warning: \(settings.queueID): unknown command in header/body check: \(t)")
        }
        return .keep
    }

    private mutating func endHeaders() {
        inHeaders = false
        if settings.addMissingHeaders {
            if !seen.contains("message-id") {
                let id = messageID()
                output.append(Array("Message-Id: \(id)".utf8))
                logLines.append("\(settings.queueID): message-id=\(id)")
                messageIDLogged = true
            }
            if !seen.contains("date") {
                output.append(Array("Date: \(Self.mailDate(settings.arrivalTime))".utf8))
            }
            if !seen.contains("from") {
                output.append(Array("From: \(Self.fromHeader(sender: settings.sender, fullName: settings.fullName))".utf8))
            }
            if !settings.undisclosedRecipientsHeader.isEmpty
                && seen.isDisjoint(with: ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"]) {
                output.append(Array(settings.undisclosedRecipientsHeader.utf8))
            }
        }
        if !messageIDLogged {
            logLines.append("\(settings.queueID): message-id=<>")
            messageIDLogged = true
        }
    }

    private mutating func body(_ line: [UInt8]) {
        if settings.filter && !bodyChecksOff && verdict == .accept, let table = settings.bodyChecks {
            do {
                if let actionText = try table(String(decoding: line, as: UTF8.self)) {
                    switch apply(CheckAction.parse(actionText), part: "body", text: line) {
                    case .drop: return
                    case .replace(let r): output.append(Array(r.utf8)); return
                    case .prepend(let p): output.append(Array(p.utf8))
                    case .keep: break
                    }
                }
            } catch {
                temporaryError = error.text
            }
        }
        output.append(line)
    }

    /// `<YYYYMMDDhhmmss.QID@myhostname>` (`<QID@myhostname>` with long IDs).
    func messageID() -> String {
        if settings.longQueueIDs { return "<\(settings.queueID)@\(settings.myhostname)>" }
        return "<\(Self.strftime("%Y%m%d%H%M%S", settings.createTime)).\(settings.queueID)@\(settings.myhostname)>"
    }

    /// RFC 5322 date as Postfix writes it: `Sun, 29 Nov 2026 01:38:10 +0000 (UTC)`.
    static func mailDate(_ time: Int) -> String {
        var t = time_t(time)
        var parts = tm()
        localtime_r(&t, &parts)
        let offset = Int(parts.tm_gmtoff)
        let sign = offset < 0 ? "-" : "+"
        let minutes = abs(offset) / 60
        let hh = minutes / 60, mm = minutes % 60
        let zone = String(format2: hh) + String(format2: mm)
        return strftime("%a, %e %b %Y %H:%M:%S ", time) + sign + zone + " (" + strftime("%Z", time) + ")"
    }

    static func strftime(_ format: String, _ time: Int) -> String {
        var t = time_t(time)
        var parts = tm()
        localtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 128)
        let n = Glibc.strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `Full Name <addr>` (header_from_format = standard); the phrase is
    /// quoted when it has specials.
    static func fromHeader(sender: String, fullName: String?) -> String {
        let address = sender.isEmpty ? "MAILER-DAEMON" : sender
        guard let name = fullName, !name.isEmpty else { return address }
        let specials = Set("()<>@,;:\\\".[]")
        if name.contains(where: { specials.contains($0) }) {
            let escaped = name.replacingAll("\\", "\\\\").replacingAll("\"", "\\\"")
            return "\"\(escaped)\" <\(address)>"
        }
        return "\(name) <\(address)>"
    }
}

import Glibc

extension String {
    init(format2 value: Int) {
        self = value < 10 ? "0\(value)" : "\(value)"
    }

    func replacingAll(_ what: String, _ with: String) -> String {
        guard !what.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.range(of: what) {
            out += rest[..<r.lowerBound]
            out += with
            rest = rest[r.upperBound...]
        }
        return out + rest
    }

    func trimmingPostfixSpaceCompat() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" || f == "\n" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" || l == "\n" { s = s.dropLast() }
        return String(s)
    }
}

extension Substring {
    func range(of needle: String) -> Range<Index>? {
        let n = Array(needle)
        guard !n.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            var j = i
            var k = 0
            while k < n.count && j < endIndex && self[j] == n[k] { j = index(after: j); k += 1 }
            if k == n.count { return i..<j }
            i = index(after: i)
        }
        return nil
    }
}
