// ServerOptions: the command line master gives a service process
// (see MasterProtocol): `-c dir -n service -t type [-u] [-r] [-z] [-s N]
// [-v] [-S] [-o name=value]... [args]`. Parsing is pure so tests drive it.
import Global

public struct ServerOptions: Equatable, Sendable {
    public var configDirectory: String?
    public var serviceName: String?
    public var serviceType: String?
    /// -u: drop privileges to mail_owner (when running as root).
    public var dropPrivileges = false
    /// -r: chroot into queue_directory (when running as root).
    public var chroot = false
    /// -z: the service has a wakeup timer.
    public var wakeup = false
    /// -S: stand-alone, standard input is the one client (no master).
    public var standalone = false
    /// -s N: listening descriptors 4..4+N-1 (an inet service on several addresses).
    public var socketCount = 1
    /// -v count.
    public var verbose = 0
    /// -o overrides in order.
    public var overrides: [(name: String, value: String)] = []
    public var arguments: [String] = []

    public init() {}

    public static func == (a: ServerOptions, b: ServerOptions) -> Bool {
        a.configDirectory == b.configDirectory && a.serviceName == b.serviceName && a.serviceType == b.serviceType
            && a.dropPrivileges == b.dropPrivileges && a.chroot == b.chroot && a.wakeup == b.wakeup
            && a.standalone == b.standalone && a.socketCount == b.socketCount && a.verbose == b.verbose && a.arguments == b.arguments
            && a.overrides.map { "\($0.name)=\($0.value)" } == b.overrides.map { "\($0.name)=\($0.value)" }
    }

    /// The overrides as a dictionary (last one wins).
    public var overrideTable: [String: String] {
        var table: [String: String] = [:]
        for (name, value) in overrides { table[name] = value }
        return table
    }

    /// Parses the words after argv[0]. Options end at the first word that
    /// is not an option, or after `--`.
    public static func parse(_ words: [String]) -> Result<ServerOptions, ParameterProblem> {
        var options = ServerOptions()
        var i = 0
        func value(_ flag: Character, _ rest: Substring) -> String? {
            if !rest.isEmpty { return String(rest) }
            i += 1
            return i < words.count ? words[i] : nil
        }
        while i < words.count {
            let word = words[i]
            if word == "--" { i += 1; break }
            guard word.hasPrefix("-"), word.count > 1 else { break }
            var letters = Substring(word.dropFirst())
            while let flag = letters.first {
                letters = letters.dropFirst()
                switch flag {
                case "u": options.dropPrivileges = true
                case "r": options.chroot = true
                case "z": options.wakeup = true
                case "S": options.standalone = true
                case "v": options.verbose += 1
                case "D", "d", "l": break   // accepted for compatibility, no effect
                case "c", "n", "t", "o", "s":
                    guard let v = value(flag, letters) else {
                        return .failure(ParameterProblem("option requires an argument -- \(flag)"))
                    }
                    letters = ""
                    switch flag {
                    case "c": options.configDirectory = v
                    case "n": options.serviceName = v
                    case "t": options.serviceType = v
                    case "s":
                        guard let n = Int(v), n >= 1, n <= 64 else {
                            return .failure(ParameterProblem("invalid socket count: \(v)"))
                        }
                        options.socketCount = n
                    default:
                        guard let (name, val) = MasterConfigFile.splitOption(v) else {
                            return .failure(ParameterProblem("bad -o option: \(v)"))
                        }
                        options.overrides.append((name, val))
                    }
                default:
                    return .failure(ParameterProblem("invalid option -- \(flag)"))
                }
            }
            i += 1
        }
        options.arguments = Array(words[min(i, words.count)...])
        return .success(options)
    }
}
