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
    static let unitSeconds: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800]

    /// Seconds for "10s", "5m" or a bare number in `defaultUnit`; nil when malformed.
    public static func parseTime(_ text: String, defaultUnit: Character = "s") -> Int? {
        var digits = Substring(text)
        var unit = defaultUnit
        if let last = digits.last, last.isLetter {
            unit = last
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let n = Int(digits), let scale = unitSeconds[unit] else { return nil }
        let (product, overflow) = n.multipliedReportingOverflow(by: scale)
        return overflow || product > Int(Int32.max) ? nil : product
    }

    public static func seconds(_ name: String, config: MailConfig) -> Result<Int, ParameterProblem> {
        let value = config.value(name)
        var unit: Character = "s"
        if case .time(let u)? = ParameterRegistry.spec(named: name)?.kind { unit = u }
        guard let n = parseTime(value, defaultUnit: unit) else {
            return .failure(ParameterProblem("parameter \(name): bad time value or unit: \(value)"))
        }
        if let spec = ParameterRegistry.spec(named: name) {
            if let min = spec.minimum, Int64(n) < min {
                return .failure(ParameterProblem("invalid \(name) parameter value \(value) < \(min)s"))
            }
            if let max = spec.maximum, Int64(n) > max {
                return .failure(ParameterProblem("invalid \(name) parameter value \(value) > \(max)s"))
            }
        }
        return .success(n)
    }

    public static func integer(_ name: String, config: MailConfig) -> Result<Int, ParameterProblem> {
        let value = config.value(name)
        guard !value.hasPrefix("+"), let n = Int(value), n >= Int(Int32.min), n <= Int(Int32.max) else {
            return .failure(ParameterProblem("bad numerical configuration: \(name) = \(value)"))
        }
        if let spec = ParameterRegistry.spec(named: name) {
            if let min = spec.minimum, Int64(n) < min {
                return .failure(ParameterProblem("invalid \(name) parameter value \(value) < \(min)"))
            }
            if let max = spec.maximum, Int64(n) > max {
                return .failure(ParameterProblem("invalid \(name) parameter value \(value) > \(max)"))
            }
        }
        return .success(n)
    }

    public static func bool(_ name: String, config: MailConfig) -> Result<Bool, ParameterProblem> {
        let value = config.value(name).lowercased()
        if value == "yes" { return .success(true) }
        if value == "no" { return .success(false) }
        return .failure(ParameterProblem("bad boolean configuration: \(name) = \(config.value(name))"))
    }
}
