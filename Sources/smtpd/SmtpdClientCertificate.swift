// SmtpdClientCertificate: smtpd's side of client certificates, as Postfix
// 3.7: the log lines about the certificate after the handshake, the
// trust word of the "TLS connection established" line, the
// smtpd_tls_req_ccert refusal, the Received: header comment, and the
// certificate facts for restrictions and policy servers.
import SmtpdPolicy
import TLS

extension SmtpdSession {
    /// Anonymous (no certificate), Trusted (verified) or Untrusted.
    var tlsTrustWord: String {
        guard let cert = security.peerCertificate else { return "Anonymous" }
        return cert.trusted ? "Trusted" : "Untrusted"
    }

    /// Name warnings; at smtpd_tls_loglevel 2 the certificate's names and
    /// fingerprints; when a trusted certificate is required, why it is not.
    func logClientCertificate() {
        guard let cert = security.peerCertificate else { return }
        for line in cert.nameWarnings { logWarning(line) }
        if security.settings.logLevel >= 2 {
            logInfo("\(client): subject_CN=\(cert.subjectCN), issuer=\(cert.issuerCN), fingerprint=\(cert.fingerprint)"
                    + ", pkey_fingerprint=\(cert.publicKeyFingerprint)")
        }
        if security.settings.requireCcert, let text = cert.verificationFailure(client: client) { logInfo(text) }
    }

    /// smtpd_tls_req_ccert: when the client has no trusted certificate,
    /// logs Postfix's abort line and returns the 421 reply that ends the
    /// session; nil when the certificate will do.
    func clientCertificateRefusal() -> String? {
        guard security.settings.requireCcert, security.peerCertificate?.trusted != true else { return nil }
        let why = security.peerCertificate == nil ? "No client certificate presented" : "Client certificate not trusted"
        logInfo("NOQUEUE: abort: TLS from \(client): \(why)")
        return "421 4.7.1 \(settings.myhostname) Error: \(why)"
    }

    /// The Received: header's comment on the client certificate.
    var receivedCertificateText: String {
        if let cert = security.peerCertificate {
            return "(Client CN \"\(cert.subjectCN)\", Issuer \"\(cert.issuerCN)\" (\(cert.trusted ? "verified OK" : "not verified")))"
        }
        return security.settings.askCcert ? "(Client did not present a certificate)" : "(No client certificate requested)"
    }

    /// The certificate as restrictions and policy servers see it.
    func addClientCertificateFacts(_ f: inout PolicyFacts) {
        f.tlsActive = security.active
        guard let cert = security.peerCertificate else { return }
        f.clientCertificate = PolicyClientCertificate(subjectCN: cert.subjectCN, issuerCN: cert.issuerCN, trusted: cert.trusted,
                                                      fingerprint: cert.fingerprint, publicKeyFingerprint: cert.publicKeyFingerprint)
    }
}
