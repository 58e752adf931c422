// CleanupMessage: the content side of cleanup as a value type that takes
// message lines and returns what to write. Lines are followed through the
// MIME structure (CleanupMime): each logical header (continuation lines
// joined, cut at $header_size_limit) goes through header_checks (primary
// headers), mime_header_checks (MIME headers anywhere, and the headers of
// multipart body parts) or nested_header_checks (headers of attached
// messages); body lines (boundary lines included, the first
// $body_checks_size_limit bytes of each body segment) through body_checks.
// Primary headers are then counted (Received: against $hopcount_limit),
// dropped ($message_drop_headers), their addresses rewritten (sender and
// recipient headers, through the caller's rewriter) and folded as Postfix
// folds them; at the end of the primary headers missing (Resent-)Message-Id,
// Date, From and $undisclosed_recipients_header are added. Log lines and
// verdicts are collected for the caller; no I/O happens here.
import Global

/// A header or body check table: returns the action text or nil.
typealias CheckLookup = (String) throws(CleanupTemporaryError) -> String?

/// Rewrites one header address given in external form (sender: a sender
/// header); returns the result in internal form and whether it changed.
typealias HeaderAddressRewriter = (String, Bool) throws(CleanupTemporaryError) -> (address: String, changed: Bool)

struct CleanupTemporaryError: Error, Equatable {
    var text: String
}

/// What the content checks decided for the whole message.
enum ContentVerdict: Equatable {
    case accept
    case reject(String)
    case discard
}

/// How cleanup treats a header, by name (Postfix's header table).
struct HeaderKind: OptionSet {
    let rawValue: Int
    static let sender = HeaderKind(rawValue: 1)
    static let recipient = HeaderKind(rawValue: 2)
    static let mime = HeaderKind(rawValue: 4)
    static let resent = HeaderKind(rawValue: 8)

    static let table: [String: HeaderKind] = [
        "apparently-to": .recipient, "bcc": .recipient, "cc": .recipient, "to": .recipient,
        "content-description": .mime, "content-disposition": .mime, "content-id": .mime,
        "content-transfer-encoding": .mime, "content-type": .mime, "mime-version": .mime,
        "disposition-notification-to": .sender, "errors-to": .sender, "from": .sender,
        "mail-followup-to": .sender, "reply-to": .sender, "return-path": .sender,
        "return-receipt-to": .sender, "sender": .sender,
        "resent-bcc": [.recipient, .resent], "resent-cc": [.recipient, .resent], "resent-to": [.recipient, .resent],
        "resent-reply-to": [.recipient, .resent], "resent-from": [.sender, .resent],
        "resent-sender": [.sender, .resent], "resent-date": .resent, "resent-message-id": .resent,
    ]

    static func of(_ name: String) -> HeaderKind { table[name] ?? [] }
}

struct CleanupMessage {
    struct Settings {
        var headerChecks: CheckLookup?
        var mimeHeaderChecks: CheckLookup?
        var nestedHeaderChecks: CheckLookup?
        var bodyChecks: CheckLookup?
        /// Apply the checks at all (CLEANUP_FLAG_FILTER).
        var filter = true
        /// Add missing headers (header rewriting context, or always_add_missing_headers).
        var addMissingHeaders = true
        /// $message_drop_headers, lower case.
        var dropHeaders = Settings.defaultDropHeaders
        /// Built once: a set literal here was built (and hashed) for every message.
        static let defaultDropHeaders: Set<String> = ["bcc", "content-length", "resent-bcc", "return-path"]
        var headerSizeLimit = 102400
        var hopcountLimit = 50
        /// $body_checks_size_limit (0 = no limit).
        var bodyChecksSizeLimit = 51200
        /// MIME processing (not $disable_mime_input_processing).
        var mime = true
        var mimeNestingLimit = 100
        var mimeBoundaryLengthLimit = 2048
        /// Reject mail nested deeper than $mime_nesting_limit (Postfix does
        /// when header checks are in use).
        var reportNesting = false
        /// Rewrites addresses in sender/recipient headers; nil: headers
        /// are not rewritten (remote client, no $remote_header_rewrite_domain).
        var headerRewriter: HeaderAddressRewriter?
        /// $header_address_token_limit.
        var tokenLimit = 10240
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
    /// The outcome: a check's REJECT or DISCARD, else a MIME error's
    /// reject, else accept.
    var verdict: ContentVerdict {
        if checkVerdict == .accept, let e = mimeError { return .reject(e) }
        return checkVerdict
    }
    /// What the checks decided; a MIME error does not stop the checks
    /// (Postfix goes on logging them), so it is kept apart.
    private var checkVerdict: ContentVerdict = .accept
    private(set) var hold = false
    private(set) var holdReason = ""
    private(set) var redirect: String?
    private(set) var filterTarget: String?
    private(set) var bccRecipients: [String] = []
    /// Received: headers among the primary headers.
    private(set) var hops = 0
    private(set) var temporaryError: String?
    private(set) var messageIDLogged = false
    /// The reject reason of a MIME error (5.6.0 ...), also in `verdict`.
    private(set) var mimeError: String?

    private var mime = CleanupMime()
    private var pending: [[UInt8]] = []   // the logical header being collected
    private var pendingSize = 0
    private var pendingTruncated = false
    /// Header and body checks still apply (REDIRECT, PASS, DISCARD end them).
    private var filtering: Bool
    private var seen = Set<String>(minimumCapacity: 16)  // header names: no regrowing per message
    private var resent = false
    private var bodyOffset = 0

    init(settings: Settings, log: CheckLogContext) {
        self.settings = settings
        self.log = log
        filtering = settings.filter
        mime.enabled = settings.mime
        mime.nestingLimit = settings.mimeNestingLimit
        mime.boundaryLengthLimit = settings.mimeBoundaryLengthLimit
    }

    /// True while lines are still primary headers.
    var inHeaderBlock: Bool { mime.state == .headers(.primary) }

    /// Output may still be written (no reject, no discard).
    private var outputOK: Bool { checkVerdict == .accept }

    /// Feeds one message line (without its terminator).
    mutating func add(line: [UInt8]) {
        switch mime.state {
        case .headers(let context):
            if !pending.isEmpty && (line.first == 0x20 || line.first == 0x09) {
                appendContinuation(line)
                return
            }
            flushHeader(context)
            if Self.isHeader(line) {
                pending = []
                pendingSize = 0
                pendingTruncated = false
                appendContinuation(line)
                return
            }
            endHeaderBlock(context)
            if line.isEmpty {
                emit(line)
            } else {
                // The primary headers always end with an empty line, as
                // Postfix writes it; a message without one gets it here.
                if context == .primary { emit([]) }
                add(line: line)
            }
        case .body:
            body(line)
        }
    }

    /// Ends the message (a message without body still gets its headers).
    mutating func finish() {
        if case .headers(let context) = mime.state {
            flushHeader(context)
            endHeaderBlock(context)
        }
    }

    /// After a REJECT the primary headers are still kept (unchecked), as
    /// Postfix keeps them: a local message comes back to its sender with
    /// them; the body is not kept.
    private mutating func emit(_ line: [UInt8]) {
        if outputOK || (rejected && inHeaderBlock) { output.append(line) }
    }

    private var rejected: Bool {
        if case .reject = checkVerdict { return true }
        return false
    }

    /// Adds one physical line to the pending header within $header_size_limit:
    /// the first line is cut to the limit; a later line that does not fit
    /// is cut to the room left (dropped when under 100 bytes), and the rest
    /// of the header is dropped.
    private mutating func appendContinuation(_ line: [UInt8]) {
        let limit = max(1, settings.headerSizeLimit)
        if pendingTruncated { return }
        if pending.isEmpty {
            let kept = line.count > limit ? Array(line[0..<limit]) : line
            pendingTruncated = line.count > limit
            pending = [kept]
            pendingSize = kept.count
            return
        }
        if pendingSize + 1 + line.count > limit {
            // Postfix 3.7 keeps a cut piece only when at least 100 bytes fit.
            pendingTruncated = true
            let room = limit - pendingSize - 1
            if room >= 100 {
                pending.append(Array(line[0..<room]))
                pendingSize = limit
            }
            return
        }
        pending.append(line)
        pendingSize += 1 + line.count
    }

    /// `Name:` at the start of a line (RFC 5322 field name characters).
    /// Any recipient header counts, Resent- or not (as Postfix 3.7).
    static let recipientHeaders: Set<String> = ["resent-to", "resent-cc", "resent-bcc", "to", "cc", "bcc"]

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
        return String(unsafeUninitializedCapacity: end) { buffer in
            for i in 0..<end { let b = line[i]; buffer[i] = b >= 0x41 && b <= 0x5A ? b + 0x20 : b }
            return end
        }
    }

    /// The bytes after the colon of a logical header, newlines kept.
    static func headerValueBytes(_ joined: [UInt8]) -> [UInt8] {
        guard let colon = joined.firstIndex(of: UInt8(ascii: ":")) else { return [] }
        return Array(joined[(colon + 1)...])
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

    static func join(_ lines: [[UInt8]]) -> [UInt8] {
        if lines.count == 1 { return lines[0] }
        var joined: [UInt8] = []
        for (i, l) in lines.enumerated() {
            if i > 0 { joined.append(0x0A) }
            joined += l
        }
        return joined
    }

    static func split(_ text: [UInt8]) -> [[UInt8]] {
        text.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
    }

    private mutating func flushHeader(_ context: MimeHeaderContext) {
        guard !pending.isEmpty else { return }
        let lines = pending
        pending = []
        processHeader(lines, context: context)
    }

    /// One logical header: MIME bookkeeping, checks, then (primary headers)
    /// counting, dropping, rewriting.
    private mutating func processHeader(_ given: [[UInt8]], context: MimeHeaderContext) {
        var lines = given
        var joined = Self.join(lines)
        var name = Self.headerName(lines[0])
        var kind = HeaderKind.of(name)
        if name == "content-type" && mime.contentType(Self.headerValueBytes(joined)) && settings.reportNesting
            && outputOK && mimeError == nil {
            logLines.append(log.mimeError("MIME nesting exceeds safety limit", joined))
            let reason = "5.6.0 MIME nesting exceeds safety limit"
            mimeError = reason
        }
        let table: (CheckLookup?, String)
        if kind.contains(.mime) || context == .multipart {
            table = (settings.mimeHeaderChecks, "mime_header_checks")
        } else if context == .nested {
            table = (settings.nestedHeaderChecks, "nested_header_checks")
        } else {
            table = (settings.headerChecks, "header_checks")
        }
        if filtering && outputOK, let lookup = table.0 {
            do {
                if let actionText = try lookup(String(decoding: joined, as: UTF8.self)) {
                    switch apply(CheckAction.parse(actionText), part: "header", text: joined, map: table.1) {
                    case .keep: break
                    case .drop: return
                    case .replace(let replacement):
                        joined = Array(replacement.utf8)
                        lines = Self.split(joined)
                        name = Self.headerName(lines[0])
                        kind = HeaderKind.of(name)
                        if !Self.isHeader(lines[0]) || context != .primary || kind.contains(.mime) {
                            for l in lines { emit(l) }
                            return
                        }
                    case .prepend(let extra):
                        for l in Self.split(Array(extra.utf8)) { emit(l) }
                    }
                }
            } catch {
                temporaryError = error.text
            }
        }
        guard context == .primary, !kind.contains(.mime) else {
            for l in lines { emit(l) }
            return
        }
        guard outputOK else {
            if rejected {
                seen.insert(name)
                for l in lines { emit(l) }
            }
            return
        }
        seen.insert(name)
        switch name {
        case "received":
            hops += 1
            if hops >= settings.hopcountLimit {
                logLines.append("warning: \(settings.queueID): message rejected: hopcount exceeded")
            }
        case "message-id", "resent-message-id":
            logLines.append("\(settings.queueID): \(name)=\(Self.headerValue(lines))")
            if name == "message-id" { messageIDLogged = true }
        default: break
        }
        if kind.contains(.resent) { resent = true }
        if settings.dropHeaders.contains(name) { return }
        if !kind.isDisjoint(with: [.sender, .recipient]), let rewriter = settings.headerRewriter {
            if let rewritten = rewriteAddresses(joined, nameLength: name.utf8.count, sender: kind.contains(.sender),
                                                rewriter: rewriter) {
                output += rewritten
                return
            }
        }
        output += lines
    }

    /// The header with every address rewritten and the list folded, or nil
    /// when no address changed (the header stays as it was).
    private mutating func rewriteAddresses(_ joined: [UInt8], nameLength: Int, sender: Bool,
                                           rewriter: HeaderAddressRewriter) -> [[UInt8]]? {
        guard let colon = joined.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        var rewriter = rewriter
        // The usual header, one plain address (`local@domain` or
        // `<local@domain>`, atoms and single dots): the address is its own
        // external form, so the rewriter is asked about it directly and the
        // header is kept, unparsed, when nothing changes. A changed address
        // takes the full path below with the answer already known.
        if let plain = Self.plainAddress(joined[(colon + 1)...]) {
            let answer: (address: String, changed: Bool)
            do {
                answer = try rewriter(plain, sender)
            } catch {
                temporaryError = error.text
                return nil
            }
            guard answer.changed else { return nil }
            let ask = rewriter
            rewriter = { (address: String, asSender: Bool) throws(CleanupTemporaryError) -> (address: String, changed: Bool) in
                if address == plain && asSender == sender { return answer }
                return try ask(address, asSender)
            }
        }
        var list = HeaderAddressParser.parse(Array(joined[(colon + 1)...]), limit: settings.tokenLimit)
        var changed = false
        for i in list.addressIndices {
            guard case .address(let tokens) = list.items[i] else { continue }
            do {
                let result = try rewriter(HeaderAddressParser.externalForm(tokens), sender)
                if result.changed {
                    changed = true
                    list.items[i] = .address(HeaderAddressParser.tokens(of: Array(HeaderAddressParser.quoteInternal(result.address).utf8), limit: 0)
                        .tokens.filter { $0.kind != .comment })
                }
            } catch {
                temporaryError = error.text
                return nil
            }
        }
        guard changed else { return nil }
        let name = Array(joined[0..<min(nameLength, colon)])
        return Self.fold(name + Array(": ".utf8) + list.text(oneAddressPerLine: true))
    }

    /// The address of a header value that is one plain address, bare or in
    /// angle brackets, between blanks: a non-empty local part and domain of
    /// printable ASCII atom characters with single inner dots, one `@`;
    /// nil for anything else (comments, quotes, phrases, lists, groups,
    /// folded or 8-bit values go through the parser).
    static func plainAddress(_ value: ArraySlice<UInt8>) -> String? {
        var lo = value.startIndex, hi = value.endIndex
        while lo < hi && (value[lo] == 0x20 || value[lo] == 0x09) { lo += 1 }
        while hi > lo && (value[hi - 1] == 0x20 || value[hi - 1] == 0x09) { hi -= 1 }
        if hi - lo >= 2 && value[lo] == UInt8(ascii: "<") && value[hi - 1] == UInt8(ascii: ">") {
            lo += 1
            hi -= 1
        }
        guard lo < hi else { return nil }
        var at: Int? = nil
        var previous: UInt8 = UInt8(ascii: "@")  // the start behaves like a part boundary
        for i in lo..<hi {
            let b = value[i]
            if b == UInt8(ascii: "@") {
                guard at == nil, previous != UInt8(ascii: "@"), previous != UInt8(ascii: ".") else { return nil }
                at = i
            } else if b == UInt8(ascii: ".") {
                guard previous != UInt8(ascii: "@"), previous != UInt8(ascii: ".") else { return nil }
            } else {
                guard b > 0x20 && b < 0x7F && !HeaderAddressParser.isSpecialByte(b) else { return nil }
            }
            previous = b
        }
        guard at != nil, previous != UInt8(ascii: "@"), previous != UInt8(ascii: ".") else { return nil }
        return String(decoding: value[lo..<hi], as: UTF8.self)
    }

    /// Joins one-address-per-line text into header lines as Postfix does:
    /// an address goes on the current line while that line stays under 70
    /// bytes; continuation lines start with a TAB.
    static func fold(_ text: [UInt8]) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var current: [UInt8] = []
        for (i, segment) in split(text).enumerated() {
            if i == 0 {
                current = segment
            } else if current.count + 1 + segment.count < 70 {
                current.append(0x20)
                current += segment
            } else {
                lines.append(current)
                current = segment
            }
        }
        lines.append(current)
        for i in lines.indices.dropFirst() where !(lines[i].first == 0x20 || lines[i].first == 0x09) {
            lines[i].insert(0x09, at: 0)
        }
        return lines
    }

    private enum HeaderOutcome { case keep, drop, replace(String), prepend(String) }

    /// Performs `action` for a header or body line; logs as Postfix does.
    private mutating func apply(_ action: CheckAction, part: String, text: [UInt8], map: String) -> HeaderOutcome {
        switch action {
        case .reject(let t):
            let reason = CheckAction.rejectText(t)
            logLines.append(log.line("reject", part, text, optional: reason))
            checkVerdict = .reject(reason)
            filtering = false
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
            checkVerdict = .discard
            filtering = false
        case .redirect(let t):
            guard t.contains("@") else {
                logLines.append("warning: bad REDIRECT target \"\(t)\" in \(map) map, need user@domain")
                break
            }
            logLines.append(log.line("redirect", part, text, optional: t))
            redirect = t
            filtering = false
        case .filter(let t):
            guard t.contains(":") else {
                logLines.append("warning: bad FILTER action syntax in \(map) map: \"\(t)\"")
                break
            }
            logLines.append(log.line("filter", part, text, optional: t))
            filterTarget = t
        case .bcc(let t):
            guard t.contains("@") else {
                logLines.append("warning: bad BCC address \"\(t)\" in \(map) map, need user@domain")
                break
            }
            logLines.append(log.line("bcc", part, text, optional: t))
            bccRecipients.append(t)
        case .prepend(let t):
            logLines.append(log.line("prepend", part, text, optional: t))
            return .prepend(t)
        case .replace(let t):
            logLines.append(log.line("replace", part, text, optional: t))
            return .replace(t)
        case .strip(let t):
            logLines.append(log.line("strip", part, text, optional: t))
            return .drop
        case .ignore:
            return .drop
        case .pass(let t):
            logLines.append(log.line("pass", part, text, optional: t))
            filtering = false
        case .dunno, .ok:
            break
        case .unknown(let t):
            logLines.append("warning: unknown command in \(map) map: \(t)")
        }
        return .keep
    }

    private mutating func endHeaderBlock(_ context: MimeHeaderContext) {
        if context == .primary { endPrimaryHeaders() }
        mime.endOfHeaders()
        bodyOffset = 0
    }

    private mutating func endPrimaryHeaders() {
        // A rejected message still gets its missing headers (the notice
        // returns them), but no `message-id=<>` line.
        guard outputOK || rejected else { return }
        let prefix = resent ? "Resent-" : ""
        if settings.addMissingHeaders {
            if !seen.contains(resent ? "resent-message-id" : "message-id") {
                let id = messageID()
                output.append(Array("\(prefix)Message-Id: \(id)".utf8))
                logLines.append("\(settings.queueID): \(prefix.lowercased())message-id=\(id)")
                if !resent { messageIDLogged = true }
            }
            if !seen.contains(resent ? "resent-date" : "date") {
                output.append(Array("\(prefix)Date: \(MailDate.format(settings.arrivalTime))".utf8))
            }
            if !seen.contains(resent ? "resent-from" : "from") {
                output.append(Array("\(prefix)From: \(Self.fromHeader(sender: settings.sender, fullName: settings.fullName))".utf8))
            }
            // Any recipient header counts, Resent- or not (as Postfix 3.7).
            if !settings.undisclosedRecipientsHeader.isEmpty && seen.isDisjoint(with: Self.recipientHeaders) {
                if Self.isHeader(Array(settings.undisclosedRecipientsHeader.utf8)) {
                    output.append(Array(settings.undisclosedRecipientsHeader.utf8))
                } else {
                    logLines.append("warning: bad undisclosed_recipients_header header: \(settings.undisclosedRecipientsHeader)")
                }
            }
        }
        if !messageIDLogged && !rejected {
            logLines.append("\(settings.queueID): message-id=<>")
            messageIDLogged = true
        }
    }

    private mutating func body(_ given: [UInt8]) {
        var line = given
        mime.bodyLine(line)
        let offset = bodyOffset
        bodyOffset += line.count + 1
        if case .headers = mime.state { bodyOffset = 0 }
        if filtering && outputOK && !line.isEmpty, let table = settings.bodyChecks,
           settings.bodyChecksSizeLimit <= 0 || offset < settings.bodyChecksSizeLimit {
            do {
                if let actionText = try table(String(decoding: line, as: UTF8.self)) {
                    switch apply(CheckAction.parse(actionText), part: "body", text: line, map: "body_checks") {
                    case .drop: return
                    case .replace(let r): line = Array(r.utf8)
                    case .prepend(let p): emit(Array(p.utf8))
                    case .keep: break
                    }
                }
            } catch {
                temporaryError = error.text
            }
        }
        emit(line)
    }

    /// `<YYYYMMDDhhmmss.QID@myhostname>` (`<QID@myhostname>` with long IDs).
    func messageID() -> String {
        if settings.longQueueIDs { return "<\(settings.queueID)@\(settings.myhostname)>" }
        return "<\(MailDate.strftime("%Y%m%d%H%M%S", settings.createTime)).\(settings.queueID)@\(settings.myhostname)>"
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
