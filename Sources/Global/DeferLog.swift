// DeferLog: the per-recipient logfiles of a queued message, `defer/QID`
// (deferred recipients: mailq's delay reasons, delay warnings),
// `bounce/QID` (bounced recipients, for the bounce daemon's report) and
// `trace/QID` (delivered recipients that asked for NOTIFY=SUCCESS), hashed
// as hash_queue_names says. Format as Postfix 3.7 (reference §13): each
// entry is an empty line, the legacy `<rcpt>: reason` line, `name=value`
// lines, and an empty line; the file is mode 0600, locked while appended,
// fsynced after each entry.
import Glibc
import Util

public struct DeferLogEntry: Sendable, Equatable {
    public var recipient: String
    public var original: String
    public var offset: Int
    public var dsnOriginalRecipient: String
    public var notifyFlags: Int
    public var status: String
    /// `delayed`, `failed`, ...
    public var action: String
    public var reason: String
    /// RFC 3464 Diagnostic-Code type and text (`smtp`, `550 5.1.1 ...`);
    /// empty when the reason came from Postfix itself.
    public var diagType = ""
    public var diagText = ""
    /// RFC 3464 Remote-MTA type and name (`dns`, `mx.example.com`).
    public var mtaType = ""
    public var mtaName = ""

    public init(recipient: String, original: String = "", offset: Int, dsnOriginalRecipient: String = "",
                notifyFlags: Int = 0, status: String, action: String, reason: String,
                diagType: String = "", diagText: String = "", mtaType: String = "", mtaName: String = "") {
        self.recipient = recipient
        self.original = original
        self.offset = offset
        self.dsnOriginalRecipient = dsnOriginalRecipient
        self.notifyFlags = notifyFlags
        self.status = status
        self.action = action
        self.reason = reason
        self.diagType = diagType
        self.diagText = diagText
        self.mtaType = mtaType
        self.mtaName = mtaName
    }

    /// The entry's text, as appended to the file.
    public var text: String {
        // One entry per block: a newline inside a value would start a new
        // attribute (or a new entry), so it is flattened.
        var e = self
        for path in [\DeferLogEntry.recipient, \.original, \.dsnOriginalRecipient, \.status, \.action, \.reason,
                     \.diagType, \.diagText, \.mtaType, \.mtaName] where e[keyPath: path].contains(where: \.isNewline) {
            e[keyPath: path] = String(e[keyPath: path].map { $0.isNewline ? " " : $0 })
        }
        return e.rawText
    }

    private var rawText: String {
        let shown = recipient.isEmpty ? "<>" : recipient
        var s = "\n<\(recipient)>: \(reason)\n"
        s += "recipient=\(shown)\n"
        if !original.isEmpty && original != recipient { s += "original_recipient=\(original)\n" }
        s += "offset=\(offset)\n"
        if !dsnOriginalRecipient.isEmpty { s += "dsn_orig_rcpt=\(dsnOriginalRecipient)\n" }
        if notifyFlags != 0 { s += "notify_flags=\(notifyFlags)\n" }
        s += "status=\(status)\naction=\(action)\n"
        if !diagType.isEmpty && !diagText.isEmpty { s += "diag_type=\(diagType)\ndiag_text=\(diagText)\n" }
        if !mtaType.isEmpty && !mtaName.isEmpty { s += "mta_type=\(mtaType)\nmta_mname=\(mtaName)\n" }
        s += "reason=\(reason)\n\n"
        return s
    }

    /// Parses a logfile's entries (the `name=value` blocks).
    public static func parse(_ text: String) -> [DeferLogEntry] {
        var out: [DeferLogEntry] = []
        var current: [String: String] = [:]
        func finish() {
            if let r = current["recipient"] {
                out.append(DeferLogEntry(recipient: r == "<>" ? "" : r, original: current["original_recipient"] ?? "",
                                         offset: Int(current["offset"] ?? "") ?? 0,
                                         dsnOriginalRecipient: current["dsn_orig_rcpt"] ?? "",
                                         notifyFlags: Int(current["notify_flags"] ?? "") ?? 0,
                                         status: current["status"] ?? "", action: current["action"] ?? "",
                                         reason: current["reason"] ?? "",
                                         diagType: current["diag_type"] ?? "", diagText: current["diag_text"] ?? "",
                                         mtaType: current["mta_type"] ?? "", mtaName: current["mta_mname"] ?? ""))
            }
            current = [:]
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { finish(); continue }
            if line.hasPrefix("<") { continue }
            guard let eq = line.firstIndex(of: "=") else { continue }
            current[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        finish()
        return out
    }
}

public enum DeferLog {
    public static let deferQueue = "defer"
    public static let bounceQueue = "bounce"
    public static let traceQueue = "trace"

    /// Appends `entries` to `<queue>/QID` (queue = defer or bounce) under
    /// an exclusive lock and fsyncs.
    public static func append(_ entries: [DeferLogEntry], queue: String, id: String,
                              directory: QueueDirectory) throws(SystemError) {
        guard !entries.isEmpty else { return }
        let relative = directory.relativePath(queue: queue, id: id)
        try? directory.createParents(of: relative)
        let path = directory.path + "/" + relative
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError() }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 { if errno != EINTR { throw SystemError() } }
        let bytes = Array(entries.map(\.text).joined().utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 { if errno == EINTR { continue }; throw SystemError() }
            done += n
        }
        guard fsync(fd) == 0 else { throw SystemError() }
    }

    /// The entries of `<queue>/QID`; empty when there is no such file.
    public static func read(queue: String, id: String, directory: QueueDirectory) -> [DeferLogEntry] {
        guard let text = try? TextFile.read(directory.path(queue: queue, id: id)) else { return [] }
        return DeferLogEntry.parse(text)
    }

    /// Removes `<queue>/QID`; true when it existed.
    @discardableResult
    public static func remove(queue: String, id: String, directory: QueueDirectory) -> Bool {
        unlink(directory.path(queue: queue, id: id)) == 0
    }
}
