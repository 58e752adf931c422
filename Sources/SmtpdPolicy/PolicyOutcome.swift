// PolicyOutcome: what the restriction engine decides for one stage: permit,
// reject (with the reply), or no decision, plus the side effects access
// tables asked for (HOLD, DISCARD, FILTER, REDIRECT, PREPEND, BCC) and the
// log events the server writes with its own context.

public enum PolicyDecision: Equatable, Sendable {
    /// No restriction decided; the next stage runs.
    case dunno
    case permit
    case reject(SmtpReply)
}

/// One line smtpd logs as `QID: ACTION: STAGE from CLIENT: TEXT; from=...`.
public struct PolicyEvent: Equatable, Sendable {
    /// reject_warning, warn, hold, discard, filter, redirect, bcc, info.
    public var action: String
    public var text: String
    public init(_ action: String, _ text: String) {
        self.action = action
        self.text = text
    }
}

/// Side effects on the message (kept for the transaction).
public struct PolicyActions: Equatable, Sendable {
    public var hold: Bool = false
    public var discard: Bool = false
    public var filter: String?
    public var redirect: String?
    public var prepend: [String] = []
    public var bcc: [String] = []
    public init() {}
}

/// A warning or an event, in the order the engine produced them (the
/// order Postfix logs them in).
public enum PolicyLogLine: Equatable, Sendable {
    case warning(String)
    case event(PolicyEvent)
    /// A plain informational line (Postfix's msg_info).
    case info(String)
}

public struct PolicyOutcome: Equatable, Sendable {
    /// `warnings` and `events` interleaved in order (use warn/note to add).
    public var lines: [PolicyLogLine] = []

    public mutating func warn(_ text: String) {
        warnings.append(text)
        lines.append(.warning(text))
    }

    public mutating func inform(_ text: String) {
        lines.append(.info(text))
    }

    public mutating func note(_ event: PolicyEvent) {
        events.append(event)
        lines.append(.event(event))
    }

    public var decision: PolicyDecision
    public var events: [PolicyEvent]
    public var actions: PolicyActions
    /// Warnings for the mail log (lookup errors, unknown restrictions).
    public var warnings: [String]
    /// The verdict may change with the number of recipients
    /// (reject_multi_recipient_bounce): not to be reused for the next RCPT.
    public var dependsOnRecipients = false

    public init(decision: PolicyDecision = .dunno, events: [PolicyEvent] = [], actions: PolicyActions = PolicyActions(),
                warnings: [String] = []) {
        self.decision = decision
        self.events = events
        self.actions = actions
        self.warnings = warnings
    }

    public var reply: SmtpReply? {
        if case .reject(let r) = decision { return r }
        return nil
    }
}
