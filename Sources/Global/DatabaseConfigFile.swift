// DatabaseConfigFile: the `name = value` files behind mysql:, pgsql:,
// sqlite:, ldap: and memcache: tables, with the names each type accepts,
// so that postconf can flag misspelled settings as Postfix does.
import Util

public enum DatabaseConfigFile {
    /// The settings each table type reads.
    public static let knownNames: [String: Set<String>] = [
        "mysql": ["additional_conditions", "dbname", "domain", "expansion_limit", "hosts", "option_file",
                  "option_group", "password", "query", "require_result_set", "result_format", "select_field",
                  "table", "tls_CAfile", "tls_CApath", "tls_cert_file", "tls_ciphers", "tls_key_file",
                  "tls_verify_cert", "user", "where_field"],
        "pgsql": ["additional_conditions", "dbname", "domain", "expansion_limit", "hosts", "password", "query",
                  "result_format", "select_field", "select_function", "table", "user", "where_field"],
        "sqlite": ["additional_conditions", "dbpath", "domain", "expansion_limit", "query", "result_format",
                   "select_field", "table", "where_field"],
        "ldap": ["bind", "bind_dn", "bind_pw", "cache", "cache_expiry", "cache_size", "chase_referrals", "debuglevel",
                 "dereference", "domain", "expansion_limit", "leaf_result_attribute", "query_filter",
                 "recursion_limit", "result_attribute", "result_filter", "result_format", "sasl_authz_id",
                 "sasl_mechs", "sasl_minssf", "sasl_realm", "scope", "search_base", "server_host", "server_port",
                 "size_limit", "special_result_attribute", "start_tls", "terminal_result_attribute", "timeout",
                 "tls_ca_cert_dir", "tls_ca_cert_file", "tls_cert", "tls_cipher_suite", "tls_key", "tls_random_file",
                 "tls_require_cert", "version"],
        "memcache": ["backup", "data_size_limit", "domain", "flags", "key_format", "line_size_limit", "max_try",
                     "memcache", "retry_pause", "timeout", "ttl"],
    ]

    /// Every database table that `values` name (proxy: unwrapped), each once,
    /// in order of first mention.
    public static func references(in values: [String]) -> [TableReference] {
        var seen = Set<String>()
        var result: [TableReference] = []
        for value in values {
            for item in value.splitListGrouped() {
                guard var table = TableReference.parse(item) else { continue }
                while let inner = table.inner { table = inner }
                guard knownNames[table.type] != nil, seen.insert("\(table.type):\(table.name)").inserted else { continue }
                result.append(table)
            }
        }
        return result
    }

    /// Postfix's warnings for one database table's configuration file:
    /// a file that cannot be opened, or settings its type does not know.
    public static func warnings(for table: TableReference) -> [String] {
        guard let known = knownNames[table.type] else { return [] }
        let text: String
        do {
            text = try TextFile.read(table.name)
        } catch {
            return ["open \"\(table.type)\" configuration \"\(table.name)\": \(error)"]
        }
        guard let file = try? MainConfigFile.parse(text, path: table.name) else { return [] }
        var warnings: [String] = []
        var reported = Set<String>()
        for entry in file.entries where file.values[entry.name] == entry.value {
            if known.contains(entry.name) || !reported.insert(entry.name).inserted { continue }
            warnings.append("\(table.type):\(table.name): unused parameter: \(entry.name)=\(entry.value)")
        }
        return warnings
    }
}
