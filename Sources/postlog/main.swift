// postlog: log a message from a shell script or the command line
// (Postfix's postlog(1)): `postlog [-c config_dir] [-i] [-p priority]
// [-t tag] [-v] [text...]`. With text arguments, one line made of them;
// without, one line per line of standard input. Lines go through MailLog:
// to the postlog service when maillog_file is set (or straight to the file
// while postlogd is down), else to syslog; on a terminal also to standard
// error as `TAG: text`. The tag defaults to `$syslog_name/postlog`.
//
// SECURITY: runs with the invoking user's privileges; it can only append
// lines with its own pid to the mail log.
// CONFIGURATION PARAMETERS: syslog_name, syslog_facility, maillog_file,
// maillog_file_prefixes, postlog_service_name, myhostname.
import Glibc
import Util
import Global

let usage = "usage: postlog [-c config_dir] [-i] [-p priority] [-t tag] [-v] [text]"
let onTerminal = isatty(2) != 0
Diagnostics.programName = "postfix/postlog"

/// A fatal error before logging is set up: on a terminal only, as Postfix.
func early(_ text: String) -> Never {
    if onTerminal { Diagnostics.write("\(Diagnostics.programName): fatal: \(Diagnostics.printable(text))\n") }
    exit(1)
}

func severity(_ name: String) -> MailLog.Severity? {
    switch name.lowercased() {
    case "info", "notice", "debug": return .info
    case "warn", "warning": return .warning
    case "err", "error": return .error
    case "fatal", "crit": return .fatal
    case "panic", "alert", "emerg": return .panic
    default: return nil
    }
}

var configOption: String? = nil
var tag: String? = nil
var level = MailLog.Severity.info
var verbose = 0
var words = Array(CommandLine.arguments.dropFirst())
var text: [String] = []
optionLoop: while let word = words.first {
    if word == "--" { words.removeFirst(); break }
    guard word.hasPrefix("-"), word.count > 1 else { break }
    words.removeFirst()
    var letters = Substring(word.dropFirst())
    while let flag = letters.first {
        letters = letters.dropFirst()
        switch flag {
        case "c", "p", "t":
            var value: String
            if !letters.isEmpty { value = String(letters); letters = "" }
            else if let next = words.first { value = next; words.removeFirst() }
            else {
                Diagnostics.write("postlog: option requires an argument -- '\(flag)'\n")
                early(usage)
            }
            switch flag {
            case "c": configOption = value
            case "t": tag = value
            default:
                guard let s = severity(value) else { early("bad severity: \"\(value)\"") }
                level = s
            }
        case "i": break  // the pid is always included
        case "v": verbose += 1
        default:
            Diagnostics.write("postlog: invalid option -- '\(flag)'\n")
            early(usage)
        }
    }
}
text = words

let config: MailConfig
do {
    config = try MailConfig.load(directory: MailConfig.directory(option: configOption), programName: "postlog")
} catch {
    early(error.postfixText)
}
let maillogFile = config.value("maillog_file")
if !maillogFile.isEmpty {
    let prefixes = config.value("maillog_file_prefixes")
        .split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" || $0 == "\n" })
    if !prefixes.contains(where: { maillogFile.hasPrefix(String($0)) }) {
        early("maillog_file value '\(maillogFile)' does not match any prefix in maillog_file_prefixes")
    }
}
MailLog.configure(program: "postlog", config: config)
MailLog.fileWhenPostlogDown = true
MailLog.verbose = verbose
if let tag {
    MailLog.setTag(tag)
    Diagnostics.programName = tag
}
MailLog.alsoStandardError = onTerminal

if !text.isEmpty {
    MailLog.log(level, text.joined(separator: " "))
} else {
    // One line per input line; a last line without newline counts too.
    var pending: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 8192)
    func emit(_ bytes: ArraySlice<UInt8>) {
        var line = Array(bytes)
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        MailLog.log(level, String(decoding: line, as: UTF8.self))
    }
    while true {
        let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        pending.append(contentsOf: chunk[0..<n])
        while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
            emit(pending[0..<nl])
            pending.removeSubrange(0...nl)
        }
    }
    if !pending.isEmpty { emit(pending[...]) }
}
exit(0)
