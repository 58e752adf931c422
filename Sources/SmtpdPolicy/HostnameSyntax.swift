// HostnameSyntax: the name checks of reject_invalid_helo_hostname and
// reject_non_fqdn_*: RFC 1035 host names (letters, digits, hyphen, dots,
// labels up to 63 bytes, not all numeric) and address literals
// ([1.2.3.4], [IPv6:...]).

public enum HostnameSyntax {
    /// A syntactically valid host name (no trailing-dot tolerance beyond one).
    public static func isValidHostname(_ name: String) -> Bool {
        var text = Substring(name)
        if text.hasSuffix(".") { text = text.dropLast() }
        guard !text.isEmpty, text.utf8.count <= 255 else { return false }
        var allNumeric = true
        for label in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty, label.utf8.count <= 63 else { return false }
            guard label.first != "-", label.last != "-" else { return false }
            for c in label.utf8 {
                let ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F
                guard ok else { return false }
                if !(c >= 0x30 && c <= 0x39) { allNumeric = false }
            }
        }
        return !allNumeric
    }

    /// A numeric address as a HELO argument may give it: [1.2.3.4],
    /// [IPv6:...], or (for HELO only) a bare IPv4 address.
    public static func isValidAddressLiteral(_ name: String) -> Bool {
        var text = Substring(name)
        if text.hasPrefix("[") && text.hasSuffix("]") {
            text = text.dropFirst().dropLast()
            if text.lowercased().hasPrefix("ipv6:") {
                return NetworkMatchList.addressBytes(String(text.dropFirst(5)))?.count == 16
            }
        }
        guard !text.contains(":") else { return false }
        return NetworkMatchList.addressBytes(String(text))?.count == 4 && text.split(separator: ".").count == 4
    }

    /// reject_invalid_helo_hostname's test.
    public static func isValidHelo(_ name: String) -> Bool {
        isValidHostname(name) || isValidAddressLiteral(name)
    }

    /// reject_non_fqdn_helo_hostname's test: a dotted name or an address
    /// literal in []; a bare IP address is not a valid host name (Postfix's
    /// valid_hostname refuses all-numeric names), so it is not qualified.
    public static func isFQDNHelo(_ name: String) -> Bool {
        if name.hasPrefix("[") { return isValidAddressLiteral(name) }
        var text = Substring(name)
        if text.hasSuffix(".") { text = text.dropLast() }
        return text.contains(".") && isValidHostname(String(text))
    }

    /// The domain of an address (empty when none).
    public static func domain(of address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return "" }
        return String(address[address.index(after: at)...])
    }

    /// reject_non_fqdn_sender/recipient's test: the domain is a dotted name
    /// or an address literal.
    public static func isFQDNAddress(_ address: String) -> Bool {
        let d = domain(of: address)
        guard !d.isEmpty else { return false }
        if d.hasPrefix("[") { return isValidAddressLiteral(d) }
        var text = Substring(d)
        if text.hasSuffix(".") { text = text.dropLast() }
        return text.contains(".") && isValidHostname(String(text))
    }
}
