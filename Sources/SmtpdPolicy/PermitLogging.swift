// PermitLogging: smtpd_log_access_permit_actions. A permit decision whose
// action the list names is logged as Postfix logs it:
// "permit: STAGE from CLIENT: action=NAME for CLASS=WHO [from TABLE]; ...".
// Simple permit_* restrictions name their own subject (the client for
// permit_mynetworks, the recipient for permit_auth_destination...); an
// access table's OK names what was looked up and the table.
extension RestrictionEngine {
    /// Logs a permit from a restriction that is not a table lookup.
    func notePermit(_ restriction: String, stage: PolicyStage, facts: PolicyFacts, _ e: inout Evaluation) {
        let subject: (kind: String, name: String)
        switch restriction {
        case "permit":
            let reply = replyName(stage, facts)
            subject = (reply.kind, reply.name)
        case "permit_mynetworks", "permit_sasl_authenticated", "permit_inet_interfaces",
             "permit_tls_clientcerts", "permit_tls_all_clientcerts":
            subject = ("Client host", facts.nameAddress)
        case "permit_auth_destination", "permit_mx_backup":
            subject = ("Recipient address", facts.recipient ?? "")
        case "permit_naked_ip_address":
            subject = ("Helo command", facts.helo ?? "")
        default:
            return   // table results log themselves; classes log their members
        }
        logPermit(restriction, kind: subject.kind, name: subject.name, suffix: "", &e)
    }

    func logPermit(_ action: String, kind: String, name: String, suffix: String, _ e: inout Evaluation) {
        guard permitLog.matches(action) else { return }
        e.outcome.note(PolicyEvent("permit", "action=\(action) for \(kind)=\(name) \(suffix)"))
    }
}
