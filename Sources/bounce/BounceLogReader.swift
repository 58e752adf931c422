// BounceLogReader: reads a bounce/, defer/ or trace/ logfile for a
// notification and checks every entry: an entry without a recipient is
// dropped, a malformed status or a missing action is repaired, and a
// line that is neither `<rcpt>: text` nor `name=value` is skipped. Each
// problem is a warning; damaged logs never stop the notice.
import Glibc
import Global
import Util

struct BounceLogReader {
    /// The usable entries, in file order.
    var entries: [DeferLogEntry] = []
    var warnings: [String] = []
    /// False when the file does not exist or cannot be read.
    var found = false

    /// Reads `queue/id` (nothing found when it does not exist); `action` and `statusClass` repair entries that
    /// lack them (`failed`/5 for bounces, `delayed`/4 for delays,
    /// `delivered`/2 for traces).
    static func read(queue: String, id: String, directory: QueueDirectory, action: String,
                     statusClass: Character) -> BounceLogReader {
        let path = directory.path(queue: queue, id: id)
        let text: String
        do { text = try TextFile.read(path) } catch {
            var reader = BounceLogReader()
            if error.code != ENOENT { reader.warnings.append("\(id): read \(queue) logfile: \(error)") }
            return reader
        }
        return BounceLogReader(text: text, id: id, queue: queue, action: action, statusClass: statusClass)
    }

    init() {}

    init(text: String, id: String, queue: String, action: String, statusClass: Character) {
        found = true
        var lineNumber = 0
        var blockHasFields = false
        var blockHasRecipient = false
        var orphans = 0
        func endBlock() {
            if blockHasFields && !blockHasRecipient { orphans += 1 }
            blockHasFields = false
            blockHasRecipient = false
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.isEmpty { endBlock(); continue }
            if line.hasPrefix("<") { continue }
            guard let eq = line.firstIndex(of: "="), eq > line.startIndex,
                  line[..<eq].allSatisfy({ $0.isLetter || $0 == "_" }) else {
                warnings.append("\(id): \(queue) logfile line \(lineNumber): malformed entry: \(line.prefix(100))")
                continue
            }
            blockHasFields = true
            if line[..<eq] == "recipient" { blockHasRecipient = true }
        }
        endBlock()
        for _ in 0..<orphans { warnings.append("\(id): \(queue) logfile: entry without recipient address skipped") }
        for var entry in DeferLogEntry.parse(text) {
            if entry.recipient.isEmpty {
                warnings.append("\(id): \(queue) logfile: entry without recipient address skipped")
                continue
            }
            if !BounceStatus.isValid(entry.status) {
                warnings.append("\(id): \(queue) logfile: recipient \(entry.recipient): bad status \"\(entry.status)\"")
                entry.status = String(statusClass) + ".0.0"
            }
            if entry.action.isEmpty { entry.action = action }
            if entry.reason.isEmpty { entry.reason = "(reason unavailable)" }
            entries.append(entry)
        }
        if entries.isEmpty && !text.isEmpty {
            warnings.append("\(id): \(queue) logfile has no usable entries")
        }
    }
}
