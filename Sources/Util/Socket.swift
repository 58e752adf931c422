// Socket: thin wrappers over the BSD socket calls Posthorn needs: UNIX-domain
// and TCP listeners and clients, accept, non-blocking and close-on-exec
// flags. Errors carry errno text.
import Glibc

public enum Socket {
    /// Creates a UNIX-domain stream (or datagram) socket listening at `path`,
    /// replacing a stale socket file.
    public static func listenUnix(_ path: String, backlog: Int32 = 100, mode: mode_t = 0o666,
                                  datagram: Bool = false) throws(SystemError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(datagram ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError() }
        unlink(path)
        var address = try unixAddress(path, fd: fd)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { let e = SystemError(); close(fd); throw e }
        chmod(path, mode)
        if !datagram && listen(fd, backlog) != 0 { let e = SystemError(); close(fd); throw e }
        return fd
    }

    /// Connects to the UNIX-domain stream socket at `path`.
    /// With `nonBlocking`, a listener whose backlog is full (its server
    /// is not accepting: dead, or throttled by master) is an immediate
    /// EAGAIN instead of a wait, and the descriptor stays non-blocking
    /// (one-byte triggers: Trigger, TriggerChannel).
    public static func connectUnix(_ path: String, nonBlocking: Bool = false) throws(SystemError) -> Int32 {
        let flags = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        let fd = socket(AF_UNIX, flags, 0)
        guard fd >= 0 else { throw SystemError() }
        var address = try unixAddress(path, fd: fd)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { let e = SystemError(); close(fd); throw e }
        return fd
    }

    private static func unixAddress(_ path: String, fd: Int32) throws(SystemError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { close(fd); throw SystemError(ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return address
    }

    /// A TCP listener on a numeric IPv4 or IPv6 address and port.
    public static func listenTCP(host: String, port: UInt16, backlog: Int32 = 100) throws(SystemError) -> Int32 {
        let isV6 = host.contains(":")
        let fd = socket(isV6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError() }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var rc: Int32
        if isV6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &a.sin6_addr) == 1 else { close(fd); throw SystemError(EINVAL) }
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &a.sin_addr) == 1 else { close(fd); throw SystemError(EINVAL) }
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard rc == 0 else { let e = SystemError(); close(fd); throw e }
        guard listen(fd, backlog) == 0 else { let e = SystemError(); close(fd); throw e }
        return fd
    }

    /// Connects to a numeric address and port.
    public static func connectTCP(host: String, port: UInt16) throws(SystemError) -> Int32 {
        let isV6 = host.contains(":")
        let fd = socket(isV6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError() }
        var rc: Int32
        if isV6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &a.sin6_addr) == 1 else { close(fd); throw SystemError(EINVAL) }
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &a.sin_addr) == 1 else { close(fd); throw SystemError(EINVAL) }
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard rc == 0 else { let e = SystemError(); close(fd); throw e }
        return fd
    }

    /// Sets or clears O_NONBLOCK.
    /// Ignores SIGPIPE, so that writing to a peer that went away is an
    /// error and not the end of the process; the first call does it.
    public static func ignoreBrokenPipe() { _ = brokenPipeIgnored }
    private static let brokenPipeIgnored: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    public static func setNonBlocking(_ fd: Int32, _ on: Bool = true) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK)
    }

    /// Sets or clears FD_CLOEXEC.
    public static func setCloseOnExec(_ fd: Int32, _ on: Bool = true) {
        let flags = fcntl(fd, F_GETFD)
        _ = fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC)
    }
}
