// RewriteClient: what cleanup, smtpd and qmgr use to ask trivial-rewrite to
// rewrite an address (local or remote context) or resolve it to transport,
// nexthop and recipient. One long-lived connection to
// $queue_directory/private/$rewrite_service_name; a broken connection is
// reopened once per request; any other failure is a temporary error (the
// caller defers, never bounces). Recent answers are kept in a small
// in-process cache, since a message usually asks about the same few
// addresses several times.
import Glibc
import Util

public enum RewriteClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The service could not be reached, broke, or answered nonsense: try again later.
    case temporary(String)

    public var description: String {
        switch self { case .temporary(let text): return text }
    }
}

public final class RewriteClient {
    public let socketPath: String
    /// Seconds each read or write may take ($ipc_timeout).
    public let timeout: Int32
    /// Most answers kept per kind of request.
    public let cacheLimit: Int
    private var stream: Stream?
    /// Cache keys: the parts hashed as they are (a key string joined per
    /// lookup cost an allocation and a copy of every address).
    private struct RewriteKey: Hashable { var rule: String; var address: String }
    private struct ResolveKey: Hashable { var verify: Bool; var sender: String; var address: String }
    private var rewriteCache = TwoGenerationCache<RewriteKey, String>()
    private var resolveCache = TwoGenerationCache<ResolveKey, ResolveReply>()

    public init(socketPath: String, timeout: Int32 = 3600, cacheLimit: Int = 100) {
        self.socketPath = socketPath
        self.timeout = timeout
        self.cacheLimit = cacheLimit
        rewriteCache.limit = cacheLimit
        resolveCache.limit = cacheLimit
    }

    /// The client for the instance `config` describes.
    public convenience init(config: MailConfig) {
        let name = config.value("rewrite_service_name")
        let seconds = Int32(config.value("ipc_timeout").prefix { $0.isNumber }) ?? 3600
        self.init(socketPath: config.value("queue_directory") + "/private/" + (name.isEmpty ? RewriteProtocol.service : name),
                  timeout: max(1, seconds))
    }

    deinit { stream?.close() }

    /// Rewrites `address` (external form) in the `rule` context.
    public func rewrite(rule: RewriteProtocol.Rule, address: String) throws(RewriteClientError) -> String {
        let key = RewriteKey(rule: rule.rawValue, address: address)
        if let hit = rewriteCache[key] { return hit }
        let reply = try call(RewriteProtocol.rewriteRequest(rule: rule.rawValue, address: address))
        guard let decoded = RewriteReply.decode(reply) else { throw .temporary("trivial-rewrite: malformed rewrite reply") }
        rewriteCache[key] = decoded.address
        return decoded.address
    }

    /// Resolves `address` (internal form) for `sender`; `verify` uses the
    /// address_verify_* settings.
    public func resolve(sender: String, address: String, verify: Bool = false) throws(RewriteClientError) -> ResolveReply {
        let key = ResolveKey(verify: verify, sender: sender, address: address)
        if let hit = resolveCache[key] { return hit }
        let reply = try call(RewriteProtocol.resolveRequest(verify ? .verify : .resolve, sender: sender, address: address))
        guard let decoded = ResolveReply.decode(reply) else { throw .temporary("trivial-rewrite: malformed resolve reply") }
        // A lookup failure is an answer for this moment only.
        if !decoded.flags.contains(.fail) { resolveCache[key] = decoded }
        return decoded
    }

    /// Forgets cached answers (e.g. after a configuration change).
    public func flushCache() {
        rewriteCache.removeAll()
        resolveCache.removeAll()
    }

    public func close() {
        stream?.close()
        stream = nil
    }

    /// Sends one request and reads its reply, reconnecting once when the
    /// connection turns out to be broken.
    private func call(_ request: AttributeList) throws(RewriteClientError) -> AttributeList {
        var attempt = 0
        while true {
            attempt += 1
            let stream = try open()
            do {
                try AttributeCodec.write(request, to: stream)
                var reply = try AttributeCodec.read(from: stream)
                if RewriteProtocol.isGreeting(reply) { reply = try AttributeCodec.read(from: stream) }
                return reply
            } catch {
                close()
                if case .stream(let e) = error, e != .timeout, attempt == 1 { continue }
                throw .temporary("trivial-rewrite: \(socketPath): \(error)")
            }
        }
    }

    private func open() throws(RewriteClientError) -> Stream {
        if let stream { return stream }
        Socket.ignoreBrokenPipe()
        do {
            let fd = try Socket.connectUnix(socketPath)
            let s = Stream(fd: fd, timeout: timeout)
            stream = s
            return s
        } catch {
            throw .temporary("connect to \(socketPath): \(error)")
        }
    }
}

/// A bounded cache that keeps recently used entries: two generations, the
/// older dropped whole when the newer fills up (an LRU approximation with
/// O(1) work per access).
public struct TwoGenerationCache<Key: Hashable, Value> {
    public var limit: Int = 100
    private var current: [Key: Value] = [:]
    private var previous: [Key: Value] = [:]

    public init(limit: Int = 100) { self.limit = limit }

    public var count: Int { current.count + previous.count }

    public subscript(key: Key) -> Value? {
        mutating get {
            if let v = current[key] { return v }
            guard let v = previous.removeValue(forKey: key) else { return nil }
            insert(key, v)
            return v
        }
        set {
            if let newValue { insert(key, newValue) } else { current[key] = nil; previous[key] = nil }
        }
    }

    public mutating func removeAll() {
        current.removeAll()
        previous.removeAll()
    }

    private mutating func insert(_ key: Key, _ value: Value) {
        if current[key] == nil && current.count >= max(1, limit / 2) {
            previous = current
            current = [:]
        }
        current[key] = value
    }
}
