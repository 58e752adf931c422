// ParameterRegistry: the one list of main.cf parameters that postconf, the
// daemons and validation read. The table itself is generated into
// ParameterTable.swift by scripts/gen-parameter-table.py.

public enum ParameterRegistry {
    private static let byName: [String: ParameterSpec] =
        Dictionary(uniqueKeysWithValues: table.map { ($0.name, $0) })

    /// The spec for `name`, or nil when neither Postfix nor Posthorn knows it.
    public static func spec(named name: String) -> ParameterSpec? { byName[name] }

    /// Every parameter, sorted by name.
    public static var all: [ParameterSpec] { table }

    /// True when `name` is a built-in parameter.
    public static func isKnown(_ name: String) -> Bool { byName[name] != nil }
}
