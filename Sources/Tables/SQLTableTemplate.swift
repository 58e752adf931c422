// SQLTableTemplate: the `query` and `result_format` templates of mysql: and
// sqlite: tables, with their '%' expansions (%% %s %u %d %S %U %D %1-%9),
// and the address parts of a lookup key that they expand to.

/// A lookup key or result value split as the '%' expansions see it: the
/// local part and domain around the last '@', and the domain's labels.
public struct SQLTableAddress: Sendable, Equatable {
    public let whole: String
    /// Text before the last '@'; nil when there is no '@'.
    public let localPart: String?
    /// Text after the last '@'; nil when there is no '@'.
    public let domainPart: String?

    public init(_ text: String) {
        whole = text
        // Bytes, not Characters: an '@' followed by a combining mark is
        // still an '@' to Postfix.
        let bytes = Array(text.utf8)
        if let at = bytes.lastIndex(of: UInt8(ascii: "@")) {
            localPart = String(decoding: bytes[..<at], as: UTF8.self)
            domainPart = String(decoding: bytes[(at + 1)...], as: UTF8.self)
        } else {
            localPart = nil
            domainPart = nil
        }
    }

    /// %u: the local part of an address, the whole text when it has no
    /// '@'; nil (suppress) when the local part is empty.
    public var user: String? {
        guard let localPart else { return whole }
        return localPart.isEmpty ? nil : localPart
    }

    /// %d: the domain of an address; nil (suppress) for text without '@'
    /// or with an empty domain.
    public var domain: String? {
        guard let domainPart, !domainPart.isEmpty else { return nil }
        return domainPart
    }

    /// %1 ... %9: the n-th label of the domain counted from the right
    /// (empty labels skipped); nil when there are fewer labels.
    public func label(_ n: Int) -> String? {
        guard let domain else { return nil }
        let labels = domain.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: true)
        guard n >= 1 && n <= labels.count else { return nil }
        return String(decoding: labels[labels.count - n], as: UTF8.self)
    }
}

/// A parsed `query` or `result_format` template.
public struct SQLTableTemplate: Sendable, Equatable {
    /// One piece of a template.
    public enum Part: Sendable, Equatable {
        case text(String)
        /// %s %u %d: the value being formatted (the key, in a query).
        case value(Field)
        /// %S %U %D: always the lookup key.
        case key(Field)
        /// %1 ... %9: a label of the lookup key's domain.
        case label(Int)
    }

    public enum Field: Sendable, Equatable {
        case whole, user, domain
    }

    public let parts: [Part]

    /// Parses `text`; nil when it holds a '%' sequence other than the
    /// expansions above (Postfix: "Invalid query template").
    public init?(_ text: String) {
        var parts: [Part] = []
        var literal = String.UnicodeScalarView()
        var iterator = text.unicodeScalars.makeIterator()
        while let c = iterator.next() {
            guard c == "%" else { literal.append(c); continue }
            guard let spec = iterator.next() else { return nil }
            let part: Part
            switch spec {
            case "%": literal.append("%"); continue
            case "s": part = .value(.whole)
            case "u": part = .value(.user)
            case "d": part = .value(.domain)
            case "S": part = .key(.whole)
            case "U": part = .key(.user)
            case "D": part = .key(.domain)
            case "1"..."9": part = .label(Int(spec.value - 48))
            default: return nil
            }
            if !literal.isEmpty { parts.append(.text(String(literal))); literal = String.UnicodeScalarView() }
            parts.append(part)
        }
        if !literal.isEmpty { parts.append(.text(String(literal))) }
        self.parts = parts
    }

    /// Whether every expansion that reads the lookup key (%S %U %D %1-%9)
    /// can be made for `key`; when not, Postfix suppresses the lookup.
    public func keyPartsAvailable(for key: SQLTableAddress) -> Bool {
        for part in parts {
            switch part {
            case .text, .value: continue
            case .key(let field): if SQLTableTemplate.field(field, of: key) == nil { return false }
            case .label(let n): if key.label(n) == nil { return false }
            }
        }
        return true
    }

    /// Expands the template; %s %u %d take `value`, the others `key`.
    /// Every expanded piece goes through `escape` (SQL quoting for a query,
    /// none for a result). nil when an expansion is impossible: the query
    /// is suppressed, or the result value skipped.
    public func expand(value: SQLTableAddress, key: SQLTableAddress,
                       escape: (String) -> String = { $0 }) -> String? {
        var out = ""
        for part in parts {
            switch part {
            case .text(let text):
                out += text
            case .value(let field):
                guard let piece = SQLTableTemplate.field(field, of: value) else { return nil }
                out += escape(piece)
            case .key(let field):
                guard let piece = SQLTableTemplate.field(field, of: key) else { return nil }
                out += escape(piece)
            case .label(let n):
                guard let piece = key.label(n) else { return nil }
                out += escape(piece)
            }
        }
        return out
    }

    /// A query: every expansion reads the key.
    public func expandQuery(key: String, escape: (String) -> String) -> String? {
        let address = SQLTableAddress(key)
        return expand(value: address, key: address, escape: escape)
    }

    private static func field(_ field: Field, of address: SQLTableAddress) -> String? {
        switch field {
        case .whole: return address.whole
        case .user: return address.user
        case .domain: return address.domain
        }
    }

    /// The query the legacy settings stand for, as Postfix builds it.
    public static func legacyQuery(selectField: String, table: String, whereField: String,
                                   additionalConditions: String) -> String {
        "SELECT \(selectField) FROM \(table) WHERE \(whereField)='%s' \(additionalConditions)"
    }
}
