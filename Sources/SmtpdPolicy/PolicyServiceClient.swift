// PolicyServiceClient: one connection to a policy server speaking Postfix's
// public policy delegation protocol (SMTPD_POLICY_README): the request is
// `name=value` lines and an empty line, the answer `action=...` and an
// empty line. The connection stays open across requests and sessions until
// max_idle, max_ttl or request_limit ends it; a failed exchange is retried
// try_limit times retry_delay apart, and when all fail the caller uses
// default_action. Warnings are worded as Postfix's.
//
// SECURITY: the server's answer is bounded (line length, attribute count)
// and is only ever used as an access-table result.
import Glibc

public final class PolicyServiceClient {
    /// The endpoint as written: inet:host:port, unix:path, host:port or path.
    public let endpoint: String
    public let settings: PolicyServiceSettings
    /// How warnings name the server: host:port, or the path.
    public let displayName: String
    private let isInet: Bool
    private let host: String
    private let port: UInt16
    private let path: String
    private var fd: Int32 = -1
    private var openedAt = 0
    private var lastUsed = 0
    private var requests = 0
    private var input: [UInt8] = []
    /// Injectable for tests.
    public var sleeper: (Int) -> Void = { if $0 > 0 { _ = Glibc.sleep(UInt32($0)) } }

    static let maxLine = 65536
    static let maxAttributes = 1024

    public init(endpoint: String, settings: PolicyServiceSettings) {
        self.endpoint = endpoint
        self.settings = settings
        var rest = Substring(endpoint)
        var inet: Bool
        if rest.hasPrefix("inet:") { inet = true; rest = rest.dropFirst(5) } else if rest.hasPrefix("unix:") { inet = false; rest = rest.dropFirst(5) } else { inet = rest.contains(":") && !rest.hasPrefix("/") }
        isInet = inet
        if inet, let colon = rest.lastIndex(of: ":") {
            var h = String(rest[..<colon])
            if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
            host = h.isEmpty ? "localhost" : h
            port = UInt16(rest[rest.index(after: colon)...]) ?? 0
            path = ""
        } else {
            host = ""
            port = 0
            // Relative to the queue directory: daemons run there (also when chrooted).
            path = String(rest)
        }
        displayName = String(rest)
    }

    deinit { disconnect() }

    public enum Failure: Error, Equatable {
        /// errno text ("Connection refused", "Connection timed out").
        case system(String)
        /// The server answered something unusable (no action, EOF).
        case application
    }

    /// Sends one request; returns the action, or nil after every try
    /// failed (the warnings are passed to `warn`).
    public func query(_ attributes: [(String, String)], warn: (String) -> Void) -> String? {
        var request: [UInt8] = []
        for (name, value) in attributes {
            request += Array(name.utf8)
            request.append(UInt8(ascii: "="))
            // A value cannot carry a line end.
            request += value.utf8.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }
            request.append(0x0A)
        }
        request.append(0x0A)
        for attempt in 1...max(1, settings.tryLimit) {
            if attempt > 1 { sleeper(settings.retryDelay) }
            let now = Int(time(nil))
            if fd >= 0 && (now - lastUsed > settings.maxIdle || now - openedAt > settings.maxTTL) { disconnect() }
            if fd < 0 {
                if let problem = connectServer() {
                    warn("connect to \(displayName): \(problem)")
                    warn("problem talking to server \(displayName): \(problem)")
                    continue
                }
            }
            switch exchange(request, warn: warn) {
            case .success(let action):
                requests += 1
                lastUsed = Int(time(nil))
                if settings.requestLimit > 0 && requests >= settings.requestLimit { disconnect() }
                return action
            case .failure(.system(let text)):
                disconnect()
                warn("problem talking to server \(displayName): \(text)")
            case .failure(.application):
                disconnect()
                if attempt == max(1, settings.tryLimit) { warn("problem talking to server \(displayName): Application error") }
            }
        }
        return nil
    }

    public func disconnect() {
        if fd >= 0 { close(fd) }
        fd = -1
        input.removeAll()
        requests = 0
    }

    private static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// Opens the connection; the errno text on failure.
    private func connectServer() -> String? {
        let deadline = settings.timeout
        var s: Int32 = -1
        if isInet {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>? = nil
            guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
                return "Host not found"
            }
            defer { freeaddrinfo(list) }
            var problem = "Connection refused"
            var p: UnsafeMutablePointer<addrinfo>? = first
            while let ai = p {
                p = ai.pointee.ai_next
                let c = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), ai.pointee.ai_protocol)
                if c < 0 { problem = PolicyServiceClient.errorText(errno); continue }
                if let e = PolicyServiceClient.timedConnect(c, ai.pointee.ai_addr, ai.pointee.ai_addrlen, deadline) {
                    problem = PolicyServiceClient.errorText(e)
                    close(c)
                    continue
                }
                s = c
                break
            }
            if s < 0 { return problem }
        } else {
            var sa = sockaddr_un()
            sa.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: sa.sun_path) else { return "File name too long" }
            withUnsafeMutableBytes(of: &sa.sun_path) { raw in
                for (i, b) in bytes.enumerated() { raw[i] = b }
                raw[bytes.count] = 0
            }
            let c = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if c < 0 { return PolicyServiceClient.errorText(errno) }
            let e = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    PolicyServiceClient.timedConnect(c, $0, socklen_t(MemoryLayout<sockaddr_un>.size), deadline)
                }
            }
            if let e { close(c); return PolicyServiceClient.errorText(e) }
            s = c
        }
        fd = s
        openedAt = Int(time(nil))
        lastUsed = openedAt
        requests = 0
        input.removeAll()
        return nil
    }

    /// connect(2) with a time limit; the errno on failure.
    private static func timedConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>?, _ length: socklen_t, _ timeout: Int) -> Int32? {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        if connect(fd, address, length) == 0 { return nil }
        guard errno == EINPROGRESS || errno == EAGAIN else { return errno }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        var rc: Int32
        repeat { rc = poll(&p, 1, Int32(clamping: timeout * 1000)) } while rc < 0 && errno == EINTR
        if rc == 0 { return ETIMEDOUT }
        if rc < 0 { return errno }
        var soError: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
        return soError == 0 ? nil : soError
    }

    private func monotonicMilliseconds() -> Int {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Int(t.tv_sec) * 1000 + Int(t.tv_nsec) / 1_000_000
    }

    /// Writes the request and reads the answer, all within `timeout`.
    private func exchange(_ request: [UInt8], warn: (String) -> Void) -> Result<String, Failure> {
        let deadline = monotonicMilliseconds() + settings.timeout * 1000
        func wait(_ events: Int32) -> Failure? {
            while true {
                let left = deadline - monotonicMilliseconds()
                if left <= 0 { return .system(PolicyServiceClient.errorText(ETIMEDOUT)) }
                var p = pollfd(fd: fd, events: Int16(events), revents: 0)
                let rc = poll(&p, 1, Int32(clamping: left))
                if rc > 0 { return nil }
                if rc == 0 { return .system(PolicyServiceClient.errorText(ETIMEDOUT)) }
                if errno != EINTR { return .system(PolicyServiceClient.errorText(errno)) }
            }
        }
        var offset = 0
        while offset < request.count {
            if let f = wait(POLLOUT) { return .failure(f) }
            let n = request.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 { offset += n; continue }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            // EPIPE/ECONNRESET on a connection the server closed while idle.
            return .failure(.application)
        }
        var attributes: [String: String] = [:]
        var count = 0
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            if let nl = input.firstIndex(of: 0x0A) {
                var line = Array(input[..<nl])
                input.removeFirst(nl + 1)
                if line.last == 0x0D { line.removeLast() }
                if line.isEmpty { break }
                count += 1
                if count > PolicyServiceClient.maxAttributes { return .failure(.application) }
                if let eq = line.firstIndex(of: UInt8(ascii: "=")) {
                    let name = String(decoding: line[..<eq], as: UTF8.self)
                    if attributes[name] == nil { attributes[name] = String(decoding: line[(eq + 1)...], as: UTF8.self) }
                } else {
                    warn("missing attribute value in input from \(displayName)")
                    return .failure(.application)
                }
                continue
            }
            if input.count > PolicyServiceClient.maxLine { return .failure(.application) }
            if let f = wait(POLLIN) { return .failure(f) }
            let n = read(fd, &buffer, buffer.count)
            if n == 0 { return .failure(.application) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                if errno == ECONNRESET { return .failure(.application) }
                return .failure(.system(PolicyServiceClient.errorText(errno)))
            }
            input += buffer[0..<n]
        }
        guard let action = attributes["action"] else {
            warn("missing attribute action in input from \(displayName)")
            return .failure(.application)
        }
        return .success(action)
    }
}
