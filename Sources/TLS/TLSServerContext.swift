// TLSServerContext: one OpenSSL server context per process, built from
// TLSServerSettings before the first client (keys are read while the
// process still has the privileges to read them): certificates and keys
// (RSA, ECDSA, chain files), protocol bounds, cipher list, key exchange
// groups, session tickets whose keys come from tlsmgr so that every
// smtpd process can resume a session another one started, and the
// client certificate request (trust anchors, CA names, verify depth).
import Glibc
import COpenSSL
import Util

public final class TLSServerContext {
    let ctx: OpaquePointer
    /// Problems building the context that did not stop it (to log as warnings).
    public private(set) var warnings: [String] = []

    public init(settings: TLSServerSettings) throws(TLSError) {
        // OpenSSL is loaded here, by the first context (not at start-up).
        if let reason = TLSLibrary.loadError() {
            throw .configuration("cannot load the OpenSSL library: \(reason)")
        }
        TLSLibrary.initialize()
        TLSLibrary.clearErrors()
        if EVP_get_digestbyname(settings.fingerprintDigest) == nil {
            // Two lines, as Postfix logs them.
            throw .configuration("Digest algorithm \"\(settings.fingerprintDigest)\" not found\ndisabling TLS support")
        }
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            throw .configuration("cannot allocate server SSL_CTX")
        }
        // From here on a thrown error runs deinit, which frees the context.
        self.ctx = ctx
        // A client that just goes away is a lost connection, not a TLS
        // error (and gets no alert), as with Postfix.
        var options = posthorn_ssl_option(0) | posthorn_ssl_option(1) | posthorn_ssl_option(7)
        if settings.preemptCipherlist { options |= posthorn_ssl_option(2) }
        guard let protocols = TLSProtocolList(settings.protocols) else {
            throw .configuration("Invalid TLS protocol list \"\(settings.protocols)\": disabling TLS support")
        }
        let bounds = protocols.openSSLBounds
        options |= bounds.options
        _ = posthorn_ssl_ctx_set_min_proto(ctx, bounds.min)
        _ = posthorn_ssl_ctx_set_max_proto(ctx, bounds.max)
        guard let ciphers = settings.cipherList else {
            throw .configuration("invalid TLS cipher grade: \"\(settings.cipherGrade)\"")
        }
        if SSL_CTX_set_cipher_list(ctx, ciphers) != 1 {
            throw .configuration("invalid cipher list: \"\(ciphers)\"")
        }
        posthorn_ssl_ctx_set_modes(ctx)
        _ = posthorn_ssl_ctx_set_dh_auto(ctx)
        if settings.eecdhGrade == "auto" {
            let groups = settings.eecdhCurves.splitList().filter { OBJ_sn2nid($0) != 0 || $0 == "X25519" || $0 == "X448" }
            if !groups.isEmpty && posthorn_ssl_ctx_set_groups(ctx, groups.joined(separator: ":")) != 1 { TLSLibrary.clearErrors() }
        }
        var context = Array(settings.sessionContext.utf8.prefix(32))
        _ = SSL_CTX_set_session_id_context(ctx, &context, UInt32(context.count))
        _ = SSL_CTX_set_timeout(ctx, settings.sessionCacheTimeout)

        var loaded = false
        func load(cert: String, key: String, kind: String) throws(TLSError) {
            if SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 {
                throw .configuration("cannot get \(kind) certificate from file \"\(cert)\"")
            }
            if SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 {
                throw .configuration("cannot get \(kind) private key from file \"\(key)\"")
            }
            if SSL_CTX_check_private_key(ctx) != 1 {
                throw .configuration("\(kind) private key in \(key) does not match public key in \(cert)")
            }
            loaded = true
        }
        if !settings.chainFiles.isEmpty {
            for file in settings.chainFiles { try load(cert: file, key: file, kind: "server") }
        } else {
            if !settings.certFile.isEmpty { try load(cert: settings.certFile, key: settings.keyFile, kind: "RSA") }
            if !settings.eccertFile.isEmpty { try load(cert: settings.eccertFile, key: settings.eckeyFile, kind: "ECDSA") }
        }
        if !loaded {
            throw .configuration("no server certificates: TLS disabled")
        }
        try trustAnchors(settings)
        if settings.askClientCert {
            if !settings.caFile.isEmpty && posthorn_ssl_ctx_client_ca_names(ctx, settings.caFile) == 0 {
                // Not fatal: the request goes out without CA names.
                warnings.append("error loading client CA names from: \(settings.caFile)")
                warnings += TLSLibrary.drainErrors()
            }
            // One more than the limit: the chain's trust anchor counts too.
            posthorn_ssl_ctx_ask_client_cert(ctx, Int32(clamping: settings.verifyDepth + 1))
        }
        if settings.sessionCacheTimeout > 0 && !settings.ticketCipher.isEmpty {
            TLSTicketKeys.managerPath = settings.managerPath
            TLSTicketKeys.lifetime = settings.sessionCacheTimeout
            posthorn_ssl_ctx_use_ticket_keys(ctx, tlsTicketLookup)
        } else {
            options |= posthorn_ssl_option(3)
        }
        if settings.externalCache {
            TLSSessionCache.managerPath = settings.managerPath
            posthorn_ssl_ctx_use_session_cache(ctx, tlsSessionGet, tlsSessionPut, tlsSessionDelete)
        }
        _ = posthorn_ssl_ctx_set_options(ctx, options)
    }

    deinit { SSL_CTX_free(ctx) }


    /// smtpd_tls_CAfile and smtpd_tls_CApath (never OpenSSL's default paths:
    /// tls_append_default_CA = no).
    private func trustAnchors(_ settings: TLSServerSettings) throws(TLSError) {
        guard !settings.caFile.isEmpty || !settings.caPath.isEmpty else { return }
        let file = settings.caFile.isEmpty ? nil : settings.caFile
        let path = settings.caPath.isEmpty ? nil : settings.caPath
        if SSL_CTX_load_verify_locations(ctx, file, path) != 1 {
            var text = "cannot load Certification Authority data"
            if let file { text += ", CAfile=\"\(file)\"" }
            if let path { text += ", CApath=\"\(path)\"" }
            throw .configuration(text + ": disabling TLS support")
        }
    }

    /// Runs the server handshake on `fd` (a connected socket).
    public func accept(fd: Int32, timeout: Int32) throws(TLSError) -> TLSConnection {
        TLSLibrary.clearErrors()
        guard let ssl = SSL_new(ctx) else { throw .configuration("cannot allocate SSL") }
        posthorn_verify_reset()
        let connection = TLSConnection(ssl: ssl, fd: fd, timeout: timeout)
        try connection.handshake()
        return connection
    }
}
