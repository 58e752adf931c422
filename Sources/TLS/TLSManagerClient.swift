// TLSManagerClient: requests to tlsmgr over private/tlsmgr in the internal
// attribute protocol (docs/internal-protocol.md): `tktkey` (session ticket
// keys) and the session cache requests `lookup`, `update`, `delete`.
// Binary values travel base64-encoded.
import Glibc
import Util
import Global

public final class TLSManagerClient {
    public struct TicketKey: Equatable, Sendable {
        public var name: [UInt8]
        public var hmac: [UInt8]
        public var aes: [UInt8]
        /// Seconds since the epoch after which no new tickets use it.
        public var expires: Int

        public init(name: [UInt8], hmac: [UInt8], aes: [UInt8], expires: Int) {
            self.name = name
            self.hmac = hmac
            self.aes = aes
            self.expires = expires
        }

        /// name(16) hmac(32) aes(32), base64.
        public var encoded: String { Base64.encode(name + hmac + aes) }

        public init?(encoded: String, expires: Int) {
            guard let bytes = Base64.decode(encoded), bytes.count == 80 else { return nil }
            self.init(name: Array(bytes[0..<16]), hmac: Array(bytes[16..<48]), aes: Array(bytes[48..<80]), expires: expires)
        }
    }

    public enum Failure: Error { case unavailable }

    let path: String
    let timeout: Int32

    public init(path: String, timeout: Int32 = 10) {
        self.path = path
        self.timeout = timeout
    }

    private func call(_ request: AttributeList) throws(Failure) -> AttributeList {
        let fd: Int32
        do { fd = try Socket.connectUnix(path) } catch { throw .unavailable }
        let stream = Stream(fd: fd, timeout: timeout)
        defer { stream.close() }
        do {
            try AttributeCodec.write(request, to: stream)
            let reply = try AttributeCodec.read(from: stream)
            guard reply.int("status") == 0 else { throw AttributeError.missing("status") }
            return reply
        } catch { throw .unavailable }
    }

    /// The current key (name nil) or the key called `name`.
    public func ticketKey(name: [UInt8]?) throws(Failure) -> TicketKey {
        let reply = try call(AttributeList([("request", "tktkey"), ("keyname", name.map { Base64.encode($0) } ?? "")]))
        guard let text = reply["keybuf"], let key = TicketKey(encoded: text, expires: reply.int("expires") ?? 0) else {
            throw .unavailable
        }
        return key
    }

    /// A cached session (DER, as OpenSSL serializes it), or nil.
    public func lookup(cacheType: String, sessionID: String) -> [UInt8]? {
        guard let reply = try? call(AttributeList([("request", "lookup"), ("cache_type", cacheType), ("session_id", sessionID)])),
              let text = reply["session"] else { return nil }
        return Base64.decode(text)
    }

    public func update(cacheType: String, sessionID: String, session: [UInt8]) {
        _ = try? call(AttributeList([("request", "update"), ("cache_type", cacheType), ("session_id", sessionID),
                                     ("session", Base64.encode(session))]))
    }

    public func delete(cacheType: String, sessionID: String) {
        _ = try? call(AttributeList([("request", "delete"), ("cache_type", cacheType), ("session_id", sessionID)]))
    }
}
