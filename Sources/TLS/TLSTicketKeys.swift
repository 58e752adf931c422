// TLSTicketKeys: session ticket keys from tlsmgr, so that a ticket issued
// by one smtpd process resumes in another (Postfix's "tktkey" request).
// The OpenSSL callback (in the COpenSSL shim) keeps the keys; it calls
// `tlsTicketLookup` for the current key (all-zero name) or for a key it
// does not know. Without tlsmgr the process makes its own key, so tickets
// resume only in the same process.
import Glibc
import COpenSSL
import Util
import Global

enum TLSTicketKeys {
    nonisolated(unsafe) static var managerPath = "private/tlsmgr"
    nonisolated(unsafe) static var lifetime = 3600
    nonisolated(unsafe) static var managerDown = false

    /// Asks tlsmgr for a key: `name` nil for the current key.
    static func fetch(name: [UInt8]?) -> TLSManagerClient.TicketKey? {
        if !managerDown, let key = try? TLSManagerClient(path: managerPath).ticketKey(name: name) {
            return key
        }
        managerDown = true
        guard name == nil else { return nil }
        var bytes = [UInt8](repeating: 0, count: 80)
        guard RAND_bytes(&bytes, 80) == 1 else { return nil }
        var t = timeval()
        gettimeofday(&t, nil)
        return TLSManagerClient.TicketKey(name: Array(bytes[0..<16]), hmac: Array(bytes[16..<48]), aes: Array(bytes[48..<80]),
                                          expires: Int(t.tv_sec) + lifetime)
    }
}

/// The C callback: fills `hmac` and `aes` for key `name` (all zero: the
/// current key, which is also installed).
let tlsTicketLookup: posthorn_ticket_lookup_fn = { name, hmac, aes in
    guard let name, let hmac, let aes else { return 0 }
    let wanted = Array(UnsafeBufferPointer(start: name, count: 16))
    let current = wanted.allSatisfy { $0 == 0 }
    guard let key = TLSTicketKeys.fetch(name: current ? nil : wanted) else { return 0 }
    key.hmac.withUnsafeBufferPointer { hmac.update(from: $0.baseAddress!, count: 32) }
    key.aes.withUnsafeBufferPointer { aes.update(from: $0.baseAddress!, count: 32) }
    // The current key becomes the one new tickets use; an older one is
    // used by the shim for the one ticket that named it.
    if current { posthorn_ticket_key_install(key.name, key.hmac, key.aes, key.expires) }
    return 1
}
