// ClientCertificateChecks: the restrictions on the client's TLS
// certificate, as Postfix 3.7's smtpd_check: permit_tls_all_clientcerts
// (any verified certificate), permit_tls_clientcerts (the certificate or
// its public-key fingerprint in relay_clientcerts) and check_ccert_access
// (an access table looked up by fingerprint, then public-key fingerprint,
// the rejections naming the certificate's CN). A fingerprint match does
// not need a verified certificate. Also the certificate attributes policy
// servers get.
import Util
import Global
import Tables

/// What the restrictions know of the client's certificate.
public struct PolicyClientCertificate: Sendable, Equatable {
    public var subjectCN: String
    public var issuerCN: String
    public var trusted: Bool
    public var fingerprint: String
    public var publicKeyFingerprint: String

    public init(subjectCN: String, issuerCN: String, trusted: Bool, fingerprint: String, publicKeyFingerprint: String) {
        self.subjectCN = subjectCN
        self.issuerCN = issuerCN
        self.trusted = trusted
        self.fingerprint = fingerprint
        self.publicKeyFingerprint = publicKeyFingerprint
    }

    /// ccert_subject and ccert_issuer for a policy server: only for a
    /// verified certificate, xtext-encoded (RFC 3461).
    var policySubject: String { trusted ? PolicyClientCertificate.xtext(subjectCN) : "" }
    var policyIssuer: String { trusted ? PolicyClientCertificate.xtext(issuerCN) : "" }

    static func xtext(_ text: String) -> String {
        var out = ""
        for b in text.utf8 {
            if b > 32 && b < 127 && b != UInt8(ascii: "+") {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "+" + String(b, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

/// The parameters the certificate restrictions read.
public struct ClientCertificateSettings: Sendable {
    /// relay_clientcerts: the table of fingerprints allowed to relay.
    public var relayClientcerts = ""
    /// smtpd_tls_ask_ccert (check_ccert_access warns without it).
    public var askCcert = false

    public init() {}

    public init(config: MailConfig) {
        relayClientcerts = config.value("relay_clientcerts")
        askCcert = config.bool("smtpd_tls_ask_ccert")
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension RestrictionEngine {
    /// permit_tls_all_clientcerts (`all`) and permit_tls_clientcerts.
    func permitClientCertificate(all: Bool, facts: PolicyFacts, name: String, kind: String, _ e: inout Evaluation) -> PolicyDecision {
        guard facts.tlsActive, let cert = facts.clientCertificate else { return .dunno }
        if all && cert.trusted { return .permit }
        guard !settings.clientCerts.relayClientcerts.isEmpty else { return .dunno }
        do {
            let list = try maps("relay_clientcerts", settings.clientCerts.relayClientcerts)
            for key in [cert.fingerprint, cert.publicKeyFingerprint] {
                if try list.find(keys: [AddressSearch.Key(key)]) != nil { return .permit }
            }
        } catch {
            e.outcome.warn("relay_clientcerts: lookup error for fingerprint '\(cert.fingerprint)', pkey fingerprint \(cert.publicKeyFingerprint)")
            return .reject(SmtpReply(451, "4.3.0", "<\(name)>: \(kind) rejected: Temporary lookup failure"))
        }
        return .dunno
    }

    /// check_ccert_access TABLE: the fingerprint, then the public-key
    /// fingerprint; the first answer that is not DUNNO decides.
    func checkClientCertificateAccess(_ table: String, stage: PolicyStage, facts: PolicyFacts, depth: Int,
                                      _ e: inout Evaluation) -> PolicyDecision {
        guard facts.tlsActive, let cert = facts.clientCertificate else {
            if !settings.clientCerts.askCcert {
                e.outcome.warn("check_ccert_access is requested, but \"smtpd_tls_ask_ccert = no\"")
            }
            return .dunno
        }
        for key in [cert.fingerprint, cert.publicKeyFingerprint] {
            let decision = access(table, keys: [AddressSearch.Key(key)], stage: stage, facts: facts, name: cert.subjectCN,
                                  kind: "Client certificate", depth: depth, &e)
            if decision != .dunno { return decision }
        }
        return .dunno
    }
}
