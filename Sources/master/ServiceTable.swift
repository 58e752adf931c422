// ServiceTable: master.cf entries turned into what master runs: for each
// service its endpoint, process limit, wakeup timer, program path and the
// command line the child gets (see MasterProtocol).
import Glibc
import Util
import Global

/// One service as master runs it.
struct ServiceSpec: Equatable {
    let name: String
    let type: String
    let isPrivate: Bool
    let unprivileged: Bool
    let chroot: Bool
    /// Seconds between wakeups (0: none).
    let wakeup: Int
    /// `N?`: wake only while the service has processes.
    let wakeupConditional: Bool
    /// 0 means no limit.
    let maxProcesses: Int
    let path: String
    let arguments: [String]
    let endpoint: EndpointSpec

    /// "name/type" as postconf names entries.
    var key: String { "\(name)/\(type)" }

    /// What the process-limit warning shows in parentheses.
    var addressLabel: String { endpoint.label }
}

enum ServiceTable {
    /// Builds the table; problems are reported with Postfix's wording.
    static func build(master: MasterConfigFile, config: MailConfig, verbose: Int) throws(ConfigError) -> [ServiceSpec] {
        let defaultLimit = Int(config.value("default_process_limit")) ?? 100
        let daemonDirectory = config.value("daemon_directory")
        var seen = Set<String>()
        var specs: [ServiceSpec] = []
        for entry in master.entries {
            let where_ = "\(master.path), line \(entry.firstLine)"
            guard !seen.contains(entry.key) else {
                throw ConfigError(file: master.path, line: entry.firstLine, "duplicate service \(entry.key)",
                                  postfixText: "\(where_): duplicate service name and type: \(entry.service) \(entry.type)")
            }
            seen.insert(entry.key)
            var wakeupText = entry.wakeupField == "-" ? "0" : entry.wakeupField
            let conditional = wakeupText.hasSuffix("?")
            if conditional { wakeupText.removeLast() }
            let limit = entry.processLimitField == "-" ? defaultLimit : (Int(entry.processLimitField) ?? defaultLimit)
            let endpoint = try EndpointSpec.make(entry: entry, config: config, path: master.path)
            let path = entry.command.contains("/") ? entry.command : daemonDirectory + "/" + entry.command
            var argv = [entry.command, "-c", config.configDirectory, "-n", entry.service, "-t", entry.type]
            let unprivileged = entry.unprivilegedField != "n"
            let chroot = entry.chrootField == "y"
            let wakeup = Int(wakeupText) ?? 0
            if unprivileged { argv.append("-u") }
            if chroot { argv.append("-r") }
            if wakeup > 0 { argv.append("-z") }
            if endpoint.socketCount > 1 { argv += ["-s", String(endpoint.socketCount)] }
            for _ in 0..<verbose { argv.append("-v") }
            argv += entry.argumentWords
            specs.append(ServiceSpec(name: entry.service, type: entry.type, isPrivate: entry.privateField != "n",
                                     unprivileged: unprivileged, chroot: chroot, wakeup: wakeup,
                                     wakeupConditional: conditional && wakeup > 0, maxProcesses: limit,
                                     path: path, arguments: argv, endpoint: endpoint))
        }
        return specs
    }
}
