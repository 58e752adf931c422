// QmgrRecipientReader: reads a message's pending recipients a slice at a
// time, so that a message with more recipients than
// qmgr_message_recipient_limit never has them all in qmgr's memory: the
// first slice comes from the parsed file, later ones are read from where
// the previous slice ended (the offset of its last R record; records are
// never moved, only their type byte changes from R to D). Also the refill
// decision (default_recipient_refill_limit / _delay) and the incremental
// reader of delivery agents' replies.
import Global

/// Where reading a message's recipients resumes: just after the R record
/// at `offset` (in the envelope or the extracted segment).
public struct QmgrRecipientCursor: Equatable, Sendable {
    public var offset: Int
    public var extracted: Bool

    public init(offset: Int, extracted: Bool) {
        self.offset = offset
        self.extracted = extracted
    }
}

public enum QmgrRecipientReader {
    /// The first `limit` pending recipients of a parsed message, and where
    /// to go on (nil when there are no more).
    public static func firstSlice(_ message: QueueMessage, limit: Int) -> ([QueueRecipient], QmgrRecipientCursor?) {
        let limit = max(1, limit)
        var out: [QueueRecipient] = []
        var cursor: QmgrRecipientCursor?
        for (list, extracted) in [(message.recipients, false), (message.extractedRecipients, true)] {
            for r in list where r.state == .pending {
                if out.count >= limit { return (out, cursor) }
                out.append(r)
                cursor = QmgrRecipientCursor(offset: r.offset, extracted: extracted)
            }
        }
        return (out, nil)
    }

    /// The next `limit` pending recipients after `cursor` in the queue file
    /// `bytes`; `extractedOffset` is where the extracted segment starts
    /// (the content is skipped), 0 when unknown.
    public static func slice(_ bytes: [UInt8], after cursor: QmgrRecipientCursor, extractedOffset: Int,
                             limit: Int) throws(QueueFileError) -> ([QueueRecipient], QmgrRecipientCursor?) {
        let limit = max(1, limit)
        var reader = QueueRecordReader(bytes: bytes, offset: cursor.offset)
        var extracted = cursor.extracted
        var inContent = false
        var out: [QueueRecipient] = []
        var last: QmgrRecipientCursor?
        var original: String?
        var notify: Int?
        var orcpt: String?
        var jumps = 0
        func next() throws(QueueFileError) -> QueueRecord? {
            do { return try reader.next() } catch { throw .record(error) }
        }
        guard let first = try next(), first.offset == cursor.offset else {
            throw .corrupt("no recipient record at offset \(cursor.offset)")
        }
        while true {
            guard let record = try next() else { break }
            guard let kind = QueueRecordType(rawValue: record.type) else { continue }
            if kind == .pointer {
                let text = record.text.filter { $0 != " " }
                guard let target = Int(text), target < bytes.count else {
                    throw .corrupt("bad pointer record \(text)")
                }
                if target != 0 {
                    jumps += 1
                    guard jumps < 10000 else { throw .corrupt("too many pointer records") }
                    reader.offset = target
                }
                continue
            }
            if inContent {
                if kind == .extracted {
                    inContent = false
                    extracted = true
                }
                continue
            }
            switch kind {
            case .originalRecipient: original = record.text
            case .attribute:
                if let a = QueueAttribute(payload: record.payload) {
                    if a.name == "notify_flags" { notify = Int(a.value) }
                    if a.name == "dsn_orig_rcpt" { orcpt = a.value }
                }
            case .recipient, .done, .canceled:
                if kind == .recipient {
                    if out.count >= limit { return (out, last) }
                    out.append(QueueRecipient(address: record.text, original: original, dsnOriginalRecipient: orcpt,
                                              notifyFlags: notify, state: .pending, offset: record.offset))
                    last = QmgrRecipientCursor(offset: record.offset, extracted: extracted)
                }
                original = nil
                notify = nil
                orcpt = nil
            case .message:
                if extractedOffset > 0 && extractedOffset < bytes.count {
                    reader.offset = extractedOffset
                } else {
                    inContent = true
                }
            case .extracted: extracted = true
            case .end: return (out, nil)
            default: break
            }
        }
        return (out, nil)
    }
}

/// When a message with unread recipients reads its next slice.
public enum QmgrRefill {
    /// How many recipients `message` may read now: the free part of the
    /// global budget, but never less than the per-message minimum.
    public static func room(budget: Int, inMemoryTotal: Int, inMemoryMessage: Int, minimum: Int) -> Int {
        max(budget - inMemoryTotal, minimum - inMemoryMessage, 0)
    }

    /// Refill when the message has nothing left in memory, when at least
    /// `refillLimit` recipients fit, or when `refillDelay` has passed since
    /// the last slice and something fits.
    public static func due(room: Int, inMemoryMessage: Int, refillLimit: Int, sinceLast: Double, refillDelay: Double) -> Bool {
        guard room > 0 else { return false }
        return inMemoryMessage == 0 || room >= refillLimit || sinceLast >= refillDelay
    }
}

/// Collects a delivery agent's replies as they arrive (attribute lists,
/// name NUL value NUL ... NUL) without blocking qmgr.
public struct QmgrReplyBuffer {
    private var bytes: [UInt8] = []
    private var start = 0

    public init() {}

    public mutating func append(_ data: some Collection<UInt8>) { bytes.append(contentsOf: data) }

    /// No bytes wait to be read as a list.
    public var isEmpty: Bool { start >= bytes.count }

    /// The next complete list, nil while it is incomplete.
    public mutating func next() throws(AttributeError) -> AttributeList? {
        var position = start
        var list = AttributeList()
        while true {
            guard let nameEnd = bytes[position...].firstIndex(of: 0) else {
                if bytes.count - position > 256 + AttributeCodec.valueLimit { throw .tooLarge }
                return nil
            }
            if nameEnd == position {
                start = position + 1
                if start == bytes.count {
                    bytes.removeAll(keepingCapacity: true)
                    start = 0
                } else if start > 65536 {
                    bytes.removeFirst(start)
                    start = 0
                }
                return list
            }
            let nameBytes = bytes[position..<nameEnd]
            let name = String(decoding: nameBytes, as: UTF8.self)
            guard nameBytes.count <= 256, nameBytes.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39)
                || $0 == 0x5F || $0 == 0x2D }) else { throw .badName(name) }
            guard let valueEnd = bytes[(nameEnd + 1)...].firstIndex(of: 0) else { return nil }
            guard valueEnd - nameEnd - 1 <= AttributeCodec.valueLimit else { throw .tooLarge }
            list.append(name, String(decoding: bytes[(nameEnd + 1)..<valueEnd], as: UTF8.self))
            if list.pairs.count > AttributeCodec.countLimit { throw .tooMany }
            position = valueEnd + 1
        }
    }
}
