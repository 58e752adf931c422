// AddressSearch: the order in which Postfix looks an address up in tables:
// virtual(5), canonical(5) and alias-style tables (user+ext@domain,
// user@domain, user+ext, user, @domain) and access(5) tables
// (user+ext@domain, user@domain, domain and its parents, user+ext@, user@),
// with recipient_delimiter extensions and host/network forms.

public enum AddressSearch {
    /// One key to try; partial keys are only sent to fixed-string tables.
    public struct Key: Equatable, Sendable, CustomStringConvertible {
        public let text: String
        public let isPartial: Bool
        public init(_ text: String, partial: Bool = false) {
            self.text = text
            isPartial = partial
        }
        public var description: String { isPartial ? "\(text) (partial)" : text }
    }

    /// Splits `user+ext@domain` into local part, extension (with the
    /// delimiter removed) and domain. Any character of `delimiters` starts
    /// an extension; `owner-` and `-request` local parts keep a `-`.
    public static func split(_ address: String, delimiters: String) -> (user: String, extensionPart: String?, delimiter: Character?, domain: String?) {
        var local = Substring(address)
        var domain: String? = nil
        if let at = address.lastIndex(of: "@") {
            local = address[..<at]
            domain = String(address[address.index(after: at)...])
        }
        guard !delimiters.isEmpty, !local.isEmpty else { return (String(local), nil, nil, domain) }
        if delimiters.contains("-") && (local.hasPrefix("owner-") || local.hasSuffix("-request")) {
            return (String(local), nil, nil, domain)
        }
        guard let index = local.dropFirst().firstIndex(where: { delimiters.contains($0) }) else {
            return (String(local), nil, nil, domain)
        }
        return (String(local[..<index]), String(local[local.index(after: index)...]), local[index], domain)
    }

    /// Keys for virtual, canonical and similar tables. `domainIsLocal` says
    /// whether the domain is $myorigin, in $mydestination, $inet_interfaces
    /// or $proxy_interfaces (only then are bare local parts tried).
    public static func virtualKeys(_ address: String, delimiters: String, domainIsLocal: Bool) -> [Key] {
        let (user, ext, delimiter, domain) = split(address, delimiters: delimiters)
        let local = ext.map { "\(user)\(delimiter!)\($0)" } ?? user
        var keys: [Key] = [Key(address)]
        if let domain {
            if ext != nil { keys.append(Key("\(user)@\(domain)")) }
            if domainIsLocal {
                keys.append(Key(local, partial: true))
                if ext != nil { keys.append(Key(user, partial: true)) }
            }
            keys.append(Key("@\(domain)", partial: true))
        } else if ext != nil {
            keys.append(Key(user))
        }
        return unique(keys)
    }

    /// Keys for access(5) tables given an email address.
    public static func accessKeys(_ address: String, delimiters: String, parentMatchesSubdomains: Bool) -> [Key] {
        let (user, ext, delimiter, domain) = split(address, delimiters: delimiters)
        var keys: [Key] = [Key(address)]
        if ext != nil, let domain { keys.append(Key("\(user)@\(domain)")) }
        if let domain, !domain.isEmpty {
            keys += domainKeys(domain, parentMatchesSubdomains: parentMatchesSubdomains).map { Key($0, partial: true) }
        }
        if let ext, let delimiter { keys.append(Key("\(user)\(delimiter)\(ext)@", partial: true)) }
        keys.append(Key("\(user)@", partial: true))
        return unique(keys)
    }

    private static func unique(_ keys: [Key]) -> [Key] {
        var seen = Set<String>()
        return keys.filter { seen.insert($0.text).inserted }
    }

    /// A domain and its parents: with parent matching "a.b.c", "b.c", "c";
    /// without it "a.b.c", ".b.c", ".c".
    public static func domainKeys(_ domain: String, parentMatchesSubdomains: Bool) -> [String] {
        var keys = [domain]
        var rest = Substring(domain)
        while let dot = rest.firstIndex(of: ".") {
            rest = rest[rest.index(after: dot)...]
            if rest.isEmpty { break }
            keys.append(parentMatchesSubdomains ? String(rest) : "." + rest)
        }
        return keys
    }

    /// Keys for a client IP address: the address, then shorter network
    /// prefixes (IPv4 by ".octet", IPv6 by ":pair" of the compressed form).
    public static func networkKeys(_ address: String) -> [String] {
        let separator: Character = address.contains(":") ? ":" : "."
        var keys = [address]
        var rest = Substring(address)
        while let index = rest.lastIndex(of: separator) {
            rest = rest[..<index]
            while rest.hasSuffix(String(separator)) { rest = rest.dropLast() }
            if rest.isEmpty { break }
            keys.append(String(rest))
        }
        return keys
    }
}
