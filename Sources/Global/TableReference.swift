// TableReference: a `type:name` lookup table reference as Postfix writes
// them (hash:/etc/aliases, proxy:mysql:/etc/postfix/x.cf, inline:{...}),
// with the table types Posthorn knows and the files each one reads.

public struct TableReference: Sendable, Equatable {
    public let type: String
    public let name: String
    /// The table behind `proxy:`, if any.
    public var inner: TableReference? {
        guard type == "proxy" else { return nil }
        return TableReference.parse(name)
    }

    /// Types this build knows, as `postconf -m` lists them.
    public static let knownTypes: Set<String> = [
        "btree", "cidr", "environ", "fail", "hash", "inline", "internal", "lmdb", "mysql", "pcre", "pipemap",
        "proxy", "randmap", "regexp", "socketmap", "sqlite", "static", "texthash", "unionmap", "unix",
    ]
    /// Types Postfix knows that this build does not (yet) implement.
    public static let foreignTypes: Set<String> = ["cdb", "dbm", "sdbm", "ldap", "pgsql", "memcache", "tcp", "nis", "nisplus", "netinfo"]

    /// Parses `type:name`; nil when the text has no type prefix.
    public static func parse(_ text: String) -> TableReference? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let type = String(text[..<colon])
        guard !type.isEmpty, type.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }) else {
            return nil
        }
        return TableReference(type: type, name: String(text[text.index(after: colon)...]))
    }

    /// The file a table of this type reads, or nil for types without one.
    public var file: String? {
        switch type {
        case "hash", "btree": return name + ".db"
        case "lmdb": return name + ".lmdb"
        case "cidr", "pcre", "regexp", "texthash", "mysql", "sqlite", "pgsql", "ldap", "memcache":
            return name.hasPrefix("/") ? name : nil
        default: return nil
        }
    }
}
