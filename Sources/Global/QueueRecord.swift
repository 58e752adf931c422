// QueueRecord: Postfix's queue file record format: one type byte, a length
// in base 128 (least significant group first, 0x80 = more follows), then the
// payload. Record types, segment rules (envelope, content, extracted), a
// strict reader over bytes or a file descriptor, and a writer.
// See ../shared/reference/queue-file-format.md §1-§3.
import Glibc
import Util

/// A record type letter (Postfix 3.7). `L` means "content filter" outside
/// the content segment and "unterminated text" inside it.
public enum QueueRecordType: UInt8, Sendable, CaseIterable {
    case size = 0x43              // C
    case time = 0x54              // T
    case createTime = 0x63        // c (pseudo type, stored as A create_time=)
    case fullName = 0x46          // F
    case contentInspector = 0x49  // I
    case contentFilter = 0x4C     // L (also unterminated text in content)
    case sender = 0x53            // S
    case recipient = 0x52         // R
    case done = 0x44              // D
    case canceled = 0x2F          // /
    case originalRecipient = 0x4F // O
    case warningTime = 0x57       // W
    case attribute = 0x41         // A
    case verp = 0x56              // V
    case redirect = 0x3E          // >
    case killed = 0x4B            // K
    case pointer = 0x70           // p
    case message = 0x4D           // M
    case normal = 0x4E            // N
    case padding = 0x77           // w
    case extracted = 0x58         // X
    case returnReceipt = 0x72     // r
    case errorsTo = 0x65          // e
    case priority = 0x50          // P
    case dsnReturnFlags = 0x3C    // <
    case dsnEnvelopeID = 0x69     // i
    case dsnOriginalRecipient = 0x6F // o
    case dsnNotifyFlags = 0x6E    // n
    case end = 0x45               // E

    /// `L` in the content segment: a text chunk continued by the next record.
    public static let continued = QueueRecordType.contentFilter

    /// The name postcat prints for a record of this type.
    public func label(inContent: Bool) -> String {
        switch self {
        case .size: return "message_size"
        case .time: return "message_arrival_time"
        case .createTime: return "queue_file_create_time"
        case .fullName: return "sender_fullname"
        case .contentInspector: return "content_inspector"
        case .contentFilter: return inContent ? "unterminated_text" : "content_filter"
        case .sender: return "sender"
        case .recipient: return "recipient"
        case .done: return "done_recipient"
        case .canceled: return "canceled_recipient"
        case .originalRecipient: return "original_recipient"
        case .warningTime: return "warning_message_time"
        case .attribute: return "named_attribute"
        case .verp: return "verp_delimiters"
        case .redirect: return "redirect_to"
        case .killed: return "killed_record"
        case .pointer: return "pointer_record"
        case .message: return "message_content"
        case .normal: return "regular_text"
        case .padding: return "padding"
        case .extracted: return "extracted_info"
        case .returnReceipt: return "return_receipt"
        case .errorsTo: return "errors_to"
        case .priority: return "priority"
        case .dsnReturnFlags: return "dsn_return_flags"
        case .dsnEnvelopeID: return "dsn_envelope_id"
        case .dsnOriginalRecipient: return "dsn_original_recipient"
        case .dsnNotifyFlags: return "dsn_notify_flags"
        case .end: return "message_end"
        }
    }

    /// The label for any type byte ("unknown_record_type" for unknown ones).
    public static func label(forByte byte: UInt8, inContent: Bool) -> String {
        QueueRecordType(rawValue: byte)?.label(inContent: inContent) ?? "unknown_record_type"
    }
}

/// The three parts of a queue file.
public enum QueueSegment: Sendable, Equatable {
    case envelope, content, extracted

    /// Types the readers (cleanup, pickup, qmgr) accept in this segment,
    /// the segment's terminator included (§2).
    public var allowedTypes: [UInt8] {
        switch self {
        case .envelope: return Array("MCTcFILSDRO/WVA>K<ion".utf8) + [QueueRecordType.pointer.rawValue]
        case .content: return Array("XLNw".utf8) + [QueueRecordType.pointer.rawValue]
        case .extracted: return Array("EDRO/PreAFIL>Kon".utf8) + [QueueRecordType.pointer.rawValue]
        }
    }

    /// `allowedTypes` of the three segments as bit sets, made once.
    private static let allowedSets: [(UInt64, UInt64)] = [QueueSegment.envelope, .content, .extracted].map { segment in
        var bits: (UInt64, UInt64) = (0, 0)
        for t in segment.allowedTypes where t < 128 {
            if t < 64 { bits.0 |= 1 << UInt64(t) } else { bits.1 |= 1 << UInt64(t - 64) }
        }
        return bits
    }

    public func allows(_ type: UInt8) -> Bool {
        guard type < 128 else { return false }
        let index: Int
        switch self {
        case .envelope: index = 0
        case .content: index = 1
        case .extracted: index = 2
        }
        let bits = QueueSegment.allowedSets[index]
        return type < 64 ? bits.0 & (1 << UInt64(type)) != 0 : bits.1 & (1 << UInt64(type - 64)) != 0
    }
}

/// One record: its type byte, payload and the file offset of its type byte.
public struct QueueRecord: Sendable, Equatable {
    public var type: UInt8
    public var payload: [UInt8]
    public var offset: Int

    public init(_ type: QueueRecordType, _ payload: [UInt8] = [], offset: Int = 0) {
        self.type = type.rawValue
        self.payload = payload
        self.offset = offset
    }

    public init(_ type: QueueRecordType, _ text: String, offset: Int = 0) {
        self.init(type, Array(text.utf8), offset: offset)
    }

    public init(typeByte: UInt8, payload: [UInt8], offset: Int = 0) {
        self.type = typeByte
        self.payload = payload
        self.offset = offset
    }

    public var recordType: QueueRecordType? { QueueRecordType(rawValue: type) }
    public var text: String { String(decoding: payload, as: UTF8.self) }
    /// Bytes this record takes in a file.
    public var encodedSize: Int { 1 + QueueRecordLength.encode(payload.count).count + payload.count }
}

/// Record lengths: base 128, least significant group first.
public enum QueueRecordLength {
    public static func encode(_ length: Int) -> [UInt8] {
        var out: [UInt8] = []
        append(length, to: &out)
        return out
    }

    /// Appends the encoding of `length` to `out` (no temporary array).
    @inlinable
    public static func append(_ length: Int, to out: inout [UInt8]) {
        forEachByte(length) { out.append($0) }
    }

    /// Hands the bytes that encode `length` to `body`, in order (writers
    /// put them straight into their buffers).
    @inlinable
    public static func forEachByte(_ length: Int, _ body: (UInt8) -> Void) {
        precondition(length >= 0, "negative record length")
        var n = UInt64(length)
        repeat {
            var byte = UInt8(n & 0x7F)
            n >>= 7
            if n != 0 { byte |= 0x80 }
            body(byte)
        } while n != 0
    }

    /// Decodes a length at `bytes[start...]`: (length, bytes used), or nil
    /// when the data ends first, or `.tooManyBits` after 32 bits of shift.
    public enum Decoded: Equatable, Sendable {
        case value(Int, used: Int)
        case truncated
        case tooManyBits
    }

    public static func decode(_ bytes: [UInt8], at start: Int) -> Decoded {
        var length = 0
        var shift = 0
        var i = start
        while true {
            if shift >= 32 { return .tooManyBits }
            guard i < bytes.count else { return .truncated }
            let byte = bytes[i]
            i += 1
            length |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return .value(length, used: i - start) }
            shift += 7
        }
    }
}

/// Why a record could not be read; descriptions are Postfix's warnings.
public enum QueueRecordError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncatedLength(type: UInt8)
    case truncatedData(type: UInt8, length: Int)
    case tooManyLengthBits(type: UInt8)
    case tooLong(type: UInt8, length: Int, limit: Int)

    public var description: String {
        switch self {
        case .truncatedLength(let t): return "unexpected EOF reading length, record type \(t)"
        case .truncatedData(let t, let n): return "unexpected EOF in data, record type \(t) length \(n)"
        case .tooManyLengthBits(let t): return "too many length bits, record type \(t)"
        case .tooLong(let t, let n, _): return "illegal length \(n), record type \(t)"
        }
    }
}

/// Reads records one at a time from a byte buffer (a whole queue file).
public struct QueueRecordReader: Sendable {
    public let bytes: [UInt8]
    /// Offset of the next record.
    public var offset: Int
    /// Largest payload accepted (nil = no limit, as qmgr and postcat).
    public var lengthLimit: Int?

    public init(bytes: [UInt8], offset: Int = 0, lengthLimit: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.lengthLimit = lengthLimit
    }

    /// Reads the whole file open on `fd` (from offset 0).
    public init(fd: Int32, lengthLimit: Int? = nil) throws(SystemError) {
        let result = try TextFile.readAll(fd: fd, fromStart: true)
        self.init(bytes: result, lengthLimit: lengthLimit)
    }

    public var atEnd: Bool { offset >= bytes.count }

    /// The next record, or nil at a clean end of data.
    public mutating func next() throws(QueueRecordError) -> QueueRecord? {
        guard let (type, start, payload) = try nextRange() else { return nil }
        return QueueRecord(typeByte: type, payload: Array(bytes[payload]), offset: start)
    }

    /// The next record as its type, its offset and where its payload lies
    /// in `bytes` (no copy), or nil at a clean end of data.
    public mutating func nextRange() throws(QueueRecordError) -> (type: UInt8, offset: Int, payload: Range<Int>)? {
        guard offset < bytes.count else { return nil }
        let start = offset
        let type = bytes[start]
        switch QueueRecordLength.decode(bytes, at: start + 1) {
        case .truncated: throw .truncatedLength(type: type)
        case .tooManyBits: throw .tooManyLengthBits(type: type)
        case .value(let length, let used):
            if let limit = lengthLimit, length > limit { throw .tooLong(type: type, length: length, limit: limit) }
            let dataStart = start + 1 + used
            guard bytes.count - dataStart >= length else { throw .truncatedData(type: type, length: length) }
            offset = dataStart + length
            return (type, start, dataStart..<dataStart + length)
        }
    }
}

/// Builds queue file bytes record by record.
public struct QueueRecordWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// Offset the next record will have.
    public var offset: Int { bytes.count }

    /// Appends a record and returns its offset.
    @discardableResult
    public mutating func append(_ type: QueueRecordType, _ payload: [UInt8] = []) -> Int {
        append(typeByte: type.rawValue, payload)
    }

    @discardableResult
    public mutating func append(_ type: QueueRecordType, _ text: String) -> Int {
        append(typeByte: type.rawValue, Array(text.utf8))
    }

    @discardableResult
    public mutating func append(typeByte: UInt8, _ payload: [UInt8]) -> Int {
        let at = bytes.count
        bytes.append(typeByte)
        bytes.append(contentsOf: QueueRecordLength.encode(payload.count))
        bytes.append(contentsOf: payload)
        return at
    }

    /// Replaces the payload of the record at `offset` with one of the same
    /// length (the fixed-width `C` and `W` records).
    public mutating func overwritePayload(at offset: Int, with payload: [UInt8]) {
        guard case .value(let length, let used) = QueueRecordLength.decode(bytes, at: offset + 1) else {
            preconditionFailure("no record at offset \(offset)")
        }
        precondition(length == payload.count, "fixed-width record rewritten with a different width")
        let start = offset + 1 + used
        bytes.replaceSubrange(start..<start + length, with: payload)
    }

    /// Appends a message line as Postfix stores it: chunks of `lineLimit`
    /// bytes as `L` records, the rest as an `N` record.
    public mutating func appendLine(_ line: [UInt8], lineLimit: Int = 2048) {
        var rest = line[...]
        while rest.count > lineLimit {
            append(typeByte: QueueRecordType.continued.rawValue, Array(rest.prefix(lineLimit)))
            rest = rest.dropFirst(lineLimit)
        }
        append(typeByte: QueueRecordType.normal.rawValue, Array(rest))
    }
}

/// The fixed-width size record `C` (§4): six `%15ld` fields.
public struct QueueSizeRecord: Sendable, Equatable {
    public var contentSize: Int
    public var dataOffset: Int
    public var recipientCount: Int
    public var qmgrFlags: Int
    public var contentLength: Int
    public var smtputf8: Int

    public init(contentSize: Int = 0, dataOffset: Int = 0, recipientCount: Int = 0, qmgrFlags: Int = 0,
                contentLength: Int = 0, smtputf8: Int = 0) {
        self.contentSize = contentSize
        self.dataOffset = dataOffset
        self.recipientCount = recipientCount
        self.qmgrFlags = qmgrFlags
        self.contentLength = contentLength
        self.smtputf8 = smtputf8
    }

    /// The 95-byte payload: six `%15ld` fields separated by spaces.
    public var payload: [UInt8] {
        let fields = [contentSize, dataOffset, recipientCount, qmgrFlags, contentLength, smtputf8]
        // Digits written right-aligned in place (twice per message in
        // cleanup: String(value) per field was 4% of its instructions).
        // Negative or wider than 15 digits (no queue file has such a size):
        // printf's growing field, the slow way.
        guard fields.allSatisfy({ $0 >= 0 && $0 <= 999_999_999_999_999 }) else {
            return Array(fields.map { QueueSizeRecord.pad15($0) }.joined(separator: " ").utf8)
        }
        var out = [UInt8](repeating: 0x20, count: 6 * 15 + 5)
        for (i, value) in fields.enumerated() {
            var rest = value
            var at = i * 16 + 14
            repeat {
                out[at] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                at -= 1
            } while rest > 0
        }
        return out
    }

    /// `%15ld`.
    public static func pad15(_ value: Int) -> String {
        let s = String(value)
        return s.count >= 15 ? s : String(repeating: " ", count: 15 - s.count) + s
    }

    /// Parses the numeric fields as qmgr does (at least 3); nil when malformed.
    public init?(payload: [UInt8]) {
        // Fields are separated by spaces and tabs; each is an optionally
        // signed decimal number; parsing stops at the first field that is not.
        var numbers: [Int] = []
        numbers.reserveCapacity(6)
        var i = 0
        let n = payload.count
        scan: while i < n {
            while i < n && (payload[i] == 0x20 || payload[i] == 0x09) { i += 1 }
            if i == n { break }
            var end = i
            while end < n && payload[end] != 0x20 && payload[end] != 0x09 { end += 1 }
            var j = i
            var negative = false
            if payload[j] == 0x2B || payload[j] == 0x2D { negative = payload[j] == 0x2D; j += 1 }
            guard j < end else { break scan }
            var value = 0
            while j < end {
                let d = payload[j]
                guard d >= 0x30 && d <= 0x39 else { break scan }
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = negative ? m.subtractingReportingOverflow(Int(d - 0x30)) : m.addingReportingOverflow(Int(d - 0x30))
                guard !o1 && !o2 else { break scan }
                value = a
                j += 1
            }
            numbers.append(value)
            i = end
        }
        guard numbers.count >= 3 else { return nil }
        while numbers.count < 6 { numbers.append(0) }
        self.init(contentSize: numbers[0], dataOffset: numbers[1], recipientCount: numbers[2],
                  qmgrFlags: numbers[3], contentLength: numbers[4], smtputf8: numbers[5])
    }
}
