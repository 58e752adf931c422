// BounceProtocol: the requests that qmgr and delivery agents send to the
// bounce daemon over private/bounce, private/defer and private/trace (one
// `bounce` program serves all three; the service name picks the logfile
// queue). Shared by BounceClient and Sources/bounce. attr0 lists
// (AttributeList), one request and one reply per connection, in the shape
// of Postfix's bounce protocol:
//
//   nrequest=N          BounceProtocol.Command (0 append, 1 flush, 2 warn,
//                       3 verp, 4 one, 5 trace)
//   flags=N             BounceProtocol.Flags
//   append:  queue_id, then one recipient and its status:
//            original_recipient, recipient, offset, dsn_orig_rcpt,
//            notify_flags, status, diag_type, diag_text, mta_type,
//            mta_mname, action, reason
//   flush, warn, trace, verp: queue_name, queue_id, encoding, smtputf8,
//            sender, envelope_id, ret_flags [, verp_delimiters (verp)]
//   one:     the flush attributes, then one recipient and its status as
//            for append (a notice about a recipient not in any logfile)
//   reply:   status=0 done, status=-1 failed (the client retries later)
//
// The daemon's answers to flush/warn/trace: 0 when the notice was queued
// with cleanup (or deliberately not sent: NOTIFY=NEVER, a discarded
// postmaster notice); then the logfile is gone (flush/trace) or kept
// (warn).

/// Names and codes of the bounce protocol.
public enum BounceProtocol {
    /// Default service names (bounce_service_name, defer_service_name,
    /// trace_service_name).
    public static let bounceService = "bounce"
    public static let deferService = "defer"
    public static let traceService = "trace"

    public enum Command: Int, Sendable, CaseIterable {
        case append = 0
        case flush = 1
        case warn = 2
        case verp = 3
        case one = 4
        case trace = 5
    }

    /// Request flags (Postfix's BOUNCE_FLAG_*).
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// Remove the logfile when the request fails (clients without retry).
        public static let clean = Flags(rawValue: 1 << 0)
        /// Mark the recipient done in the queue file (append).
        public static let deleteRecipient = Flags(rawValue: 1 << 1)
    }

    public enum Attribute {
        public static let request = "nrequest"
        public static let flags = "flags"
        public static let queueName = "queue_name"
        public static let queueID = "queue_id"
        public static let encoding = "encoding"
        public static let smtputf8 = "smtputf8"
        public static let sender = "sender"
        public static let envelopeID = "envelope_id"
        public static let returnFlags = "ret_flags"
        public static let verpDelimiters = "verp_delimiters"
        public static let originalRecipient = "original_recipient"
        public static let recipient = "recipient"
        public static let offset = "offset"
        public static let dsnOriginalRecipient = "dsn_orig_rcpt"
        public static let notifyFlags = "notify_flags"
        public static let status = "status"
        public static let diagType = "diag_type"
        public static let diagText = "diag_text"
        public static let mtaType = "mta_type"
        public static let mtaName = "mta_mname"
        public static let action = "action"
        public static let reason = "reason"
    }

    /// DSN NOTIFY bits as stored in `notify_flags`.
    public enum Notify {
        public static let never = 1
        public static let success = 2
        public static let failure = 4
        public static let delay = 8

        /// True when a recipient with `flags` wants a notice of `kind`
        /// (no NOTIFY given = failure and delay notices only).
        public static func wants(_ flags: Int, _ kind: Int) -> Bool {
            if flags == 0 { return kind == failure || kind == delay }
            if flags & never != 0 { return false }
            return flags & kind != 0
        }
    }

    /// DSN RET bits as stored in `ret_flags`.
    public enum Return {
        public static let full = 1
        public static let headers = 2
    }

    /// The reply.
    public static func reply(_ status: Int) -> AttributeList {
        AttributeList([(Attribute.status, String(status))])
    }
}

/// A flush, warn, trace or verp request: which message, and what the
/// notice needs from its envelope.
public struct BounceNotifyRequest: Sendable, Equatable {
    public var command: BounceProtocol.Command
    public var flags: BounceProtocol.Flags
    public var queueName: String
    public var queueID: String
    public var encoding: String
    public var smtputf8: Int
    public var sender: String
    public var envelopeID: String
    public var returnFlags: Int
    public var verpDelimiters: String

    public init(command: BounceProtocol.Command, flags: BounceProtocol.Flags = [], queueName: String, queueID: String,
                encoding: String = "", smtputf8: Int = 0, sender: String, envelopeID: String = "", returnFlags: Int = 0,
                verpDelimiters: String = "") {
        self.command = command
        self.flags = flags
        self.queueName = queueName
        self.queueID = queueID
        self.encoding = encoding
        self.smtputf8 = smtputf8
        self.sender = sender
        self.envelopeID = envelopeID
        self.returnFlags = returnFlags
        self.verpDelimiters = verpDelimiters
    }

    public func encoded() -> AttributeList {
        typealias A = BounceProtocol.Attribute
        var list = AttributeList()
        list.append(A.request, command.rawValue)
        list.append(A.flags, flags.rawValue)
        list.append(A.queueName, queueName)
        list.append(A.queueID, queueID)
        list.append(A.encoding, encoding)
        list.append(A.smtputf8, smtputf8)
        list.append(A.sender, sender)
        list.append(A.envelopeID, envelopeID)
        list.append(A.returnFlags, returnFlags)
        if command == .verp { list.append(A.verpDelimiters, verpDelimiters) }
        return list
    }

    /// Decodes strictly: the command must be a notify command and the
    /// queue name and ID must be plain names (they become file paths).
    public static func decode(_ list: AttributeList) throws(AttributeError) -> BounceNotifyRequest {
        typealias A = BounceProtocol.Attribute
        let code = try list.requireInt(A.request)
        guard let command = BounceProtocol.Command(rawValue: code), command != .append else {
            throw .malformed(A.request, String(code))
        }
        let request = BounceNotifyRequest(
            command: command, flags: BounceProtocol.Flags(rawValue: list.int(A.flags) ?? 0),
            queueName: try list.require(A.queueName), queueID: try list.require(A.queueID),
            encoding: list[A.encoding] ?? "", smtputf8: list.int(A.smtputf8) ?? 0,
            sender: try list.require(A.sender), envelopeID: list[A.envelopeID] ?? "",
            returnFlags: list.int(A.returnFlags) ?? 0, verpDelimiters: list[A.verpDelimiters] ?? "")
        guard QueueID.isValid(request.queueID) else { throw .malformed(A.queueID, request.queueID) }
        guard QueueID.isValid(request.queueName) else { throw .malformed(A.queueName, request.queueName) }
        return request
    }
}

/// An append request (or the recipient part of a `one` request).
public struct BounceAppendRequest: Sendable, Equatable {
    public var flags: BounceProtocol.Flags
    public var queueID: String
    public var entry: DeferLogEntry

    public init(flags: BounceProtocol.Flags = [], queueID: String, entry: DeferLogEntry) {
        self.flags = flags
        self.queueID = queueID
        self.entry = entry
    }

    public func encoded() -> AttributeList {
        typealias A = BounceProtocol.Attribute
        var list = AttributeList()
        list.append(A.request, BounceProtocol.Command.append.rawValue)
        list.append(A.flags, flags.rawValue)
        list.append(A.queueID, queueID)
        Self.appendEntry(entry, to: &list)
        return list
    }

    /// The recipient and status attributes of `entry`.
    public static func appendEntry(_ entry: DeferLogEntry, to list: inout AttributeList) {
        typealias A = BounceProtocol.Attribute
        list.append(A.originalRecipient, entry.original)
        list.append(A.recipient, entry.recipient)
        list.append(A.offset, entry.offset)
        list.append(A.dsnOriginalRecipient, entry.dsnOriginalRecipient)
        list.append(A.notifyFlags, entry.notifyFlags)
        list.append(A.status, entry.status)
        list.append(A.diagType, entry.diagType)
        list.append(A.diagText, entry.diagText)
        list.append(A.mtaType, entry.mtaType)
        list.append(A.mtaName, entry.mtaName)
        list.append(A.action, entry.action)
        list.append(A.reason, entry.reason)
    }

    /// The recipient and status of a list; the status must look like an
    /// RFC 3463 code.
    public static func entry(from list: AttributeList) throws(AttributeError) -> DeferLogEntry {
        typealias A = BounceProtocol.Attribute
        let status = try list.require(A.status)
        guard BounceStatus.isValid(status) else { throw .malformed(A.status, status) }
        var offset = 0
        if list[A.offset] != nil { offset = try list.requireInt(A.offset) }
        return DeferLogEntry(recipient: try list.require(A.recipient), original: list[A.originalRecipient] ?? "",
                             offset: offset, dsnOriginalRecipient: list[A.dsnOriginalRecipient] ?? "",
                             notifyFlags: list.int(A.notifyFlags) ?? 0, status: status,
                             action: try list.require(A.action), reason: list[A.reason] ?? "",
                             diagType: list[A.diagType] ?? "", diagText: list[A.diagText] ?? "",
                             mtaType: list[A.mtaType] ?? "", mtaName: list[A.mtaName] ?? "")
    }

    public static func decode(_ list: AttributeList) throws(AttributeError) -> BounceAppendRequest {
        typealias A = BounceProtocol.Attribute
        let code = try list.requireInt(A.request)
        guard code == BounceProtocol.Command.append.rawValue else { throw .malformed(A.request, String(code)) }
        let id = try list.require(A.queueID)
        guard QueueID.isValid(id) else { throw .malformed(A.queueID, id) }
        return BounceAppendRequest(flags: BounceProtocol.Flags(rawValue: list.int(A.flags) ?? 0), queueID: id,
                                   entry: try entry(from: list))
    }
}

/// RFC 3463 status codes as the logs carry them.
public enum BounceStatus {
    /// `C.S.D`: class 2, 4 or 5, subject and detail 1-3 digits each.
    public static func isValid(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 1, let c = parts[0].first, "245".contains(c) else { return false }
        return parts[1...].allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy { $0 >= "0" && $0 <= "9" } }
    }
}
