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
//   -i  queue_id: moves that deferred message to incoming and triggers qmgr;
//   -s  site: as -f (Posthorn has no per-site flush logs yet).
//   The listing comes from showq (public/showq); when showq cannot be
//   reached, the queue is read directly (needs read access to it).
// SECURITY
//   Runs with the caller's privileges; reads main.cf.
// CONFIGURATION PARAMETERS
//   queue_directory, hash_queue_names, hash_queue_depth, showq_service_name,
//   queue_service_name.
import Glibc
import Util
import Global

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

switch mode {
case "p":
    output(QueueListingFormat.listing(listing()))
case "j":
    for e in listing() { output(QueueListingFormat.json(e)) }
case "f", "s":
    trigger("AFD")
case "i":
    guard QueueID.isValid(argument), let file = QueueScanner.find(directory, id: argument, queues: ["deferred"]) else {
        Diagnostics.fatal("Cannot flush mail queue - invalid queue ID or message not deferred: \(argument)")
    }
    let target = directory.path(queue: "incoming", id: argument)
    var now = [timespec(tv_sec: time(nil), tv_nsec: 0), timespec(tv_sec: time(nil), tv_nsec: 0)]
    _ = utimensat(AT_FDCWD, file.path, &now, 0)
    if rename(file.path, target) != 0 { Diagnostics.fatal("rename \(file.path) to \(target): \(SystemError())") }
    trigger("I")
default:
    break
}
exit(0)
