// sendmail: the Sendmail-compatible mail posting interface, as Postfix
// 3.7's sendmail(1). It reads a message from standard input (a line with
// only "." ends it unless -i/-oi; CRLF becomes LF; a leading "From " line
// is dropped), writes it in queue-file record form (SendmailRecords) and
// pipes that to `$command_directory/postdrop -r`, which puts it into
// maildrop. Options: -t (recipients from To/Cc/Bcc, added to command-line
// ones), -i/-oi, -f/-r sender, -F full name, -N dsn, -R ret, -V envid,
// -bm (default), -bp (postqueue -p), -bi (newaliases), -q (postqueue -f),
// -C config (directory or file), ignored -o... and legacy options.
// -bs (SMTP on standard input/output) execs `$daemon_directory/smtpd -S`
// with MAIL_CONFIG naming the configuration directory, as Postfix's
// sendmail: that smtpd queues through postdrop and applies no access
// restrictions unless it runs as $mail_owner. Exit codes are sysexits(3).
//
// SECURITY: runs with the user's privileges; postdrop is the set-group-ID
// helper that writes the queue.
// CONFIGURATION PARAMETERS: command_directory, daemon_directory, line_length_limit,
// message_size_limit, myhostname.
import Glibc
import Util
import Global

let EX_USAGE: Int32 = 64, EX_DATAERR: Int32 = 65, EX_NOINPUT: Int32 = 66, EX_UNAVAILABLE: Int32 = 69
let EX_SOFTWARE: Int32 = 70, EX_TEMPFAIL: Int32 = 75

Diagnostics.programName = "sendmail"
signal(SIGPIPE, SIG_IGN)

func fail(_ text: String, _ code: Int32) -> Never {
    Diagnostics.write("sendmail: fatal: \(text)\n")
    exit(code)
}

var options = SendmailOptions()
switch SendmailOptions.parse(Array(CommandLine.arguments.dropFirst())) {
case .success(let o): options = o
case .failure(let problem): fail(problem.text, EX_USAGE)
}

let configDirectory = MailConfig.directory(option: options.configDirectory)
let config: MailConfig
do { config = try MailConfig.load(directory: configDirectory, programName: "sendmail") } catch {
    fail(error.postfixText, EX_TEMPFAIL)
}
let commandDirectory = config.value("command_directory")
if let given = options.verpDelimiters {
    // -XV: two characters from verp_delimiter_filter (as Postfix's sendmail).
    let filter = config.value("verp_delimiter_filter")
    let delimiters = given.isEmpty ? config.value("default_verp_delimiters") : given
    guard delimiters.utf8.count == 2, delimiters.allSatisfy({ filter.contains($0) }) else {
        fail("-V requires two characters from \(filter)", EX_TEMPFAIL)
    }
    options.verpDelimiters = delimiters
}

func execCommand(_ name: String, _ args: [String]) -> Never {
    let path = commandDirectory + "/" + name
    let argv = [name, "-c", configDirectory] + args
    var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    execv(path, &cargs)
    fail("execv \(path): \(SystemError())", EX_UNAVAILABLE)
}

/// `-bs`: stand-alone smtpd on our standard input and output.
func execSmtpd() -> Never {
    let path = config.value("daemon_directory") + "/smtpd"
    setenv("MAIL_CONFIG", configDirectory, 1)
    let argv = ["smtpd", "-S"]
    var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    execv(path, &cargs)
    fail("execv \(path): \(SystemError())", EX_UNAVAILABLE)
}

switch options.mode {
case .listQueue: execCommand("postqueue", ["-p"])
case .flushQueue: execCommand("postqueue", ["-f"])
case .newAliases: execCommand("newaliases", [])
case .smtp: execSmtpd()
case .unsupported(let option): fail("unsupported option: \(option)", EX_USAGE)
case .deliver: break
}

let uid = getuid()
var login = "uid\(uid)"
var gecos: String?
if let pw = getpwuid(uid) {
    login = String(cString: pw.pointee.pw_name)
    let field = String(cString: pw.pointee.pw_gecos)
    if let first = field.split(separator: ",", omittingEmptySubsequences: false).first, !first.isEmpty {
        gecos = String(first).replacingOccurrences(of: "&", with: login.prefix(1).uppercased() + login.dropFirst())
    }
}
let sender = options.sender ?? login
let who = "\(sender.isEmpty ? login : sender)(\(uid))"
if options.verpDelimiters != nil && sender.isEmpty {
    fail("\(sender)(\(uid)): -V option requires non-null sender address", EX_TEMPFAIL)
}

// Read the message.
let lineLimit = Int(config.value("line_length_limit")) ?? 2048
let sizeLimit = Int(config.value("message_size_limit")) ?? 10240000
let input = Stream(fd: 0)
var lines: [[UInt8]] = []
var first = true
var total = 0
while true {
    var line: [UInt8]
    do { line = try input.read(until: 0x0A, limit: Int.max / 2) } catch StreamError.endOfFile {
        // A last line without newline.
        let rest = (try? input.read(count: input.bufferedCount)) ?? []
        if !rest.isEmpty { lines.append(rest) }
        break
    } catch {
        fail("\(who): error reading input: \(error)", EX_NOINPUT)
    }
    if line.last == 0x0D { line.removeLast() }
    if first && line.starts(with: Array("From ".utf8)) { first = false; continue }
    first = false
    if !options.ignoreDots && line == [0x2E] { break }
    total += line.count + 1
    if sizeLimit > 0 && total > sizeLimit { fail("\(who): message file too big", EX_TEMPFAIL) }
    lines.append(line)
}

var records = SendmailRecords(lineLimit: lineLimit)
var extracted: [String] = []
if options.extractRecipients { extracted = SendmailRecords.headerRecipients(lines) }
if options.recipients.isEmpty && extracted.isEmpty {
    if !options.extractRecipients {
        fail("\(who): Recipient addresses must be specified on the command line or via the -t option", EX_TEMPFAIL)
    }
    fail("\(who): No recipient addresses found in message header", EX_USAGE)
}
records.envelope(options: options, sender: sender, fullName: options.fullName ?? gecos)
records.content(lines)
records.extracted(extracted, notify: options.notifyFlags)

// Run postdrop with the records on its standard input.
var toChild: [Int32] = [-1, -1]
var fromChild: [Int32] = [-1, -1]
guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else { fail("pipe: \(SystemError())", EX_TEMPFAIL) }
for fd in toChild + fromChild { Socket.setCloseOnExec(fd) }
var environment: [String] = []
var envp = environ
while let p = envp.pointee {
    let entry = String(cString: p)
    if !entry.hasPrefix("MAIL_CONFIG=") { environment.append(entry) }
    envp += 1
}
environment.append("MAIL_CONFIG=" + configDirectory)
let postdrop = commandDirectory + "/postdrop"
let pid: pid_t
do {
    pid = try ProcessSpawner.spawn(path: postdrop, arguments: ["postdrop", "-r"], environment: environment,
                                   descriptors: [0: toChild[0], 1: fromChild[1], 2: 2])
} catch {
    fail("\(who): unable to execute \(postdrop) -r: \(error)", EX_TEMPFAIL)
}
close(toChild[0]); close(fromChild[1])
// postdrop -r: first `queue_id`, then (after our records) `status` and `reason`.
let replyStream = Stream(fd: fromChild[0], timeout: 3600)
let announced = try? AttributeCodec.read(from: replyStream)
let out = Stream(fd: toChild[1])
if announced?[CleanupProtocol.Attribute.queueID] != nil {
    out.write(records.bytes)
    try? out.flush()
}
close(toChild[1])
let reply = announced == nil ? nil : try? AttributeCodec.read(from: replyStream)
var status: Int32 = 0
while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
let code = reply?.int(CleanupProtocol.Attribute.status) ?? -1
if code == CleanupProtocol.Status.size.rawValue { fail("\(who): message file too big", EX_TEMPFAIL) }
guard code == 0, (status & 0x7f) == 0, ((status >> 8) & 0xff) == 0 else {
    fail("\(who): \(postdrop): unable to queue the message", EX_TEMPFAIL)
}
exit(0)
