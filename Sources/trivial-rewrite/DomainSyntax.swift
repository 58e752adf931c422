// DomainSyntax: whether a resolved domain is usable: a host name as
// Postfix's valid_hostname accepts it, or an address literal ([1.2.3.4],
// [ipv6:...]) holding a valid address.
import Glibc

enum DomainSyntax {
    /// Letters, digits, `-` and `_`; labels of 1..63 characters that do not
    /// start or end with `-`; at most 255 characters; not all numeric.
    static func isValidHostname(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 255 else { return false }
        var labelLength = 0
        var allNumeric = true
        var previous: UInt8 = 0
        for (i, b) in bytes.enumerated() {
            switch b {
            case UInt8(ascii: "."):
                if labelLength == 0 || previous == UInt8(ascii: "-") { return false }
                labelLength = 0
            case UInt8(ascii: "-"):
                if labelLength == 0 { return false }
                labelLength += 1
                allNumeric = false
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                labelLength += 1
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"):
                labelLength += 1
                allNumeric = false
            default:
                return false
            }
            if labelLength > 63 { return false }
            previous = b
            if i == bytes.count - 1 && (b == UInt8(ascii: ".") || b == UInt8(ascii: "-")) { return false }
        }
        return !allNumeric
    }

    /// A dotted quad with four decimal octets of at most 255.
    static func isValidIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { p in !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCII) && p.allSatisfy(\.isNumber) && Int(p)! <= 255 }
    }

    static func isValidIPv6(_ text: String) -> Bool {
        var buffer = in6_addr()
        return inet_pton(AF_INET6, text, &buffer) == 1
    }

    /// The address inside `[...]` (an `ipv6:` prefix removed, any case), or nil.
    static func literalAddress(_ domain: String) -> String? {
        guard domain.count >= 2, domain.hasPrefix("["), domain.hasSuffix("]") else { return nil }
        let inner = String(domain.dropFirst().dropLast())
        if inner.lowercased().hasPrefix("ipv6:") { return String(inner.dropFirst(5)) }
        return inner
    }

    /// A valid address literal.
    static func isValidLiteral(_ domain: String) -> Bool {
        guard let inner = literalAddress(domain) else { return false }
        if domain.dropFirst().lowercased().hasPrefix("ipv6:") { return isValidIPv6(inner) }
        return isValidIPv4(inner)
    }

    /// The address bytes of a numeric address text, or nil.
    static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if !text.contains(":"), isValidIPv4(text), inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }
}
