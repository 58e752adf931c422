// SmtpdMessage: message content on its way to cleanup: DATA lines (already
// split at line_length_limit by SmtpdInput) and BDAT bytes (split here at
// LF, CR LF removed) become N/L queue records; the size limit and write
// failures are remembered and reported once the client has finished.
import Global

final class MessageWriter {
    let file: SmtpdQueueFile
    let lineLimit: Int
    let sizeLimit: Int
    private(set) var size = 0
    /// Bytes of client content, lines counted with CR LF (BDAT replies).
    private(set) var clientSize = 0
    private(set) var sizeExceeded = false
    private(set) var failure: String?
    private var partial: [UInt8] = []
    /// BDAT bytes of a line not yet ended (counted in `Ok: N bytes`).
    var pendingBytes: Int { partial.count }

    init(file: SmtpdQueueFile, lineLimit: Int, sizeLimit: Int) {
        self.file = file
        self.lineLimit = max(1, lineLimit)
        self.sizeLimit = sizeLimit
    }

    /// A whole line the server itself adds (Received:, PREPEND).
    func line(_ bytes: [UInt8]) {
        add(bytes[...], continued: false)
    }

    /// One piece of content; `continued` when the line goes on.
    func add(_ bytes: ArraySlice<UInt8>, continued: Bool, fromClient: Bool = false) {
        size += bytes.count + (continued ? 0 : 2)
        if fromClient { clientSize += bytes.count + (continued ? 0 : 2) }
        if sizeLimit > 0 && size > sizeLimit { sizeExceeded = true }
        guard !sizeExceeded, failure == nil else { return }
        do { try file.writeRecord(continued: continued, bytes) } catch { failure = error.description }
    }

    /// BDAT bytes: lines end at LF; a CR before the LF is dropped.
    func addBytes(_ chunk: [UInt8]) {
        var start = 0
        for i in chunk.indices where chunk[i] == 0x0A {
            partial.append(contentsOf: chunk[start..<i])
            if partial.last == 0x0D { partial.removeLast() }
            flushPartial(continued: false)
            start = i + 1
        }
        partial.append(contentsOf: chunk[start...])
        while partial.count > lineLimit {
            var cut = lineLimit
            if partial[cut - 1] == 0x0D { cut -= 1 }
            add(partial[0..<cut], continued: true, fromClient: true)
            partial.removeFirst(cut)
        }
    }

    private func flushPartial(continued: Bool) {
        add(partial[...], continued: continued, fromClient: true)
        partial.removeAll(keepingCapacity: true)
    }

    /// The end of the last BDAT chunk: an unterminated last line still counts.
    func endBytes() {
        if !partial.isEmpty {
            flushPartial(continued: false)
        }
    }

    /// Ends the message; `actions` (access-map HOLD, DISCARD, FILTER,
    /// REDIRECT, BCC up to end of data) go to cleanup with it.
    func finish(actions: CleanupActions = CleanupActions()) throws(CleanupClientError) -> CleanupReply {
        try file.finish(actions: actions)
    }
}
