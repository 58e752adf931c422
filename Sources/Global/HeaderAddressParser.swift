// HeaderAddressParser: RFC 5322 address lists as they appear in message
// headers (From, To, Cc, Sender, Reply-To, Resent-*, ...), for code that
// rewrites or extracts header addresses (cleanup; smtpd and bounce may use
// it too). Works on bytes: header text may hold 8-bit data, and text that
// is not an address (phrases, comments) must come back unchanged.
//
// Three steps, each usable alone:
// - `tokens(of:limit:)` splits text into atoms, "quoted strings",
//   [domain literals], (comments, nested) and specials. Unterminated quoted
//   strings, comments and literals run to the end of the text; at most
//   `limit` tokens are produced (header_address_token_limit), the rest of
//   the text is ignored.
// - `parse(_:limit:)` groups tokens into addresses the way Postfix does:
//   `phrase <addr>`, bare addr-specs (adjacent words without an operator
//   between them are separate addresses, "a b" = "a, b"), `name: a, b;`
//   groups; comments inside an address move after it.
// - `HeaderAddressList.text(oneAddressPerLine:)` writes the list back with
//   Postfix's spacing (one space between words, a space before `<`, none
//   around other operators), optionally with a newline after each comma so
//   that the caller can fold the header.

/// One token of a header address list.
public struct HeaderAddressToken: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// A run of atom characters (dot excluded).
        case atom
        /// A quoted string; `text` is its content with backslash escapes removed.
        case quoted
        /// `[...]`; `text` is the content without brackets.
        case domainLiteral
        /// `(...)`; `text` is the whole comment, parentheses included.
        case comment
        /// One of `()<>@,;:\".[]` that is not part of another token.
        case special
    }
    public var kind: Kind
    public var text: [UInt8]

    public init(_ kind: Kind, _ text: [UInt8]) {
        self.kind = kind
        self.text = text
    }

    public init(_ kind: Kind, _ text: String) { self.init(kind, Array(text.utf8)) }

    public func isSpecial(_ c: Character) -> Bool {
        kind == .special && text.count == 1 && text[0] == c.asciiValue
    }

    /// Words: the things an address or a phrase is made of.
    var isWord: Bool { kind == .atom || kind == .quoted || kind == .domainLiteral }
}

/// One element of a parsed list: a token outside any address, or an address.
public enum HeaderAddressItem: Equatable, Sendable {
    case token(HeaderAddressToken)
    /// A group name's colon (`name:` before a group's addresses).
    case groupStart
    /// The tokens of one address (local part, `@`, domain; no comments).
    case address([HeaderAddressToken])
}

/// A parsed address list.
public struct HeaderAddressList: Equatable, Sendable {
    public var items: [HeaderAddressItem]
    /// The token limit cut the text short.
    public var truncated: Bool

    public init(items: [HeaderAddressItem], truncated: Bool = false) {
        self.items = items
        self.truncated = truncated
    }

    /// Indices of the address items.
    public var addressIndices: [Int] {
        items.indices.filter { if case .address = items[$0] { return true } else { return false } }
    }

    /// The addresses in internal form (quotes removed).
    public var addresses: [String] {
        addressIndices.compactMap { i in
            if case .address(let t) = items[i] { return HeaderAddressParser.internalForm(t) }
            return nil
        }
    }

    /// The list as header text. With `oneAddressPerLine` a newline follows
    /// each comma (the caller folds), otherwise a space.
    public func text(oneAddressPerLine: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < items.count {
            let item = items[i]
            switch item {
            case .groupStart:
                out.append(UInt8(ascii: ":"))
            case .address(let tokens):
                out += Array(HeaderAddressParser.quoteInternal(HeaderAddressParser.internalForm(tokens)).utf8)
            case .token(let t):
                if t.isSpecial(","), oneAddressPerLine {
                    out += [UInt8(ascii: ","), 0x0A]
                    i += 1
                    continue
                }
                if t.isSpecial("<"), i + 1 < items.count, case .token(let n) = items[i + 1], n.isSpecial(">") {
                    out += Array("<>".utf8)
                    i += 1
                    if i + 1 < items.count && Self.spaceBetween(items[i], items[i + 1]) { out.append(0x20) }
                    i += 1
                    continue
                }
                out += HeaderAddressParser.externalText(t)
            }
            if i + 1 < items.count && Self.spaceBetween(item, items[i + 1]) { out.append(0x20) }
            i += 1
        }
        return out
    }

    /// Postfix's spacing: after a comma or a group colon, before `<`, and
    /// between two words (atoms, quoted strings, literals, comments, addresses).
    static func spaceBetween(_ a: HeaderAddressItem, _ b: HeaderAddressItem) -> Bool {
        if case .groupStart = a { return true }
        if case .token(let t) = a, t.isSpecial(",") { return true }
        if case .token(let t) = b, t.isSpecial("<") { return true }
        return isNonOperator(a) && isNonOperator(b)
    }

    static func isNonOperator(_ item: HeaderAddressItem) -> Bool {
        switch item {
        case .address: return true
        case .groupStart: return false
        case .token(let t): return t.kind != .special
        }
    }
}

public enum HeaderAddressParser {
    /// header_address_token_limit's default.
    public static let defaultTokenLimit = 10240

    public static func isSpecialByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "@"),
             UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: ":"), UInt8(ascii: "\\"), UInt8(ascii: "\""),
             UInt8(ascii: "."), UInt8(ascii: "["), UInt8(ascii: "]"):
            return true
        default:
            return false
        }
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// Splits `text` into tokens; white space only separates. Returns the
    /// tokens and whether the limit stopped the scan.
    /// One-byte arrays made once: a special token shares one instead of
    /// allocating its own.
    private static let singleBytes: [[UInt8]] = (0..<256).map { isSpecialByte(UInt8($0)) ? [UInt8($0)] : [] }

    public static func tokens(of text: [UInt8], limit: Int = defaultTokenLimit) -> (tokens: [HeaderAddressToken], truncated: Bool) {
        var out: [HeaderAddressToken] = []
        var i = 0
        let n = text.count
        while i < n {
            let c = text[i]
            if isSpace(c) || c < 0x20 && c != 0x09 { i += 1; continue }
            if limit > 0 && out.count >= limit { return (out, true) }
            switch c {
            case UInt8(ascii: "\""):
                var content: [UInt8] = []
                i += 1
                while i < n && text[i] != UInt8(ascii: "\"") {
                    if text[i] == UInt8(ascii: "\\") && i + 1 < n { i += 1 }
                    content.append(text[i])
                    i += 1
                }
                i += 1
                out.append(HeaderAddressToken(.quoted, content))
            case UInt8(ascii: "("):
                let start = i
                var depth = 0
                while i < n {
                    let d = text[i]
                    if d == UInt8(ascii: "\\") && i + 1 < n { i += 2; continue }
                    if d == UInt8(ascii: "(") { depth += 1 }
                    if d == UInt8(ascii: ")") { depth -= 1 }
                    i += 1
                    if depth == 0 { break }
                }
                var comment = Array(text[start..<min(i, n)])
                // An unterminated comment is closed, as text must stay balanced.
                if depth > 0 { comment += [UInt8](repeating: UInt8(ascii: ")"), count: depth) }
                out.append(HeaderAddressToken(.comment, comment))
            case UInt8(ascii: "["):
                var content: [UInt8] = []
                i += 1
                while i < n && text[i] != UInt8(ascii: "]") {
                    if text[i] == UInt8(ascii: "\\") && i + 1 < n { content.append(text[i]); i += 1 }
                    content.append(text[i])
                    i += 1
                }
                i += 1
                out.append(HeaderAddressToken(.domainLiteral, content))
            default:
                if isSpecialByte(c) {
                    out.append(HeaderAddressToken(.special, singleBytes[Int(c)]))
                    i += 1
                } else {
                    let start = i
                    while i < n && !isSpecialByte(text[i]) && !isSpace(text[i]) && text[i] >= 0x20 { i += 1 }
                    out.append(HeaderAddressToken(.atom, Array(text[start..<i])))
                }
            }
        }
        return (out, false)
    }

    /// Parses a header value (the text after `Name:`) into an address list.
    public static func parse(_ text: [UInt8], limit: Int = defaultTokenLimit) -> HeaderAddressList {
        let (tokens, truncated) = tokens(of: text, limit: limit)
        return HeaderAddressList(items: group(tokens), truncated: truncated)
    }

    public static func parse(_ text: String, limit: Int = defaultTokenLimit) -> HeaderAddressList {
        parse(Array(text.utf8), limit: limit)
    }

    /// Groups tokens into addresses. Works from the right, as an address
    /// ends at a `>`, `,` or `;` and the text before it (phrase, group
    /// name) is known only once its end is found.
    static func group(_ tokens: [HeaderAddressToken]) -> [HeaderAddressItem] {
        // Built right to left, reversed at the end.
        var reversed: [HeaderAddressItem] = []
        // Tokens of the address being collected (right to left) and the
        // comments found inside it (placed after it).
        var pending: [HeaderAddressToken] = []
        var pendingComments: [HeaderAddressToken] = []
        var inGroup = false
        var expectWord = true

        func closeAddress() {
            // Comments go after the address: emitted first, right to left.
            for c in pendingComments { reversed.append(.token(c)) }
            pendingComments = []
            if !pending.isEmpty { reversed.append(.address(pending.reversed())) }
            pending = []
        }

        var i = tokens.count - 1
        while i >= 0 {
            let t = tokens[i]
            if t.kind == .comment {
                pendingComments.append(t)
                i -= 1
                continue
            }
            if t.isSpecial(";") {
                closeAddress()
                reversed.append(.token(t))
                inGroup = true
                expectWord = true
            } else if t.isSpecial(":") && inGroup {
                closeAddress()
                reversed.append(.groupStart)
                // The group name: everything left of here up to a comma.
                i -= 1
                while i >= 0 && !tokens[i].isSpecial(",") {
                    reversed.append(.token(tokens[i]))
                    i -= 1
                }
                expectWord = true
                continue
            } else if t.isSpecial(">") {
                closeAddress()
                reversed.append(.token(t))
                // The address inside <...>; its comments go after the `>`.
                var inner: [HeaderAddressToken] = []
                var innerComments: [HeaderAddressToken] = []
                i -= 1
                while i >= 0 && !tokens[i].isSpecial("<") {
                    if tokens[i].kind == .comment { innerComments.append(tokens[i]) } else { inner.append(tokens[i]) }
                    i -= 1
                }
                // Comments are inserted right after `>` (left of those
                // already emitted, which are to the right of them).
                let gt = reversed.removeLast()
                for c in innerComments { reversed.append(.token(c)) }
                reversed.append(gt)
                if !inner.isEmpty { reversed.append(.address(inner.reversed())) }
                if i >= 0 { reversed.append(.token(tokens[i])) }  // the `<`
                // The phrase: left up to a separator.
                i -= 1
                while i >= 0 {
                    let p = tokens[i]
                    if p.kind == .special, let b = p.text.first,
                       b == UInt8(ascii: ">") || b == UInt8(ascii: ";") || b == UInt8(ascii: ",") || b == UInt8(ascii: ":") {
                        break
                    }
                    reversed.append(.token(p))
                    i -= 1
                }
                expectWord = true
                continue
            } else if t.isWord {
                if !expectWord {
                    // Two words without an operator between them: two addresses.
                    closeAddress()
                    reversed.append(.token(HeaderAddressToken(.special, ",")))
                }
                pending.append(t)
                expectWord = false
            } else if t.isSpecial(",") {
                closeAddress()
                reversed.append(.token(t))
                expectWord = true
            } else {
                pending.append(t)
                expectWord = true
            }
            i -= 1
        }
        closeAddress()
        return reversed.reversed()
    }

    /// The address in internal form: quoted strings unquoted, literals
    /// bracketed, no white space.
    public static func internalForm(_ tokens: [HeaderAddressToken]) -> String {
        var out: [UInt8] = []
        for t in tokens {
            switch t.kind {
            case .domainLiteral: out += [UInt8(ascii: "[")] + t.text + [UInt8(ascii: "]")]
            case .comment: break
            default: out += t.text
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The address in external form (quoted strings keep their quotes).
    public static func externalForm(_ tokens: [HeaderAddressToken]) -> String {
        var out: [UInt8] = []
        for t in tokens where t.kind != .comment { out += externalText(t) }
        return String(decoding: out, as: UTF8.self)
    }

    /// An external-form address (as trivial-rewrite returns it) in internal form.
    public static func internalForm(external: String) -> String {
        // Atoms, dots and at-signs only (the usual answer): already internal.
        var external = external
        let plain = external.withUTF8 { bytes in
            bytes.allSatisfy { $0 > 0x20 && ($0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "@") || !isSpecialByte($0)) }
        }
        if plain { return external }
        return internalForm(tokens(of: Array(external.utf8), limit: 0).tokens)
    }

    /// One token as it is written in a header.
    static func externalText(_ t: HeaderAddressToken) -> [UInt8] {
        switch t.kind {
        case .quoted:
            var out: [UInt8] = [UInt8(ascii: "\"")]
            for b in t.text {
                if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b == 0x0D || b == 0x0A { out.append(UInt8(ascii: "\\")) }
                out.append(b)
            }
            out.append(UInt8(ascii: "\""))
            return out
        case .domainLiteral:
            return [UInt8(ascii: "[")] + t.text + [UInt8(ascii: "]")]
        default:
            return t.text
        }
    }

    /// An internal-form address in external form: the local part (before
    /// the last `@`) is quoted when it is not a dot-atom.
    public static func quoteInternal(_ address: String) -> String {
        // The usual case, a dot-atom local part, without copying anything.
        let utf8 = address.utf8
        let localEnd = utf8.lastIndex(of: UInt8(ascii: "@")) ?? utf8.endIndex
        if !localNeedsQuotes(utf8[..<localEnd]) { return address }
        let bytes = Array(address.utf8)
        let at = bytes.lastIndex(of: UInt8(ascii: "@"))
        let local = at.map { Array(bytes[..<$0]) } ?? bytes
        let rest = at.map { Array(bytes[$0...]) } ?? []
        guard localNeedsQuotes(local) else { return address }
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for b in local {
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
            out.append(b)
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out + rest, as: UTF8.self)
    }

    static func localNeedsQuotes<Bytes: BidirectionalCollection<UInt8>>(_ local: Bytes) -> Bool {
        if local.isEmpty || local.first == UInt8(ascii: ".") || local.last == UInt8(ascii: ".") { return true }
        var previousDot = false
        for b in local {
            if b == UInt8(ascii: ".") {
                if previousDot { return true }
                previousDot = true
                continue
            }
            previousDot = false
            if b <= 0x20 || b == 0x7F || isSpecialByte(b) { return true }
        }
        return false
    }
}
