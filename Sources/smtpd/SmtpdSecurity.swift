// SmtpdSecurity: TLS (STARTTLS, smtpd_tls_wrappermode) and SASL (AUTH
// through Dovecot) for smtpd, as Postfix's smtpd_tls/smtpd_sasl_glue:
// the parameters, the per-process TLS context and authentication client
// (built once, before privileges are dropped), the per-session state, and
// the session's STARTTLS and AUTH commands, EHLO keywords, log and
// Received: header details.
import Glibc
import Util
import Global
import ServerSkeleton
import SmtpdPolicy
import TLS
import SASL

/// The TLS and SASL parameters smtpd reads.
struct SmtpdSecuritySettings {
    /// none, may or encrypt (smtpd_tls_security_level, else smtpd_enforce_tls / smtpd_use_tls).
    var tlsLevel = "none"
    var wrapperMode = false
    /// smtpd_tls_auth_only, implied by the encrypt level.
    var authOnly = false
    var receivedHeader = false
    var logLevel = 0
    var saslEnabled = false
    var saslType = "cyrus"
    var saslPath = "smtpd"
    var saslService = "smtp"
    var saslSecurity = SASLSecurityOptions()
    var saslTLSSecurity = SASLSecurityOptions()
    var authenticatedHeader = false
    var brokenClients = false
    var exceptionsNetworks = ""
    /// smtpd_sasl_response_limit: the longest SASL response line.
    var saslResponseLimit = 12288
    /// smtpd_tls_ask_ccert, or smtpd_tls_req_ccert at the encrypt level.
    var askCcert = false
    /// smtpd_tls_req_ccert at the encrypt level: no trusted certificate, no session.
    var requireCcert = false
    /// smtpd_tls_fingerprint_digest.
    var fingerprintDigest = "sha256"

    init() {}

    init(context: ServiceContext) {
        let c = context.config
        let level = c.value("smtpd_tls_security_level").lowercased()
        if !level.isEmpty {
            tlsLevel = level
        } else if context.bool("smtpd_enforce_tls") {
            tlsLevel = "encrypt"
        } else if context.bool("smtpd_use_tls") {
            tlsLevel = "may"
        }
        if tlsLevel != "none" && tlsLevel != "may" && tlsLevel != "encrypt" {
            MailLog.warning("invalid smtpd_tls_security_level value: \"\(tlsLevel)\": using \"none\"")
            tlsLevel = "none"
        }
        wrapperMode = context.bool("smtpd_tls_wrappermode")
        if wrapperMode && tlsLevel == "none" { tlsLevel = "may" }
        authOnly = context.bool("smtpd_tls_auth_only") || tlsLevel == "encrypt"
        receivedHeader = context.bool("smtpd_tls_received_header")
        logLevel = Int(c.value("smtpd_tls_loglevel")) ?? 0
        saslEnabled = context.bool("smtpd_sasl_auth_enable")
        saslType = c.value("smtpd_sasl_type").lowercased()
        saslPath = c.value("smtpd_sasl_path")
        saslService = c.value("smtpd_sasl_service")
        saslResponseLimit = max(1, context.integer("smtpd_sasl_response_limit"))
        if saslService.isEmpty { saslService = "smtp" }
        switch SASLSecurityOptions.parse(c.value("smtpd_sasl_security_options")) {
        case .success(let o): saslSecurity = o
        case .failure(let e): MailLog.fatal("smtpd_sasl_security_options: \(e)")
        }
        switch SASLSecurityOptions.parse(c.value("smtpd_sasl_tls_security_options")) {
        case .success(let o): saslTLSSecurity = o
        case .failure(let e): MailLog.fatal("smtpd_sasl_tls_security_options: \(e)")
        }
        authenticatedHeader = context.bool("smtpd_sasl_authenticated_header")
        brokenClients = context.bool("broken_sasl_auth_clients")
        exceptionsNetworks = c.value("smtpd_sasl_exceptions_networks")
        requireCcert = context.bool("smtpd_tls_req_ccert") && tlsLevel == "encrypt"
        askCcert = context.bool("smtpd_tls_ask_ccert") || requireCcert
        fingerprintDigest = c.value("smtpd_tls_fingerprint_digest")
    }
}

/// The authentication server as smtpd uses it (Dovecot; tests use a fake).
protocol SmtpdAuthenticator: AnyObject {
    /// The server's mechanisms; nil when it cannot be reached.
    func availableMechanisms() -> [SASLMechanism]?
    func authStart(mechanism: String, initialResponse: String?, peer: DovecotAuthClient.Peer) -> SASLStep
    func authProceed(_ response: String) -> SASLStep
}

extension DovecotAuthClient: SmtpdAuthenticator {
    func availableMechanisms() -> [SASLMechanism]? {
        do { try connect() } catch {
            MailLog.warning("SASL: \(error)")
            return nil
        }
        return mechanisms
    }

    private static func unavailable(_ e: SASLError) -> SASLStep {
        .failure(reason: e.description.hasPrefix("Connect to") ? "Connection lost to authentication server" : e.description,
                 username: nil, temporary: true)
    }

    func authStart(mechanism: String, initialResponse: String?, peer: Peer) -> SASLStep {
        do { return try start(mechanism: mechanism, initialResponse: initialResponse, peer: peer) } catch {
            return DovecotAuthClient.unavailable(error)
        }
    }

    func authProceed(_ response: String) -> SASLStep {
        do { return try proceed(response: response) } catch { return DovecotAuthClient.unavailable(error) }
    }
}

/// Per-process TLS context and authentication client.
final class SmtpdSecurityServices {
    let settings: SmtpdSecuritySettings
    let tls: TLSServerContext?
    let authenticator: SmtpdAuthenticator?

    init(context: ServiceContext) {
        let s = SmtpdSecuritySettings(context: context)
        settings = s
        var tls: TLSServerContext? = nil
        if s.tlsLevel != "none" {
            if context.bool("smtpd_tls_req_ccert") && s.tlsLevel != "encrypt" {
                MailLog.warning("Can't require client certs unless TLS is required")
            }
            let timeout = context.seconds("smtpd_tls_session_cache_timeout")
            do {
                tls = try TLSServerContext(settings: TLSServerSettings(config: context.config, mandatory: s.tlsLevel == "encrypt",
                                                                       service: context.serviceName, sessionTimeout: timeout))
                for line in tls?.warnings ?? [] { MailLog.warning(line) }
            } catch {
                if case .configuration(let text) = error, text.contains("\n") {
                    for line in text.split(separator: "\n") { MailLog.warning(String(line)) }
                } else if case .configuration(let text) = error {
                    MailLog.warning(text.contains("disabling TLS") || text.contains("TLS disabled") ? text : text + ": disabling TLS support")
                }
                for line in TLSLibrary.drainErrors() { MailLog.warning(line) }
            }
        }
        self.tls = tls
        var authenticator: SmtpdAuthenticator? = nil
        if s.saslEnabled {
            if s.saslType == "dovecot" {
                authenticator = DovecotAuthClient(endpoint: s.saslPath, service: s.saslService)
            } else {
                MailLog.warning("unsupported SASL server implementation: \(s.saslType)")
            }
        }
        self.authenticator = authenticator
    }

    func session() -> SmtpdSecurity {
        let state = SmtpdSecurity()
        state.settings = settings
        state.tlsContext = tls
        state.authenticator = authenticator
        return state
    }
}

/// One session's TLS and SASL state.
final class SmtpdSecurity {
    var settings = SmtpdSecuritySettings()
    var tlsContext: TLSServerContext?
    var authenticator: SmtpdAuthenticator?
    /// The client's socket (for the TLS handshake).
    var fd: Int32 = -1
    var connection: TLSConnection?
    var summary: TLSSessionSummary?
    /// The client's certificate (nil: none, or TLS not active).
    var peerCertificate: TLSPeerCertificate?
    var saslMethod: String?
    /// The session was cut off (new TLS session rate): no close_notify, as
    /// Postfix ends such a session.
    var abandoned = false

    init() {}

    var wrapperMode: Bool { settings.wrapperMode }
    var active: Bool { summary != nil }
}

/// The TLS stream under the session after the handshake.
final class TLSTransport: SmtpdTransport {
    let connection: TLSConnection
    init(_ connection: TLSConnection) { self.connection = connection }

    func receive(_ buffer: UnsafeMutableRawBufferPointer, timeout: Int32) throws(TransportError) -> Int {
        connection.timeout = timeout
        do { return try connection.read(buffer) } catch {
            if error == .timeout { throw .timeout }
            return 0
        }
    }

    func send(_ bytes: UnsafeRawBufferPointer, timeout: Int32) throws(TransportError) {
        connection.timeout = timeout
        do { try connection.write(bytes) } catch {
            if error == .timeout { throw .timeout }
            throw .closed
        }
    }

    func inputPending() -> Bool { connection.inputPending }
}

extension SmtpdSession {
    // MARK: - TLS

    /// Runs the handshake; logs as Postfix and returns false on failure.
    private func handshake() -> Bool {
        guard let context = security.tlsContext, security.fd >= 0 else { return false }
        do {
            let connection = try context.accept(fd: security.fd, timeout: settings.timeout)
            let transport = TLSTransport(connection)
            input.transport = transport
            output.transport = transport
            security.connection = connection
            let summary = connection.summary
            security.summary = summary
            security.peerCertificate = connection.peerCertificate(digest: security.settings.fingerprintDigest, client: client)
            logClientCertificate()
            if security.settings.logLevel >= 1 {
                logInfo("\(tlsTrustWord) TLS connection established from \(client): \(summary.logText)")
            }
            return true
        } catch {
            switch error {
            case .handshake(let code, let lost):
                logInfo("SSL_accept error from \(client): \(lost ? "lost connection" : String(code))")
            case .timeout:
                logInfo("SSL_accept error from \(client): timeout")
            default:
                logInfo("SSL_accept error from \(client): -1")
            }
            for line in TLSLibrary.drainErrors() { logWarning(line) }
            return false
        }
    }

    /// smtpd_tls_wrappermode: the handshake before the greeting.
    func startWrapperTLS() -> Bool {
        guard security.tlsContext != nil else {
            logWarning("Wrapper-mode request dropped from \(client) for service \(settings.serviceName)."
                       + " TLS context initialization failed. For details see earlier warnings in your logs.")
            return false
        }
        if newTLSRefused() {
            logWarning("Refusing TLS service request from \(client) for service \(settings.serviceName)")
            return false
        }
        if handshake() {
            if newTLSExceeded(reused: security.connection?.sessionReused ?? false) {
                reply("421 4.7.0 \(settings.myhostname) Error: too many new TLS sessions from \(client)")
                try? output.flush()
                security.abandoned = true
                return false
            }
            guard let refusal = clientCertificateRefusal() else { return true }
            reply(refusal)
            try? output.flush()
            return false
        }
        if newTLSExceeded(reused: false) { return false }
        logInfo("lost connection after \(stage) from \(client)")
        return false
    }

    func starttlsCommand(_ rest: Substring) throws(TransportError) -> Bool {
        guard security.settings.tlsLevel != "none" else {
            error("502 5.5.1 Error: command not implemented")
            return false
        }
        guard rest.trimmingSuffix().isEmpty else { error("501 5.5.4 Syntax: STARTTLS"); return false }
        if security.active { error("554 5.5.1 Error: TLS already active"); return false }
        // TLS is configured but its context could not be built (warned at start).
        guard security.tlsContext != nil else { error("454 4.7.0 TLS not available due to local problem"); return false }
        if newTLSRefused() {
            logWarning("Refusing STARTTLS request from \(client) for service \(settings.serviceName)")
            error("454 4.7.0 Error: too many new TLS sessions from \(client)")
            return false
        }
        reply("220 2.0.0 Ready to start TLS")
        try output.flush()
        // RFC 3207: whatever the client pipelined after STARTTLS was sent
        // in the clear and must not be taken as commands.
        input.discardBuffered()
        guard handshake() else {
            finished = true
            // As Postfix, a failed handshake counts as a new session; past
            // the limit the session just ends (no "lost connection" line).
            if newTLSExceeded(reused: false) { return false }
            logInfo("lost connection after \(stage) from \(client)")
            return false
        }
        if newTLSExceeded(reused: security.connection?.sessionReused ?? false) {
            reply("421 4.7.0 \(settings.myhostname) Error: too many new TLS sessions from \(client)")
            try output.flush()
            finished = true
            security.abandoned = true
            return false
        }
        // smtpd_tls_req_ccert: as Postfix, the 421 answers the client's
        // next command (which is not run), and the session ends; a client
        // that hangs up first is a lost connection after STARTTLS.
        if let refusal = clientCertificateRefusal() {
            _ = try input.readLine(limit: settings.lineLimit)
            reply(refusal)
            return true
        }
        // RFC 3207: forget everything learned from the client before TLS.
        // (The protocol name stays: Postfix keeps ESMTP across STARTTLS.)
        helo = nil
        saslUsername = nil
        security.saslMethod = nil
        mailReset()
        return true
    }

    private static let allowedBeforeTLS: Set<String> = ["HELO", "EHLO", "STARTTLS", "QUIT", "NOOP", "XCLIENT", "XFORWARD"]

    /// The encrypt level's refusal of commands before STARTTLS.
    func tlsRequired(_ verb: String) -> String? {
        guard security.settings.tlsLevel == "encrypt", !security.active, !SmtpdSession.allowedBeforeTLS.contains(verb) else {
            return nil
        }
        return "530 5.7.0 Must issue a STARTTLS command first"
    }

    // MARK: - EHLO

    /// The mechanisms AUTH offers now (nil: AUTH not available).
    private func offeredMechanisms() -> [String]? {
        guard security.settings.saslEnabled, let auth = security.authenticator else { return nil }
        if security.settings.authOnly && !security.active { return nil }
        guard let all = auth.availableMechanisms() else { return nil }
        let options = security.active ? security.settings.saslTLSSecurity : security.settings.saslSecurity
        let names = all.filter { options.allows($0) }.map(\.name)
        return names.isEmpty ? nil : names
    }

    /// STARTTLS, AUTH and the broken-client `AUTH=` line.
    func securityKeywords() -> [String] {
        var words: [String] = []
        if security.settings.tlsLevel != "none" && !security.active { words.append("STARTTLS") }
        let exceptions = security.settings.exceptionsNetworks
        let excepted = !exceptions.isEmpty && ((try? NetworkMatchList(parameter: "smtpd_sasl_exceptions_networks", value: exceptions)
            .matches(name: peer.name, address: peer.address)) ?? false)
        if !excepted, let mechs = offeredMechanisms() {
            let list = mechs.joined(separator: " ")
            words.append("AUTH " + list)
            if security.settings.brokenClients { words.append("AUTH=" + list) }
        }
        return words
    }

    // MARK: - AUTH

    private func authFailed(_ mechanism: String, _ reason: String, user: String?, temporary: Bool) -> Bool {
        logWarning("\(client): SASL \(mechanism) authentication failed: \(reason), sasl_username=\(user ?? "(unavailable)")")
        if temporary {
            error("454 4.7.0 Temporary authentication failure: \(reason)")
        } else {
            error("535 5.7.8 Error: authentication failed: \(reason)")
        }
        return false
    }

    /// SASL is on for this session (Postfix's smtpd_sasl_is_active): AUTH
    /// is accepted, MAIL FROM's AUTH= is kept.
    var saslActive: Bool {
        security.settings.saslEnabled && security.authenticator != nil && !(security.settings.authOnly && !security.active)
    }

    /// Postfix's printable(): control characters become `?` (command
    /// lines are valid UTF-8 by now, and UTF-8 stays as it is).
    static func printable(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return text }
        return String(decoding: text.utf8.map { $0 < 0x20 || $0 == 0x7F ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
    }

    func authCommand(_ rest: Substring) throws(TransportError) -> Bool {
        if authRateExceeded() { return false }
        // As Postfix: the HELO requirement comes before "not enabled".
        if settings.heloRequired && helo == nil { error("503 5.5.1 Error: send HELO/EHLO first"); return false }
        guard saslActive, let auth = security.authenticator else {
            error("503 5.5.1 Error: authentication not enabled")
            return false
        }
        if sender != nil { error("503 5.5.1 Error: MAIL transaction in progress"); return false }
        if saslUsername != nil { error("503 5.5.1 Error: already authenticated"); return false }
        let words = rest.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard words.count == 1 || words.count == 2 else { error("501 5.5.4 Syntax: AUTH mechanism"); return false }
        let mechanism = String(words[0])
        guard let offered = offeredMechanisms(), offered.contains(mechanism.uppercased()) else {
            return authFailed(mechanism, "Invalid authentication mechanism", user: nil, temporary: false)
        }
        var initial: String? = nil
        if words.count == 2 {
            let text = String(words[1])
            if text == "=" {
                initial = ""
            } else if Base64.decode(text) != nil {
                initial = text
            } else {
                return authFailed(mechanism, "Invalid base64 data in initial response", user: nil, temporary: false)
            }
        }
        var peerInfo = DovecotAuthClient.Peer()
        peerInfo.localAddress = peer.serverAddress
        peerInfo.remoteAddress = peer.address
        peerInfo.secured = security.active
        var step = auth.authStart(mechanism: mechanism.uppercased(), initialResponse: initial, peer: peerInfo)
        var lastUser: String? = nil
        while true {
            switch step {
            case .success(let user):
                saslUsername = user
                security.saslMethod = mechanism
                reply("235 2.7.0 Authentication successful")
                return true
            case .failure(let reason, let user, let temporary):
                return authFailed(mechanism, reason ?? "(reason unavailable)", user: user ?? lastUser, temporary: temporary)
            case .challenge(let challenge):
                reply("334 " + challenge)
                try output.flush()
                // smtpd_sasl_response_limit: a longer response is skipped to
                // its end and refused, as Postfix refuses it.
                var (bytes, end) = try input.readLine(limit: security.settings.saslResponseLimit)
                if end == .truncated {
                    let limit = security.settings.saslResponseLimit
                    logWarning("\(client): request longer than \(limit): \(String(decoding: bytes.prefix(30), as: UTF8.self))...")
                    while end == .truncated { (_, end) = try input.readLine(limit: security.settings.saslResponseLimit) }
                    error("500 5.5.6 SASL response limit exceeded")
                    return false
                }
                let line = String(decoding: bytes, as: UTF8.self)
                if line == "*" {
                    logWarning("\(client): SASL \(mechanism) authentication aborted")
                    error("501 5.7.0 Authentication aborted")
                    return false
                }
                guard Base64.decode(line) != nil else {
                    return authFailed(mechanism, "Invalid base64 data in continued response", user: nil, temporary: false)
                }
                if lastUser == nil, mechanism.uppercased() == "LOGIN", let name = Base64.decode(line) {
                    lastUser = String(decoding: name, as: UTF8.self)
                }
                step = auth.authProceed(line)
            }
        }
    }

    /// sasl_method and the encryption_* attributes for policy servers.
    func addSecurityFacts(_ f: inout PolicyFacts) {
        if saslUsername != nil { f.saslMethod = security.saslMethod ?? "" }
        if let summary = security.summary {
            f.encryptionProtocol = summary.protocolName
            f.encryptionCipher = summary.cipherName
            f.encryptionKeysize = summary.cipherBits
        }
        addClientCertificateFacts(&f)
    }

    // MARK: - Logs and headers

    /// `, sasl_method=M, sasl_username=U` for the `client=` line.
    var saslLogSuffix: String {
        guard let user = saslUsername else { return "" }
        return ", sasl_method=\(security.saslMethod ?? "XCLIENT"), sasl_username=\(user)"
    }

    /// TLS and authenticated-sender lines between `Received: from` and `by`.
    var receivedSecurityLines: [String] {
        var lines: [String] = []
        if let summary = security.summary, security.settings.receivedHeader {
            lines += summary.receivedLines(certificateLine: receivedCertificateText)
        }
        if let user = saslUsername, security.settings.authenticatedHeader, security.saslMethod != nil {
            lines.append("\t(Authenticated sender: \(user))")
        }
        return lines
    }

    /// ESMTP, ESMTPS, ESMTPA, ESMTPSA (RFC 3848).
    var receivedProtocol: String {
        guard proto == "ESMTP" else { return proto }
        return proto + (security.active ? "S" : "") + (saslUsername != nil && security.saslMethod != nil ? "A" : "")
    }
}
