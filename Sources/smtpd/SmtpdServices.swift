// SmtpdServices: what a session needs from the rest of the mail system,
// behind small protocols so tests can stand in for them: the queue
// (cleanup, through CleanupClient), address classes (trivial-rewrite) and
// host lookups for the restriction engine, and the anvil counters.
import Glibc
import Util
import Global
import SmtpdPolicy

/// One message on its way into the queue.
protocol SmtpdQueueFile: AnyObject {
    var queueID: String { get }
    func begin(flags: CleanupProtocol.Flags, sender: String, arrival: (Int, Int), attributes: [QueueAttribute],
               recipients: [QueueRecipient], verp: String?)
    func writeRecord(continued: Bool, _ payload: ArraySlice<UInt8>) throws(CleanupClientError)
    func finish(actions: CleanupActions) throws(CleanupClientError) -> CleanupReply
}

protocol SmtpdQueue: AnyObject {
    func open() throws(CleanupClientError) -> SmtpdQueueFile
}

extension CleanupClient: SmtpdQueueFile {
    func begin(flags: CleanupProtocol.Flags, sender: String, arrival: (Int, Int), attributes: [QueueAttribute],
               recipients: [QueueRecipient], verp: String?) {
        begin(flags: flags, sender: sender, fullName: nil, arrival: arrival, attributes: attributes, recipients: recipients,
              verp: verp)
    }
    func finish(actions: CleanupActions) throws(CleanupClientError) -> CleanupReply {
        try finish(extracted: [], actions: actions)
    }
}

/// The real queue: public/cleanup, on the connection kept from the
/// previous message when cleanup offered it (within ipc_idle, ipc_ttl).
final class CleanupQueue: SmtpdQueue {
    let endpoint: (socketPath: String, timeout: Int32)
    let limits: CleanupClient.KeepLimits
    init(config: MailConfig, idle: Int, ttl: Int) {
        endpoint = CleanupClient.endpoint(config: config)
        limits = CleanupClient.KeepLimits(idle: Double(max(1, idle)), life: Double(max(1, ttl)))
    }
    func open() throws(CleanupClientError) -> SmtpdQueueFile {
        try CleanupClient.keeping(socketPath: endpoint.socketPath, timeout: endpoint.timeout, limits: limits)
    }
}

/// Address classes through trivial-rewrite, host names through the resolver.
final class SystemPolicyEnvironment: PolicyEnvironment {
    let rewrite: RewriteClient
    init(config: MailConfig) { rewrite = RewriteClient(config: config) }

    /// As Postfix's smtpd: the address is first canonicalized in the local
    /// rewrite context (append_at_myorigin, append_dot_mydomain, a trailing
    /// dot, bang paths and percent hacks), then resolved. A plain
    /// local@dotted.domain is its own canonical form and skips the round trip.
    func resolve(_ address: String) throws(PolicyTemporaryFailure) -> ResolveReply {
        do {
            var query = address
            if !SystemPolicyEnvironment.isCanonical(address) {
                let rewritten = try rewrite.rewrite(rule: .local, address: HeaderAddressParser.quoteInternal(address))
                query = HeaderAddressParser.internalForm(external: rewritten)
            }
            return try rewrite.resolve(sender: "", address: query)
        } catch {
            throw PolicyTemporaryFailure(error.description)
        }
    }

    /// True when local-context canonicalization cannot change `address`:
    /// one `@`, a local part without routing characters or quotes, and a
    /// domain with a dot inside (not at its end).
    static func isCanonical(_ address: String) -> Bool {
        var address = address
        return address.withUTF8 { b in  // contiguous bytes: called for every address
            guard let at = b.lastIndex(of: UInt8(ascii: "@")), at != 0 else { return b.isEmpty }
            let local = b[..<at]
            let domain = b[(at + 1)...]
            guard !local.contains(where: { $0 == UInt8(ascii: "@") || $0 == UInt8(ascii: "!") || $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "\"") })
            else { return false }
            guard let last = domain.last, last != UInt8(ascii: "."), domain.contains(UInt8(ascii: ".")) else { return false }
            return true
        }
    }

    func lookupHost(_ name: String) -> HostLookupResult {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(name, nil, &hints, &result)
        if let result { freeaddrinfo(result) }
        if rc == 0 { return .found }
        return rc == EAI_AGAIN ? .temporaryFailure : .notFound
    }

    func hostAddresses(_ name: String, ipv4: Bool, ipv6: Bool) -> HostAddressResult {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = ipv4 && !ipv6 ? AF_INET : ipv6 && !ipv4 ? AF_INET6 : AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(name, nil, &hints, &result)
        guard rc == 0 else { return .failed(String(cString: gai_strerror(rc))) }
        defer { freeaddrinfo(result) }
        var out: [String] = []
        var next = result
        while let ai = next {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            let family = ai.pointee.ai_family
            if family == AF_INET, ipv4, let sa = ai.pointee.ai_addr {
                var a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                if inet_ntop(AF_INET, &a, &buffer, socklen_t(buffer.count)) != nil { out.append(String(cString: buffer)) }
            } else if family == AF_INET6, ipv6, let sa = ai.pointee.ai_addr {
                var a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                if inet_ntop(AF_INET6, &a, &buffer, socklen_t(buffer.count)) != nil { out.append(String(cString: buffer)) }
            }
            next = ai.pointee.ai_next
        }
        return .found(out)
    }
}

/// Connection, message and recipient counters (anvil); nil answers mean
/// "no limit applies".
protocol SmtpdRateLimiter: AnyObject {
    func connect(_ ident: String) -> (count: Int, rate: Int)?
    func disconnect(_ ident: String)
    func message(_ ident: String) -> Int?
    func recipient(_ ident: String) -> Int?
    /// Counts one AUTH command; the client's AUTH rate.
    func auth(_ ident: String) -> Int?
    /// Counts one new TLS session; the client's new-session rate.
    func newTLS(_ ident: String) -> Int?
    /// The new-TLS-session rate, without counting one.
    func newTLSRate(_ ident: String) -> Int?
}

extension SmtpdRateLimiter {
    func newTLS(_ ident: String) -> Int? { nil }
    func newTLSRate(_ ident: String) -> Int? { nil }
}

final class AnvilRateLimiter: SmtpdRateLimiter {
    let client: AnvilClient
    init(config: MailConfig) { client = AnvilClient(config: config) }
    func connect(_ ident: String) -> (count: Int, rate: Int)? {
        do { return try client.connect(ident: ident) } catch { MailLog.warning("\(error)"); return nil }
    }
    func disconnect(_ ident: String) { try? client.disconnect(ident: ident) }
    func message(_ ident: String) -> Int? { try? client.message(ident: ident) }
    func recipient(_ ident: String) -> Int? { try? client.recipient(ident: ident) }
    func auth(_ ident: String) -> Int? { try? client.auth(ident: ident) }
    func newTLS(_ ident: String) -> Int? { try? client.newTLS(ident: ident) }
    func newTLSRate(_ ident: String) -> Int? { try? client.newTLSReport(ident: ident) }
}

