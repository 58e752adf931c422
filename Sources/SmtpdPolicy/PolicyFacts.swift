// PolicyFacts: what the restriction engine knows about a session and the
// command being checked. The SMTP server fills it in; the engine never sees
// the protocol.

/// The restriction lists smtpd evaluates, in the order RCPT runs them.
public enum PolicyStage: String, Sendable, CaseIterable {
    case client, helo, sender, relay, recipient, data, endOfData, etrn

    /// The parameter holding the stage's restriction list.
    public var parameter: String {
        switch self {
        case .client: return "smtpd_client_restrictions"
        case .helo: return "smtpd_helo_restrictions"
        case .sender: return "smtpd_sender_restrictions"
        case .relay: return "smtpd_relay_restrictions"
        case .recipient: return "smtpd_recipient_restrictions"
        case .data: return "smtpd_data_restrictions"
        case .endOfData: return "smtpd_end_of_data_restrictions"
        case .etrn: return "smtpd_etrn_restrictions"
        }
    }
}

public struct PolicyFacts: Sendable {
    /// Verified client hostname, or "unknown".
    public var clientName: String
    /// Reverse (PTR) name, or "unknown".
    public var reverseClientName: String
    public var clientAddress: String
    /// Whether the name lookup failed temporarily (defer instead of reject).
    public var clientNameTemporary = false
    public var reverseNameTemporary = false
    public var helo: String?
    public var sender: String?
    public var recipient: String?
    public var etrnDomain: String?
    /// SASL login name once AUTH succeeded (the SASL hook fills it in).
    public var saslUsername: String?
    /// True when the client sent commands before it was allowed to.
    public var pipelinedImproperly = false
    /// Stage name for logs: CONNECT, EHLO, MAIL, RCPT, DATA, ...
    public var commandName = "CONNECT"
    // What policy servers are told besides the above (check_policy_service).
    public var protocolName = "SMTP"
    public var clientPort = "0"
    public var serverAddress = ""
    public var serverPort = ""
    /// Recipients accepted so far (all of them at DATA and END-OF-MESSAGE).
    public var recipientCount = 0
    public var queueID = ""
    /// MAIL FROM SIZE=, or the message size at END-OF-MESSAGE; 0 when unknown.
    public var size = 0
    /// Unique per message transaction (policy servers group recipients by
    /// it): `instanceText` when set, else made from `instanceParts` (process
    /// ID, arrival seconds and microseconds, in hex) only when a policy
    /// server asks, not for every restriction check.
    public var instance: String {
        get {
            if let text = instanceText { return text }
            guard let p = instanceParts else { return "" }
            return String(p.pid, radix: 16) + "." + String(p.seconds, radix: 16) + "." + String(p.microseconds, radix: 16) + ".0"
        }
        set { instanceText = newValue }
    }
    public var instanceText: String?
    public var instanceParts: (pid: Int, seconds: Int, microseconds: Int)?
    public var saslMethod = ""
    public var saslSender = ""
    public var encryptionProtocol = ""
    public var encryptionCipher = ""
    public var encryptionKeysize = 0
    /// TLS is active, and the client's certificate (ClientCertificateChecks).
    public var tlsActive = false
    public var clientCertificate: PolicyClientCertificate?

    public init(clientName: String, reverseClientName: String, clientAddress: String) {
        self.clientName = clientName
        self.reverseClientName = reverseClientName
        self.clientAddress = clientAddress
    }

    /// "name[address]" as logs and client replies show the client.
    /// ":PORT" with smtpd_client_port_logging, else empty.
    public var portSuffix = ""
    public var nameAddress: String { "\(clientName)[\(clientAddress)]\(portSuffix)" }
}
