// PostconfOptions: postconf's command line, parsed as Postfix's getopt
// string "aAbc:C:deEfFhHlmMno:pPtT:vxX#" reads it (flags may be bundled,
// option arguments attached or separate).
import Util

struct PostconfOptions {
    var configDirectory: String? = nil
    var classes: String? = nil
    var showDefaults = false       // -d
    var edit = false               // -e
    var fold = false               // -f
    var fields = false             // -F
    var valuesOnly = false         // -h
    var namesOnly = false          // -H
    var master = false             // -M
    var explicitOnly = false       // -n
    var overrides: [(String, String)] = []  // -o
    var parameters = false         // -P
    var expand = false             // -x
    var remove = false             // -X
    var commentOut = false         // -#
    var verbose = 0                // -v
    var listing: Character? = nil  // -a -A -l -m -b -t
    var tlsMode: String? = nil     // -T
    var arguments: [String] = []

    static let usage = "usage: postconf [-a (server SASL types)] [-A (client SASL types)] [-b (bounce templates)] [-c config_dir] [-C param_class] [-d (defaults)] [-e (edit)] [-f (fold lines)] [-F (master.cf fields)] [-h (no names)] [-H (no values)] [-l (lock types)] [-m (map types)] [-M (master.cf)] [-n (non-default parameters)] [-o name=value (override parameter value)] [-p (main.cf, default)] [-P (master.cf parameters)] [-t (bounce templates)] [-T compile-version|run-version|public-key-algorithms] [-v] [-x (expand parameter values)] [-X (exclude)] [-# (comment-out)] [name...]"

    /// Parses argv (without the program name). Errors end the program the
    /// way Postfix's postconf does.
    static func parse(_ argv: [String]) -> PostconfOptions {
        var options = PostconfOptions()
        var index = 0
        let withArgument: Set<Character> = ["c", "C", "o", "T"]
        while index < argv.count {
            let word = argv[index]
            if word == "--" { index += 1; break }
            guard word.hasPrefix("-"), word.count > 1 else { break }
            var chars = Array(word.dropFirst())
            while !chars.isEmpty {
                let flag = chars.removeFirst()
                var argument: String? = nil
                if withArgument.contains(flag) {
                    if !chars.isEmpty {
                        argument = String(chars)
                        chars.removeAll()
                    } else if index + 1 < argv.count {
                        index += 1
                        argument = argv[index]
                    } else {
                        Diagnostics.write("\(Diagnostics.programName): option requires an argument -- '\(flag)'\n")
                        Diagnostics.fatal(usage)
                    }
                }
                switch flag {
                case "a", "A", "b", "l", "m", "t": options.listing = flag
                case "c": options.configDirectory = argument
                case "C": options.classes = argument
                case "d": options.showDefaults = true
                case "e": options.edit = true
                case "E": break
                case "f": options.fold = true
                case "F": options.fields = true
                case "h": options.valuesOnly = true
                case "H": options.namesOnly = true
                case "M": options.master = true
                case "n": options.explicitOnly = true
                case "o":
                    let pair = argument ?? ""
                    guard let eq = pair.firstIndex(of: "=") else {
                        Diagnostics.fatal("-o option requires \"name=value\" argument: \"\(pair)\"")
                    }
                    options.overrides.append((String(pair[..<eq]).trimmingPostfixSpace(),
                                              String(pair[pair.index(after: eq)...]).trimmingPostfixSpace()))
                case "p": break
                case "P": options.parameters = true
                case "T": options.tlsMode = argument
                case "v": options.verbose += 1
                case "x": options.expand = true
                case "X": options.remove = true
                case "#": options.commentOut = true
                default:
                    Diagnostics.write("\(Diagnostics.programName): invalid option -- '\(flag)'\n")
                    Diagnostics.fatal(usage)
                }
            }
            index += 1
        }
        options.arguments = Array(argv[index...])
        return options
    }
}
