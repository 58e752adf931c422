// TLSPeerCertificate: what a TLS server learns about the client's
// certificate, as Postfix's tls_server_post_accept records it: present,
// trusted (verified against smtpd_tls_CAfile/CApath), the subject CN, the
// issuer CN (else its Organization), the certificate and public-key
// fingerprints (XX:XX:... in the configured digest), and why verification
// failed, in Postfix's words (tls_verify.c's log lines).
import COpenSSL

public struct TLSPeerCertificate: Equatable, Sendable {
    public var trusted: Bool
    public var subjectCN: String
    public var issuerCN: String
    public var fingerprint: String
    public var publicKeyFingerprint: String
    /// X509_V_ERR code of the failure nearest the leaf (0: none seen).
    public var failureCode: Int32 = 0
    public var failureDepth: Int32 = -1
    /// The failing certificate's issuer, one-line form.
    public var failureIssuer = ""
    /// Text name fields that could not be used, as Postfix warns about them.
    public var nameWarnings: [String] = []
    /// The session was resumed: verified (or not) when it was first made.
    public var resumed = false

    public init(trusted: Bool, subjectCN: String, issuerCN: String, fingerprint: String, publicKeyFingerprint: String) {
        self.trusted = trusted
        self.subjectCN = subjectCN
        self.issuerCN = issuerCN
        self.fingerprint = fingerprint
        self.publicKeyFingerprint = publicKeyFingerprint
    }

    /// The client's certificate, or nil when it sent none. `digest` names
    /// the fingerprint algorithm (smtpd_tls_fingerprint_digest).
    init?(ssl: OpaquePointer, digest: String, client: String) {
        guard let cert = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(cert) }
        var warnings: [String] = []
        func text(_ issuer: Bool, _ nid: Int32, _ label: String) -> String? {
            var buffer = [CChar](repeating: 0, count: 256)
            let n = posthorn_x509_name_entry(cert, issuer ? 1 : 0, nid, &buffer, Int32(buffer.count))
            switch n {
            case -1: return nil
            case -3:
                warnings.append("tls_text_name: \(client): peer \(label) too long")
                return nil
            case ..<0:
                warnings.append("tls_text_name: \(client): error decoding peer \(label)")
                return nil
            default:
                let bytes = buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }
                if bytes.contains(0) {
                    warnings.append("tls_text_name: \(client): NULL character in peer \(label)")
                    return nil
                }
                if bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
                    warnings.append("tls_text_name: \(client): non-printable content in peer \(label)")
                    return nil
                }
                return String(decoding: bytes, as: UTF8.self)
            }
        }
        trusted = SSL_get_verify_result(ssl) == 0
        resumed = SSL_session_reused(ssl) != 0
        subjectCN = text(false, NID_commonName, "subject CN") ?? ""
        issuerCN = text(true, NID_commonName, "issuer CN") ?? text(true, NID_organizationName, "issuer Organization") ?? ""
        fingerprint = TLSPeerCertificate.fingerprint(cert, digest: digest, publicKey: false)
        publicKeyFingerprint = TLSPeerCertificate.fingerprint(cert, digest: digest, publicKey: true)
        nameWarnings = warnings
        var depth: Int32 = -1
        var issuer: UnsafePointer<CChar>? = nil
        failureCode = posthorn_verify_failure(&depth, &issuer)
        failureDepth = depth
        failureIssuer = issuer.map { String(cString: $0) } ?? ""
    }

    static func fingerprint(_ cert: OpaquePointer, digest: String, publicKey: Bool) -> String {
        var out = [UInt8](repeating: 0, count: 64)
        let n = posthorn_x509_fingerprint(cert, digest, publicKey ? 1 : 0, &out)
        return TLSPeerCertificate.hexPairs(out.prefix(Int(max(n, 0))))
    }

    /// "AB:01:..." (uppercase hex pairs joined by colons).
    public static func hexPairs<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in bytes {
            if !out.isEmpty { out.append(UInt8(ascii: ":")) }
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Postfix's line on why verification failed (nil: it did not), for
    /// the client `client` ("name[addr]").
    public func verificationFailure(client: String) -> String? {
        guard !trusted else { return nil }
        if resumed { return "\(client): re-using session with untrusted certificate, look for details earlier in the log" }
        let purpose = failureDepth > 0 ? "CA" : "client"
        switch failureCode {
        case 0: return nil
        case 27: return "certificate verification failed for \(client): not trusted by local or TLSA policy"
        case 18: return "certificate verification failed for \(client): self-signed certificate"
        case 20, 19: return "certificate verification failed for \(client): untrusted issuer \(TLSPeerCertificate.printable(failureIssuer))"
        case 9, 13: return "\(purpose) certificate verification failed for \(client): certificate not yet valid"
        case 10, 14: return "\(purpose) certificate verification failed for \(client): certificate has expired"
        case 26: return "certificate verification failed for \(client): not designated for use as a \(purpose) certificate"
        case 22: return "certificate verification failed for \(client): certificate chain longer than limit(\(failureDepth - 1))"
        default:
            let reason = X509_verify_cert_error_string(Int(failureCode)).map { String(cString: $0) } ?? ""
            return "\(purpose) certificate verification failed for \(client): num=\(failureCode):\(reason)"
        }
    }

    /// Postfix's printable(): anything but printable ASCII and UTF-8 becomes "?".
    static func printable(_ text: String) -> String {
        String(decoding: text.utf8.map { $0 < 0x20 || $0 == 0x7F ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
    }
}
