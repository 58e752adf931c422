// CleanupProtocol: the conversation between cleanup(8) and its clients
// (pickup, smtpd, bounce, local forwarding). Shared by the server
// (Sources/cleanup) and CleanupClient.
//
// One message per connection, unless the client keeps it (below). Control
// data are attr0 attribute lists
// (AttributeList); the message content travels as queue-file records
// (`N`/`L`, QueueRecord), which keeps it byte-exact (attr0 values go
// through String and cannot carry arbitrary bytes):
//
//   server: queue_id=ID                      (the queue file exists now; or
//                                             status=N reason=TEXT and close)
//   client: flags=N                          (CleanupProtocol.Flags)
//   client: type=envelope [arrival_time=SEC USEC] [full_name=F] sender=S
//           [attribute=NAME=VALUE]...        (named attributes to store and
//                                             use: rewrite_context,
//                                             log_client_name, log_helo_name,
//                                             log_protocol_name,
//                                             log_message_origin,
//                                             envelope_id, ret_flags, ...)
//   client: type=recipient recipient=R [original_recipient=O]
//           [dsn_orig_rcpt=TYPE;ADDR] [notify_flags=N]      (one per recipient)
//   client: type=content
//   client: N/L records, one message line each (L = continued), then X
//   client: type=recipient ...               (extracted recipients: sendmail -t)
//   client: type=end [flags=N] [filter=TRANSPORT:NEXTHOP] [redirect=ADDR]
//           [bcc=ADDR]...                    (what smtpd's access maps
//                                             decided, up to end of data:
//                                             HOLD/DISCARD flags, FILTER,
//                                             REDIRECT, BCC; Postfix's
//                                             extracted FILT/RDR/FLGS/RCPT)
//   server: status=N reason=TEXT [keep=1]    (only after the file is fsynced
//                                             and renamed, or removed)
//
// Kept connections: with `keep=1` the server offers the connection for
// another message (it read the whole exchange). A client that wants one
// sends `request=next` on it, within ipc_idle seconds, and the server
// answers as on a new connection (queue_id=ID ...); a client that does not
// simply closes it. smtpd keeps its connection this way (CleanupClient's
// kept connection); pickup, bounce and local forwarding do not.
//
// status is 0 (queued, or discarded on purpose) or an OR of Status bits;
// `reason` is SMTP-style text: "5.7.1 ..." for a content reject, "4.3.0 ..."
// for a temporary problem. Status.isPermanent tells the client which.
// A client that breaks off before `type=end` leaves no queue file behind.

import Util

/// Names and codes of the cleanup protocol.
public enum CleanupProtocol {
    /// The default service name ($cleanup_service_name).
    public static let service = "cleanup"

    public enum Attribute {
        public static let queueID = "queue_id"
        public static let flags = "flags"
        public static let type = "type"
        public static let arrivalTime = "arrival_time"
        public static let fullName = "full_name"
        public static let verpDelimiters = "verp_delimiters"
        public static let sender = "sender"
        public static let attribute = "attribute"
        public static let recipient = "recipient"
        public static let originalRecipient = "original_recipient"
        public static let dsnOriginalRecipient = "dsn_orig_rcpt"
        public static let notifyFlags = "notify_flags"
        public static let status = "status"
        public static let reason = "reason"
        /// In the final reply: the connection may carry another message.
        public static let keep = "keep"
        /// `request=next`: a kept connection's next message begins.
        public static let request = "request"
        public static let filter = "filter"
        public static let redirect = "redirect"
        public static let bcc = "bcc"
    }

    /// `type=` values of client lists.
    public enum ListType: String, Sendable {
        case envelope, recipient, content, end
    }

    /// What the client asks cleanup to do (Postfix's CLEANUP_FLAG_* bits).
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// Bounce a rejected message instead of telling the client (pickup).
        public static let bounce = Flags(rawValue: 1 << 0)
        /// Apply header_checks, body_checks and friends.
        public static let filter = Flags(rawValue: 1 << 1)
        /// Place the message on hold.
        public static let hold = Flags(rawValue: 1 << 2)
        /// Discard the message.
        public static let discard = Flags(rawValue: 1 << 3)
        /// Add always_bcc, sender_bcc_maps and recipient_bcc_maps recipients.
        public static let bccOK = Flags(rawValue: 1 << 4)
        /// Apply canonical, virtual alias and masquerading.
        public static let mapOK = Flags(rawValue: 1 << 5)
        /// Run Milters.
        public static let milter = Flags(rawValue: 1 << 6)

        /// What external clients (smtpd, pickup) ask for, minus what
        /// `receive_override_options` turns off.
        public static func external(receiveOverrideOptions: String) -> Flags {
            var flags: Flags = [.filter, .bccOK, .mapOK, .milter]
            for option in receiveOverrideOptions.splitList() {
                switch option.lowercased() {
                case "no_address_mappings": flags.remove(.mapOK); flags.remove(.bccOK)
                case "no_header_body_checks": flags.remove(.filter)
                case "no_milters": flags.remove(.milter)
                default: break  // no_unknown_recipient_checks is smtpd's
                }
            }
            return flags
        }
    }

    /// The reply status bits (Postfix's CLEANUP_STAT_* values).
    public struct Status: OptionSet, Sendable, Hashable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let ok: Status = []
        /// Internal protocol error.
        public static let bad = Status(rawValue: 1 << 0)
        /// Error writing the queue file.
        public static let write = Status(rawValue: 1 << 1)
        /// Message too large.
        public static let size = Status(rawValue: 1 << 2)
        /// Content rejected (header/body checks).
        public static let content = Status(rawValue: 1 << 3)
        /// Too many hops.
        public static let hops = Status(rawValue: 1 << 4)
        /// No recipients.
        public static let recipients = Status(rawValue: 1 << 5)
        /// Temporary failure (table lookup, service down).
        public static let deferred = Status(rawValue: 1 << 7)

        /// True when a retry cannot help (reject with 5xx).
        public var isPermanent: Bool {
            !isEmpty && intersection([.bad, .write, .deferred]).isEmpty
        }

        /// Postfix's cleanup_strerror text for the most important bit.
        public var text: String {
            if contains(.bad) { return "4.3.0 internal protocol error" }
            if contains(.write) { return "4.3.0 queue file write error" }
            if contains(.deferred) { return "4.3.0 service unavailable" }
            if contains(.size) { return "5.3.4 message file too big" }
            if contains(.content) { return "5.7.1 message content rejected" }
            if contains(.hops) { return "5.4.0 too many hops" }
            if contains(.recipients) { return "5.1.0 no recipients specified" }
            return "0.0.0 success"
        }
    }

    /// The client's envelope list.
    public static func envelopeList(sender: String, fullName: String?, arrival: (Int, Int)?,
                                    attributes: [QueueAttribute]) -> AttributeList {
        var list = AttributeList()
        list.append(Attribute.type, ListType.envelope.rawValue)
        if let arrival { list.append(Attribute.arrivalTime, "\(arrival.0) \(arrival.1)") }
        if let fullName { list.append(Attribute.fullName, fullName) }
        list.append(Attribute.sender, sender)
        for a in attributes { list.append(Attribute.attribute, a.name + "=" + a.value) }
        return list
    }

    /// Writes `envelopeList(...)`'s wire form into `stream`'s buffer
    /// directly (no list, no concatenated strings: smtpd does this once
    /// per message).
    public static func writeEnvelope(to stream: Stream, sender: String, fullName: String?, arrival: (Int, Int)?,
                                     attributes: [QueueAttribute], verp: String? = nil) {
        func pair(_ name: String, _ value: String) {
            stream.write(name); stream.write(byte: 0)
            stream.write(value); stream.write(byte: 0)
        }
        pair(Attribute.type, ListType.envelope.rawValue)
        if let arrival { pair(Attribute.arrivalTime, String(arrival.0) + " " + String(arrival.1)) }
        if let fullName { pair(Attribute.fullName, fullName) }
        pair(Attribute.sender, sender)
        for a in attributes {
            stream.write(Attribute.attribute); stream.write(byte: 0)
            stream.write(a.name); stream.write(byte: 0x3D); stream.write(a.value); stream.write(byte: 0)
        }
        if let verp { pair(Attribute.verpDelimiters, verp) }
        stream.write(byte: 0)
    }

    /// One recipient list.
    public static func recipientList(_ r: QueueRecipient) -> AttributeList {
        var list = AttributeList()
        list.append(Attribute.type, ListType.recipient.rawValue)
        list.append(Attribute.recipient, r.address)
        if let o = r.original { list.append(Attribute.originalRecipient, o) }
        if let d = r.dsnOriginalRecipient { list.append(Attribute.dsnOriginalRecipient, d) }
        if let n = r.notifyFlags { list.append(Attribute.notifyFlags, n) }
        return list
    }

    /// Decodes a recipient list.
    public static func recipient(from list: AttributeList) throws(AttributeError) -> QueueRecipient {
        let address = try list.require(Attribute.recipient)
        var notify: Int? = nil
        if list[Attribute.notifyFlags] != nil { notify = try list.requireInt(Attribute.notifyFlags) }
        return QueueRecipient(address: address, original: list[Attribute.originalRecipient],
                              dsnOriginalRecipient: list[Attribute.dsnOriginalRecipient], notifyFlags: notify)
    }

    /// The `type=end` list with the client's actions.
    public static func endList(_ actions: CleanupActions) -> AttributeList {
        var list = marker(.end)
        let flags = actions.flags.intersection([.hold, .discard])
        if !flags.isEmpty { list.append(Attribute.flags, String(flags.rawValue)) }
        if let f = actions.filter { list.append(Attribute.filter, f) }
        if let r = actions.redirect { list.append(Attribute.redirect, r) }
        for b in actions.bcc { list.append(Attribute.bcc, b) }
        return list
    }

    /// Decodes the actions of a `type=end` list (only HOLD and DISCARD
    /// flags are taken from it).
    public static func actions(from list: AttributeList) throws(AttributeError) -> CleanupActions {
        var actions = CleanupActions()
        if list[Attribute.flags] != nil {
            actions.flags = Flags(rawValue: try list.requireInt(Attribute.flags)).intersection([.hold, .discard])
        }
        actions.filter = list[Attribute.filter]
        actions.redirect = list[Attribute.redirect]
        actions.bcc = list.pairs.filter { $0.0 == Attribute.bcc }.map { $0.1 }
        return actions
    }

    /// A list with just `type=T`.
    public static func marker(_ type: ListType) -> AttributeList {
        AttributeList([(Attribute.type, type.rawValue)])
    }

    /// The final reply (`keep`: offer the connection for another message).
    public static func reply(_ status: Status, _ reason: String, keep: Bool = false) -> AttributeList {
        var list = AttributeList([(Attribute.status, String(status.rawValue)), (Attribute.reason, reason)])
        if keep { list.append(Attribute.keep, "1") }
        return list
    }

    /// A kept connection's request for the next message.
    public static let nextMessage = AttributeList([(Attribute.request, "next")])
}

/// What a client's access rules decided about a message, for cleanup to
/// carry out: hold or discard it, send it through a content filter, redirect
/// it, or copy it to more recipients (smtpd access maps: HOLD, DISCARD,
/// FILTER, REDIRECT, BCC).
public struct CleanupActions: Sendable, Equatable {
    /// `.hold` and/or `.discard`.
    public var flags: CleanupProtocol.Flags = []
    /// `transport:nexthop`.
    public var filter: String?
    public var redirect: String?
    public var bcc: [String] = []

    public init(flags: CleanupProtocol.Flags = [], filter: String? = nil, redirect: String? = nil, bcc: [String] = []) {
        self.flags = flags
        self.filter = filter
        self.redirect = redirect
        self.bcc = bcc
    }

    public var isEmpty: Bool { flags.isEmpty && filter == nil && redirect == nil && bcc.isEmpty }
}
