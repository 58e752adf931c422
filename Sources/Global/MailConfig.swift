// MailConfig: the parameter values in force for one program: command-line
// or master.cf `-o` overrides, then main.cf, then service-defined and
// built-in defaults, then the machine-derived ones. Values are expanded at
// use, as Postfix does.
import Glibc
import Util

public struct MailConfig: Sendable {
    public let configDirectory: String
    public let main: MainConfigFile
    /// `-o name=value` overrides, highest precedence.
    public var overrides: [String: String]
    /// Defaults of parameters that master.cf service names define.
    public var serviceDefaults: [String: String]
    /// The same, read from master.cf only when a name that is not built in
    /// is first looked up (daemons: most never need them, and reading
    /// master.cf was a tenth of a daemon's start-up).
    public var lateServiceDefaults: LateServiceDefaults?
    /// The program name, for process_name.
    public var programName: String

    public init(configDirectory: String, main: MainConfigFile, overrides: [String: String] = [:],
                serviceDefaults: [String: String] = [:], programName: String = "posthorn") {
        self.configDirectory = configDirectory
        self.main = main
        self.overrides = overrides
        self.serviceDefaults = serviceDefaults
        self.programName = programName
    }

    /// The configuration directory a command uses: its -c option, else
    /// MAIL_CONFIG, else the compiled-in default.
    public static func directory(option: String?) -> String {
        if let option { return option }
        if let env = getenv("MAIL_CONFIG") { return String(cString: env) }
        return ParameterRegistry.spec(named: "config_directory")?.defaultValue ?? "/etc/postfix"
    }

    /// Reads main.cf for a command, ending the program with Postfix's fatal
    /// message when that fails.
    public static func loadOrExit(option: String?, programName: String) -> MailConfig {
        do {
            return try load(directory: directory(option: option), programName: programName)
        } catch {
            Diagnostics.fatal(error.postfixText)
        }
    }

    /// Reads `main.cf` from `directory`.
    public static func load(directory: String, programName: String = "posthorn") throws(ConfigError) -> MailConfig {
        let main = try MainConfigFile.load(path: directory + "/main.cf")
        return MailConfig(configDirectory: directory, main: main, programName: programName)
    }

    /// The default of `name` (declared, service-defined or derived), unexpanded.
    public func defaultValue(_ name: String) -> String? {
        if name == "config_directory" { return ParameterRegistry.spec(named: name)?.defaultValue }
        if DerivedDefaults.names.contains(name) {
            return DerivedDefaults.value(of: name, programName: programName) { self.value($0) }
        }
        if let v = serviceDefaults[name] { return v }
        if let spec = ParameterRegistry.spec(named: name) { return spec.defaultValue }
        guard let late = lateServiceDefaults, ServiceParameters.mayBeServiceDefined(name) else { return nil }
        return late.values[name]
    }

    /// The unexpanded value in force, or nil when the name is unknown and unset.
    public func rawValue(_ name: String) -> String? {
        if let v = overrides[name] { return v }
        if name == "config_directory" { return configDirectory }
        if let v = main.values[name] { return v }
        return defaultValue(name)
    }

    /// Expands `text` against this configuration.
    public func expand(_ text: String) throws(ExpansionError) -> String {
        var expander = ValueExpander { self.rawValue($0) }
        return try expander.expand(text)
    }

    /// The expanded value of `name` ("" when unknown or malformed).
    public func value(_ name: String) -> String {
        guard let raw = rawValue(name) else { return "" }
        // Without a `$` there is nothing to expand (most values a daemon
        // reads at start-up: about 5,000 instructions each otherwise).
        if !raw.utf8.contains(UInt8(ascii: "$")) { return raw }
        return (try? expand(raw)) ?? raw
    }

    /// The expanded value as a boolean ("yes" is true).
    public func bool(_ name: String) -> Bool {
        value(name).lowercased() == "yes"
    }
}

/// Service-defined parameter defaults computed on first use (see
/// MailConfig.lateServiceDefaults).
public final class LateServiceDefaults: @unchecked Sendable {
    private let compute: () -> [String: String]
    private var computed: [String: String]?

    public init(_ compute: @escaping () -> [String: String]) { self.compute = compute }

    public var values: [String: String] {
        if let computed { return computed }
        let table = compute()
        computed = table
        return table
    }
}
