// ParameterRegistry: the one list of main.cf parameters that postconf, the
// daemons and validation read. The table itself is generated into
// ParameterTable.swift by scripts/gen-parameter-table.py.

// Lookups are a binary search of the sorted table, chunk by chunk: no second
// index is built, which keeps every daemon process's private memory small (a
// dictionary of the ~840 specs cost each process about 250 KiB), and a
// process makes only the chunks of the names it asks for.

import Glibc

public enum ParameterRegistry {
    /// The spec for `name`, or nil when neither Postfix nor Posthorn knows it.
    public static func spec(named name: String) -> ParameterSpec? {
        var key = name
        // One byte-wise three-way comparison per step (names are ASCII, so
        // byte order is String order): first among the chunks' first names,
        // then within the one chunk that can hold the name, so that only
        // that chunk is made (ParameterTable.swift).
        return key.withUTF8 { (k: UnsafeBufferPointer<UInt8>) -> ParameterSpec? in
            func order(_ c: UnsafeBufferPointer<UInt8>) -> Int {
                let common = min(c.count, k.count)
                let rc = common == 0 ? 0 : Int(memcmp(c.baseAddress!, k.baseAddress!, common))
                return rc != 0 ? rc : c.count - k.count
            }
            // The last chunk whose first name is not above the name.
            let firsts = chunkFirstNames
            var low = 0
            var high = firsts.count
            while low < high {
                let middle = (low + high) / 2
                if firsts[middle].withUTF8Buffer(order) <= 0 { low = middle + 1 } else { high = middle }
            }
            guard low > 0 else { return nil }
            let specs = chunk(low - 1)
            low = 0
            high = specs.count
            while low < high {
                let middle = (low + high) / 2
                var candidate = specs[middle].name
                let o = candidate.withUTF8(order)
                if o == 0 { return specs[middle] }
                if o < 0 { low = middle + 1 } else { high = middle }
            }
            return nil
        }
    }

    /// Every parameter, sorted by name.
    public static var all: [ParameterSpec] { table }

    /// True when `name` is a built-in parameter.
    public static func isKnown(_ name: String) -> Bool { spec(named: name) != nil }
}
