// HostsFile: answers the two name lookups smtpd makes for every client (the
// address's name, then that name's addresses) from /etc/hosts itself when
// glibc would answer them from /etc/hosts: nsswitch.conf's hosts line
// starts with plain `files`, host.conf asks for nothing that changes
// answers, and the file has the address (or the name). Everything else —
// DNS, other NSS sources, anything not in the file, any doubt — is left to
// glibc by answering nil.
//
// Why: glibc rereads /etc/hosts and stats resolv.conf and nsswitch.conf at
// every call, 16 system calls per SMTP session; this cache stats the two
// files that glibc rereads once per session and parses them again only
// when they changed.
//
// The answers are glibc's files backend's: lines are `address name
// aliases...` with `#` comments; a line whose address does not parse for
// the family asked is skipped; a reverse lookup gives the canonical (first)
// name of the first line with the address; a forward lookup matches the
// canonical name or an alias without regard to ASCII case.
import Glibc
import Util

public final class HostsFile: @unchecked Sendable {
    /// The system's files (one instance per process; smtpd is single-threaded).
    public static let system = HostsFile(hosts: "/etc/hosts", nsswitch: "/etc/nsswitch.conf",
                                         hostConf: "/etc/host.conf")

    struct Entry {
        var family: Int32
        var address: [UInt8]
        /// The canonical name first, then the aliases.
        var names: [String]
        /// The same in ASCII lower case, for forward lookups.
        var lowerNames: [[UInt8]]

        init(family: Int32, address: [UInt8], names: [String]) {
            self.family = family
            self.address = address
            self.names = names
            lowerNames = names.map { $0.utf8.map(HostsFile.lowerASCII) }
        }
    }

    private struct Stamp: Equatable {
        var device: UInt64 = 0, inode: UInt64 = 0, size: Int64 = 0, seconds: Int = 0, nanoseconds: Int = 0
    }

    // NUL-terminated once: a String passed to stat() is copied into a
    // temporary C string at every call.
    private let hostsPath: [CChar]
    private let nsswitchPath: [CChar]
    private let hostConfPath: [CChar]
    private var hostsStamp: Stamp??
    private var nsswitchStamp: Stamp??
    private var hostConfUsable: Bool?
    private var filesFirst = false
    private(set) var entries: [Entry] = []

    public init(hosts: String, nsswitch: String, hostConf: String) {
        hostsPath = Array(hosts.utf8CString)
        nsswitchPath = Array(nsswitch.utf8CString)
        hostConfPath = Array(hostConf.utf8CString)
    }

    /// Rereads whatever changed since the last call; call once per client.
    /// glibc reads host.conf once per process, and so does this.
    public func refresh() {
        if hostConfUsable == nil { hostConfUsable = Self.hostConfIsNeutral(Self.read(hostConfPath)) }
        let nsswitch = Self.stamp(nsswitchPath)
        if nsswitchStamp == nil || nsswitchStamp! != nsswitch {
            nsswitchStamp = nsswitch
            filesFirst = nsswitch != nil && Self.filesComesFirst(Self.read(nsswitchPath) ?? [])
        }
        let hosts = Self.stamp(hostsPath)
        if hostsStamp == nil || hostsStamp! != hosts {
            hostsStamp = hosts
            entries = Self.parse(Self.read(hostsPath) ?? [])
        }
    }

    private var answers: Bool { filesFirst && hostConfUsable == true }

    /// The name glibc's getnameinfo(NI_NAMEREQD) would give for `address`
    /// (4 bytes for AF_INET, 16 for AF_INET6), or nil: ask glibc.
    public func name(family: Int32, address: [UInt8]) -> String? {
        guard answers, Self.isPlain(family: family, address: address) else { return nil }
        for entry in entries where entry.family == family && entry.address == address {
            return entry.names.first  // a line without a name: glibc's answer is odd; ask it
        }
        return nil
    }

    /// Whether `name` resolves to `address` for the family: true when the
    /// first line naming it has the address; nil (ask glibc) when no line
    /// names it, or when a later line might (host.conf's `multi`), or when
    /// `name` is numeric (getaddrinfo does not look numeric names up).
    public func confirms(_ name: String, family: Int32, address: [UInt8]) -> Bool? {
        guard answers, Self.isPlain(family: family, address: address), !Self.isNumeric(name) else { return nil }
        var name = name
        return name.withUTF8 { wanted -> Bool? in
            for entry in entries where entry.family == family {
                let named = entry.lowerNames.contains { known in
                    known.count == wanted.count && zip(known, wanted).allSatisfy { $0 == Self.lowerASCII($1) }
                }
                if named { return entry.address == address ? true : nil }
            }
            return nil
        }
    }

    // MARK: - Parsing

    /// The hosts line of nsswitch.conf begins with `files`, with no action
    /// after it (`[SUCCESS=continue]` would change what a match means).
    static func filesComesFirst(_ text: [UInt8]) -> Bool {
        var found: [[String]] = []
        for line in lines(text) {
            var words = fields(line)
            guard let first = words.first, first.hasPrefix("hosts:") else { continue }
            let rest = String(first.dropFirst(6))
            words.removeFirst()
            if !rest.isEmpty { words.insert(rest, at: 0) }
            found.append(words)
        }
        guard found.count == 1, let words = found.first, words.first == "files" else { return false }
        return words.count == 1 || !words[1].hasPrefix("[")
    }

    /// host.conf (absent, or only `multi` and the ignored `order`): nothing
    /// that changes a files answer (`trim`, `reorder`, `spoof` would).
    static func hostConfIsNeutral(_ text: [UInt8]?) -> Bool {
        guard let text else { return true }
        for name in ["RESOLV_MULTI", "RESOLV_REORDER", "RESOLV_ADD_TRIM_DOMAINS", "RESOLV_OVERRIDE_TRIM_DOMAINS",
                     "RESOLV_SPOOF_CHECK"] where getenv(name) != nil {
            return false
        }
        for line in lines(text) {
            guard let keyword = fields(line).first?.lowercased() else { continue }
            if keyword != "multi" && keyword != "order" { return false }
        }
        return true
    }

    static func parse(_ text: [UInt8]) -> [Entry] {
        var entries: [Entry] = []
        for line in lines(text) {
            let words = fields(line)
            guard !words.isEmpty else { continue }
            if let v4 = ipv4(words[0]) {
                entries.append(Entry(family: AF_INET, address: v4, names: Array(words[1...])))
            } else if let v6 = ipv6(words[0]) {
                entries.append(Entry(family: AF_INET6, address: v6, names: Array(words[1...])))
            }
        }
        return entries
    }

    /// Lines without their `#` comments.
    private static func lines(_ text: [UInt8]) -> [ArraySlice<UInt8>] {
        text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).map { line in
            if let hash = line.firstIndex(of: UInt8(ascii: "#")) { return line[line.startIndex..<hash] }
            return line
        }
    }

    private static func fields(_ line: ArraySlice<UInt8>) -> [String] {
        line.split(whereSeparator: { $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0d) })
            .map { String(decoding: $0, as: UTF8.self) }
    }

    static func ipv4(_ text: String) -> [UInt8]? {
        var a = in_addr()
        guard inet_pton(AF_INET, text, &a) == 1 else { return nil }
        return withUnsafeBytes(of: a) { Array($0) }
    }

    static func ipv6(_ text: String) -> [UInt8]? {
        var a = in6_addr()
        guard inet_pton(AF_INET6, text, &a) == 1 else { return nil }
        return withUnsafeBytes(of: a) { Array($0) }
    }

    /// getaddrinfo takes these as numbers without a lookup (inet_aton's
    /// forms such as "127.1" included).
    static func isNumeric(_ name: String) -> Bool {
        var a = in_addr()
        return inet_aton(name, &a) != 0 || ipv6(name) != nil
    }

    /// Addresses glibc looks up as they are: IPv4, or IPv6 that is neither
    /// unspecified, loopback-like (`::x`) nor IPv4-mapped (glibc turns those
    /// into IPv4 lookups).
    private static func isPlain(family: Int32, address: [UInt8]) -> Bool {
        if family == AF_INET { return address.count == 4 }
        guard family == AF_INET6, address.count == 16 else { return false }
        return address[0..<10].contains { $0 != 0 }
    }

    static func lowerASCII(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }

    // MARK: - Files

    /// nil when the file does not exist (or cannot be examined).
    private static func stamp(_ path: [CChar]) -> Stamp? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Stamp(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
                     seconds: st.st_mtim.tv_sec, nanoseconds: st.st_mtim.tv_nsec)
    }

    /// The file's bytes, or nil when it cannot be read (a hosts file over
    /// 4 MiB is left to glibc too).
    private static func read(_ path: [CChar]) -> [UInt8]? {
        let name = path.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        guard let bytes = try? TextFile.readBytes(name), bytes.count <= 4 << 20 else { return nil }
        return bytes
    }
}
