// postfix: the Postfix control command. This build implements `check`:
// every main.cf and master.cf value is validated (type, range, restriction
// names, lookup table types and files, master.cf entries and programs)
// and each problem is reported with file and line. start, stop, reload and
// the other commands arrive with the master daemon.
//
// SECURITY: runs with the invoking user's privileges; reads configuration only.
// CONFIGURATION PARAMETERS: config_directory (or -c, or MAIL_CONFIG),
// daemon_directory, and every parameter it validates.
import Glibc
import Util
import Global
import ConfigCheck

Diagnostics.programName = "postfix"
let usage = "usage: postfix [-c config_dir] [-Dv] command"

var arguments = Array(CommandLine.arguments.dropFirst())
var configDirectory = MailConfig.directory(option: nil)
var command: String? = nil
while let word = arguments.first {
    arguments.removeFirst()
    switch word {
    case "-c":
        guard let dir = arguments.first else { Diagnostics.fatal(usage) }
        arguments.removeFirst()
        configDirectory = dir
    case "-v", "-D":
        continue
    default:
        if word.hasPrefix("-c") && word.count > 2 {
            configDirectory = String(word.dropFirst(2))
        } else if word.hasPrefix("-") {
            Diagnostics.fatal(usage)
        } else {
            command = word
        }
    }
    if command != nil { break }
}

guard let command else { Diagnostics.fatal(usage) }

switch command {
case "check":
    var checker = ConfigChecker(configDirectory: configDirectory)
    let problems = checker.run()
    var errors = 0
    for problem in problems {
        switch problem.severity {
        case .warning: Diagnostics.warning(problem.description)
        case .error:
            errors += 1
            Diagnostics.error(problem.description)
        }
    }
    exit(errors == 0 ? 0 : 1)
case "start", "start-fg", "stop", "abort", "reload", "status", "flush", "set-permissions", "upgrade-configuration":
    Diagnostics.fatal("'\(command)' needs the master daemon, which this build does not include yet")
default:
    Diagnostics.fatal("unknown command: '\(command)'")
}
