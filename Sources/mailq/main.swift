// NAME
//   mailq - the Sendmail-compatible queue listing (Postfix mailq(1))
// SUMMARY
//   mailq [-v] [-c config_dir]
// DESCRIPTION
//   Runs `postqueue -p` (the postqueue beside this program), passing -c
//   and -v along: the same listing in Postfix's exact layout.
// SECURITY
//   Runs with the caller's privileges.
import Glibc
import Util

var path = [CChar](repeating: 0, count: 4096)
let n = readlink("/proc/self/exe", &path, path.count - 1)
var dir = "."
if n > 0 {
    let exe = String(decoding: path[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    if let slash = exe.lastIndex(of: "/") { dir = String(exe[..<slash]) }
}
let postqueue = dir + "/postqueue"
var argv = ["postqueue"]
var args = Array(CommandLine.arguments.dropFirst())
var i = 0
while i < args.count {
    if args[i] == "-c" && i + 1 < args.count { argv += ["-c", args[i + 1]]; i += 2; continue }
    if args[i] == "-v" { argv.append("-v") }
    i += 1
}
argv.append("-p")
var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
execv(postqueue, &cargs)
Diagnostics.programName = "mailq"
Diagnostics.fatal("execute \(postqueue): \(SystemError())")
