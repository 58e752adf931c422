// LookupTable: the one interface every lookup table type implements
// (hash, btree, lmdb, regexp, pcre, cidr, static, inline, texthash, unix,
// mysql, sqlite, proxy). A lookup either finds a value, finds nothing, or
// fails; a failure is never mistaken for "not found", so a database that
// is down defers mail instead of bouncing it.
import Util

/// Why a lookup or an open failed.
public enum LookupError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Try again later (database down, file locked): mail is deferred.
    case temporary(String)
    /// The table is misconfigured or unreadable (bad syntax, missing file,
    /// unknown type); Postfix treats this as fatal for the process.
    case configuration(String)

    public var description: String {
        switch self {
        case .temporary(let text), .configuration(let text): return text
        }
    }
}

/// How a table treats the case of lookup keys.
public enum KeyCase: Sendable, Equatable {
    /// Keys are folded to lower case before lookup (indexed files, inline,
    /// texthash, mysql, sqlite, ...), as Postfix's DICT_FLAG_FOLD_FIX does.
    case foldToLower
    /// Keys are matched as given; the table decides (regexp, pcre, cidr).
    case asGiven
}

/// A readable lookup table.
public protocol LookupTable: AnyObject {
    /// `type:name`, as the configuration wrote it.
    var reference: String { get }
    /// Whether keys are lower-cased before lookup.
    var keyCase: KeyCase { get }
    /// True for tables matched by pattern (regexp, pcre, cidr): the address
    /// search order then tries the whole address only.
    var isPatternTable: Bool { get }
    /// Looks `key` up; nil when not found.
    func lookup(_ key: String) throws(LookupError) -> String?
}

extension LookupTable {
    public var isPatternTable: Bool { false }

    /// Looks up `key` after the table's case folding.
    public func find(_ key: String) throws(LookupError) -> String? {
        try lookup(keyCase == .foldToLower ? key.asciiLowercased() : key)
    }
}

/// A table that can also be changed and listed (postmap -d, -s, proxywrite).
public protocol UpdatableTable: LookupTable {
    func update(_ key: String, _ value: String) throws(LookupError)
    /// Removes `key`; false when it was not there.
    func delete(_ key: String) throws(LookupError) -> Bool
    /// Every key and value, in the table's own order.
    func entries() throws(LookupError) -> [(key: String, value: String)]
}
