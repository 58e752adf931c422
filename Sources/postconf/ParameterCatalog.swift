// ParameterCatalog: which main.cf names postconf knows, in Postfix's three
// classes (built-in, service-defined from master.cf names, user-defined:
// restriction classes and names that other values refer to), and the
// "undefined parameter" / "unused parameter" warnings that follow.
import Util
import Global

struct ParameterCatalog {
    let config: MailConfig
    let masterEntries: [MasterEntry]
    let masterPath: String
    /// main.cf names legitimised by use.
    private(set) var userDefined: Set<String> = []
    private(set) var warnings: [String] = []

    init(config: MailConfig, masterEntries: [MasterEntry], masterPath: String) {
        self.config = config
        self.masterEntries = masterEntries
        self.masterPath = masterPath
        classify()
    }

    /// Parameters postconf sets itself, whose main.cf text is never read.
    static let unscanned: Set<String> = ["process_id", "process_name", "service_name"]

    func isBuiltin(_ name: String) -> Bool { ParameterRegistry.isKnown(name) }
    func isServiceDefined(_ name: String) -> Bool { config.serviceDefaults[name] != nil }

    /// Known in any class.
    func isKnown(_ name: String) -> Bool {
        isBuiltin(name) || isServiceDefined(name) || userDefined.contains(name)
    }

    /// Every known name, sorted as Postfix sorts (byte order).
    var allNames: [String] {
        var names = Set(ParameterRegistry.all.map(\.name))
        names.formUnion(config.serviceDefaults.keys)
        names.formUnion(userDefined)
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    private mutating func classify() {
        let mainPath = config.main.path
        let defined = config.main.values
        var referencedFrom: [(name: String, file: String)] = []
        func scan(_ value: String, file: String) -> [String] {
            let (names, error) = ValueExpander.scan(value)
            if let error { warnings.append("\(error)") }
            return names
        }
        // Restriction class names are user-defined parameters.
        if let classes = config.rawValue("smtpd_restriction_classes") {
            let expanded = (try? config.expand(classes)) ?? classes
            for name in expanded.splitList() { referencedFrom.append((name, mainPath)) }
        }
        for entry in masterEntries {
            for (_, value) in entry.options {
                for name in scan(value, file: masterPath) { referencedFrom.append((name, masterPath)) }
            }
        }
        for entry in config.main.entries where defined[entry.name] == entry.value {
            if Self.unscanned.contains(entry.name) || ParameterRegistry.spec(named: entry.name)?.kind == .raw { continue }
            for name in scan(entry.value, file: mainPath) { referencedFrom.append((name, mainPath)) }
        }
        for (name, file) in referencedFrom {
            if isBuiltin(name) || isServiceDefined(name) { continue }
            if defined[name] != nil {
                userDefined.insert(name)
            } else {
                warnings.append("\(file): undefined parameter: \(name)")
            }
        }
        var reportedUnused = Set<String>()
        for entry in config.main.entries where defined[entry.name] == entry.value {
            if isKnown(entry.name) || !reportedUnused.insert(entry.name).inserted { continue }
            warnings.append("\(mainPath): unused parameter: \(entry.name)=\(entry.value)")
        }
        // -o overrides count as main.cf settings.
        for (name, value) in config.overrides.sorted(by: { $0.key < $1.key }) where defined[name] == nil {
            if isKnown(name) || !reportedUnused.insert(name).inserted { continue }
            warnings.append("\(mainPath): unused parameter: \(name)=\(value)")
        }
        for entry in masterEntries {
            for (name, value) in entry.options where !isKnown(name) {
                warnings.append("\(masterPath): unused parameter: \(name)=\(value)")
            }
        }
    }
}
