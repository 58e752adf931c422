// ValueChecker: checks one parameter value against its declared type and
// range (boolean, integer, size, time with unit), with Postfix's wording.
// Daemons use it when they read a value (ServerSkeleton's ServiceContext)
// and `postfix check` uses it up front, with the line the value came from.

public enum ValueChecker {
    /// Seconds per time unit letter (a switch: a dictionary literal costs
    /// every daemon a generic type instantiation at start-up).
    static func unitSeconds(_ unit: Character) -> Int64? {
        switch unit {
        case "s": return 1
        case "m": return 60
        case "h": return 3600
        case "d": return 86400
        case "w": return 604800
        default: return nil
        }
    }

    /// A time value in seconds ("10s", "5d", or a bare number in `defaultUnit`).
    public static func seconds(_ text: String, defaultUnit: Character) -> Int64? {
        var digits = Substring(text)
        var unit = defaultUnit
        if let last = digits.last, last.isLetter {
            unit = last
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let n = Int64(digits), let scale = unitSeconds(unit) else { return nil }
        return n.multipliedReportingOverflow(by: scale).overflow ? nil : n * scale
    }

    /// The problem with `value` (already expanded) for `spec`, or nil.
    public static func problem(_ spec: ParameterSpec, value: String) -> String? {
        let name = spec.name
        switch spec.kind {
        case .string, .raw:
            return nil
        case .bool:
            let v = value.lowercased()
            return v == "yes" || v == "no" ? nil : "bad boolean configuration: \(name) = \(value)"
        case .int, .long:
            guard let n = Int64(value), !value.hasPrefix("+") else {
                return "bad numerical configuration: \(name) = \(value)"
            }
            if spec.kind == .int && (n > Int64(Int32.max) || n < Int64(Int32.min)) {
                return "bad numerical configuration: \(name) = \(value)"
            }
            return rangeProblem(spec, n, shown: value)
        case .time(let unit):
            guard let n = seconds(value, defaultUnit: unit) else {
                return "parameter \(name): bad time value or unit: \(value)"
            }
            return rangeProblem(spec, n, shown: value)
        }
    }

    private static func rangeProblem(_ spec: ParameterSpec, _ n: Int64, shown: String) -> String? {
        if let min = spec.minimum, n < min {
            return "invalid \(spec.name) parameter value \(shown) < \(describe(min, spec))"
        }
        if let max = spec.maximum, n > max {
            return "invalid \(spec.name) parameter value \(shown) > \(describe(max, spec))"
        }
        return nil
    }

    private static func describe(_ limit: Int64, _ spec: ParameterSpec) -> String {
        if case .time = spec.kind { return "\(limit)s" }
        return "\(limit)"
    }
}
