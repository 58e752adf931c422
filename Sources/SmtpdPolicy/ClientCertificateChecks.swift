// ClientCertificateChecks: the restrictions on the client's TLS
// certificate, as Postfix 3.7's smtpd_check: permit_tls_all_clientcerts
// (any verified certificate), permit_tls_clientcerts (the certificate or
// its public-key fingerprint in relay_clientcerts) and check_ccert_access
// (an access table looked up by fingerprint, then public-key fingerprint,
// or in its `search_order`, the rejections naming the certificate's CN). A fingerprint match does
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
    /// A table that fails answers as Postfix's reject_dict_retry.
    func permitClientCertificate(all: Bool, facts: PolicyFacts, name: String, _ e: inout Evaluation) -> PolicyDecision {
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
            return .reject(SmtpReply(451, "4.3.0", "<\(name)>: Temporary lookup failure"))
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
        let search: (table: String, order: [Bool])
        switch RestrictionEngine.ccertSearch(table) {
        case .success(let s): search = s
        case .failure(let problem):
            // Postfix warns about the syntax once, when it starts.
            if !RestrictionEngine.ccertSearchWarned.contains(table) {
                RestrictionEngine.ccertSearchWarned.insert(table)
                e.outcome.warn(problem.text)
            }
            e.outcome.warn("See earlier parsing error messages for '\(table)")
            return .reject(SmtpReply(451, "4.3.5", "Server configuration error"))
        }
        for publicKey in search.order {
            let key = publicKey ? cert.publicKeyFingerprint : cert.fingerprint
            let decision = access(search.table, keys: [AddressSearch.Key(key)], stage: stage, facts: facts, name: cert.subjectCN,
                                  kind: "Client certificate", depth: depth, &e)
            if decision != .dunno { return decision }
        }
        return .dunno
    }

    nonisolated(unsafe) static var ccertSearchWarned: Set<String> = []

    struct SearchProblem: Error { let text: String }

    /// check_ccert_access's argument: `type:table`, or (Postfix 3.5)
    /// `{ type:table, { search_order = cert_fingerprint, pubkey_fingerprint } }`.
    /// The order lists true for the public-key fingerprint.
    static func ccertSearch(_ argument: String) -> Result<(table: String, order: [Bool]), SearchProblem> {
        let standard = [false, true]
        let text = argument.trimmingPostfixSpace()
        guard text.hasPrefix("{") else { return .success((text, standard)) }
        let malformed = SearchProblem(text: "malformed map specification: '\(text)'")
        guard text.hasSuffix("}") else { return .failure(malformed) }
        let parts = String(text.dropFirst().dropLast()).splitListGrouped()
        guard let table = parts.first, !table.hasPrefix("{") else { return .failure(malformed) }
        var order = standard
        for option in parts.dropFirst() {
            guard option.hasPrefix("{"), option.hasSuffix("}") else { return .failure(malformed) }
            let inner = option.dropFirst().dropLast()
            guard let eq = inner.firstIndex(of: "="),
                  String(inner[..<eq]).trimmingPostfixSpace() == "search_order" else { return .failure(malformed) }
            order = []
            for name in String(inner[inner.index(after: eq)...]).splitList() {
                switch name {
                case "cert_fingerprint": order.append(false)
                case "pubkey_fingerprint": order.append(true)
                default: return .failure(SearchProblem(text: "unknown search type '\(name)' in '\(text)'"))
                }
            }
        }
        return .success((table, order))
    }
}
