// ParameterRegistry: the one list of main.cf parameters that postconf, the
// daemons and validation read. The table itself is generated into
// ParameterTable.swift by scripts/gen-parameter-table.py.

// Lookups are a binary search of the sorted table: no second index is built,
// which keeps every daemon process's private memory small (a dictionary of
// the ~840 specs cost each process about 250 KiB).

public enum ParameterRegistry {
    /// The spec for `name`, or nil when neither Postfix nor Posthorn knows it.
    public static func spec(named name: String) -> ParameterSpec? {
        let specs = table
        var low = 0
        var high = specs.count
        while low < high {
            let middle = (low + high) / 2
            let candidate = specs[middle].name
            if candidate == name { return specs[middle] }
            if candidate < name { low = middle + 1 } else { high = middle }
        }
        return nil
    }

    /// Every parameter, sorted by name.
    public static var all: [ParameterSpec] { table }

    /// True when `name` is a built-in parameter.
    public static func isKnown(_ name: String) -> Bool { spec(named: name) != nil }
}
