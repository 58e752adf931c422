// posthorn-queue-writer: test-only tool that writes one queue file through
// QueueFile's completion protocol, so that system tests can check Debian's
// postcat, postsuper and qmgr on it:
// `posthorn-queue-writer -d queue_dir [-q queue] [-f sender] [-F fullname]
//  [-a name=value]... [-L] [-H hash_queue_names] [-D hash_queue_depth]
//  [-x extracted_rcpt]... [-W warning_time] -m message_file recipient...`
// Prints "<queue ID> <path relative to queue_dir>".
//
// SECURITY: test tool; writes with the caller's privileges.
import Glibc
import Util
import Global

Diagnostics.programName = "posthorn-queue-writer"
var queueDir: String?
var queue = "incoming"
var messageFile: String?
var message = QueueMessage()
var hashed: Set<String> = ["deferred", "defer"]
var depth = 1
var longIDs = false
var recipients: [String] = []
var args = Array(CommandLine.arguments.dropFirst())
var i = 0
@MainActor func value() -> String {
    i += 1
    guard i < args.count else { Diagnostics.fatal("option \(args[i - 1]) requires a value") }
    return args[i]
}
while i < args.count {
    switch args[i] {
    case "-d": queueDir = value()
    case "-q": queue = value()
    case "-f": message.sender = value()
    case "-F": message.fullName = value()
    case "-a":
        guard let a = QueueAttribute(payload: Array(value().utf8)) else { Diagnostics.fatal("bad attribute") }
        message.attributes.append(a)
    case "-L": longIDs = true
    case "-H": hashed = QueueID.hashedQueueNames(value())
    case "-D": depth = Int(value()) ?? 1
    case "-m": messageFile = value()
    case "-W": message.warningTime = Int(value()) ?? 0
    case "-x":
        let a = value()
        message.extractedRecipients.append(QueueRecipient(address: a, original: a, dsnOriginalRecipient: "rfc822;" + a))
    default:
        if args[i].hasPrefix("-") { Diagnostics.fatal("unknown option \(args[i])") }
        recipients.append(args[i])
    }
    i += 1
}
guard let queueDir, let messageFile else { Diagnostics.fatal("usage: posthorn-queue-writer -d queue_dir -m message_file [options] recipient...") }
message.attributes.insert(QueueAttribute("rewrite_context", "local"), at: 0)
for r in recipients {
    message.recipients.append(QueueRecipient(address: r, original: r, dsnOriginalRecipient: "rfc822;" + r))
}
let data: [UInt8]
do { data = try TextFile.readBytes(messageFile) } catch { Diagnostics.fatal("open \(messageFile): \(error)") }
var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line -> [UInt8] in
    var l = Array(line)
    if l.last == UInt8(ascii: "\r") { l.removeLast() }
    return l
}
if data.last == UInt8(ascii: "\n") { lines.removeLast() }
let directory = QueueDirectory(path: queueDir, hashedQueues: hashed, hashDepth: depth, longQueueIDs: longIDs)
do {
    let (id, path) = try QueueFile.write(message, lines: lines, directory: directory, queue: queue)
    let rel = String(path.dropFirst(queueDir.count + 1))
    print("\(id) \(rel)")
} catch {
    Diagnostics.fatal("\(error)")
}
exit(0)
