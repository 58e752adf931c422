// TLSProtocolList: Postfix's protocol list syntax (smtpd_tls_protocols,
// smtpd_tls_mandatory_protocols): "!SSLv2, !SSLv3", ">=TLSv1",
// "<=TLSv1.2", "TLSv1.2 TLSv1.3", separated by white space, commas or
// colons; turned into OpenSSL's minimum and maximum versions plus the
// SSL_OP_NO_* options for holes in between.
import COpenSSL

public struct TLSProtocolList: Equatable, Sendable {
    /// Protocol names in ascending order with their OpenSSL version numbers.
    static let known: [(name: String, version: Int32)] = [
        ("SSLv2", 0x0002), ("SSLv3", 0x0300), ("TLSv1", 0x0301), ("TLSv1.1", 0x0302), ("TLSv1.2", 0x0303), ("TLSv1.3", 0x0304),
    ]
    /// Allowed protocols, by name.
    public let allowed: Set<String>

    /// nil when the list names an unknown protocol.
    public init?(_ text: String) {
        let names = TLSProtocolList.known.map(\.name)
        var includes: Set<String> = []
        var excludes: Set<String> = []
        var minIndex = 0
        var maxIndex = names.count - 1
        let words = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == ":" || $0 == "\t" })
        for raw in words {
            var word = Substring(raw)
            if word.hasPrefix(">=") || word.hasPrefix("<=") {
                let lower = word.hasPrefix(">=")
                word = word.dropFirst(2)
                guard let i = names.firstIndex(where: { $0.lowercased() == word.lowercased() }) else { return nil }
                if lower { minIndex = max(minIndex, i) } else { maxIndex = min(maxIndex, i) }
            } else if word.hasPrefix("!") {
                word = word.dropFirst()
                guard let i = names.firstIndex(where: { $0.lowercased() == word.lowercased() }) else { return nil }
                excludes.insert(names[i])
            } else {
                guard let i = names.firstIndex(where: { $0.lowercased() == word.lowercased() }) else { return nil }
                includes.insert(names[i])
            }
        }
        var set: Set<String> = []
        for (i, name) in names.enumerated() where i >= minIndex && i <= maxIndex {
            if !includes.isEmpty && !includes.contains(name) { continue }
            if excludes.contains(name) { continue }
            set.insert(name)
        }
        allowed = set
    }

    /// OpenSSL's bounds (0 = none) and options for excluded versions in between.
    var openSSLBounds: (min: Int32, max: Int32, options: UInt64) {
        let usable = TLSProtocolList.known.filter { $0.name != "SSLv2" }
        let on = usable.filter { allowed.contains($0.name) }
        guard let low = on.first, let high = on.last else {
            // Nothing allowed: an impossible range makes every handshake fail.
            return (0x0304, 0x0303, 0)
        }
        var options: UInt64 = 0
        for p in usable where p.version > low.version && p.version < high.version && !allowed.contains(p.name) {
            switch p.name {
            case "TLSv1": options |= posthorn_ssl_option(4)
            case "TLSv1.1": options |= posthorn_ssl_option(5)
            case "TLSv1.2": options |= posthorn_ssl_option(6)
            default: break
            }
        }
        return (low.version, high.name == "TLSv1.3" ? 0 : high.version, options)
    }
}
