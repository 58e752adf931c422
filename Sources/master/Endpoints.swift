// Endpoints: where each service listens. inet services get TCP listeners
// on host:port (the host from the service name, else inet_interfaces,
// filtered by inet_protocols); unix, unix-dgram and pass services get
// sockets and fifo services fifos in $queue_directory/private (private
// = y or -) or public (private = n). Sockets are mode 0666 (the directory
// guards private ones); fifos 0622 when public, 0600 when private.
import Glibc
import Util
import Global

enum EndpointSpec: Equatable {
    case inet(addresses: [String], port: UInt16, label: String)
    case local(type: String, path: String, label: String)

    /// The same endpoint across reloads means the same listening descriptors.
    var identity: String {
        switch self {
        case .inet(let addresses, let port, _): return "inet:\(addresses.joined(separator: ",")):\(port)"
        case .local(let type, let path, _): return "\(type):\(path)"
        }
    }

    var label: String {
        switch self {
        case .inet(_, _, let label), .local(_, _, let label): return label
        }
    }

    var socketCount: Int {
        if case .inet(let addresses, _, _) = self { return addresses.count }
        return 1
    }

    static func make(entry: MasterEntry, config: MailConfig, path masterPath: String) throws(ConfigError) -> EndpointSpec {
        let queue = config.value("queue_directory")
        func problem(_ text: String) -> ConfigError {
            ConfigError(file: masterPath, line: entry.firstLine, text,
                        postfixText: "\(masterPath): line \(entry.firstLine): \(text)")
        }
        guard entry.type == "inet" else {
            let directory = entry.privateField == "n" ? "public" : "private"
            return .local(type: entry.type, path: "\(queue)/\(directory)/\(entry.service)",
                          label: "\(directory)/\(entry.service)")
        }
        // host:port, [v6]:port, or port alone.
        var host: String? = nil
        var portText = entry.service
        if let colon = entry.service.lastIndex(of: ":") {
            host = String(entry.service[..<colon])
            portText = String(entry.service[entry.service.index(after: colon)...])
            if host!.hasPrefix("[") && host!.hasSuffix("]") { host = String(host!.dropFirst().dropLast()) }
        }
        guard let port = servicePort(portText) else {
            throw problem("unknown service: \(portText)/tcp")
        }
        let protocols = InetProtocols(config.value("inet_protocols"))
        var addresses: [String]
        if let host, !host.isEmpty, host != "*" {
            addresses = resolve(host, protocols: protocols)
            guard !addresses.isEmpty else { throw problem("host not found: \(host)") }
        } else {
            addresses = []
            let interfaces = config.value("inet_interfaces").split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" || $0 == "\n" })
            for item in interfaces.map(String.init) {
                switch item.lowercased() {
                case "all":
                    if protocols.ipv4 { addresses.append("0.0.0.0") }
                    if protocols.ipv6 { addresses.append("::") }
                case "loopback-only":
                    if protocols.ipv4 { addresses.append("127.0.0.1") }
                    if protocols.ipv6 { addresses.append("::1") }
                default:
                    var name = item
                    if name.hasPrefix("[") && name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
                    let found = resolve(name, protocols: protocols)
                    guard !found.isEmpty else { throw problem("host not found: \(item)") }
                    addresses += found
                }
            }
            var unique: [String] = []
            for a in addresses where !unique.contains(a) { unique.append(a) }
            addresses = unique
        }
        guard !addresses.isEmpty else { throw problem("no usable address for inet service \(entry.service)") }
        return .inet(addresses: addresses, port: port, label: host == nil ? String(port) : entry.service)
    }

    /// A numeric port or a name from /etc/services.
    static func servicePort(_ text: String) -> UInt16? {
        if let n = UInt16(text), n > 0 { return n }
        guard !text.isEmpty, let entry = getservbyname(text, "tcp") else { return nil }
        return UInt16(bigEndian: UInt16(truncatingIfNeeded: entry.pointee.s_port))
    }

    /// Numeric addresses for a host name or literal, filtered by protocol.
    static func resolve(_ host: String, protocols: InetProtocols) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = protocols.ipv4 && protocols.ipv6 ? AF_UNSPEC : (protocols.ipv6 ? AF_INET6 : AF_INET)
        var result: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, nil, &hints, &result) == 0 else { return [] }
        defer { freeaddrinfo(result) }
        var addresses: [String] = []
        var cursor = result
        while let info = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(info.pointee.ai_addr, info.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                let text = String(cString: buffer)
                if !addresses.contains(text) { addresses.append(text) }
            }
            cursor = info.pointee.ai_next
        }
        return addresses
    }
}

/// inet_protocols: ipv4, ipv6, all (both when the host has IPv6).
struct InetProtocols: Equatable {
    let ipv4: Bool
    let ipv6: Bool

    init(_ text: String) {
        let words = Set(text.lowercased().split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init))
        let all = words.contains("all")
        ipv4 = all || words.contains("ipv4")
        ipv6 = (all && Self.hostHasIPv6()) || words.contains("ipv6")
    }

    static func hostHasIPv6() -> Bool {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }
}

/// Why an endpoint could not be opened, in Postfix's words.
struct EndpointError: Error {
    let text: String
}

/// Opens the descriptors of an endpoint.
enum Endpoints {
    static func open(_ spec: EndpointSpec, isPrivate: Bool) throws(EndpointError) -> [Int32] {
        switch spec {
        case .inet(let addresses, let port, _):
            var fds: [Int32] = []
            for address in addresses {
                do {
                    fds.append(try Socket.listenTCP(host: address, port: port))
                } catch {
                    for fd in fds { close(fd) }
                    throw EndpointError(text: "bind \(address) port \(port): \(error)")
                }
            }
            return fds
        case .local(let type, let path, _):
            do {
                switch type {
                case "fifo":
                    unlink(path)
                    let mode: mode_t = isPrivate ? 0o600 : 0o622
                    guard mkfifo(path, mode) == 0 else { throw SystemError() }
                    chmod(path, mode)
                    let fd = Glibc.open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
                    guard fd >= 0 else { throw SystemError() }
                    return [fd]
                case "unix-dgram":
                    return [try Socket.listenUnix(path, mode: 0o666, datagram: true)]
                default:  // unix, pass
                    return [try Socket.listenUnix(path, mode: 0o666)]
                }
            } catch {
                throw EndpointError(text: "\(type == "fifo" ? "mkfifo" : "bind") \(path): \(error)")
            }
        }
    }

    /// Removes the file of a local endpoint that no service uses any more.
    static func remove(_ spec: EndpointSpec) {
        if case .local(_, let path, _) = spec { unlink(path) }
    }
}
