// ParameterValues: typed reading of parameter values (time with unit,
// integer, boolean) with Postfix's fatal wording; pure, so tests can
// check the messages.
import Util
import Global

public struct ParameterProblem: Error, Equatable, Sendable {
    public let text: String
    public init(_ text: String) { self.text = text }
}

public enum ParameterValues {
    /// Seconds for "10s", "5m" or a bare number in `defaultUnit`; nil when
    /// malformed or beyond what Postfix's 32-bit time values hold.
    public static func parseTime(_ text: String, defaultUnit: Character = "s") -> Int? {
        guard let n = ValueChecker.seconds(text, defaultUnit: defaultUnit), n <= Int64(Int32.max) else { return nil }
        return Int(n)
    }

    /// The value of `name` checked against its registry entry (type and
    /// range), or Postfix's message for what is wrong with it.
    private static func checked(_ name: String, config: MailConfig, as kind: ParameterKind) -> Result<String, ParameterProblem> {
        let value = config.value(name)
        let spec = ParameterRegistry.spec(named: name) ?? ParameterSpec(name, kind, "", "")
        if let problem = ValueChecker.problem(spec, value: value) { return .failure(ParameterProblem(problem)) }
        return .success(value)
    }

    public static func seconds(_ name: String, config: MailConfig) -> Result<Int, ParameterProblem> {
        var unit: Character = "s"
        if case .time(let u)? = ParameterRegistry.spec(named: name)?.kind { unit = u }
        return checked(name, config: config, as: .time(defaultUnit: unit)).flatMap { value in
            guard let n = parseTime(value, defaultUnit: unit) else {
                return .failure(ParameterProblem("parameter \(name): bad time value or unit: \(value)"))
            }
            return .success(n)
        }
    }

    public static func integer(_ name: String, config: MailConfig) -> Result<Int, ParameterProblem> {
        checked(name, config: config, as: .int).flatMap { value in
            guard let n = Int(value), n >= Int(Int32.min), n <= Int(Int32.max) else {
                return .failure(ParameterProblem("bad numerical configuration: \(name) = \(value)"))
            }
            return .success(n)
        }
    }

    public static func bool(_ name: String, config: MailConfig) -> Result<Bool, ParameterProblem> {
        checked(name, config: config, as: .bool).map { $0.lowercased() == "yes" }
    }
}
