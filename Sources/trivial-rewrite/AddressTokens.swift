// AddressTokens: RFC 822 address tokens as trivial-rewrite needs them to
// rewrite an address given in external (quoted) form: atoms, quoted
// strings, [domain literals], (comments) and special characters, and the
// quoting of a local part for output.

/// One token of an RFC 822 address.
struct AddressToken: Equatable {
    enum Kind: Equatable {
        /// A run of atom characters (`!` and `%` included).
        case atom
        /// A quoted string; `text` is its content with escapes removed.
        case quoted
        /// `[...]`, brackets included.
        case literal
        /// `(...)`, parentheses included.
        case comment
        /// One of `<>@,;:.` and a stray `\` or `"`.
        case special
    }
    var kind: Kind
    var text: String
    /// White space preceded the token.
    var spaceBefore: Bool

    func isSpecial(_ c: Character) -> Bool { kind == .special && text == String(c) }
}

enum AddressTokens {
    static let specials: Set<Character> = ["<", ">", "@", ",", ";", ":", "."]

    /// Splits `text` into tokens; white space only separates.
    static func scan(_ text: String) -> [AddressToken] {
        var tokens: [AddressToken] = []
        let chars = Array(text)
        var i = 0
        var space = false
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\t" || c == "\r" || c == "\n" {
                space = true; i += 1; continue
            }
            var token: AddressToken
            switch c {
            case "\"":
                var content = ""
                i += 1
                while i < chars.count && chars[i] != "\"" {
                    if chars[i] == "\\" && i + 1 < chars.count { i += 1 }
                    content.append(chars[i]); i += 1
                }
                i += 1
                token = AddressToken(kind: .quoted, text: content, spaceBefore: space)
            case "(":
                var depth = 0
                var content = ""
                while i < chars.count {
                    let d = chars[i]
                    content.append(d)
                    if d == "\\" && i + 1 < chars.count { i += 1; content.append(chars[i]) }
                    else if d == "(" { depth += 1 }
                    else if d == ")" { depth -= 1; if depth == 0 { i += 1; break } }
                    i += 1
                }
                token = AddressToken(kind: .comment, text: content, spaceBefore: space)
            case "[":
                var content = ""
                while i < chars.count {
                    content.append(chars[i]); i += 1
                    if content.last == "]" { break }
                }
                token = AddressToken(kind: .literal, text: content, spaceBefore: space)
            default:
                if specials.contains(c) {
                    token = AddressToken(kind: .special, text: String(c), spaceBefore: space)
                    i += 1
                } else {
                    var atom = ""
                    while i < chars.count {
                        let d = chars[i]
                        if specials.contains(d) || d == "\"" || d == "(" || d == "[" || d == " " || d == "\t" || d == "\r" || d == "\n" { break }
                        atom.append(d); i += 1
                    }
                    token = AddressToken(kind: .atom, text: atom, spaceBefore: space)
                }
            }
            tokens.append(token)
            space = false
        }
        return tokens
    }

    /// The internal (unquoted) text of a token run: quoted strings lose
    /// their quotes, white space between tokens stays a single space, and a
    /// comma is followed by one space.
    static func internalText(_ tokens: ArraySlice<AddressToken>) -> String {
        var out = ""
        var afterComma = false
        for (n, token) in tokens.enumerated() {
            if n > 0 && token.spaceBefore && !afterComma { out += " " }
            out += token.text
            afterComma = token.isSpecial(",")
            if afterComma { out += " " }
        }
        return out
    }

    /// The tokens' text without white space (a domain).
    static func compactText(_ tokens: ArraySlice<AddressToken>) -> String {
        tokens.map { $0.kind == .quoted ? "\"" + $0.text + "\"" : $0.text }.joined()
    }

    /// Quotes a local part when it needs it (Postfix's quote_822_local):
    /// empty, special characters, white space, or dots out of place.
    static func quoteLocal(_ local: String) -> String {
        guard needsQuotes(local) else { return local }
        var out = "\""
        for c in local {
            if c == "\"" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out + "\""
    }

    static func needsQuotes(_ local: String) -> Bool {
        if local.isEmpty || local.hasPrefix(".") || local.hasSuffix(".") || local.contains("..") { return true }
        for u in local.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7f || u.value == 0x20 { return true }
            if "()<>@,;:\\\"[]".unicodeScalars.contains(u) { return true }
        }
        return false
    }
}
