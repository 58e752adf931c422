// NetworkInterfaces: the machine's addresses and networks, for the
// mynetworks default (styles host, subnet and class).
import Glibc
import Util
import Synchronization

public enum NetworkInterfaces {
    public struct Address: Equatable, Sendable {
        public let family: Int32
        public let bytes: [UInt8]
        public let prefix: Int
    }

    /// Every IPv4 and IPv6 address with its netmask prefix length.
    public static func addresses() -> [Address] {
        var list: UnsafeMutablePointer<ifaddrs>? = nil
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var result: [Address] = []
        var p = list
        while let node = p {
            defer { p = node.pointee.ifa_next }
            guard let sa = node.pointee.ifa_addr else { continue }
            let family = Int32(sa.pointee.sa_family)
            if family == AF_INET {
                let a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                let m = node.pointee.ifa_netmask.map { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr } } ?? UInt32.max
                let bytes = withUnsafeBytes(of: a) { Array($0) }
                result.append(Address(family: AF_INET, bytes: bytes, prefix: UInt32(bigEndian: m).nonzeroBitCount))
            } else if family == AF_INET6 {
                let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { s in withUnsafeBytes(of: s.pointee.sin6_addr) { Array($0) } }
                let mask = node.pointee.ifa_netmask.map { m in m.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { s in withUnsafeBytes(of: s.pointee.sin6_addr) { Array($0) } } } ?? [UInt8](repeating: 0xff, count: 16)
                result.append(Address(family: AF_INET6, bytes: bytes, prefix: mask.reduce(0) { $0 + $1.nonzeroBitCount }))
            }
        }
        return result
    }

    /// Zeroes the bits after `prefix`.
    static func network(_ bytes: [UInt8], prefix: Int) -> [UInt8] {
        var out = bytes
        for i in 0..<out.count {
            let keep = max(0, min(8, prefix - i * 8))
            out[i] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - keep))
        }
        return out
    }

    /// Text form of an address (inet_ntop).
    public static func text(_ family: Int32, _ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return String(cString: buffer)
    }

    /// Addresses named by inet_interfaces ("all", "loopback-only" or a list
    /// of numeric addresses); nil keeps every address.
    static func selected(_ all: [Address], interfaces: String) -> [Address] {
        let items = interfaces.lowercased().splitList()
        if items.isEmpty || items.contains("all") { return all }
        if items == ["loopback-only"] {
            return all.filter { a in
                a.family == AF_INET ? a.bytes[0] == 127 : a.bytes == [UInt8](repeating: 0, count: 15) + [1]
            }
        }
        let wanted = Set(items.map { $0.hasPrefix("[") && $0.hasSuffix("]") ? String($0.dropFirst().dropLast()) : $0 })
        return all.filter { wanted.contains(text($0.family, $0.bytes)) }
    }

    /// The mynetworks default for a style ("host", "subnet", "class"), for
    /// the addresses inet_interfaces selects, IPv4 networks first, then IPv6
    /// ones, each once.
    public static func mynetworks(style: String, protocols: String, interfaces: String = "all") -> String {
        // Asked for at every expansion of $mynetworks: the interfaces are
        // read once per process and set of arguments.
        let key = style + "\u{0}" + protocols + "\u{0}" + interfaces
        if let known = computed.withLock({ $0[key] }) { return known }
        let value = computeMynetworks(style: style, protocols: protocols, interfaces: interfaces)
        computed.withLock { $0[key] = value }
        return value
    }

    private static let computed = Mutex<[String: String]>([:])

    private static func computeMynetworks(style: String, protocols: String, interfaces: String) -> String {
        let all = selected(addresses(), interfaces: interfaces)
        // inet_protocols is a list of names, as Postfix reads it (a token
        // comparison, not the generic substring search: a tenth of smtpd's
        // start-up instructions went there).
        let names = protocols.lowercased().splitList()
        let wantV4 = names.contains("all") || names.contains("ipv4")
        let wantV6 = names.contains("all") || names.contains("ipv6")
        var seen = Set<String>()
        var out: [String] = []
        for family in [AF_INET, AF_INET6] {
            if family == AF_INET && !wantV4 { continue }
            if family == AF_INET6 && !wantV6 { continue }
            for a in all where a.family == family {
                var prefix = a.prefix
                switch style {
                case "host": prefix = family == AF_INET ? 32 : 128
                case "class":
                    if family == AF_INET {
                        let first = a.bytes[0]
                        prefix = first < 128 ? 8 : (first < 192 ? 16 : (first < 224 ? 24 : 32))
                    }
                default: break
                }
                let net = text(family, network(a.bytes, prefix: prefix))
                let item = family == AF_INET ? "\(net)/\(prefix)" : "[\(net)]/\(prefix)"
                if seen.insert(item).inserted { out.append(item) }
            }
        }
        var joined = ""
        for item in out {
            if !joined.isEmpty { joined += " " }
            joined += item
        }
        return joined
    }
}
