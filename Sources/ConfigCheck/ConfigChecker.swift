// ConfigChecker: `postfix check`'s validation of main.cf and master.cf,
// beyond Postfix: every definition's type and range, restriction names,
// lookup table types and files, and master.cf entries, each reported with
// file and line instead of failing later when a daemon starts.
import Glibc
import Util
import Global

public struct ConfigChecker {
    public let configDirectory: String
    public private(set) var problems: [ConfigProblem] = []

    public init(configDirectory: String) {
        self.configDirectory = configDirectory
    }

    /// Runs every check and returns the findings in file order.
    public mutating func run() -> [ConfigProblem] {
        problems = []
        let mainPath = configDirectory + "/main.cf"
        let masterPath = configDirectory + "/master.cf"
        let main: MainConfigFile
        do {
            main = try MainConfigFile.load(path: mainPath)
        } catch {
            problems.append(ConfigProblem(.error, file: error.file, line: error.line, error.message))
            return problems
        }
        var entries: [MasterEntry] = []
        checkMaster(path: masterPath, into: &entries)
        let config = MailConfig(configDirectory: configDirectory, main: main,
                                serviceDefaults: ServiceParameters.defaults(for: entries), programName: "postfix")
        checkMain(main, config: config, entries: entries)
        checkTables(main, config: config)
        checkRestrictions(main, config: config)
        checkPrograms(entries, config: config, masterPath: masterPath)
        let order = [mainPath: 0, masterPath: 1]
        problems = problems.enumerated().sorted { a, b in
            let fa = order[a.element.file] ?? 2, fb = order[b.element.file] ?? 2
            if fa != fb { return fa < fb }
            let la = a.element.line ?? 0, lb = b.element.line ?? 0
            return la != lb ? la < lb : a.offset < b.offset
        }.map(\.element)
        return problems
    }

    private mutating func add(_ severity: ConfigProblem.Severity, _ file: String, _ line: Int?, _ message: String) {
        problems.append(ConfigProblem(severity, file: file, line: line, message))
    }

    // MARK: master.cf

    private mutating func checkMaster(path: String, into entries: inout [MasterEntry]) {
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            add(.error, path, nil, "open \(path): \(error)")
            return
        }
        let lines = LogicalLines.split(text) { number, _ in
            problems.append(ConfigProblem(.warning, file: path, line: number, "logical line must not start with whitespace"))
        }
        var seen: [String: Int] = [:]
        for line in lines {
            do {
                let (entry, warnings) = try MasterConfigFile.parseEntry(line, path: path)
                for w in warnings { add(.warning, path, line.firstLine, w.replacingPrefix("master.cf: ")) }
                if let first = seen[entry.key] {
                    add(.error, path, line.firstLine, "duplicate service \(entry.key) (first defined at line \(first))")
                } else {
                    seen[entry.key] = line.firstLine
                }
                for argument in entry.arguments {
                    if case .malformedOption(let text) = argument {
                        add(.error, path, line.firstLine, "service \(entry.key): -o needs name=value, found \"\(text)\"")
                    }
                }
                entries.append(entry)
            } catch {
                add(.error, path, line.firstLine, error.message)
            }
        }
    }

    /// Postfix programs a master.cf entry may name.
    public static let knownPrograms: Set<String> = [
        "smtpd", "smtp", "lmtp", "cleanup", "qmgr", "oqmgr", "pickup", "trivial-rewrite", "bounce", "verify",
        "flush", "proxymap", "showq", "error", "discard", "local", "virtual", "pipe", "anvil", "scache", "tlsmgr",
        "postlogd", "postscreen", "dnsblog", "tlsproxy", "spawn", "qmqpd", "master",
    ]

    private mutating func checkPrograms(_ entries: [MasterEntry], config: MailConfig, masterPath: String) {
        let daemonDirectory = config.value("daemon_directory")
        for entry in entries {
            let path = entry.command.hasPrefix("/") ? entry.command : daemonDirectory + "/" + entry.command
            if access(path, X_OK) != 0 {
                if Self.knownPrograms.contains(entry.command) {
                    add(.warning, masterPath, entry.firstLine,
                        "service \(entry.key): program \(entry.command) is not installed in \(daemonDirectory)")
                } else {
                    add(.error, masterPath, entry.firstLine, "service \(entry.key): unknown program \"\(entry.command)\"")
                }
            }
            for (name, value) in entry.options {
                if let spec = ParameterRegistry.spec(named: name) {
                    let expanded = (try? config.expand(value)) ?? value
                    if let problem = ValueChecker.problem(spec, value: expanded) {
                        add(.error, masterPath, entry.firstLine, "service \(entry.key): \(problem)")
                    }
                } else if config.serviceDefaults[name] == nil && config.main.values[name] == nil {
                    add(.warning, masterPath, entry.firstLine, "service \(entry.key): unused parameter: \(name)=\(value)")
                }
            }
        }
    }

    // MARK: main.cf

    private mutating func checkMain(_ main: MainConfigFile, config: MailConfig, entries: [MasterEntry]) {
        for w in main.warnings { add(.warning, main.path, nil, w) }
        var referenced = Set<String>()
        for entry in main.entries {
            if let names = try? ValueExpander.referencedNames(entry.value) { referenced.formUnion(names) }
        }
        for entry in entries {
            for (_, value) in entry.options {
                if let names = try? ValueExpander.referencedNames(value) { referenced.formUnion(names) }
            }
        }
        let classes = Set(config.value("smtpd_restriction_classes").splitList())
        for entry in main.entries {
            guard let spec = ParameterRegistry.spec(named: entry.name) else {
                if config.serviceDefaults[entry.name] == nil && !referenced.contains(entry.name)
                    && !classes.contains(entry.name) {
                    add(.warning, main.path, entry.firstLine, "unused parameter: \(entry.name)=\(entry.value)")
                }
                continue
            }
            let expanded: String
            do {
                expanded = spec.kind == .raw ? entry.value : try config.expand(entry.value)
            } catch {
                add(.error, main.path, entry.firstLine, "\(entry.name): \(error)")
                continue
            }
            if let problem = ValueChecker.problem(spec, value: expanded) {
                add(.error, main.path, entry.firstLine, problem)
            }
        }
    }

    /// Parameters whose values may name lookup tables.
    static func mayHoldTables(_ name: String) -> Bool {
        name.hasSuffix("_maps") || name.hasSuffix("_checks") || name.hasSuffix("_domains")
            || name.hasSuffix("_networks") || name == "mydestination" || name.hasSuffix("_database")
            || name.hasSuffix("_list")
    }

    private mutating func checkTables(_ main: MainConfigFile, config: MailConfig) {
        for entry in main.entries where main.values[entry.name] == entry.value && Self.mayHoldTables(entry.name) {
            let expanded = (try? config.expand(entry.value)) ?? entry.value
            for item in expanded.splitListGrouped() {
                guard let table = TableReference.parse(item) else { continue }
                checkTable(table, file: main.path, line: entry.firstLine, parameter: entry.name,
                           creates: entry.name.hasSuffix("_database") || entry.name == "address_verify_map")
            }
        }
    }

    private mutating func checkTable(_ table: TableReference, file: String, line: Int, parameter: String, creates: Bool) {
        if let inner = table.inner {
            checkTable(inner, file: file, line: line, parameter: parameter, creates: creates)
            return
        }
        if TableReference.foreignTypes.contains(table.type) {
            add(.error, file, line, "\(parameter): lookup table type \"\(table.type)\" is not supported by this build")
            return
        }
        guard TableReference.knownTypes.contains(table.type) else {
            add(.error, file, line, "\(parameter): unsupported dictionary type: \(table.type)")
            return
        }
        if !creates, let path = table.file, !TextFile.exists(path) {
            add(.error, file, line, "\(parameter): open database \(path): No such file or directory")
        }
    }

    private mutating func checkRestrictions(_ main: MainConfigFile, config: MailConfig) {
        let classes = Set(config.value("smtpd_restriction_classes").splitList())
        var lists: [(name: String, value: String, line: Int?)] = []
        for name in SmtpdRestrictions.listParameters {
            let line = main.entries.last(where: { $0.name == name })?.firstLine
            if line != nil { lists.append((name, config.value(name), line)) }
        }
        for cls in classes where main.values[cls] != nil {
            lists.append((cls, config.value(cls), main.entries.last(where: { $0.name == cls })?.firstLine))
        }
        for (name, value, line) in lists {
            var words = value.splitListGrouped()[...]
            while let word = words.popFirst() {
                let lower = word.lowercased()
                if SmtpdRestrictions.simple.contains(lower) || classes.contains(word) { continue }
                if let takesTable = SmtpdRestrictions.withArgument[lower] {
                    guard let argument = words.popFirst() else {
                        add(.error, main.path, line, "\(name): restriction \"\(word)\" needs an argument")
                        break
                    }
                    if takesTable {
                        if let table = TableReference.parse(argument) {
                            checkTable(table, file: main.path, line: line ?? 0, parameter: name, creates: false)
                        } else {
                            add(.error, main.path, line, "\(name): \(word) needs a type:table argument, found \"\(argument)\"")
                        }
                    }
                    continue
                }
                if let table = TableReference.parse(word) {
                    checkTable(table, file: main.path, line: line ?? 0, parameter: name, creates: false)
                    continue
                }
                add(.error, main.path, line, "\(name): unknown smtpd restriction: \"\(word)\"")
            }
        }
    }
}

extension String {
    func replacingPrefix(_ prefix: String) -> String {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self
    }
}
