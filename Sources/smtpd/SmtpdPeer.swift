// SmtpdPeer: who the client is: its address and port from the socket, its
// reverse name (PTR) and the verified name (the reverse name only when it
// resolves back to the address, else "unknown"), as Postfix's smtpd_peer.
// Names in /etc/hosts are answered from a cache of it (DNS.HostsFile) when
// glibc would answer them from the file; the rest goes through glibc.
import Glibc
import Util
import DNS

struct SmtpdPeer {
    var address = "127.0.0.1"
    var port = "0"
    var name = "localhost"
    var reverseName = "localhost"
    var nameTemporary = false
    var reverseTemporary = false
    var isIPv6 = false
    /// The local end of the connection (policy servers are told it).
    var serverAddress = ""
    var serverPort = ""

    /// The address as the Received header shows it ("IPv6:..." for IPv6).
    var rfcAddress: String { isIPv6 ? "IPv6:" + address : address }
    /// smtpd_client_port_logging: NAME[ADDR]:PORT in logs and replies.
    var portLogging = false
    var nameAddress: String { portLogging ? "\(name)[\(address)]:\(port)" : "\(name)[\(address)]" }

    /// The client of a stand-alone smtpd (`sendmail -bs`): standard input
    /// is no socket, so the client is localhost[127.0.0.1], as Postfix's.
    static func standalone() -> SmtpdPeer { SmtpdPeer() }

    /// `resolveName` false (smtpd_peername_lookup = no): the name and the
    /// reverse name are "unknown", as Postfix's smtpd_peer.
    static func lookup(fd: Int32, resolveName: Bool = true) -> SmtpdPeer {
        var peer = SmtpdPeer()
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        guard rc == 0 else { return peer }
        var local = sockaddr_storage()
        var localLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        if withUnsafeMutablePointer(to: &local, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &localLength) } }) == 0,
           let (host, serv) = numeric(&local, localLength) {
            peer.serverAddress = unmapped(host)
            peer.serverPort = serv
        }
        let family = Int32(storage.ss_family)
        guard family == AF_INET || family == AF_INET6, let (host, serv) = numeric(&storage, length) else { return peer }
        let address = unmapped(host)
        peer.address = address
        peer.port = serv
        peer.isIPv6 = address.utf8.contains(UInt8(ascii: ":"))
        return named(peer, storage: &storage, length: length, resolveName: resolveName)
    }

    /// The client a PROXY header names (smtpd_upstream_proxy_protocol).
    static func proxied(client: String, clientPort: String, server: String, serverPort: String,
                        resolveName: Bool = true) -> SmtpdPeer {
        var peer = SmtpdPeer()
        peer.address = client
        peer.port = clientPort
        peer.serverAddress = server
        peer.serverPort = serverPort
        peer.isIPv6 = client.contains(":")
        var storage = sockaddr_storage()
        var length: socklen_t
        if peer.isIPv6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            _ = inet_pton(AF_INET6, client, &a.sin6_addr)
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &storage) { dst in withUnsafeBytes(of: &a) { dst.copyMemory(from: $0) } }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            _ = inet_pton(AF_INET, client, &a.sin_addr)
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutableBytes(of: &storage) { dst in withUnsafeBytes(of: &a) { dst.copyMemory(from: $0) } }
        }
        return named(peer, storage: &storage, length: length, resolveName: resolveName)
    }

    /// Fills in the names of `peer` (whose address is `storage`).
    private static func named(_ peer: SmtpdPeer, storage: inout sockaddr_storage, length: socklen_t, resolveName: Bool) -> SmtpdPeer {
        var peer = peer
        let address = peer.address
        guard resolveName else {
            peer.name = "unknown"
            peer.reverseName = "unknown"
            return peer
        }
        let hosts = HostsFile.system
        hosts.refresh()
        let family = Int32(storage.ss_family)
        let bytes = addressBytes(&storage)
        if let known = hosts.name(family: family, address: bytes) {
            peer.reverseName = known
            let confirmed = hosts.confirms(known, family: family, address: bytes) ?? forwardConfirms(known, address: address)
            peer.name = confirmed ? known : "unknown"
            return peer
        }
        // Reverse name.
        var nameBuffer = [CChar](unsafeUninitializedCapacity: Int(NI_MAXHOST)) { b, n in b[0] = 0; n = b.count }
        let reverse = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &nameBuffer, socklen_t(nameBuffer.count), nil, 0, NI_NAMEREQD)
            }
        }
        if reverse != 0 {
            peer.name = "unknown"
            peer.reverseName = "unknown"
            peer.nameTemporary = reverse == EAI_AGAIN
            peer.reverseTemporary = peer.nameTemporary
            return peer
        }
        let reverseName = String(cString: nameBuffer)
        peer.reverseName = reverseName
        let confirmed = hosts.confirms(reverseName, family: family, address: bytes)
            ?? forwardConfirms(reverseName, address: address)
        peer.name = confirmed ? reverseName : "unknown"
        return peer
    }

    /// The numeric host and port of a socket address, as getnameinfo's
    /// NI_NUMERICHOST | NI_NUMERICSERV give them; inet_ntop directly where
    /// that is the same text (every address but scoped IPv6 ones): glibc's
    /// getnameinfo took 2,500 instructions per call, twice per session.
    private static func numeric(_ storage: inout sockaddr_storage, _ length: socklen_t) -> (String, String)? {
        switch Int32(storage.ss_family) {
        case AF_INET:
            // Dotted quad by hand: glibc's inet_ntop formats IPv4 with snprintf.
            let sin = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            let a = UInt32(bigEndian: sin.sin_addr.s_addr)
            var text: [UInt8] = []
            text.reserveCapacity(15)
            for shift: UInt32 in [24, 16, 8, 0] {
                if shift != 24 { text.append(UInt8(ascii: ".")) }
                text.appendDecimal(Int((a >> shift) & 0xff))
            }
            return (String(decoding: text, as: UTF8.self), String(UInt16(bigEndian: sin.sin_port)))
        case AF_INET6:
            let sin6 = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            var a = sin6.sin6_addr
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            if sin6.sin6_scope_id == 0, inet_ntop(AF_INET6, &a, &text, socklen_t(text.count)) != nil {
                return (text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) },
                        String(UInt16(bigEndian: sin6.sin6_port)))
            }
        default:
            break
        }
        var host = [CChar](unsafeUninitializedCapacity: Int(NI_MAXHOST)) { b, n in b[0] = 0; n = b.count }
        var serv = [CChar](unsafeUninitializedCapacity: Int(NI_MAXSERV)) { b, n in b[0] = 0; n = b.count }
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), &serv, socklen_t(serv.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard rc == 0 else { return nil }
        return (host.withUnsafeBufferPointer { String(cString: $0.baseAddress!) },
                serv.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }

    /// An IPv4-mapped IPv6 address ("::ffff:192.0.2.1") as the IPv4 address.
    private static func unmapped(_ text: String) -> String {
        let u = text.utf8
        guard u.count > 7, u.contains(UInt8(ascii: ".")),
              u.prefix(7).elementsEqual("::ffff:".utf8, by: { ($0 | 0x20) == $1 }) else { return text }
        return String(text.dropFirst(7))
    }

    /// The raw address of an AF_INET or AF_INET6 socket address ([] for others).
    private static func addressBytes(_ storage: inout sockaddr_storage) -> [UInt8] {
        withUnsafePointer(to: &storage) { p -> [UInt8] in
            switch Int32(p.pointee.ss_family) {
            case AF_INET:
                return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) } }
            case AF_INET6:
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) } }
            default:
                return []
            }
        }
    }

    /// True when `name` resolves to `address`. Only the client address's
    /// family is looked up, as Postfix's smtpd does (an IPv4 client costs
    /// no AAAA query).
    static func forwardConfirms(_ name: String, address: String) -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = address.utf8.contains(UInt8(ascii: ":")) ? AF_INET6 : AF_INET
        var result: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else { return false }
        defer { freeaddrinfo(first) }
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let info = p {
            var host = [CChar](unsafeUninitializedCapacity: Int(NI_MAXHOST)) { b, n in b[0] = 0; n = b.count }
            if getnameinfo(info.pointee.ai_addr, info.pointee.ai_addrlen, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
                var text = String(cString: host)
                if text.lowercased().hasPrefix("::ffff:") && text.contains(".") { text = String(text.dropFirst(7)) }
                if text == address { return true }
            }
            p = info.pointee.ai_next
        }
        return false
    }
}
