// BounceOriginal: what a notification needs from the original queue file:
// arrival time, encoding, and the message lines (headers, body). A queue
// file that cannot be read still gets a notice, without the original
// message (as Postfix: a best effort).
import Glibc
import Global

struct BounceOriginal {
    var arrival: Int?
    var encoding = ""
    /// Header lines (continuations kept as separate lines).
    var headers: [[UInt8]] = []
    /// Body lines (after the empty separator line).
    var body: [[UInt8]] = []
    /// Content size in bytes (lines plus a newline each).
    var size = 0
    var readable: Bool

    init(headers: [[UInt8]], body: [[UInt8]], arrival: Int? = nil, encoding: String = "") {
        self.headers = headers
        self.body = body
        self.arrival = arrival
        self.encoding = encoding
        self.readable = true
        size = (headers + [[]] + body).reduce(0) { $0 + $1.count + 1 }
    }

    /// Reads `queue/id`; warns and returns an unreadable original when it
    /// is missing or damaged.
    static func read(queue: String, id: String, directory: QueueDirectory) -> BounceOriginal {
        let path = directory.path(queue: queue, id: id)
        let message: QueueMessage
        do { message = try QueueFile.read(path: path) } catch {
            MailLog.warning("\(id): cannot read original message \(queue)/\(id): \(error)")
            var o = BounceOriginal(headers: [], body: [])
            o.readable = false
            return o
        }
        let lines = message.lines
        let split = lines.firstIndex(where: { $0.isEmpty }) ?? lines.count
        var o = BounceOriginal(headers: Array(lines[..<split]), body: Array(lines[min(split + 1, lines.count)...]),
                               arrival: message.arrivalSeconds ?? message.createTime,
                               encoding: message.attribute("encoding") ?? message.extractedAttributes.first { $0.name == "encoding" }?.value ?? "")
        // A header-less message: everything is body.
        if split == lines.count && !(lines.first.map(Self.looksLikeHeader) ?? true) {
            o = BounceOriginal(headers: [], body: lines, arrival: o.arrival, encoding: o.encoding)
        }
        return o
    }

    static func looksLikeHeader(_ line: [UInt8]) -> Bool {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return false }
        return line[..<colon].allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }
}
