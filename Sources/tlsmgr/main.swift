// tlsmgr: the TLS session and ticket key manager, as Postfix 3.7's
// tlsmgr(8) for the server side: it hands every smtpd process the same
// session ticket keys (rotated every $smtpd_tls_session_cache_timeout,
// the previous key still accepted for a second period), and keeps the
// server session cache $smtpd_tls_session_cache_database (btree:, hash:),
// which it empties when it starts, as Postfix does.
//
// SECURITY: no network peers; runs as $mail_owner; reached only through
// $queue_directory/private/tlsmgr. Keys are made from the kernel's random
// source and live only in this process's memory.
// STANDARDS: none (internal attribute protocol, docs/internal-protocol.md).
// CONFIGURATION PARAMETERS: smtpd_tls_session_cache_database,
// smtpd_tls_session_cache_timeout, tls_session_ticket_cipher, max_idle,
// max_use, mail_owner.
import Glibc
import Util
import Global
import Tables
import ServerSkeleton
import TLS

struct TicketKeyRing {
    var keys: [TLSManagerClient.TicketKey] = []
    var lifetime = 3600

    /// The key that new tickets use, made when the newest has expired.
    mutating func current(now: Int) -> TLSManagerClient.TicketKey? {
        keys.removeAll { $0.expires + lifetime <= now }
        if let k = keys.first, k.expires > now { return k }
        var bytes = [UInt8](repeating: 0, count: 80)
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard read(fd, &bytes, 80) == 80 else { return nil }
        let key = TLSManagerClient.TicketKey(name: Array(bytes[0..<16]), hmac: Array(bytes[16..<48]), aes: Array(bytes[48..<80]),
                                             expires: now + lifetime)
        keys.insert(key, at: 0)
        return key
    }

    /// A key still good for decryption.
    func find(_ name: [UInt8], now: Int) -> TLSManagerClient.TicketKey? {
        keys.first { $0.name == name && $0.expires + lifetime > now }
    }
}

nonisolated(unsafe) var ring = TicketKeyRing()
nonisolated(unsafe) var cache: UpdatableTable?
nonisolated(unsafe) var cacheTimeout = 3600

func now() -> Int { Int(time(nil)) }

func setUp(_ context: ServiceContext) {
    cacheTimeout = max(0, context.seconds("smtpd_tls_session_cache_timeout"))
    ring.lifetime = max(1, cacheTimeout)
    let database = context.string("smtpd_tls_session_cache_database")
    guard !database.isEmpty else { return }
    guard let colon = database.firstIndex(of: ":") else {
        MailLog.warning("table \(database): missing dictionary type: session cache disabled")
        return
    }
    let type = String(database[..<colon])
    let name = String(database[database.index(after: colon)...])
    guard type == "btree" || type == "hash" else {
        MailLog.warning("unsupported session cache type \(type): session cache disabled")
        return
    }
    do {
        cache = try BerkeleyDBTable(type: type, name: name, context: TableContext(config: context.config, writable: true, create: true))
        if geteuid() == 0, let owner = getpwnam(context.string("mail_owner")) {
            _ = chown(name + ".db", owner.pointee.pw_uid, owner.pointee.pw_gid)
        }
        _ = chmod(name + ".db", 0o600)
    } catch {
        MailLog.warning("\(error): session cache disabled")
    }
}

func handle(_ request: AttributeList) -> AttributeList {
    var reply = AttributeList()
    let t = now()
    switch request["request"] ?? "" {
    case "tktkey":
        let name = request["keyname"] ?? ""
        var key: TLSManagerClient.TicketKey?
        if name.isEmpty {
            key = ring.current(now: t)
        } else if let bytes = Base64.decode(name) {
            key = ring.find(bytes, now: t)
        }
        if let key {
            reply.append("status", 0)
            reply.append("keybuf", key.encoded)
            reply.append("expires", key.expires)
        } else {
            reply.append("status", 1)
        }
    case "lookup":
        if let cache, let id = request["session_id"], let value = try? cache.find(cacheKey(request, id)),
           let sep = value.firstIndex(of: ":"), let expires = Int(value[..<sep]), expires > t {
            reply.append("status", 0)
            reply.append("session", String(value[value.index(after: sep)...]))
        } else {
            reply.append("status", 1)
        }
    case "update":
        if let cache, let id = request["session_id"], let session = request["session"], cacheTimeout > 0 {
            reply.append("status", (try? cache.update(cacheKey(request, id), "\(t + cacheTimeout):\(session)")) == nil ? 1 : 0)
        } else {
            reply.append("status", 1)
        }
    case "delete":
        if let cache, let id = request["session_id"] {
            _ = try? cache.delete(cacheKey(request, id))
            reply.append("status", 0)
        } else {
            reply.append("status", 1)
        }
    case "seed":
        var bytes = [UInt8](repeating: 0, count: min(max(request.int("size") ?? 32, 1), 255))
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        if fd >= 0 { _ = read(fd, &bytes, bytes.count); close(fd) }
        reply.append("status", 0)
        reply.append("seed", Base64.encode(bytes))
    default:
        MailLog.warning("unknown request: \"\(request["request"] ?? "")\"")
        reply.append("status", 1)
    }
    return reply
}

func cacheKey(_ request: AttributeList, _ id: String) -> String {
    // Keys in lower case: the table folds lookup keys (as Postfix maps do).
    ((request["cache_type"] ?? "smtpd") + ":" + id).lowercased()
}

func serveRequest(_ stream: Stream, _ context: ServiceContext) -> Bool {
    let list: AttributeList
    do {
        list = try AttributeCodec.read(from: stream)
    } catch {
        if error != .stream(.endOfFile) { MailLog.warning("\(error) in input from tlsmgr socket") }
        return false
    }
    do { try AttributeCodec.write(handle(list), to: stream) } catch { return false }
    return true
}

MultiServer.run(program: "tlsmgr", handler: serveRequest, prepare: setUp)
