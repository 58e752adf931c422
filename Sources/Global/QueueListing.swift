// QueueListing: the queue listing that showq streams to postqueue (and
// mailq), and its two output forms: Postfix's sendmail-style `mailq`
// layout and the JSON lines of `postqueue -j` (Postfix 3.1+). Also
// QueueScanner, which finds ready queue files (mode & 0700 == 0700) in a
// queue, descending into hash subdirectories; qmgr, showq and postsuper
// share it.
//
// showq protocol (public/showq): after connecting, the client sends
// nothing; showq writes one attr0 list per message and then an empty list:
//   queue_name=Q queue_id=ID time=ARRIVAL size=N forced_expire=0|1 sender=S
//   {recipient=R reason=TEXT}...      (reason empty when none is known)
import Glibc
import Util

/// One queued message as listed.
public struct QueueListingEntry: Sendable, Equatable {
    public var queueName: String
    public var queueID: String
    public var arrivalTime: Int
    public var size: Int
    public var forcedExpire: Bool
    public var sender: String
    public var recipients: [(address: String, reason: String)]

    public init(queueName: String, queueID: String, arrivalTime: Int, size: Int, forcedExpire: Bool = false,
                sender: String, recipients: [(address: String, reason: String)]) {
        self.queueName = queueName
        self.queueID = queueID
        self.arrivalTime = arrivalTime
        self.size = size
        self.forcedExpire = forcedExpire
        self.sender = sender
        self.recipients = recipients
    }

    public static func == (a: QueueListingEntry, b: QueueListingEntry) -> Bool {
        a.queueName == b.queueName && a.queueID == b.queueID && a.arrivalTime == b.arrivalTime && a.size == b.size
            && a.forcedExpire == b.forcedExpire && a.sender == b.sender && a.recipients.count == b.recipients.count
            && zip(a.recipients, b.recipients).allSatisfy { $0.address == $1.address && $0.reason == $1.reason }
    }

    public func encoded() -> AttributeList {
        var list = AttributeList([("queue_name", queueName), ("queue_id", queueID), ("time", String(arrivalTime)),
                                  ("size", String(size)), ("forced_expire", forcedExpire ? "1" : "0"), ("sender", sender)])
        for r in recipients {
            list.append("recipient", r.address)
            list.append("reason", r.reason)
        }
        return list
    }

    public static func decode(_ list: AttributeList) throws(AttributeError) -> QueueListingEntry {
        var entry = QueueListingEntry(queueName: try list.require("queue_name"), queueID: try list.require("queue_id"),
                                      arrivalTime: try list.requireInt("time"), size: try list.requireInt("size"),
                                      forcedExpire: list["forced_expire"] == "1", sender: try list.require("sender"),
                                      recipients: [])
        var pending: String?
        for (name, value) in list.pairs {
            if name == "recipient" {
                if let p = pending { entry.recipients.append((p, "")) }
                pending = value
            } else if name == "reason", let p = pending {
                entry.recipients.append((p, value))
                pending = nil
            }
        }
        if let p = pending { entry.recipients.append((p, "")) }
        return entry
    }

    /// The listing entry of a parsed queue file; `reasons` maps recipients
    /// to their delay reason (from the defer log).
    public static func from(message: QueueMessage, queueName: String, queueID: String, mode: mode_t,
                            fileSize: Int, reasons: [String: String]) -> QueueListingEntry {
        var size = fileSize
        if let s = message.size { size = s.contentLength > 0 ? s.contentLength : s.contentSize }
        let recipients = (message.recipients + message.extractedRecipients).filter { $0.state == .pending }
            .map { (address: $0.address, reason: reasons[$0.address] ?? "") }
        return QueueListingEntry(queueName: queueName, queueID: queueID, arrivalTime: message.arrivalSeconds ?? 0,
                                 size: size, forcedExpire: mode & 0o010 != 0, sender: message.sender ?? "",
                                 recipients: recipients)
    }
}

public enum QueueListingFormat {
    public static let header = "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------"
    public static let empty = "Mail queue is empty"

    /// `Sun Nov 29 05:06:02` in local time.
    public static func arrival(_ time: Int) -> String {
        var t = time_t(time)
        var parts = tm()
        localtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        _ = strftime(&buffer, buffer.count, "%a %b %e %H:%M:%S", &parts)
        return String(cString: buffer)
    }

    private static func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
        let n = s.count
        guard n < width else { return s }
        let fill = String(repeating: " ", count: width - n)
        return right ? fill + s : s + fill
    }

    /// One message as `mailq` shows it (with the trailing empty line).
    public static func text(_ e: QueueListingEntry) -> String {
        let mark: String
        if e.forcedExpire { mark = "#" } else if e.queueName == "active" { mark = "*" } else if e.queueName == "hold" { mark = "!" } else { mark = " " }
        let date = String(pad(arrival(e.arrivalTime), 20).prefix(20))
        var s = pad(e.queueID, 11) + mark + pad(String(e.size), 7, right: true) + " " + date + " "
            + (e.sender.isEmpty ? "MAILER-DAEMON" : e.sender) + "\n"
        var lastReason = ""
        for r in e.recipients {
            if !r.reason.isEmpty && r.reason != lastReason {
                s += pad("(" + r.reason + ")", 78, right: true) + "\n"
            }
            lastReason = r.reason
            s += String(repeating: " ", count: 41) + r.address + "\n"
        }
        return s + "\n"
    }

    /// The whole `postqueue -p` output.
    public static func listing(_ entries: [QueueListingEntry]) -> String {
        guard !entries.isEmpty else { return empty + "\n" }
        var s = header + "\n"
        var total = 0
        for e in entries {
            s += text(e)
            total += e.size
        }
        s += "-- \(total / 1024) Kbytes in \(entries.count) Request\(entries.count == 1 ? "" : "s").\n"
        return s
    }

    /// One `postqueue -j` line.
    public static func json(_ e: QueueListingEntry) -> String {
        var s = "{\"queue_name\": \(quote(e.queueName)), \"queue_id\": \(quote(e.queueID)), "
        s += "\"arrival_time\": \(e.arrivalTime), \"message_size\": \(e.size), "
        s += "\"forced_expire\": \(e.forcedExpire ? "true" : "false"), "
        s += "\"sender\": \(quote(e.sender.isEmpty ? "MAILER-DAEMON" : e.sender)), \"recipients\": ["
        s += e.recipients.map { r in
            "{\"address\": \(quote(r.address))" + (r.reason.isEmpty ? "" : ", \"delay_reason\": \(quote(r.reason))") + "}"
        }.joined(separator: ", ")
        return s + "]}\n"
    }

    /// A JSON string literal.
    public static func quote(_ text: String) -> String {
        var s = "\""
        for u in text.unicodeScalars {
            switch u {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    let h = String(u.value, radix: 16)
                    s += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    s.unicodeScalars.append(u)
                }
            }
        }
        return s + "\""
    }
}

/// A ready queue file found by a scan.
public struct QueueScanEntry: Sendable, Equatable {
    public var queue: String
    public var id: String
    /// Absolute path.
    public var path: String
    public var mode: mode_t
    public var mtime: Int
    public var size: Int
}

public enum QueueScanner {
    /// Every file in `queue` with a valid queue ID, descending into
    /// one-character (hash) subdirectories. `readyOnly` keeps only regular
    /// files whose owner bits are rwx (complete files).
    public static func scan(_ directory: QueueDirectory, queue: String, readyOnly: Bool = true) -> [QueueScanEntry] {
        var out: [QueueScanEntry] = []
        walk(directory.path + "/" + queue, queue: queue, depth: 0, readyOnly: readyOnly, into: &out)
        return out
    }

    private static func walk(_ path: String, queue: String, depth: Int, readyOnly: Bool, into out: inout [QueueScanEntry]) {
        guard let dir = DirectoryReader.open(path) else { return }
        var names: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafePointer(to: ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            names.append(name)
        }
        closedir(dir)
        for name in names {
            let full = path + "/" + name
            var st = stat()
            guard lstat(full, &st) == 0 else { continue }
            if st.st_mode & S_IFMT == S_IFDIR {
                if name.count == 1 && depth < 8 { walk(full, queue: queue, depth: depth + 1, readyOnly: readyOnly, into: &out) }
                continue
            }
            guard QueueID.isValid(name) else { continue }
            if readyOnly && (st.st_mode & S_IFMT != S_IFREG || st.st_mode & 0o700 != 0o700) { continue }
            out.append(QueueScanEntry(queue: queue, id: name, path: full, mode: st.st_mode & 0o7777,
                                      mtime: Int(st.st_mtim.tv_sec), size: Int(st.st_size)))
        }
    }

    /// Finds `id` in one of `queues` (hashed paths as configured, then a
    /// scan for other hash depths); nil when absent.
    public static func find(_ directory: QueueDirectory, id: String, queues: [String]) -> QueueScanEntry? {
        guard QueueID.isValid(id) else { return nil }
        for queue in queues {
            let path = directory.path(queue: queue, id: id)
            var st = stat()
            if lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG {
                return QueueScanEntry(queue: queue, id: id, path: path, mode: st.st_mode & 0o7777,
                                      mtime: Int(st.st_mtim.tv_sec), size: Int(st.st_size))
            }
        }
        return nil
    }
}

public enum QueueListingBuilder {
    /// The queues showq lists, in order.
    public static let queues = ["incoming", "active", "deferred", "hold", "maildrop"]

    /// Reads every ready file of the listed queues (unreadable or vanished
    /// files are skipped).
    public static func entries(_ directory: QueueDirectory) -> [QueueListingEntry] {
        var out: [QueueListingEntry] = []
        for queue in queues {
            for file in QueueScanner.scan(directory, queue: queue) {
                guard let message = try? QueueFile.read(path: file.path) else { continue }
                var reasons: [String: String] = [:]
                if queue != "maildrop" {
                    for e in DeferLog.read(queue: DeferLog.deferQueue, id: file.id, directory: directory) {
                        reasons[e.recipient] = e.reason
                    }
                }
                out.append(QueueListingEntry.from(message: message, queueName: queue, queueID: file.id, mode: file.mode,
                                                  fileSize: file.size, reasons: reasons))
            }
        }
        return out
    }
}
