// newaliases: rebuild every alias database named in $alias_database, as
// Postfix's `sendmail -bi`/newaliases: it runs postalias (found beside this
// program, as Postfix finds it in $command_directory) with `-c` and the
// table list, so messages and exit status are postalias's.
//
// SECURITY: runs with the invoking user's privileges.
// STANDARDS: newaliases(1) (Postfix sendmail(1) -bi).
// CONFIGURATION PARAMETERS: config_directory (or -C, -c, or MAIL_CONFIG),
// alias_database.
import Glibc
import Util
import Global

Diagnostics.programName = "newaliases"
var configDirectory = getenv("MAIL_CONFIG").map { String(cString: $0) }
var arguments = Array(CommandLine.arguments.dropFirst())
var verbose = 0
while let first = arguments.first, first.hasPrefix("-") {
    arguments.removeFirst()
    switch first {
    case "-C", "-c":
        guard !arguments.isEmpty else { Diagnostics.fatal("usage: newaliases [-C config_dir] [-v]") }
        configDirectory = arguments.removeFirst()
    case "-v": verbose += 1
    default: break  // sendmail options newaliases ignores
    }
}
let directory = configDirectory ?? ParameterRegistry.spec(named: "config_directory")?.defaultValue ?? "/etc/postfix"
let config: MailConfig
do { config = try MailConfig.load(directory: directory, programName: "sendmail") } catch {
    Diagnostics.fatal(error.postfixText)
}
let tables = config.value("alias_database").splitList()
if tables.isEmpty { exit(0) }

/// postalias beside this executable.
func postaliasPath() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let me = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        : CommandLine.arguments[0]
    return AtomicFile.directoryName(me) + "/postalias"
}

let program = postaliasPath()
var argv = [program, "-c", directory] + Array(repeating: "-v", count: verbose) + tables
var cArgs = argv.map { strdup($0) } + [nil]
execv(program, &cArgs)
Diagnostics.fatal("execvp \(program): \(String(cString: strerror(errno)))")
