// PickupFile: a maildrop file read and checked as pickup takes it: the
// record types allowed per segment, one sender at most, recipient groups
// with their DSN attributes; content filter and redirect records and the
// legacy extracted records are dropped.
import Glibc
import Util
import Global

struct PickupFile {
    var name = ""
    var sender = ""
    var fullName: String?
    /// The V record (sendmail -XV).
    var verpDelimiters: String?
    var arrival: (Int, Int)?
    var attributes: [QueueAttribute] = []
    var recipients: [QueueRecipient] = []
    var content: [QueueRecord] = []
    var extracted: [QueueRecipient] = []

    enum Problem: Error, CustomStringConvertible {
        case system(String)
        case malformed(String)
        var description: String {
            switch self { case .system(let t), .malformed(let t): return t }
        }
    }

    static func read(path: String, lengthLimit: Int) throws(Problem) -> PickupFile {
        let bytes: [UInt8]
        do { bytes = try TextFile.readBytes(path) } catch { throw .system("open \(path): \(error)") }
        var file = try parse(bytes, lengthLimit: lengthLimit)
        file.name = String(path.split(separator: "/").last ?? "")
        return file
    }

    /// Attribute names cleanup may take from a local user.
    static let userAttributes: Set<String> = ["rewrite_context", "encoding", "trace_flags", "envelope_id", "ret_flags",
                                              "dsn_envid", "dsn_ret", "log_ident"]

    static func parse(_ bytes: [UInt8], lengthLimit: Int) throws(Problem) -> PickupFile {
        var reader = QueueRecordReader(bytes: bytes, lengthLimit: lengthLimit)
        var file = PickupFile()
        var segment = QueueSegment.envelope
        var notify: Int?
        var orcpt: String?
        var original: String?
        var sawSender = false
        while true {
            let record: QueueRecord?
            do { record = try reader.next() } catch { throw .malformed(error.description) }
            guard let record else { throw .malformed("message rejected: missing end record") }
            guard segment.allows(record.type), let kind = record.recordType else {
                throw .malformed("unexpected record type \(record.type)")
            }
            let text = record.text
            switch segment {
            case .content:
                if kind == .extracted { segment = .extracted; continue }
                if kind == .padding || kind == .pointer { continue }
                file.content.append(record)
                continue
            case .envelope, .extracted:
                break
            }
            switch kind {
            case .message: segment = .content
            case .end:
                if !sawSender { throw .malformed("no sender record") }
                return file
            case .time:
                let parts = text.split(separator: " ").compactMap { Int($0) }
                if file.arrival == nil, let s = parts.first { file.arrival = (s, parts.count > 1 ? parts[1] : 0) }
            case .fullName: file.fullName = text
            case .verp: file.verpDelimiters = text
            case .sender:
                if sawSender { throw .malformed("message rejected: multiple sender records") }
                sawSender = true
                file.sender = text
            case .originalRecipient: original = text
            case .dsnNotifyFlags: notify = Int(text)
            case .dsnOriginalRecipient: orcpt = text
            case .dsnEnvelopeID: file.attributes.append(QueueAttribute("envelope_id", text))
            case .dsnReturnFlags: file.attributes.append(QueueAttribute("ret_flags", text))
            case .attribute:
                guard let a = QueueAttribute(payload: record.payload) else { throw .malformed("malformed attribute record") }
                switch a.name {
                case "notify_flags": notify = Int(a.value)
                case "dsn_orig_rcpt": orcpt = a.value
                default:
                    if segment == .envelope && userAttributes.contains(a.name) { file.attributes.append(a) }
                }
            case .recipient:
                let r = QueueRecipient(address: text, original: original, dsnOriginalRecipient: orcpt, notifyFlags: notify)
                if segment == .envelope { file.recipients.append(r) } else { file.extracted.append(r) }
                notify = nil; orcpt = nil; original = nil
            default:
                break  // C, create_time, D, /, K, L, >, W, V, r, e, P, p: not taken from maildrop
            }
        }
    }
}
