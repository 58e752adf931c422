// TLSServerSettings: the parameters a TLS server (smtpd) reads, for the
// protocol grade in force ("may" uses smtpd_tls_protocols and
// smtpd_tls_ciphers, "encrypt" the mandatory ones), as Postfix 3.7 does;
// client certificates are asked for with smtpd_tls_ask_ccert, or with
// smtpd_tls_req_ccert at the encrypt level.
import Util
import Global

public struct TLSServerSettings: Sendable {
    public var certFile = ""
    public var keyFile = ""
    public var eccertFile = ""
    public var eckeyFile = ""
    public var chainFiles: [String] = []
    public var protocols = ">=TLSv1"
    /// Cipher grade: high, medium, low, export, null.
    public var cipherGrade = "medium"
    public var excludeCiphers: [String] = []
    /// tls_<grade>_cipherlist values.
    public var cipherLists: [String: String] = [:]
    public var eecdhGrade = "auto"
    public var eecdhCurves = "X25519 X448 prime256v1 secp521r1 secp384r1"
    public var preemptCipherlist = false
    public var sessionCacheTimeout = 3600
    public var ticketCipher = "aes-256-cbc"
    /// The session id context (the master.cf service name).
    public var sessionContext = "smtp"
    /// private/tlsmgr (relative to the queue directory), or "" for none.
    public var managerPath = ""
    /// smtpd_tls_session_cache_database is set: sessions go to tlsmgr.
    public var externalCache = false
    /// Ask clients for a certificate, verified against caFile and caPath.
    public var askClientCert = false
    public var caFile = ""
    public var caPath = ""
    /// smtpd_tls_ccert_verifydepth.
    public var verifyDepth = 9
    /// smtpd_tls_fingerprint_digest (checked when the context is built).
    public var fingerprintDigest = "sha256"

    public init() {}

    /// `mandatory`: the encrypt level (smtpd_tls_mandatory_protocols and
    /// _ciphers, with smtpd_tls_mandatory_exclude_ciphers added).
    public init(config c: MailConfig, mandatory: Bool, service: String, sessionTimeout: Int) {
        certFile = c.value("smtpd_tls_cert_file")
        keyFile = c.value("smtpd_tls_key_file")
        if keyFile.isEmpty { keyFile = certFile }
        eccertFile = c.value("smtpd_tls_eccert_file")
        eckeyFile = c.value("smtpd_tls_eckey_file")
        if eckeyFile.isEmpty { eckeyFile = eccertFile }
        chainFiles = c.value("smtpd_tls_chain_files").splitList()
        protocols = c.value(mandatory ? "smtpd_tls_mandatory_protocols" : "smtpd_tls_protocols")
        cipherGrade = c.value(mandatory ? "smtpd_tls_mandatory_ciphers" : "smtpd_tls_ciphers").lowercased()
        excludeCiphers = c.value("smtpd_tls_exclude_ciphers").splitList()
        if mandatory { excludeCiphers += c.value("smtpd_tls_mandatory_exclude_ciphers").splitList() }
        for grade in ["high", "medium", "low", "export", "null"] {
            cipherLists[grade] = c.value("tls_\(grade)_cipherlist")
        }
        eecdhGrade = c.value("smtpd_tls_eecdh_grade").lowercased()
        eecdhCurves = c.value("tls_eecdh_auto_curves")
        preemptCipherlist = c.value("tls_preempt_cipherlist").lowercased() == "yes"
        sessionCacheTimeout = sessionTimeout
        ticketCipher = c.value("tls_session_ticket_cipher")
        sessionContext = service
        let manager = c.value("tlsmgr_service_name")
        managerPath = "private/" + (manager.isEmpty ? "tlsmgr" : manager)
        externalCache = !c.value("smtpd_tls_session_cache_database").isEmpty && sessionTimeout > 0
        askClientCert = c.bool("smtpd_tls_ask_ccert") || (mandatory && c.bool("smtpd_tls_req_ccert"))
        caFile = c.value("smtpd_tls_CAfile")
        caPath = c.value("smtpd_tls_CApath")
        verifyDepth = Int(c.value("smtpd_tls_ccert_verifydepth")) ?? 9
        fingerprintDigest = c.value("smtpd_tls_fingerprint_digest")
    }

    /// The OpenSSL cipher list: the grade's list, then ":!X" per exclusion.
    public var cipherList: String? {
        guard var list = cipherLists[cipherGrade] else { return nil }
        for x in excludeCiphers { list += ":!" + x }
        return list
    }
}
