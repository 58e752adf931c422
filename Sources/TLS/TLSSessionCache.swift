// TLSSessionCache: the server's session-ID cache outside the process
// (smtpd_tls_session_cache_database, kept by tlsmgr), so that a TLS 1.2
// client without ticket support resumes in any smtpd process. The OpenSSL
// callbacks live in the COpenSSL shim and call the three functions below.
import COpenSSL

enum TLSSessionCache {
    nonisolated(unsafe) static var managerPath = "private/tlsmgr"
    static let cacheType = "smtpd"

    static func hex(_ id: UnsafePointer<UInt8>, _ count: Int32) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for i in 0..<Int(count) {
            out.append(digits[Int(id[i] >> 4)])
            out.append(digits[Int(id[i] & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

let tlsSessionGet: posthorn_scache_get_fn = { id, count, buffer, size in
    guard let id, let buffer, count > 0 else { return 0 }
    let client = TLSManagerClient(path: TLSSessionCache.managerPath)
    guard let der = client.lookup(cacheType: TLSSessionCache.cacheType, sessionID: TLSSessionCache.hex(id, count)),
          !der.isEmpty, der.count <= Int(size) else { return 0 }
    der.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: der.count) }
    return Int32(der.count)
}

let tlsSessionPut: posthorn_scache_put_fn = { id, count, der, length in
    guard let id, let der, count > 0, length > 0 else { return }
    let bytes = Array(UnsafeBufferPointer(start: der, count: Int(length)))
    TLSManagerClient(path: TLSSessionCache.managerPath).update(cacheType: TLSSessionCache.cacheType,
                                                               sessionID: TLSSessionCache.hex(id, count), session: bytes)
}

let tlsSessionDelete: posthorn_scache_del_fn = { id, count in
    guard let id, count > 0 else { return }
    TLSManagerClient(path: TLSSessionCache.managerPath).delete(cacheType: TLSSessionCache.cacheType,
                                                               sessionID: TLSSessionCache.hex(id, count))
}
