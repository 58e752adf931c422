// DNSResolver: a small stub resolver for smtpd's DNS block and allow
// lists and its MX/NS lookups: it reads the nameservers and the
// timeout/attempts options from /etc/resolv.conf (as the system resolver
// does), sends one UDP query per server and attempt, and answers found /
// no such name / no data / temporary failure.
// No recursion, no cache beyond one session's (the caller's), no TCP
// fallback: a truncated answer counts as a temporary failure.
//
// SECURITY: answers are accepted only from the server asked, with the
// query's id and question; the parser is bounded (DNSMessage).
import Glibc

public enum DNSLookupResult: Equatable, Sendable {
    /// Records of the type asked for (CNAME chains followed by the server).
    case found([DNSRecord])
    /// NXDOMAIN.
    case notFound
    /// The name exists without records of the type.
    case noData
    /// No usable answer (timeout, SERVFAIL, malformed or truncated reply).
    case temporaryFailure(String)
}

/// What the restriction engine asks DNS (tests answer from a dictionary).
public protocol DNSLookup: AnyObject {
    func lookup(_ name: String, type: DNSRecordType) -> DNSLookupResult
}

public final class DNSResolver: DNSLookup {
    public struct Configuration: Equatable, Sendable {
        public var servers: [String] = []
        public var timeout: Int32 = 5
        public var attempts = 2
        public init() {}

        /// resolv.conf(5): `nameserver ADDR` (IPv4 only here, at most three),
        /// `options timeout:N attempts:N`; no server means 127.0.0.1.
        public init(resolvConf text: String) {
            for raw in text.split(separator: "\n") {
                let words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard let key = words.first, !key.hasPrefix("#"), !key.hasPrefix(";") else { continue }
                if key == "nameserver", words.count >= 2, servers.count < 3, DNSResolver.ipv4(String(words[1])) != nil {
                    servers.append(String(words[1]))
                } else if key == "options" {
                    for option in words.dropFirst() {
                        if option.hasPrefix("timeout:"), let n = Int32(option.dropFirst(8)) { timeout = max(1, min(n, 30)) }
                        if option.hasPrefix("attempts:"), let n = Int(option.dropFirst(9)) { attempts = max(1, min(n, 5)) }
                    }
                }
            }
            if servers.isEmpty { servers = ["127.0.0.1"] }
        }
    }

    public let configuration: Configuration
    private var nextID: UInt16

    public init(configuration: Configuration) {
        self.configuration = configuration
        nextID = UInt16(truncatingIfNeeded: Int(getpid()) &* 7919 &+ Int(time(nil)))
    }

    /// Reads /etc/resolv.conf (or `path`) now.
    public convenience init(resolvConf path: String = "/etc/resolv.conf") {
        var text = ""
        if let f = fopen(path, "r") {
            var buffer = [CChar](repeating: 0, count: 1024)
            while fgets(&buffer, Int32(buffer.count), f) != nil { text += String(cString: buffer) }
            fclose(f)
        }
        self.init(configuration: Configuration(resolvConf: text))
    }

    static func ipv4(_ text: String) -> in_addr? {
        var a = in_addr()
        return inet_pton(AF_INET, text, &a) == 1 ? a : nil
    }

    public func lookup(_ name: String, type: DNSRecordType) -> DNSLookupResult {
        nextID &+= 1
        let id = nextID
        guard let query = DNSMessage.query(id: id, name: name, type: type) else { return .notFound }
        var lastError = "Host not found, try again"
        for _ in 0..<configuration.attempts {
            for server in configuration.servers {
                switch exchange(query, id: id, server: server) {
                case .success(let response):
                    switch response.rcode {
                    case .noError:
                        if response.truncated { lastError = "truncated reply"; continue }
                        let records = response.answers.filter { $0.type == type.rawValue }
                        return records.isEmpty ? .noData : .found(records)
                    case .nameError: return .notFound
                    default: lastError = "Host not found, try again"
                    }
                case .failure(let problem): lastError = problem.text
                }
            }
        }
        return .temporaryFailure(lastError)
    }

    private struct Problem: Error { let text: String }

    private func exchange(_ query: [UInt8], id: UInt16, server: String) -> Result<DNSResponse, Problem> {
        guard let address = DNSResolver.ipv4(server) else { return .failure(Problem(text: "bad nameserver \(server)")) }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return .failure(Problem(text: String(cString: strerror(errno)))) }
        defer { close(fd) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = in_port_t(53).bigEndian
        sa.sin_addr = address
        let connected = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return .failure(Problem(text: String(cString: strerror(errno)))) }
        guard send(fd, query, query.count, 0) == query.count else { return .failure(Problem(text: String(cString: strerror(errno)))) }
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Int(deadline.tv_sec) * 1000 + Int(deadline.tv_nsec) / 1_000_000 + Int(configuration.timeout) * 1000
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = end - (Int(now.tv_sec) * 1000 + Int(now.tv_nsec) / 1_000_000)
            if left <= 0 { return .failure(Problem(text: "Connection timed out")) }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&p, 1, Int32(left))
            if rc == 0 { return .failure(Problem(text: "Connection timed out")) }
            if rc < 0 { if errno == EINTR { continue }; return .failure(Problem(text: String(cString: strerror(errno)))) }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .failure(Problem(text: String(cString: strerror(errno))))
            }
            // Only our answer counts; anything else is ignored until the timeout.
            guard let response = DNSMessage.parse(Array(buffer[0..<n])), response.id == id else { continue }
            guard sameQuestion(Array(buffer[0..<n]), query) else { continue }
            return .success(response)
        }
    }

    /// The reply repeats the query's question section.
    private func sameQuestion(_ reply: [UInt8], _ query: [UInt8]) -> Bool {
        let q = query[12...]
        guard reply.count >= 12 + q.count else { return false }
        return zip(reply[12..<(12 + q.count)], q).allSatisfy { a, b in
            (a >= 0x41 && a <= 0x5A ? a + 0x20 : a) == (b >= 0x41 && b <= 0x5A ? b + 0x20 : b)
        }
    }
}
