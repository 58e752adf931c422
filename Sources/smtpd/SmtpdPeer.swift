// SmtpdPeer: who the client is: its address and port from the socket, its
// reverse name (PTR) and the verified name (the reverse name only when it
// resolves back to the address, else "unknown"), as Postfix's smtpd_peer.
import Glibc

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
        // getnameinfo writes NUL-terminated text; nothing else is read.
        var host = [CChar](unsafeUninitializedCapacity: Int(NI_MAXHOST)) { b, n in b[0] = 0; n = b.count }
        var serv = [CChar](unsafeUninitializedCapacity: Int(NI_MAXSERV)) { b, n in b[0] = 0; n = b.count }
        var local = sockaddr_storage()
        var localLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        if withUnsafeMutablePointer(to: &local, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &localLength) } }) == 0,
           withUnsafePointer(to: &local, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
               getnameinfo($0, localLength, &host, socklen_t(host.count), &serv, socklen_t(serv.count), NI_NUMERICHOST | NI_NUMERICSERV) } }) == 0 {
            peer.serverAddress = String(cString: host)
            if peer.serverAddress.lowercased().hasPrefix("::ffff:") && peer.serverAddress.contains(".") { peer.serverAddress = String(peer.serverAddress.dropFirst(7)) }
            peer.serverPort = String(cString: serv)
        }
        let family = Int32(storage.ss_family)
        guard family == AF_INET || family == AF_INET6 else { return peer }
        let numeric = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), &serv, socklen_t(serv.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard numeric == 0 else { return peer }
        var address = String(cString: host)
        if address.lowercased().hasPrefix("::ffff:") && address.contains(".") { address = String(address.dropFirst(7)) }
        peer.address = address
        peer.port = String(cString: serv)
        peer.isIPv6 = address.contains(":")
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
        peer.name = forwardConfirms(reverseName, address: address) ? reverseName : "unknown"
        return peer
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
