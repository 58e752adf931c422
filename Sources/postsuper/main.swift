// NAME
//   postsuper - Posthorn's queue maintenance (Postfix postsuper(1))
// SUMMARY
//   postsuper [-psSv] [-c config_dir] [-d queue_id] [-e queue_id]
//             [-f queue_id] [-h queue_id] [-H queue_id] [-r queue_id]
//             [directory ...]
// DESCRIPTION
//   Each of -d (delete), -h (hold), -H (release from hold), -r (requeue:
//   to maildrop for pickup, which gives a new ID), -e (force-expire: g+x),
//   -f (force-expire and release) takes a queue ID, `ALL`, or `-` (IDs
//   on standard input, one a line) and may be repeated. The directory
//   arguments restrict the queues searched (defaults: -d, -r, -e, -f:
//   hold incoming active deferred; -h: incoming active deferred; -H: hold).
//   Messages as Postfix 3.7: per message `QID: removed | placed on hold |
//   released from hold | requeued | expired` (named IDs only), then the
//   summary `Deleted|Placed on hold|Released from hold|Requeued|
//   Force-expired: N message[s]`, logged and copied to standard error.
//   -s renames files whose name does not match their inode ("Renamed to
//   match inode number: N messages"); -p removes temporary files left by
//   crashed writers.
// SECURITY
//   Run by the super-user: changes the queue directly.
// CONFIGURATION PARAMETERS
//   queue_directory, hash_queue_names, hash_queue_depth,
//   enable_long_queue_ids, syslog_name, maillog_file.
import Glibc
import Util
import Global

Diagnostics.programName = "postsuper"
enum Operation: Character { case delete = "d", hold = "h", release = "H", requeue = "r", expire = "e", expireRelease = "f" }
var configDir: String?
var operations: [(Operation, String)] = []
var structure = false
var purge = false
let usage = "usage: postsuper [-c config_dir] [-d queue_id (delete)] [-e queue_id (expire)] [-f queue_id (expire and/or un-hold)] [-h queue_id (hold)] [-H queue_id (un-hold)] [-p (purge temporary files)] [-r queue_id (requeue)] [-s (structure fix)] [-S (redundant structure fix)] [-v (verbose)] [queue...]"
var args = Array(CommandLine.arguments.dropFirst())
var queuesGiven: [String] = []
var i = 0
while i < args.count {
    let a = args[i]
    if a.hasPrefix("-") && a.count >= 2 && a != "-" {
        var chars = Array(a.dropFirst())
        while !chars.isEmpty {
            let c = chars.removeFirst()
            switch c {
            case "c", "d", "h", "H", "r", "e", "f":
                var value = String(chars)
                chars = []
                if value.isEmpty {
                    i += 1
                    guard i < args.count else { Diagnostics.fatal(usage) }
                    value = args[i]
                }
                if c == "c" { configDir = value } else { operations.append((Operation(rawValue: c)!, value)) }
            case "s", "S": structure = true
            case "p": purge = true
            case "v": break
            default: Diagnostics.fatal(usage)
            }
        }
    } else {
        queuesGiven.append(a)
    }
    i += 1
}
let config = MailConfig.loadOrExit(option: configDir, programName: "postsuper")
MailLog.configure(program: "postsuper", config: config)
MailLog.fileWhenPostlogDown = true
MailLog.alsoStandardError = true
let directory = QueueDirectory(config: config)
for q in queuesGiven where !["hold", "incoming", "active", "deferred", "maildrop", "corrupt", "saved"].contains(q) {
    Diagnostics.fatal("invalid directory name: \(q)")
}

func plural(_ n: Int) -> String { "\(n) message\(n == 1 ? "" : "s")" }

func removeLogs(_ id: String) {
    for q in ["defer", "bounce", "trace"] { _ = unlink(directory.path(queue: q, id: id)) }
}

func setTimes(_ path: String, _ t: Int) {
    var times = [timespec(tv_sec: t, tv_nsec: 0), timespec(tv_sec: t, tv_nsec: 0)]
    _ = utimensat(AT_FDCWD, path, &times, 0)
}

func moveFile(_ file: QueueScanEntry, to queue: String) -> Bool {
    let relative = directory.relativePath(queue: queue, id: file.id)
    let parts = relative.split(separator: "/").map(String.init)
    var current = directory.path + "/" + parts[0]
    for part in parts.dropFirst().dropLast() { current += "/" + part; _ = mkdir(current, 0o700) }
    return rename(file.path, directory.path + "/" + relative) == 0
}

/// Applies `op` to one file; true when it counted.
func apply(_ op: Operation, _ file: QueueScanEntry, named: Bool) -> Bool {
    switch op {
    case .delete:
        guard unlink(file.path) == 0 else { return false }
        removeLogs(file.id)
        if named { MailLog.info("\(file.id): removed") }
    case .hold:
        guard file.queue != "hold", moveFile(file, to: "hold") else { return false }
        if named { MailLog.info("\(file.id): placed on hold") }
    case .release:
        guard file.queue == "hold" else { return false }
        setTimes(file.path, Int(time(nil)))
        guard moveFile(file, to: "deferred") else { return false }
        if named { MailLog.info("\(file.id): released from hold") }
    case .requeue:
        guard file.queue != "maildrop" else { return false }
        setTimes(file.path, Int(time(nil)))
        _ = chmod(file.path, 0o700)
        guard moveFile(file, to: "maildrop") else { return false }
        removeLogs(file.id)
        if named { MailLog.info("\(file.id): requeued") }
    case .expire, .expireRelease:
        _ = chmod(file.path, (file.mode & 0o7777) | 0o010)
        if op == .expireRelease && file.queue == "hold" {
            setTimes(file.path, Int(time(nil)))
            _ = moveFile(file, to: "deferred")
        }
        if named { MailLog.info("\(file.id): expired") }
    }
    return true
}

func defaultQueues(_ op: Operation) -> [String] {
    switch op {
    case .hold: return ["incoming", "active", "deferred"]
    case .release: return ["hold"]
    default: return ["hold", "incoming", "active", "deferred"]
    }
}

func summary(_ op: Operation, _ n: Int) -> String {
    switch op {
    case .delete: return "Deleted: \(plural(n))"
    case .hold: return "Placed on hold: \(plural(n))"
    case .release: return "Released from hold: \(plural(n))"
    case .requeue: return "Requeued: \(plural(n))"
    case .expire, .expireRelease: return "Force-expired: \(plural(n))"
    }
}

if purge {
    for spec in QueueDirectory.layout where ["incoming", "active", "deferred", "hold", "maildrop", "saved", "corrupt"].contains(spec.name) {
        for file in QueueScanner.scan(directory, queue: spec.name, readyOnly: false) where file.mode & 0o700 != 0o700 {
            _ = unlink(file.path)
        }
    }
}

if structure {
    var renamed = 0
    for queue in ["incoming", "active", "deferred", "hold", "maildrop"] {
        for file in QueueScanner.scan(directory, queue: queue, readyOnly: false) where !directory.longQueueIDs {
            guard let parts = QueueID.decodeShort(file.id) else { continue }
            var st = stat()
            guard stat(file.path, &st) == 0, UInt64(st.st_ino) != parts.inode else { continue }
            let newID = QueueID.short(microseconds: parts.microseconds, inode: UInt64(st.st_ino))
            let target = directory.path(queue: queue, id: newID)
            if access(target, F_OK) != 0 && rename(file.path, target) == 0 { renamed += 1 }
        }
    }
    if renamed > 0 { Diagnostics.write("postsuper: Renamed to match inode number: \(renamed) messages\n") }
}

var stdinIDs: [String]?
@MainActor func readStdinIDs() -> [String] {
    if let ids = stdinIDs { return ids }
    var data: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 8192)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        data += buffer[0..<n]
    }
    let ids = String(decoding: data, as: UTF8.self).split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == "\t" }).map(String.init)
    stdinIDs = ids
    return ids
}

// Postfix order: delete, then the others.
let order: [Operation] = [.delete, .expire, .expireRelease, .requeue, .hold, .release]
for op in order {
    let targets = operations.filter { $0.0 == op }.map(\.1)
    guard !targets.isEmpty else { continue }
    let queues = queuesGiven.isEmpty ? defaultQueues(op) : queuesGiven
    var count = 0
    var seen = Set<String>()
    for target in targets {
        if target == "ALL" {
            for q in queues {
                for file in QueueScanner.scan(directory, queue: q, readyOnly: op != .delete) where !seen.contains(file.id) {
                    seen.insert(file.id)
                    if apply(op, file, named: false) { count += 1 }
                }
            }
            continue
        }
        let ids = target == "-" ? readStdinIDs() : [target]
        for id in ids {
            guard QueueID.isValid(id) else {
                Diagnostics.warning("invalid mail queue id: \(id)")
                continue
            }
            guard !seen.contains(id), let file = QueueScanner.find(directory, id: id, queues: queues) else { continue }
            seen.insert(id)
            if apply(op, file, named: true) { count += 1 }
        }
    }
    MailLog.info(summary(op, count))
}
exit(0)
