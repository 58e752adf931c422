// postfix: the Postfix control command (Postfix's postfix(1) with the
// postfix-script behaviour): `postfix [-c config_dir] [-Dv] command` with
// start, start-fg, stop, abort, reload, status, check, set-permissions,
// flush and upgrade-configuration. Messages are postfix-script's, to the
// mail log as `$syslog_name/postfix-script` and, on a terminal, to standard
// error; exit codes are Postfix's.
//
// SECURITY: runs with the invoking user's privileges. As root it creates
// the queue directories with Postfix's owners and modes and starts master
// (which drops privileges for the services); as another user it runs the
// mail system in unprivileged mode, everything owned by that user.
// CONFIGURATION PARAMETERS: config_directory (or -c, or MAIL_CONFIG),
// queue_directory, data_directory, daemon_directory, command_directory,
// meta_directory, shlib_directory, mail_owner, setgid_group, syslog_name,
// maillog_file, postlog_service_name, and every parameter `check` validates.
import Glibc
import Util
import Global

Diagnostics.programName = "postfix"
let usage = "usage: postfix [-c config_dir] [-Dv] command"

var arguments = Array(CommandLine.arguments.dropFirst())
var configOption: String? = nil
var verbose = 0
var command: String? = nil
while let word = arguments.first {
    arguments.removeFirst()
    if word.hasPrefix("-") && word.count > 1 {
        var letters = Substring(word.dropFirst())
        while let flag = letters.first {
            letters = letters.dropFirst()
            switch flag {
            case "c":
                if !letters.isEmpty { configOption = String(letters); letters = "" }
                else if let dir = arguments.first { arguments.removeFirst(); configOption = dir }
                else { Diagnostics.fatal(usage) }
            case "v": verbose += 1
            case "D": break
            default: Diagnostics.fatal(usage)
            }
        }
        continue
    }
    command = word
    break
}
guard let command else { Diagnostics.fatal(usage) }

let configDirectory = MailConfig.directory(option: configOption)
let known = ["check", "start", "start-fg", "stop", "abort", "reload", "status", "flush",
             "set-permissions", "upgrade-configuration"]
guard known.contains(command) else {
    Diagnostics.fatal("unknown command: '\(command)'")
}

// `check` validates the configuration first, so that its file-and-line
// errors appear even when main.cf cannot be used to go further.
var validationErrors = 0
if command == "check" {
    validationErrors = ConfigValidation.run(configDirectory: configDirectory)
}

let config: MailConfig
do {
    config = try MailConfig.load(directory: configDirectory, programName: "postfix")
} catch {
    Diagnostics.fatal(error.postfixText)
}
MailLog.verbose = verbose
ScriptLog.configure(config)
ScriptLog.commandTag = config.value("syslog_name").isEmpty ? "postfix" : config.value("syslog_name")
// As Postfix 3.7: below the newest compatibility level every command says
// so (log, and standard error on a terminal), whatever main.cf sets.
if CompatibilityLevel.isBelowCurrent(config.value("compatibility_level")) {
    for line in ["Postfix is using backwards-compatible default settings",
                 "See http://www.postfix.org/COMPATIBILITY_README.html for details",
                 "To disable backwards compatibility use \"postconf compatibility_level=\(CompatibilityLevel.current)\" and \"postfix reload\""] {
        ScriptLog.log(.info, line, tag: ScriptLog.commandTag)
    }
}
let queueDirectory = config.value("queue_directory")
guard chdir(queueDirectory) == 0 else {
    ScriptLog.commandFatal("chdir(\(queueDirectory)): \(SystemError())")
}
setenv("MAIL_CONFIG", configDirectory, 1)
if verbose > 0 { MailLog.debug("command \(command), configuration \(configDirectory)") }

let permissions = QueuePermissions(config: config)

/// check-fatal: what must hold for the mail system to start.
func checkFatal() {
    permissions.createMissing()
    if !config.value("maillog_file").isEmpty {
        let service = config.value("postlog_service_name")
        let master = try? MasterConfigFile.load(path: configDirectory + "/master.cf")
        if let master, !master.entries.contains(where: { $0.service == service && $0.type == "unix-dgram" }) {
            ScriptLog.fatal("missing '\(service)' service in master.cf - run 'postfix upgrade-configuration'")
        }
    }
}

/// check-fatal then check-warn, as before start.
func checkAll() {
    checkFatal()
    permissions.warnings()
}

let control = MasterControl(config: config, configDirectory: configDirectory, verbose: verbose)
switch command {
case "check":
    checkAll()
    exit(validationErrors == 0 ? 0 : 1)
case "status":
    control.status()
case "start":
    control.start(check: checkAll)
case "start-fg":
    control.startForeground(check: checkAll)
case "stop":
    control.stop()
case "abort":
    control.abort()
case "reload":
    control.reload(check: checkFatal)
case "flush":
    FlushTrigger.run(config: config)
case "set-permissions":
    permissions.setPermissions()
    exit(0)
case "upgrade-configuration":
    // Posthorn's master.cf and main.cf need no upgrade: nothing to do.
    if verbose > 0 { MailLog.debug("upgrade-configuration: nothing to do") }
    exit(0)
default:
    Diagnostics.fatal("unknown command: '\(command)'")
}
