// ParameterSpec: the declared shape of one main.cf parameter (name, type,
// default, range, one-line description), as the registry lists it.

/// The value type of a parameter, which decides how its text is checked.
public enum ParameterKind: Sendable, Equatable {
    /// Free text, `$name` references expanded at use.
    case string
    /// Free text used verbatim: `$` is not expanded (Postfix's "raw" parameters).
    case raw
    /// `yes` or `no`.
    case bool
    /// A decimal integer (32-bit in Postfix).
    case int
    /// A decimal integer (64-bit in Postfix; sizes in bytes).
    case long
    /// A time: digits with an optional unit `s`, `m`, `h`, `d` or `w`;
    /// a bare number is in `defaultUnit`.
    case time(defaultUnit: Character)
}

/// Where a parameter comes from.
public enum ParameterOrigin: Sendable, Equatable {
    /// Postfix 3.7 knows it.
    case postfix
    /// A Posthorn extension (for example the VDA-style quota parameters).
    case posthorn
}

/// One parameter as the registry declares it.
public struct ParameterSpec: Sendable {
    public let name: String
    public let kind: ParameterKind
    /// The default as `postconf -d` shows it, `$name` references kept.
    /// Defaults that depend on the machine are computed by `DerivedDefaults`.
    public let defaultValue: String
    /// Smallest allowed value (inclusive), for numeric and time kinds.
    public let minimum: Int64?
    /// Largest allowed value (inclusive); nil means no upper limit.
    public let maximum: Int64?
    /// Our own one-line description.
    public let summary: String
    public let origin: ParameterOrigin

    public init(_ name: String, _ kind: ParameterKind, _ defaultValue: String,
                min minimum: Int64? = nil, max maximum: Int64? = nil,
                origin: ParameterOrigin = .postfix, _ summary: String) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.minimum = minimum
        self.maximum = maximum
        self.summary = summary
        self.origin = origin
    }
}
