// TLSSessionSummary: what Postfix logs about an established TLS session
// ("TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange
// X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256") and
// writes into the Received: header. As Postfix 3.7's server, the key
// exchange and signature details (the client's too, when it sent a
// certificate) are given for TLS 1.3 only; a resumed session has no
// server digest.
import COpenSSL

public struct TLSSessionSummary: Equatable, Sendable {
    public var protocolName: String
    public var cipherName: String
    public var cipherBits: Int
    public var algorithmBits: Int
    public var keyExchange: String?
    public var serverSignature: String?
    public var serverDigest: String?
    public var clientSignature: String?
    public var clientDigest: String?

    public init(protocolName: String, cipherName: String, cipherBits: Int, algorithmBits: Int,
                keyExchange: String? = nil, serverSignature: String? = nil, serverDigest: String? = nil,
                clientSignature: String? = nil, clientDigest: String? = nil) {
        self.protocolName = protocolName
        self.cipherName = cipherName
        self.cipherBits = cipherBits
        self.algorithmBits = algorithmBits
        self.keyExchange = keyExchange
        self.serverSignature = serverSignature
        self.serverDigest = serverDigest
        self.clientSignature = clientSignature
        self.clientDigest = clientDigest
    }

    init(ssl: OpaquePointer) {
        protocolName = String(cString: SSL_get_version(ssl))
        var alg: Int32 = 0
        if let cipher = SSL_get_current_cipher(ssl) {
            cipherName = String(cString: SSL_CIPHER_get_name(cipher))
            cipherBits = Int(SSL_CIPHER_get_bits(cipher, &alg))
            algorithmBits = Int(alg)
        } else {
            cipherName = "(NONE)"
            cipherBits = 0
            algorithmBits = 0
        }
        guard SSL_version(ssl) >= TLS1_3_VERSION else { return }
        if let key = posthorn_ssl_peer_tmp_key(ssl) {
            keyExchange = TLSSessionSummary.keyExchangeName(key)
            EVP_PKEY_free(key)
        }
        var signatureType = Int32(posthorn_ssl_signature_type_nid(ssl))
        if let cert = SSL_get_certificate(ssl), let key = X509_get0_pubkey(cert) {
            let keyType = EVP_PKEY_get_id(key)
            // Unknown (a resumed session): named after the key, RSA signs with PSS in TLS 1.3.
            if signatureType == 0 { signatureType = keyType == EVP_PKEY_RSA ? EVP_PKEY_RSA_PSS : keyType }
            var name: String?
            switch signatureType {
            case EVP_PKEY_RSA_PSS: name = "RSA-PSS"
            case EVP_PKEY_RSA: name = "RSA"
            case EVP_PKEY_EC: name = "ECDSA"
            case EVP_PKEY_ED25519: name = "ED25519"
            case EVP_PKEY_ED448: name = "ED448"
            default: name = OBJ_nid2sn(signatureType).map { String(cString: $0) }
            }
            if var text = name {
                if keyType == EVP_PKEY_RSA || keyType == EVP_PKEY_RSA_PSS {
                    text += " (\(EVP_PKEY_get_bits(key)) bits)"
                } else if keyType == EVP_PKEY_EC, let group = TLSSessionSummary.groupName(key) {
                    text += " (\(group))"
                }
                serverSignature = text
            }
            let digest = posthorn_ssl_signature_digest_nid(ssl)
            if digest != 0 && !SSL_session_reused(ssl).isTrue, signatureType != EVP_PKEY_ED25519 && signatureType != EVP_PKEY_ED448,
               let sn = OBJ_nid2sn(digest) {
                serverDigest = String(cString: sn)
            }
        }
        // The client's signature: named after its key, RSA keys sign with PSS.
        if let peer = SSL_get1_peer_certificate(ssl) {
            defer { X509_free(peer) }
            if let key = X509_get0_pubkey(peer) {
                let keyType = EVP_PKEY_get_id(key)
                switch keyType {
                case EVP_PKEY_RSA: clientSignature = "RSA-PSS (\(EVP_PKEY_get_bits(key)) bits)"
                case EVP_PKEY_EC: clientSignature = "ECDSA" + (TLSSessionSummary.groupName(key).map { " (\($0))" } ?? "")
                default: clientSignature = OBJ_nid2sn(keyType).map { String(cString: $0) }
                }
            }
            let digest = posthorn_ssl_peer_signature_digest_nid(ssl)
            if clientSignature != nil, digest != 0, let sn = OBJ_nid2sn(digest) { clientDigest = String(cString: sn) }
        }
    }

    private static func groupName(_ key: OpaquePointer) -> String? {
        var buffer = [CChar](repeating: 0, count: 80)
        var length = 0
        guard EVP_PKEY_get_group_name(key, &buffer, buffer.count, &length) == 1 else { return nil }
        return String(cString: buffer)
    }

    private static func keyExchangeName(_ key: OpaquePointer) -> String? {
        switch EVP_PKEY_get_id(key) {
        case EVP_PKEY_X25519: return "X25519"
        case EVP_PKEY_X448: return "X448"
        case EVP_PKEY_EC: return "ECDHE" + (groupName(key).map { " (\($0))" } ?? "")
        case EVP_PKEY_DH: return "DHE (\(EVP_PKEY_get_bits(key)) bits)"
        default: return nil
        }
    }

    /// "KEX SIG DIGEST" details, or "" (TLS 1.2 and older).
    public var details: String {
        var parts: [String] = []
        if let k = keyExchange { parts.append("key-exchange \(k)") }
        if let s = serverSignature { parts.append("server-signature \(s)") }
        if let d = serverDigest { parts.append("server-digest \(d)") }
        return parts.joined(separator: " ")
    }

    /// "client-signature SIG client-digest DIGEST", or "".
    public var clientDetails: String {
        var parts: [String] = []
        if let s = clientSignature { parts.append("client-signature \(s)") }
        if let d = clientDigest { parts.append("client-digest \(d)") }
        return parts.joined(separator: " ")
    }

    /// The log form after "established from CLIENT: ".
    public var logText: String {
        let base = "\(protocolName) with cipher \(cipherName) (\(cipherBits)/\(algorithmBits) bits)"
        return [base, details, clientDetails].filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// The Received: header lines (smtpd_tls_received_header), tab-indented,
    /// ending with `certificateLine` (what smtpd says about the client's certificate).
    public func receivedLines(certificateLine: String) -> [String] {
        var lines = ["\t(using \(protocolName) with cipher \(cipherName) (\(cipherBits)/\(algorithmBits) bits)"]
        if !details.isEmpty { lines.append("\t \(details)") }
        if !clientDetails.isEmpty { lines.append("\t \(clientDetails)") }
        lines[lines.count - 1] += ")"
        lines.append("\t" + certificateLine)
        return lines
    }
}

extension Int32 {
    var isTrue: Bool { self != 0 }
}
