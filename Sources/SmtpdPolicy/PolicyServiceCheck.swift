// PolicyServiceCheck: check_policy_service for the restriction engine: the
// request attributes Postfix 3.7 sends (smtpd_check.c's list, in its
// order), one cached PolicyServiceClient per service, and the answer
// handled exactly as an access table's result; when the server cannot be
// reached the service's default_action is used the same way.

extension RestrictionEngine {
    /// The attributes of a policy request, in Postfix's order.
    static func policyAttributes(_ facts: PolicyFacts, policyContext: String) -> [(String, String)] {
        [
            ("request", "smtpd_access_policy"),
            ("protocol_state", facts.commandName),
            ("protocol_name", facts.protocolName),
            ("client_address", facts.clientAddress),
            ("client_name", facts.clientName),
            ("client_port", facts.clientPort),
            ("reverse_client_name", facts.reverseClientName),
            ("server_address", facts.serverAddress),
            ("server_port", facts.serverPort),
            ("helo_name", facts.helo ?? ""),
            ("sender", facts.sender ?? ""),
            ("recipient", facts.recipient ?? ""),
            ("recipient_count", String(facts.recipientCount)),
            ("queue_id", facts.queueID),
            ("instance", facts.instance),
            ("size", String(facts.size)),
            ("etrn_domain", facts.etrnDomain ?? ""),
            ("stress", ""),
            ("sasl_method", facts.saslMethod),
            ("sasl_username", facts.saslUsername ?? ""),
            ("sasl_sender", facts.saslSender),
            ("ccert_subject", facts.clientCertificate?.policySubject ?? ""),
            ("ccert_issuer", facts.clientCertificate?.policyIssuer ?? ""),
            ("ccert_fingerprint", facts.clientCertificate?.fingerprint ?? ""),
            ("ccert_pubkey_fingerprint", facts.clientCertificate?.publicKeyFingerprint ?? ""),
            ("encryption_protocol", facts.encryptionProtocol),
            ("encryption_cipher", facts.encryptionCipher),
            ("encryption_keysize", String(facts.encryptionKeysize)),
            ("policy_context", policyContext),
        ]
    }

    func policyService(_ argument: String, stage: PolicyStage, facts: PolicyFacts, depth: Int, _ e: inout Evaluation) -> PolicyDecision {
        let (name, kind) = replyName(stage, facts, e)
        let client: PolicyServiceClient
        if let cached = policyClients[argument] {
            client = cached
        } else {
            switch settings.policyService.service(argument) {
            case .failure(let problem):
                e.outcome.warn(problem.text)
                return .reject(SmtpReply(451, "4.3.5", "Server configuration error"))
            case .success(let (endpoint, serviceSettings)):
                client = PolicyServiceClient(endpoint: endpoint, settings: serviceSettings)
                if let sleeper = policySleeper { client.sleeper = sleeper }
                policyClients[argument] = client
            }
        }
        var warnings: [String] = []
        let attributes = RestrictionEngine.policyAttributes(facts, policyContext: client.settings.policyContext)
        let action = client.query(attributes) { warnings.append($0) }
        for w in warnings { e.outcome.warn(w) }
        return tableResult(action ?? client.settings.defaultAction, stage: stage, facts: facts, name: name, kind: kind,
                           depth: depth, &e)
    }
}
