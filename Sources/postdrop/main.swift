// postdrop: writes one locally submitted message into `maildrop`, as
// Postfix 3.7's postdrop(1) with `-r` (the protocol sendmail and smtpd -S
// speak): postdrop creates the file first and announces
// `protocol=postdrop_protocol queue_id=ID`
// (attr0 list) on standard output; the client pipes the message in
// queue-file record form on standard input; postdrop writes its own arrival
// time `T` first, accepts only the records a submission may carry
// (envelope `MFSRVAin`, content `XLN`, extracted `EAR`; other named
// attributes are dropped with a warning), requires a sender and a
// recipient, completes the file through QueueFileWriter (mode 0744,
// fsynced), answers `status=N reason=TEXT` (CleanupProtocol.Status) and
// wakes pickup (public/pickup). A message larger than $message_size_limit
// is refused ("File too large"); a refused file is removed.
//
// SECURITY: installed set-group-ID $setgid_group so that any user can write
// into the otherwise closed maildrop directory; runs with the user's uid.
// Only the default configuration directory, or one listed in
// $alternate_config_directories, is accepted from an unprivileged user.
// The file is owned by the submitting user; pickup trusts nothing in it.
// CONFIGURATION PARAMETERS: queue_directory, line_length_limit,
// message_size_limit, alternate_config_directories, hash_queue_names,
// hash_queue_depth, enable_long_queue_ids, pickup_service_name, syslog_name.
import Glibc
import Util
import Global

Diagnostics.programName = "postdrop"
signal(SIGPIPE, SIG_IGN)

var configOption: String? = nil
var arguments = Array(CommandLine.arguments.dropFirst())
while let first = arguments.first {
    arguments.removeFirst()
    switch first {
    case "-c":
        guard let dir = arguments.first else { Diagnostics.fatal("usage: postdrop [-c config_dir] [-v]") }
        configOption = dir
        arguments.removeFirst()
    case "-r", "-v": continue
    default: Diagnostics.fatal("usage: postdrop [-c config_dir] [-v]")
    }
}
MailLog.alsoStandardError = true
let defaultDirectory = ParameterRegistry.spec(named: "config_directory")?.defaultValue ?? "/etc/postfix"
let chosenDirectory = MailConfig.directory(option: configOption)
var config = MailConfig.loadOrExit(option: chosenDirectory, programName: "postdrop")
if getuid() != 0 && chosenDirectory != defaultDirectory {
    // Do not let users point a set-group-ID program at their own main.cf.
    let defaults = MailConfig.loadOrExit(option: defaultDirectory, programName: "postdrop")
    let allowed = defaults.value("alternate_config_directories").splitList()
    if !allowed.contains(chosenDirectory) {
        Diagnostics.fatal("\(chosenDirectory) is not listed in parameter alternate_config_directories")
    }
}
MailLog.configure(program: "postdrop", config: config)
MailLog.alsoStandardError = true

let uid = getuid()
let queue = QueueDirectory(config: config)
let lineLimit = Int(config.value("line_length_limit")) ?? 2048
let sizeLimit = Int(config.value("message_size_limit")) ?? 10240000

func send(_ list: AttributeList) {
    let bytes = list.encoded()
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(1, $0.baseAddress! + done, $0.count - done) }
        if n < 0 { if errno == EINTR { continue }; return }
        done += n
    }
}

func reply(_ status: CleanupProtocol.Status, _ reason: String = "") {
    send(AttributeList([(CleanupProtocol.Attribute.status, String(status.rawValue)),
                        (CleanupProtocol.Attribute.reason, reason)]))
}

// The file exists (mode 0600, skipped by pickup) before the client sends
// anything, so the client can name the queue ID in its own replies.
umask(0o077)
let writer: QueueFileWriter
do {
    writer = try QueueFileWriter(directory: queue, queue: "maildrop")
    var tv = timeval()
    gettimeofday(&tv, nil)
    try writer.append(.time, "\(tv.tv_sec) \(tv.tv_usec)")
} catch {
    MailLog.fatal("uid=\(uid): \(error)")
}
send(AttributeList([("protocol", "postdrop_protocol"), (CleanupProtocol.Attribute.queueID, writer.id)]))

/// Where the records in `bytes` end: just past the end record `E`, or nil
/// while it has not arrived (the client keeps its end open until it has
/// our status, so end-of-file cannot be the signal). `from` is a record
/// boundary, so each byte is scanned once.
func endOfRecords(_ bytes: [UInt8], from: inout Int) -> Int? {
    while from < bytes.count {
        let type = bytes[from]
        var length = 0, shift = 0, at = from + 1
        while true {
            guard at < bytes.count else { return nil }
            let b = bytes[at]
            at += 1
            length |= Int(b & 0x7f) << shift
            if b & 0x80 == 0 { break }
            shift += 7
            if shift > 28 { return at }  // malformed: let the parser report it
        }
        guard at + length <= bytes.count else { return nil }
        from = at + length
        if type == UInt8(ascii: "E") { return from }
    }
    return nil
}

// Read standard input up to the end record (bounded).
var input: [UInt8] = []
var chunk = [UInt8](repeating: 0, count: 65536)
var scanned = 0
while true {
    let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
    if n < 0 { if errno == EINTR { continue }; MailLog.fatal("uid=\(uid): read standard input: \(SystemError())") }
    if n == 0 {
        // End of input before the end record: the client gave up (smtpd's
        // abandoned transaction, an interrupted sendmail). As Postfix's
        // postdrop: remove the file, say nothing.
        writer.abort()
        exit(0)
    }
    input.append(contentsOf: chunk[0..<n])
    if let end = endOfRecords(input, from: &scanned) {
        input.removeSubrange(end...)
        break
    }
    if sizeLimit > 0 && input.count > sizeLimit {
        MailLog.warning("uid=\(uid): File too large")
        writer.abort()
        reply(.size, "File too large")
        exit(75)
    }
}

let envelopeTypes = Array("MFSRVAin".utf8)
let contentTypes = Array("XLN".utf8)
let extractedTypes = Array("EAR".utf8)
let allowedAttributes: Set<String> = ["rewrite_context", "encoding", "trace_flags", "envelope_id", "ret_flags",
                                      "notify_flags", "dsn_orig_rcpt", "dsn_envid", "dsn_ret", "log_ident"]

@MainActor func reject(_ text: String) -> Never {
    MailLog.warning("uid=\(uid): \(text)")
    writer.abort()
    reply(.bad, text)
    exit(75)
}

var reader = QueueRecordReader(bytes: input, lengthLimit: lineLimit)
var records: [QueueRecord] = []
var segment = 0
var senders = 0
var recipients = 0
var ended = false
while !ended {
    let record: QueueRecord?
    do { record = try reader.next() } catch { reject("\(error)") }
    guard let record else { reject("message rejected: missing end record") }
    let allowed = segment == 0 ? envelopeTypes : (segment == 1 ? contentTypes : extractedTypes)
    guard allowed.contains(record.type) else { reject("unexpected record type: \(record.type)") }
    switch record.recordType {
    case .message?: segment = 1
    case .extracted? where segment == 1: segment = 2
    case .end?: ended = true
    case .sender?: senders += 1
    case .recipient?: recipients += 1
    case .attribute?:
        guard let a = QueueAttribute(payload: record.payload) else { reject("malformed attribute record") }
        if !allowedAttributes.contains(a.name) {
            MailLog.warning("uid=\(uid): ignoring attribute record: \(a.name)=\(a.value)")
            continue
        }
    case .dsnEnvelopeID?:
        records.append(QueueRecord(.attribute, "envelope_id=" + record.text))
        continue
    case .dsnNotifyFlags?:
        records.append(QueueRecord(.attribute, "notify_flags=" + record.text))
        continue
    default: break
    }
    records.append(record)
}
guard senders == 1 else { reject("message rejected: \(senders == 0 ? "no sender" : "multiple sender") record") }
guard recipients > 0 else { reject("message rejected: no recipient records") }

do {
    for r in records { try writer.append(typeByte: r.type, r.payload) }
    try writer.commit(extraMode: 0o044)
} catch {
    MailLog.warning("uid=\(uid): \(error)")
    writer.abort()
    reply(.write, "\(error)")
    exit(75)
}
reply(.ok)
let pickup = config.value("pickup_service_name")
Trigger.wakeup(queue.path + "/public/" + (pickup.isEmpty ? "pickup" : pickup))
exit(0)
