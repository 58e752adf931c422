// NetworkMatchList: Postfix's "host or network" lists (mynetworks,
// smtpd_authorized_xforward_hosts, smtpd_client_event_limit_exceptions,
// ...): IPv4 and IPv6 addresses and CIDR blocks (`[::1]/128` or `::1/128`),
// host names and parent domains, type:table (looked up by name and by
// address), /file/name, and !negation. The first matching item decides.
import Glibc
import Util
import Global
import Tables

public final class NetworkMatchList {
    enum Item {
        case network(bytes: [UInt8], prefix: Int, negated: Bool)
        case name(String, negated: Bool)
        case table(LookupTable, negated: Bool)
    }

    private var items: [Item] = []
    public let parameter: String

    public var isEmpty: Bool { items.isEmpty }

    public init(parameter: String, value: String, context: TableContext = TableContext()) throws(LookupError) {
        self.parameter = parameter
        try add(value, depth: 0, context: context)
    }

    private func add(_ value: String, depth: Int, context: TableContext) throws(LookupError) {
        for raw in value.splitListGrouped() {
            var word = raw
            var negated = false
            while word.hasPrefix("!") { negated.toggle(); word.removeFirst() }
            if word.hasPrefix("/") {
                guard depth < 10 else { throw .configuration("\(parameter): too many nested files: \(word)") }
                let text: String
                do { text = try TextFile.read(word) } catch { throw .configuration("open \(word): \(error)") }
                try add(LogicalLines.split(text).map(\.text).joined(separator: " "), depth: depth + 1, context: context)
            } else if let (bytes, prefix) = NetworkMatchList.parseNetwork(word) {
                items.append(.network(bytes: bytes, prefix: prefix, negated: negated))
            } else if TableReference.parse(word) != nil {
                items.append(.table(try TableOpener.open(word, context: context), negated: negated))
            } else {
                items.append(.name(word.asciiLowercased(), negated: negated))
            }
        }
    }

    /// Address bytes (4 or 16) and prefix length of "a.b.c.d[/n]",
    /// "[v6]/n", "v6/n"; nil for anything else.
    public static func parseNetwork(_ text: String) -> ([UInt8], Int)? {
        var address = Substring(text)
        var prefix: Int? = nil
        if let slash = address.lastIndex(of: "/") {
            guard let n = Int(address[address.index(after: slash)...]) else { return nil }
            prefix = n
            address = address[..<slash]
        }
        if address.hasPrefix("[") && address.hasSuffix("]") { address = address.dropFirst().dropLast() }
        guard let bytes = addressBytes(String(address)) else { return nil }
        let bits = bytes.count * 8
        let p = prefix ?? bits
        guard p >= 0 && p <= bits else { return nil }
        return (bytes, p)
    }

    /// The binary form of a numeric IPv4 or IPv6 address.
    public static func addressBytes(_ text: String) -> [UInt8]? {
        if text.contains(":") {
            var a = in6_addr()
            guard inet_pton(AF_INET6, text, &a) == 1 else { return nil }
            return withUnsafeBytes(of: a) { Array($0) }
        }
        var a = in_addr()
        guard inet_pton(AF_INET, text, &a) == 1 else { return nil }
        return withUnsafeBytes(of: a) { Array($0) }
    }

    static func matches(_ address: [UInt8], _ network: [UInt8], prefix: Int) -> Bool {
        var a = address
        // An IPv4-mapped IPv6 client matches IPv4 networks.
        if a.count == 16 && network.count == 4 && a[0..<10].allSatisfy({ $0 == 0 }) && a[10] == 0xFF && a[11] == 0xFF {
            a = Array(a[12...])
        }
        guard a.count == network.count else { return false }
        var bits = prefix
        var i = 0
        while bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xFF : UInt8(0xFF << (8 - bits) & 0xFF)
            if a[i] & mask != network[i] & mask { return false }
            bits -= 8
            i += 1
        }
        return true
    }

    /// True when the client (`name` may be "unknown") matches the list.
    public func matches(name: String, address: String) throws(LookupError) -> Bool {
        let bytes = NetworkMatchList.addressBytes(address)
        let lowerName = name.asciiLowercased()
        for item in items {
            switch item {
            case .network(let net, let prefix, let negated):
                if let bytes, NetworkMatchList.matches(bytes, net, prefix: prefix) { return !negated }
            case .name(let pattern, let negated):
                if lowerName != "unknown" {
                    if lowerName == pattern { return !negated }
                    if pattern.hasPrefix(".") ? lowerName.hasSuffix(pattern) : lowerName.hasSuffix("." + pattern) {
                        return !negated
                    }
                }
            case .table(let table, let negated):
                if lowerName != "unknown", try table.find(lowerName) != nil { return !negated }
                if try table.find(address) != nil { return !negated }
            }
        }
        return false
    }
}
