// ServiceContext: what a daemon's handler knows about the service it runs
// as: the configuration in force (main.cf plus the master.cf `-o`
// overrides), the master.cf service name and type, the program name and the
// arguments after the options. Typed parameter accessors end the program
// with Postfix's fatal wording when a value is malformed.
import Glibc
import Util
import Global

public struct ServiceContext: Sendable {
    /// main.cf with the -o overrides applied (config.overrides).
    public let config: MailConfig
    /// master.cf service field (-n).
    public let serviceName: String
    /// master.cf type field (-t).
    public let serviceType: String
    /// The process name, e.g. "proxymap".
    public let programName: String
    /// The arguments after the options.
    public let arguments: [String]
    /// -S: stand-alone, standard input and output are the one client (no
    /// master; `sendmail -bs` runs smtpd this way).
    public let standalone: Bool

    public init(config: MailConfig, serviceName: String, serviceType: String, programName: String, arguments: [String],
                standalone: Bool = false) {
        self.config = config
        self.serviceName = serviceName
        self.serviceType = serviceType
        self.programName = programName
        self.arguments = arguments
        self.standalone = standalone
    }

    /// The expanded value of `name`.
    public func string(_ name: String) -> String { config.value(name) }

    /// A time parameter in seconds; a malformed or out-of-range value is
    /// fatal (`parameter NAME: bad time value or unit: VALUE`).
    public func seconds(_ name: String) -> Int {
        switch ParameterValues.seconds(name, config: config) {
        case .success(let n): return n
        case .failure(let problem): MailLog.fatal(problem.text)
        }
    }

    /// An integer parameter; malformed or out of range is fatal
    /// (`bad numerical configuration: NAME = VALUE`).
    public func integer(_ name: String) -> Int {
        switch ParameterValues.integer(name, config: config) {
        case .success(let n): return n
        case .failure(let problem): MailLog.fatal(problem.text)
        }
    }

    /// A boolean parameter; anything but yes/no is fatal
    /// (`bad boolean configuration: NAME = VALUE`).
    public func bool(_ name: String) -> Bool {
        switch ParameterValues.bool(name, config: config) {
        case .success(let b): return b
        case .failure(let problem): MailLog.fatal(problem.text)
        }
    }
}
