// ParameterRegistry: the one list of main.cf parameters that postconf, the
// daemons and validation read. The table itself is generated into
// ParameterTable.swift by scripts/gen-parameter-table.py.

// Lookups are a binary search of the sorted table: no second index is built,
// which keeps every daemon process's private memory small (a dictionary of
// the ~840 specs cost each process about 250 KiB).

import Glibc

public enum ParameterRegistry {
    /// The spec for `name`, or nil when neither Postfix nor Posthorn knows it.
    public static func spec(named name: String) -> ParameterSpec? {
        let specs = table
        var low = 0
        var high = specs.count
        var key = name
        // One byte-wise three-way comparison per step (names are ASCII, so
        // byte order is String order) instead of String's == and <, two
        // calls into the generic comparison (smtpd's start-up: 3.44 to
        // 3.31 million instructions; building the table once is the rest).
        return key.withUTF8 { (k: UnsafeBufferPointer<UInt8>) -> ParameterSpec? in
            while low < high {
                let middle = (low + high) / 2
                var candidate = specs[middle].name
                let order = candidate.withUTF8 { (c: UnsafeBufferPointer<UInt8>) -> Int in
                    let common = min(c.count, k.count)
                    let rc = common == 0 ? 0 : Int(memcmp(c.baseAddress!, k.baseAddress!, common))
                    return rc != 0 ? rc : c.count - k.count
                }
                if order == 0 { return specs[middle] }
                if order < 0 { low = middle + 1 } else { high = middle }
            }
            return nil
        }
    }

    /// Every parameter, sorted by name.
    public static var all: [ParameterSpec] { table }

    /// True when `name` is a built-in parameter.
    public static func isKnown(_ name: String) -> Bool { spec(named: name) != nil }
}
