// DeliveryRequest: what qmgr sends to a delivery agent over
// $queue_directory/private/<transport>, and the agent's replies, in the
// attr0 form of AttributeList (docs/internal-protocol.md). Shared by qmgr
// and every delivery agent (discard, error/retry, later smtp, local, ...).
//
// Request (qmgr -> agent), one list per connection:
//   flags=0                  reserved (Postfix's DEL_REQ flags)
//   queue_name=active        queue holding the file
//   queue_id=QID             file name in that queue
//   offset=N                 data offset (C record field 2: first content byte)
//   size=N                   content size (C record field 1)
//   nexthop=TEXT             next hop (discard: logged text; error: reason)
//   sender=ADDR              envelope sender (internal form, empty = null)
//   envelope_id=TEXT         DSN ENVID (empty when none)
//   ret_flags=N              DSN RET flags (0 when none)
//   arrival_time=S.U         T record (seconds.microseconds)
//   active_time=S.U          when qmgr took the message into the active queue
//   rcpt_count=N             then N recipient groups, each exactly in order:
//     orig_rcpt=ADDR         original recipient (O record; may be empty)
//     rcpt=ADDR              recipient (R record)
//     rcpt_offset=N          offset of the R record (for done-marking)
//     dsn_orig_rcpt=TEXT     ORCPT (type;address), may be empty
//     notify_flags=N         DSN NOTIFY flags (0 = none given)
//
// The agent handles each recipient completely before it replies for it:
// it logs the delivery status line (DeliveryStatusLog), marks sent and
// bounced recipients done in the queue file (QueueFile.markDone), and
// appends deferred ones to defer/QID, bounced ones to bounce/QID and sent
// ones that asked for NOTIFY=SUCCESS to trace/QID (DeferLog). Replies (agent -> qmgr), one list per recipient handled:
//   rcpt_offset=N  status=sent|deferred|bounced  dsn=X.Y.Z  text=TEXT
// then one final list without rcpt_offset:
//   status=0 (every recipient was answered) | 1 (the agent gave up; qmgr
//   defers the recipients it heard nothing about)   text=TEXT
// Recipients that get no reply (agent crash, timeout) are deferred by qmgr
// with "delivery temporarily suspended: unknown mail transport error".
import Glibc

/// One recipient of a delivery request.
public struct DeliveryRecipient: Sendable, Equatable {
    public var original: String
    public var address: String
    public var offset: Int
    public var dsnOriginalRecipient: String
    public var notifyFlags: Int

    public init(original: String, address: String, offset: Int, dsnOriginalRecipient: String = "", notifyFlags: Int = 0) {
        self.original = original
        self.address = address
        self.offset = offset
        self.dsnOriginalRecipient = dsnOriginalRecipient
        self.notifyFlags = notifyFlags
    }
}

/// A delivery request as qmgr sends it.
public struct DeliveryRequest: Sendable, Equatable {
    public var queueName: String
    public var queueID: String
    public var dataOffset: Int
    public var dataSize: Int
    public var nexthop: String
    public var sender: String
    public var envelopeID: String
    public var returnFlags: Int
    /// Seconds since the epoch (with microseconds).
    public var arrivalTime: Double
    public var activeTime: Double
    public var recipients: [DeliveryRecipient]

    public init(queueName: String, queueID: String, dataOffset: Int, dataSize: Int, nexthop: String, sender: String,
                envelopeID: String = "", returnFlags: Int = 0, arrivalTime: Double, activeTime: Double,
                recipients: [DeliveryRecipient]) {
        self.queueName = queueName
        self.queueID = queueID
        self.dataOffset = dataOffset
        self.dataSize = dataSize
        self.nexthop = nexthop
        self.sender = sender
        self.envelopeID = envelopeID
        self.returnFlags = returnFlags
        self.arrivalTime = arrivalTime
        self.activeTime = activeTime
        self.recipients = recipients
    }

    /// `S.U` with six digits of microseconds.
    public static func timeText(_ t: Double) -> String {
        let whole = Int(t)
        var micro = Int(((t - Double(whole)) * 1_000_000).rounded())
        var sec = whole
        if micro >= 1_000_000 { sec += 1; micro -= 1_000_000 }
        let m = String(micro)
        return "\(sec)." + String(repeating: "0", count: 6 - m.count) + m
    }

    public func encoded() -> AttributeList {
        var list = AttributeList()
        encode(into: &list)
        return list
    }

    /// The wire form of `encoded()`, written directly.
    public func wireBytes() -> [UInt8] {
        var writer = AttributeWireWriter(capacity: 384 + 96 * recipients.count)
        encode(into: &writer)
        return writer.finish()
    }

    private func encode<Sink: AttributeSink>(into list: inout Sink) {
        list.append("flags", 0)
        list.append("queue_name", queueName)
        list.append("queue_id", queueID)
        list.append("offset", dataOffset)
        list.append("size", dataSize)
        list.append("nexthop", nexthop)
        list.append("sender", sender)
        list.append("envelope_id", envelopeID)
        list.append("ret_flags", returnFlags)
        list.append("arrival_time", Self.timeText(arrivalTime))
        list.append("active_time", Self.timeText(activeTime))
        list.append("rcpt_count", recipients.count)
        for r in recipients {
            list.append("orig_rcpt", r.original)
            list.append("rcpt", r.address)
            list.append("rcpt_offset", r.offset)
            list.append("dsn_orig_rcpt", r.dsnOriginalRecipient)
            list.append("notify_flags", r.notifyFlags)
        }
    }

    /// Decodes a request strictly: every field present, the recipient
    /// groups complete and in order.
    public static func decode(_ list: AttributeList) throws(AttributeError) -> DeliveryRequest {
        let count = try list.requireInt("rcpt_count")
        guard count >= 0, count <= AttributeCodec.countLimit else { throw .malformed("rcpt_count", String(count)) }
        guard let arrival = Double(try list.require("arrival_time")) else { throw .malformed("arrival_time", list["arrival_time"] ?? "") }
        guard let active = Double(try list.require("active_time")) else { throw .malformed("active_time", list["active_time"] ?? "") }
        var request = DeliveryRequest(queueName: try list.require("queue_name"), queueID: try list.require("queue_id"),
                                      dataOffset: try list.requireInt("offset"), dataSize: try list.requireInt("size"),
                                      nexthop: try list.require("nexthop"), sender: try list.require("sender"),
                                      envelopeID: list["envelope_id"] ?? "", returnFlags: list.int("ret_flags") ?? 0,
                                      arrivalTime: arrival, activeTime: active, recipients: [])
        guard QueueID.isValid(request.queueID), QueueID.isValid(request.queueName) else {
            throw .malformed("queue_id", request.queueName + "/" + request.queueID)
        }
        let pairs = list.pairs
        guard let start = pairs.firstIndex(where: { $0.name == "rcpt_count" }) else { throw .missing("rcpt_count") }
        var i = start + 1
        let names = ["orig_rcpt", "rcpt", "rcpt_offset", "dsn_orig_rcpt", "notify_flags"]
        for _ in 0..<count {
            guard i + names.count <= pairs.count else { throw .missing("rcpt") }
            for (k, name) in names.enumerated() where pairs[i + k].name != name { throw .missing(name) }
            guard let offset = Int(pairs[i + 2].value) else { throw .malformed("rcpt_offset", pairs[i + 2].value) }
            request.recipients.append(DeliveryRecipient(original: pairs[i].value, address: pairs[i + 1].value, offset: offset,
                                                        dsnOriginalRecipient: pairs[i + 3].value,
                                                        notifyFlags: Int(pairs[i + 4].value) ?? 0))
            i += names.count
        }
        return request
    }

    /// The path of the queue file relative to the queue directory.
    public func relativePath(_ directory: QueueDirectory) -> String {
        directory.relativePath(queue: queueName, id: queueID)
    }
}

/// What became of one recipient.
public enum DeliveryStatus: String, Sendable, Equatable {
    case sent, deferred, bounced
}

/// An agent's reply about one recipient.
public struct DeliveryReply: Sendable, Equatable {
    public var offset: Int
    public var status: DeliveryStatus
    public var dsn: String
    public var text: String

    public init(offset: Int, status: DeliveryStatus, dsn: String, text: String) {
        self.offset = offset
        self.status = status
        self.dsn = dsn
        self.text = text
    }

    public func encoded() -> AttributeList {
        AttributeList([("rcpt_offset", String(offset)), ("status", status.rawValue), ("dsn", dsn), ("text", text)])
    }

    /// A per-recipient reply, or nil for the final list.
    public static func decode(_ list: AttributeList) throws(AttributeError) -> DeliveryReply? {
        guard list["rcpt_offset"] != nil else { return nil }
        let statusText = try list.require("status")
        guard let status = DeliveryStatus(rawValue: statusText) else { throw .malformed("status", statusText) }
        return DeliveryReply(offset: try list.requireInt("rcpt_offset"), status: status,
                             dsn: list["dsn"] ?? "", text: list["text"] ?? "")
    }

    /// The final list: 0 = every recipient answered. `keep`: the agent
    /// reads another request on this connection when qmgr sends one
    /// (`keep=1`; qmgr closes connections whose final list lacks it).
    public static func final(status: Int, text: String = "", keep: Bool = false) -> AttributeList {
        var list = AttributeList([("status", String(status)), ("text", text)])
        if keep { list.append(keepAttribute, "1") }
        return list
    }

    /// The final list's attribute that offers the connection for more requests.
    public static let keepAttribute = "keep"

    /// True when a final list offers its connection for another request.
    public static func offersKeep(_ final: AttributeList) -> Bool { final[keepAttribute] == "1" }
}

/// A DSN code and text taken from a reason such as "5.7.1 go away".
public enum DeliveryReason {
    /// Splits a leading RFC 3463 code (`[245].N.N`) off `text`; the
    /// default code is used when there is none. The class digit is forced
    /// to `forcedClass` when given (retry always defers, error bounces).
    public static func split(_ text: String, defaultCode: String, forcedClass: Character? = nil) -> (dsn: String, text: String) {
        var dsn = defaultCode
        var rest = Substring(text)
        let word = rest.prefix { $0 != " " }
        let parts = word.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 3, let first = parts[0].first, parts[0].count == 1, "245".contains(first),
           parts[1].count >= 1, parts[1].count <= 3, parts[1].allSatisfy(\.isNumber),
           parts[2].count >= 1, parts[2].count <= 3, parts[2].allSatisfy(\.isNumber) {
            dsn = String(word)
            rest = rest.dropFirst(word.count).drop { $0 == " " }
        }
        if let c = forcedClass, dsn.first != c { dsn = String(c) + dsn.dropFirst() }
        return (dsn, String(rest))
    }
}

/// What every delivery agent does with a recipient's outcome: log the
/// status line, mark sent/bounced recipients done in the queue file, add
/// deferred ones to defer/QID and bounced ones to bounce/QID, and build the
/// reply for qmgr. A failure to update the queue file turns the outcome
/// into a deferral (the recipient stays `R`: delivered again later, never
/// lost).
public final class DeliveryOutcomeRecorder {
    public let request: DeliveryRequest
    public let directory: QueueDirectory
    public let handoff: Double
    private var fd: Int32 = -1

    public init(request: DeliveryRequest, directory: QueueDirectory, handoff: Double = DeliveryStatusLog.now()) {
        self.request = request
        self.directory = directory
        self.handoff = handoff
        fd = open(directory.path + "/" + request.relativePath(directory), O_RDWR | O_CLOEXEC)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// True when the queue file could be opened for update.
    public var fileIsOpen: Bool { fd >= 0 }

    /// Records one recipient's outcome and returns the reply to send.
    public func record(_ recipient: DeliveryRecipient, status: DeliveryStatus, dsn: String, text: String,
                       relay: String = "none", connected: Double? = nil,
                       successAction: String = "delivered") -> DeliveryReply {
        var status = status
        var dsn = dsn
        var text = text
        if status == .sent && recipient.notifyFlags & BounceProtocol.Notify.success != 0 {
            // NOTIFY=SUCCESS: the trace log feeds the bounce daemon's
            // "delivery status notification" once qmgr is done.
            let entry = DeferLogEntry(recipient: recipient.address, original: recipient.original, offset: recipient.offset,
                                      dsnOriginalRecipient: recipient.dsnOriginalRecipient,
                                      notifyFlags: recipient.notifyFlags, status: dsn, action: successAction, reason: text)
            do { try DeferLog.append([entry], queue: DeferLog.traceQueue, id: request.queueID, directory: directory) } catch {
                MailLog.warning("\(request.queueID): append trace log: \(error)")
                (status, dsn, text) = (.deferred, "4.3.0", "bounce or trace service failure")
            }
        }
        if status != .deferred {
            if status == .bounced {
                let entry = DeferLogEntry(recipient: recipient.address, original: recipient.original, offset: recipient.offset,
                                          dsnOriginalRecipient: recipient.dsnOriginalRecipient,
                                          notifyFlags: recipient.notifyFlags, status: dsn, action: "failed", reason: text)
                do { try DeferLog.append([entry], queue: DeferLog.bounceQueue, id: request.queueID, directory: directory) } catch {
                    MailLog.warning("\(request.queueID): append bounce log: \(error)")
                    (status, dsn, text) = (.deferred, "4.3.0", "bounce or trace service failure")
                }
            }
            if status != .deferred {
                do {
                    guard fd >= 0 else { throw QueueFileError.system("open \(request.queueName)/\(request.queueID)", errno) }
                    try QueueFile.markDone(fd: fd, offset: recipient.offset)
                } catch {
                    MailLog.warning("\(request.queueID): mark recipient done: \(error)")
                    (status, dsn, text) = (.deferred, "4.3.0", "cannot update queue file")
                }
            }
        }
        if status == .deferred {
            let entry = DeferLogEntry(recipient: recipient.address, original: recipient.original, offset: recipient.offset,
                                      dsnOriginalRecipient: recipient.dsnOriginalRecipient,
                                      notifyFlags: recipient.notifyFlags, status: dsn, action: "delayed", reason: text)
            do { try DeferLog.append([entry], queue: DeferLog.deferQueue, id: request.queueID, directory: directory) } catch {
                MailLog.warning("\(request.queueID): append defer log: \(error)")
            }
        }
        let times = DeliveryStatusLog.Times(arrival: request.arrivalTime, active: request.activeTime, handoff: handoff,
                                            connected: connected, done: DeliveryStatusLog.now())
        DeliveryStatusLog.log(queueID: request.queueID, recipient: recipient.address, original: recipient.original,
                              relay: relay, times: times, dsn: dsn, status: status.rawValue, text: text)
        return DeliveryReply(offset: recipient.offset, status: status, dsn: dsn, text: text)
    }
}
