// NAME
//   postqueue - Posthorn's queue control (Postfix postqueue(1))
// SUMMARY
//   postqueue [-v] [-c config_dir] -p | -j | -f | -i queue_id | -s site
// DESCRIPTION
//   -p  the sendmail-style listing (mailq), in Postfix's exact layout
//       ("Mail queue is empty", "-- N Kbytes in M Requests.");
//   -j  one JSON object per queued message (Postfix 3.1+ members);
//   -f  flush: triggers qmgr with "AFD" (ignore retry times and
//       defer_transports, scan deferred);
//   -i  queue_id: asks the flush service (send_file) to deliver that
//       deferred message now;
//   -s  site: asks the flush service (send_site) to deliver the mail
//       deferred for a destination in $fast_flush_domains. Errors and exit
//       status as Postfix 3.7's postqueue ("Flush service is not configured
//       for destination", "invalid destination", "mail system is down": 69).
//   The listing comes from showq (public/showq); when showq cannot be
//   reached, the queue is read directly (needs read access to it).
// SECURITY
//   Runs with the caller's privileges; reads main.cf.
// CONFIGURATION PARAMETERS
//   queue_directory, hash_queue_names, hash_queue_depth, showq_service_name,
//   queue_service_name, flush_service_name, fast_flush_domains,
//   parent_domain_matches_subdomains.
import Glibc
import Util
import Global
import Tables

Diagnostics.programName = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "postqueue") } ?? "postqueue"
if Diagnostics.programName != "mailq" { Diagnostics.programName = "postqueue" }
var configDir: String?
var mode: Character?
var argument = ""
var args = Array(CommandLine.arguments.dropFirst())
if Diagnostics.programName == "mailq" { mode = "p" }
var i = 0
while i < args.count {
    let a = args[i]
    func next() -> String {
        i += 1
        guard i < args.count else { Diagnostics.fatal("usage: postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | postqueue -s site") }
        return args[i]
    }
    switch a {
    case "-c": configDir = next()
    case "-v": break
    case "-p", "-j", "-f": mode = a.last
    case "-i", "-s": mode = a.last; argument = next()
    default:
        Diagnostics.fatal("usage: postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | postqueue -s site")
    }
    i += 1
}
guard let mode else { Diagnostics.fatal("usage: postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | postqueue -s site") }
let config = MailConfig.loadOrExit(option: configDir, programName: "postqueue")
MailLog.configure(program: "postqueue", config: config)
MailLog.fileWhenPostlogDown = true
let directory = QueueDirectory(config: config)

func output(_ text: String) {
    let bytes = Array(text.utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(1, $0.baseAddress! + done, $0.count - done) }
        if n <= 0 { if errno == EINTR { continue }; exit(1) }
        done += n
    }
}

func listing() -> [QueueListingEntry] {
    let name = config.value("showq_service_name")
    let path = directory.path + "/public/" + (name.isEmpty ? "showq" : name)
    if let fd = try? Socket.connectUnix(path) {
        let stream = Stream(fd: fd, timeout: 60)
        defer { stream.close() }
        var out: [QueueListingEntry] = []
        while true {
            guard let list = try? AttributeCodec.read(from: stream) else {
                Diagnostics.fatal("showq service: malformed reply")
            }
            if list.pairs.isEmpty { return out }
            guard let entry = try? QueueListingEntry.decode(list) else { Diagnostics.fatal("showq service: malformed reply") }
            out.append(entry)
        }
    }
    if access(directory.path + "/deferred", R_OK | X_OK) != 0 {
        Diagnostics.fatal("Cannot connect to the showq service. The mail system is down")
    }
    return QueueListingBuilder.entries(directory)
}

func trigger(_ bytes: String) {
    let name = config.value("queue_service_name")
    let path = directory.path + "/public/" + (name.isEmpty ? "qmgr" : name)
    if !Trigger.send(Array(bytes.utf8), to: path) {
        Diagnostics.fatal("Cannot flush mail queue - mail system is down")
    }
}

/// Postfix's fatal: on standard error and in the log, then `status`.
func fail(_ text: String, status: Int32 = 69) -> Never {
    MailLog.alsoStandardError = true
    MailLog.log(.fatal, text)
    exit(status)
}

func flushClient() -> FlushClient {
    FlushClient(config: config, base: directory.path + "/")
}

/// Failures every flush request reports alike.
func flushFailed(_ client: FlushClient, _ status: FlushProtocol.Status) -> Never {
    if status == .fail {
        if !client.lastError.isEmpty {
            MailLog.alsoStandardError = true
            MailLog.warning(client.lastError)
        }
        fail("Cannot flush mail queue - mail system is down")
    }
    fail("Unknown flush server reply status \(status.rawValue)", status: 70)
}

func flushSite(_ site: String) -> Never {
    guard FlushProtocol.isValidDestination(site) else {
        let shown = site.utf8.count > 100 ? String(decoding: Array(site.utf8.prefix(100)), as: UTF8.self) + "..." : site
        fail("Cannot flush mail queue - invalid destination: \"\(shown)\"")
    }
    let parents = Set(config.value("parent_domain_matches_subdomains").splitList())
    var status = FlushProtocol.Status.deny
    let client = flushClient()
    do {
        let domains = try DomainMatchList(parameter: "fast_flush_domains", value: config.value("fast_flush_domains"),
                                          parentMatchesSubdomains: parents.contains("fast_flush_domains"))
        if try domains.matches(site) { status = client.sendSite(site) }
    } catch {
        MailLog.alsoStandardError = true
        MailLog.warning("fast_flush_domains: \(error)")
        status = .fail
    }
    switch status {
    case .ok: exit(0)
    case .deny: fail("Flush service is not configured for destination \"\(site)\"")
    case .bad: fail("Invalid request: \"\(site)\"", status: 64)
    default: flushFailed(client, status)
    }
}

func flushFile(_ id: String) -> Never {
    guard QueueID.isValid(id) else { fail("Cannot flush queue ID - invalid name: \"\(id)\"") }
    let client = flushClient()
    let status = client.sendFile(queueID: id)
    switch status {
    case .ok: exit(0)
    case .bad: fail("Invalid request: \"\(id)\"", status: 64)
    default: flushFailed(client, status)
    }
}

switch mode {
case "p":
    output(QueueListingFormat.listing(listing()))
case "j":
    for e in listing() { output(QueueListingFormat.json(e)) }
case "f":
    trigger("AFD")
case "s":
    flushSite(argument)
case "i":
    flushFile(argument)
default:
    break
}
exit(0)
