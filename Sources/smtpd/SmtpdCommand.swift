// SmtpdCommand: parsing of SMTP command lines as Postfix's smtpd reads them:
// the verb, MAIL FROM/RCPT TO paths (angle brackets, quoted local parts,
// source routes, and the bare form unless strict_rfc821_envelopes), ESMTP
// parameters (SIZE, BODY, RET, ENVID, NOTIFY, ORCPT, SMTPUTF8, AUTH) and
// xtext. Pure functions over bytes: no I/O, unit-tested and fuzzable.

enum SmtpdCommand {
    /// White space between command words: C's isspace(), as Postfix's
    /// smtpd_token (so "NOOP<CR>MAIL ..." is NOOP with an argument).
    static func isSpace(_ c: Character) -> Bool {
        c == " " || c == "\t" || c == "\r" || c == "\n" || c == "\u{0B}" || c == "\u{0C}"
    }

    /// The same test on a byte (space, \t, \n, \v, \f, \r).
    static func isSpaceByte(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

    /// Splits a command line into its upper-cased verb and the rest. The
    /// scan is over bytes, as Postfix's (and a Character scan would see
    /// "\r\n" as one non-space character).
    static func split(_ line: String) -> (verb: String, rest: Substring) {
        var line = line
        // Offsets in the contiguous bytes (UTF8View index walking is generic).
        let (verb, restStart) = line.withUTF8 { b -> (String, Int) in
            var i = 0
            while i < b.count && isSpaceByte(b[i]) { i += 1 }
            var j = i
            while j < b.count && !isSpaceByte(b[j]) { j += 1 }
            var k = j
            while k < b.count && isSpaceByte(b[k]) { k += 1 }
            // ASCII case only: Postfix matches command names byte by byte
            // without regard to ASCII case ("rſet" is not RSET).
            let verb = String(unsafeUninitializedCapacity: j - i) { out in
                for n in i..<j {
                    let c = b[n]
                    out[n - i] = c >= 0x61 && c <= 0x7A ? c - 0x20 : c
                }
                return j - i
            }
            return (verb, k)
        }
        let u = line.utf8
        return (verb, line[u.index(u.startIndex, offsetBy: restStart)...])
    }

    /// Strict UTF-8 (no overlong forms, surrogates or code points above
    /// U+10FFFF), as Postfix's valid_utf8_string.
    static func isValidUTF8(_ bytes: some Collection<UInt8>) -> Bool {
        var it = bytes.makeIterator()
        while let c0 = it.next() {
            if c0 <= 0x7F { continue }
            let tail: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch c0 {
            case 0xC2...0xDF: tail = 1
            case 0xE0...0xEF:
                tail = 2
                if c0 == 0xE0 { low = 0xA0 }
                if c0 == 0xED { high = 0x9F }
            case 0xF0...0xF4:
                tail = 3
                if c0 == 0xF0 { low = 0x90 }
                if c0 == 0xF4 { high = 0x8F }
            default: return false
            }
            for i in 0..<tail {
                guard let c = it.next() else { return false }
                if i == 0 { guard c >= low && c <= high else { return false } }
                else { guard c & 0xC0 == 0x80 else { return false } }
            }
        }
        return true
    }

    enum PathError: Error, Equatable {
        /// Missing "FROM:"/"TO:": reply with the command's syntax.
        case syntax
        /// The address itself is malformed.
        case badAddress
        /// "<" without its ">" (rejected without a warning, as Postfix).
        case unterminated
    }

    /// Parses `FROM:<addr> params...` (keyword "FROM:" or "TO:").
    static func path(_ rest: Substring, keyword: String, strict: Bool) -> Result<(address: String, parameters: [Substring]), PathError> {
        // Over bytes: every delimiter is ASCII, and a Character scan cost
        // more than the rest of the command's handling.
        let bytes = rest.utf8
        var i = bytes.startIndex
        for k in keyword.utf8 {
            guard i < bytes.endIndex else { return .failure(.syntax) }
            let b = bytes[i]
            guard (b >= 0x61 && b <= 0x7A ? b - 0x20 : b) == k else { return .failure(.syntax) }
            i = bytes.index(after: i)
        }
        func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
        while i < bytes.endIndex && isBlank(bytes[i]) { i = bytes.index(after: i) }
        guard i < bytes.endIndex else { return .failure(.syntax) }
        let address: Substring
        var after: String.Index
        if bytes[i] == 0x3C {  // "<"
            var inQuote = false
            var escaped = false
            var close: String.Index? = nil
            var j = bytes.index(after: i)
            while j < bytes.endIndex {
                let c = bytes[j]
                if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inQuote.toggle() } else if c == 0x3E && !inQuote { close = j; break }
                j = bytes.index(after: j)
            }
            guard let close else { return .failure(.unterminated) }
            address = rest[bytes.index(after: i)..<close]
            // Postfix's tokenizer keeps stray characters after ">" with the address token.
            after = bytes.index(after: close)
            while after < bytes.endIndex && !isBlank(bytes[after]) { after = bytes.index(after: after) }
        } else {
            if strict { return .failure(.badAddress) }
            after = unbracketedEnd(bytes, from: i)
            address = rest[i..<after]
        }
        guard let form = internalForm(address, strict: strict) else { return .failure(.badAddress) }
        var parameters: [Substring] = []
        while after < bytes.endIndex {
            while after < bytes.endIndex && isBlank(bytes[after]) { after = bytes.index(after: after) }
            guard after < bytes.endIndex else { break }
            let start = after
            while after < bytes.endIndex && !isBlank(bytes[after]) { after = bytes.index(after: after) }
            parameters.append(rest[start..<after])
        }
        return .success((form, parameters))
    }

    /// Where an address without <> that starts at `i` ends: at a blank
    /// outside quotes (a quoted string may hold blanks; a backslash quotes
    /// the next character), as Postfix's command tokenizer reads it.
    static func unbracketedEnd(_ bytes: Substring.UTF8View, from i: String.Index) -> String.Index {
        var j = i
        var inQuote = false
        var escaped = false
        while j < bytes.endIndex {
            let c = bytes[j]
            if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inQuote.toggle() }
            else if !inQuote && (c == 0x20 || c == 0x09) { break }
            j = bytes.index(after: j)
        }
        return j
    }

    /// The address as the client wrote it after `FROM:`/`TO:` (for the
    /// "Illegal address syntax" warning, which quotes just that token).
    static func addressToken(_ rest: Substring, keyword: String) -> Substring {
        let bytes = rest.utf8
        var i = bytes.index(bytes.startIndex, offsetBy: min(keyword.utf8.count, bytes.count))
        while i < bytes.endIndex && (bytes[i] == 0x20 || bytes[i] == 0x09) { i = bytes.index(after: i) }
        guard i < bytes.endIndex else { return rest[i...] }
        if bytes[i] == 0x3C {
            var inQuote = false
            var escaped = false
            var j = bytes.index(after: i)
            while j < bytes.endIndex {
                let c = bytes[j]
                if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inQuote.toggle() }
                else if c == 0x3E && !inQuote { break }
                j = bytes.index(after: j)
            }
            guard j < bytes.endIndex else { return rest[i...] }
            var after = bytes.index(after: j)
            while after < bytes.endIndex && bytes[after] != 0x20 && bytes[after] != 0x09 { after = bytes.index(after: after) }
            return rest[i..<after]
        }
        return rest[i..<unbracketedEnd(bytes, from: i)]
    }

    /// The address without its source route and quotes; nil when it holds
    /// white space or control characters outside quotes.
    static func internalForm(_ address: Substring, strict: Bool) -> String? {
        // The usual address (printable ASCII, no quoting, no source route)
        // is its own internal form.
        if address.utf8.first != 0x40 && !address.utf8.contains(where: {
            $0 <= 0x20 || $0 >= 0x7F || $0 == 0x22 || $0 == 0x5C || $0 == 0x3C || $0 == 0x3E
        }) {
            return String(address)
        }
        var inQuote = false
        var escaped = false
        var out = ""
        out.reserveCapacity(address.utf8.count)
        for c in address.unicodeScalars {
            // A quoted, backslash-escaped control character is kept (RFC 5321
            // quoted-pair; Postfix accepts it); anywhere else it is refused.
            if escaped {
                escaped = false
                // Accepted as Postfix accepts it, but never a CR or LF inside
                // an address that goes on to logs, queue files and other
                // servers: an escaped one is kept as "?".
                out.unicodeScalars.append(c == "\r" || c == "\n" ? "?" : c)
                continue
            }
            if c.value < 0x20 || c.value == 0x7F { return nil }
            // A backslash quotes the next character, in or out of quotes
            // (RFC 822 quoted-pair, as Postfix's tokenizer reads it).
            if c == "\\" { escaped = true; continue }
            if c == "\"" { inQuote.toggle(); continue }
            if (c == " " || c == "\t") && !inQuote { return nil }
            if !inQuote && (c == "<" || c == ">") { return nil }
            out.unicodeScalars.append(c)
        }
        if inQuote { return nil }
        if out.hasPrefix("@") {
            // Source route "@a,@b:user@domain": keep user@domain.
            if let colon = out.firstIndex(of: ":") {
                out = String(out[out.index(after: colon)...])
            } else if strict {
                // "@domain" (an empty local part) is not RFC 821 syntax;
                // Postfix refuses it with strict_rfc821_envelopes.
                return nil
            }
        }
        return out
    }

    /// Decodes RFC 3461 xtext ("+2B" -> "+"); nil when malformed.
    static func xtextDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var it = Array(text.utf8)[...]
        while let c = it.first {
            it = it.dropFirst()
            if c < 0x21 || c > 0x7E || c == UInt8(ascii: "=") { return nil }
            if c == UInt8(ascii: "+") {
                guard it.count >= 2, let v = hex(it[it.startIndex]), let w = hex(it[it.startIndex + 1]) else { return nil }
                bytes.append(v << 4 | w)
                it = it.dropFirst(2)
            } else {
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        default: return nil
        }
    }

    /// DSN NOTIFY bits (Postfix's DSN_NOTIFY_*), as dsn_notify_mask: words
    /// separated by commas or white space, any case; NEVER only alone.
    static func notifyFlags(_ value: Substring) -> Int? {
        var flags = 0
        for word in value.split(whereSeparator: { $0 == "," || isSpace($0) }) {
            switch word.uppercased() {
            case "NEVER": flags |= 1
            case "SUCCESS": flags |= 2
            case "FAILURE": flags |= 4   // Postfix's DSN_NOTIFY_FAILURE
            case "DELAY": flags |= 8     // DSN_NOTIFY_DELAY
            default: return nil
            }
        }
        if flags & 1 != 0 && flags != 1 { return nil }
        return flags == 0 ? nil : flags
    }

    /// The first NOTIFY word that is not a DSN keyword (Postfix warns
    /// `unknown DSN NOTIFY command value "W" in "VALUE"`).
    static func unknownNotifyWord(_ value: Substring) -> Substring? {
        value.split(whereSeparator: { $0 == "," || isSpace($0) }).first {
            !["NEVER", "SUCCESS", "DELAY", "FAILURE"].contains($0.uppercased())
        }
    }

    /// "rfc822;addr" -> ("rfc822", decoded addr).
    static func orcpt(_ value: Substring) -> (type: String, address: String)? {
        guard let semi = value.firstIndex(of: ";") else { return nil }
        let type = value[..<semi]
        guard !type.isEmpty, type.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return nil }
        guard let address = xtextDecode(value[value.index(after: semi)...]), !address.isEmpty else { return nil }
        return (String(type), address)
    }

    /// C-style escape of pending input for the pipelining log line.
    static func escaped(_ bytes: [UInt8]) -> String {
        var out = ""
        for b in bytes {
            switch b {
            case 0x0D: out += "\\r"
            case 0x0A: out += "\\n"
            case 0x09: out += "\\t"
            case 0x5C: out += "\\\\"
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let oct = String(b, radix: 8)
                out += "\\" + String(repeating: "0", count: 3 - oct.count) + oct
            }
        }
        return out
    }

    /// Whether a command word looks like a message header label
    /// ("Subject:", "MAILFROM:<a@b>"), as Postfix's is_header: printable
    /// ASCII up to the first colon.
    static func looksLikeHeader(_ verb: String) -> Bool {
        guard let colon = verb.utf8.firstIndex(of: UInt8(ascii: ":")), colon != verb.utf8.startIndex else { return false }
        return verb.utf8[..<colon].allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }
}
