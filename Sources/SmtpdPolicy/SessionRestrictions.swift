// SessionRestrictions: the restrictions that look at the session rather
// than at one command's argument: reject_multi_recipient_bounce (null
// sender with more than one recipient), permit_naked_ip_address (a HELO
// that is a bare IP address), reject_plaintext_session (no TLS) and
// check_sasl_access (the SASL login name in an access table).
import Tables

extension RestrictionEngine {
    /// One of the four restrictions above; nil for any other name.
    func sessionRestriction(_ r: Restriction, stage: PolicyStage, facts: PolicyFacts, depth: Int,
                            _ e: inout Evaluation) -> PolicyDecision? {
        let (name, kind) = replyName(stage, facts, e)
        switch r.name {
        case "reject_multi_recipient_bounce":
            // At RCPT the recipient being checked is not counted yet: any
            // earlier one makes it a second. Elsewhere (DATA, end of data,
            // MAIL with smtpd_delay_reject = no) all recipients are counted.
            e.outcome.dependsOnRecipients = true
            guard let sender = facts.sender, sender.isEmpty,
                  facts.recipientCount > (facts.commandName == "RCPT" ? 0 : 1) else { return .dunno }
            return reject(settings.multiRecipientBounceRejectCode, "5.5.3", name, kind, "Multi-recipient bounce")
        case "permit_naked_ip_address":
            e.outcome.warn("restriction permit_naked_ip_address is deprecated. Use permit_mynetworks or permit_sasl_authenticated instead")
            guard let helo = facts.helo,
                  helo.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x3A }) else { return .dunno }
            // Only digits, dots and colons: a usable IPv4 address permits,
            // anything else is an invalid address.
            if !helo.contains(":") && HostnameSyntax.isValidAddressLiteral(helo) { return .permit }
            return reject(settings.invalidHostnameRejectCode, "5.5.2", helo, "Helo command", "invalid ip address")
        case "reject_plaintext_session":
            guard facts.encryptionProtocol.isEmpty else { return .dunno }
            return .reject(SmtpReply(settings.plaintextRejectCode, "4.7.1", "Session encryption is required"))
        case "check_sasl_access":
            guard settings.saslEnabled else {
                e.outcome.warn("restriction `check_sasl_access' ignored: no SASL support")
                return .dunno
            }
            guard let login = facts.saslUsername, !login.isEmpty else { return .dunno }
            // The whole login name only: no parent domains, no partial keys.
            return accessLookup(r.argument ?? "", keys: [AddressSearch.Key(login.asciiLowercased())], stage: stage,
                                facts: facts, name: Self.printable(login), kind: "SASL login name", depth: depth, &e) ?? .dunno
        default:
            return nil
        }
    }

    /// Control characters as "_", as Postfix shows client-supplied names.
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "_" : $0 }))
    }
}
