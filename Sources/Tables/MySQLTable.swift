// MySQLTable: mysql:/file.cf tables over MariaDB Connector/C. The query
// (or the legacy settings) is filled with the key, quoted by
// mysql_real_escape_string on the connection that runs it; every column of
// every row is a value. The `hosts` are tried UNIX sockets first, each group
// in random order, connected ones before new ones; a server that fails is
// left alone for a minute. Connections stay open and are reused, closed
// after a minute idle. When no server answers the lookup fails with
// LookupError.temporary, so mail is deferred, never bounced. libmariadb is
// loaded on demand when the first mysql: table opens (CMariaDB's shim), as
// with Postfix's dynamicmaps; if it cannot be loaded the open fails.
//
// SECURITY: keys come from the network; they only ever reach the server
// through mysql_real_escape_string inside quotes the template supplies, on
// a utf8mb4 connection without multi-statement support.
import CMariaDB
import Glibc
import Util

public final class MySQLTable: LookupTable {
    public let reference: String
    public var keyCase: KeyCase { .foldToLower }
    private let rules: SQLTableLookup
    private let settings: Settings
    private let hosts: [Host]

    /// Seconds a failed server is left alone; seconds before an idle
    /// connection is closed (Postfix: about a minute for both).
    static let retryInterval = 60.0
    static let idleTimeout = 60.0
    static let connectTimeoutSeconds: UInt32 = 10
    static let readWriteTimeoutSeconds: UInt32 = 30

    /// Login and connection settings shared by every host.
    struct Settings {
        var user = ""
        var password = ""
        var dbname = ""
        var optionFile = ""
        var optionGroup = "client"
        var requireResultSet = true
        var tlsKeyFile = ""
        var tlsCertFile = ""
        var tlsCAFile = ""
        var tlsCAPath = ""
        var tlsCiphers = ""
        var tlsVerifyCert = false
        var usesTLS: Bool {
            !(tlsKeyFile.isEmpty && tlsCertFile.isEmpty && tlsCAFile.isEmpty && tlsCAPath.isEmpty && tlsCiphers.isEmpty)
        }
    }

    /// One server from `hosts`, with its connection.
    final class Host {
        /// As written in `hosts`, for messages.
        let spec: String
        let isUnix: Bool
        let hostname: String?
        let port: UInt32
        let socketPath: String?
        var connection: UnsafeMutablePointer<MYSQL>?
        var lastUsed = 0.0
        var retryAfter = 0.0

        init(_ spec: String) {
            self.spec = spec
            if spec.hasPrefix("unix:") {
                isUnix = true
                hostname = "localhost"
                port = 0
                socketPath = String(spec.dropFirst(5))
                return
            }
            isUnix = false
            socketPath = nil
            let address = spec.hasPrefix("inet:") ? String(spec.dropFirst(5)) : spec
            let parsed = Host.splitHostPort(address)
            hostname = parsed.host
            port = parsed.port
        }

        /// `host`, `host:port`, `[v6]`, `[v6]:port`.
        static func splitHostPort(_ text: String) -> (host: String, port: UInt32) {
            if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
                let host = String(text[text.index(after: text.startIndex)..<close])
                let rest = text[text.index(after: close)...]
                if rest.hasPrefix(":"), let port = UInt32(rest.dropFirst()) { return (host, port) }
                return (host, 0)
            }
            if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon,
               let port = UInt32(text[text.index(after: colon)...]) {
                return (String(text[..<colon]), port)
            }
            return (text, 0)
        }

        func close() {
            if let connection { mysql_close(connection) }
            connection = nil
        }

        deinit { close() }
    }

    public init(type: String, name: String, context: TableContext) throws(LookupError) {
        reference = type + ":" + name
        if let error = posthorn_mariadb_load_error() {
            throw .configuration("\(reference): cannot load the MariaDB client library: \(String(cString: error))")
        }
        let config = try SQLTableConfig(name: name, context: context)
        rules = try SQLTableLookup(type: "mysql", config: config, context: context)
        var settings = Settings()
        settings.user = config.string("user")
        settings.password = config.string("password")
        settings.dbname = config.string("dbname")
        settings.optionFile = config.string("option_file")
        settings.optionGroup = config.string("option_group", default: "client")
        settings.requireResultSet = try config.boolean("require_result_set", default: true)
        settings.tlsKeyFile = config.string("tls_key_file")
        settings.tlsCertFile = config.string("tls_cert_file")
        settings.tlsCAFile = config.string("tls_CAfile")
        settings.tlsCAPath = config.string("tls_CApath")
        settings.tlsCiphers = config.string("tls_ciphers")
        settings.tlsVerifyCert = try config.boolean("tls_verify_cert", default: false)
        self.settings = settings
        var specs = config.string("hosts").splitList()
        if specs.isEmpty { specs = ["localhost"] }
        hosts = specs.map(Host.init)
    }

    public func lookup(_ key: String) throws(LookupError) -> String? {
        // Decide first, without a server, whether the key is looked up.
        guard try rules.queryText(for: key, escape: { $0 }) != nil else { return nil }
        let now = MySQLTable.now()
        var lastError = "no MySQL server available"
        var tried = false
        for host in candidates(now) {
            tried = true
            guard let connection = connect(host, now: now, error: &lastError) else { continue }
            var escapeFailed = false
            guard let query = try rules.queryText(for: key, escape: { text in
                guard let escaped = MySQLTable.escape(text, on: connection) else { escapeFailed = true; return "" }
                return escaped
            }) else { return nil }
            if escapeFailed {
                lastError = "cannot quote the lookup key"
                Diagnostics.warning("\(reference): query failed: \(lastError)")
                throw .temporary("\(reference): query failed: \(lastError)")
            }
            switch run(query, on: host, now: now) {
            case .rows(let values):
                host.lastUsed = now
                return try rules.answer(values: values, key: key)
            case .failed(let message):
                lastError = message
            }
        }
        if !tried {
            lastError = "every server in hosts failed within the last \(Int(MySQLTable.retryInterval)) seconds"
        }
        throw .temporary("\(reference): query failed: \(lastError)")
    }

    /// The hosts to try, in order: UNIX sockets before TCP, each group
    /// shuffled, open connections first; failed hosts only after their
    /// retry time.
    private func candidates(_ now: Double) -> [Host] {
        let usable = hosts.filter { $0.connection != nil || $0.retryAfter <= now }
        let ordered = usable.filter(\.isUnix).shuffled() + usable.filter { !$0.isUnix }.shuffled()
        return ordered.filter { $0.connection != nil } + ordered.filter { $0.connection == nil }
    }

    /// An open connection to `host`: the existing one unless it sat idle
    /// too long, else a new one. nil (host marked down) on failure.
    private func connect(_ host: Host, now: Double, error: inout String) -> UnsafeMutablePointer<MYSQL>? {
        if let connection = host.connection {
            if now - host.lastUsed <= MySQLTable.idleTimeout { return connection }
            host.close()
        }
        guard let connection = mysql_init(nil) else {
            error = "mysql_init failed: out of memory"
            return nil
        }
        configure(connection)
        let user = settings.user, password = settings.password, dbname = settings.dbname
        let connected = MySQLTable.withOptionalCString(host.hostname) { hostname in
            MySQLTable.withOptionalCString(host.socketPath) { socketPath in
                MySQLTable.withOptionalCString(user.isEmpty ? nil : user) { user in
                    MySQLTable.withOptionalCString(password.isEmpty ? nil : password) { password in
                        MySQLTable.withOptionalCString(dbname.isEmpty ? nil : dbname) { dbname in
                            mysql_real_connect(connection, hostname, user, password, dbname, host.port, socketPath,
                                               posthorn_mariadb_client_multi_results()) != nil
                        }
                    }
                }
            }
        }
        guard connected else {
            error = String(cString: mysql_error(connection))
            Diagnostics.warning("connect to mysql server \(host.spec): \(error)")
            mysql_close(connection)
            host.retryAfter = now + MySQLTable.retryInterval
            return nil
        }
        host.connection = connection
        host.lastUsed = now
        return connection
    }

    private func configure(_ connection: UnsafeMutablePointer<MYSQL>) {
        var connectTimeout = MySQLTable.connectTimeoutSeconds
        var ioTimeout = MySQLTable.readWriteTimeoutSeconds
        mysql_options(connection, MYSQL_OPT_CONNECT_TIMEOUT, &connectTimeout)
        mysql_options(connection, MYSQL_OPT_READ_TIMEOUT, &ioTimeout)
        mysql_options(connection, MYSQL_OPT_WRITE_TIMEOUT, &ioTimeout)
        mysql_options(connection, MYSQL_SET_CHARSET_NAME, "utf8mb4")
        if !settings.optionFile.isEmpty {
            mysql_options(connection, MYSQL_READ_DEFAULT_FILE, settings.optionFile)
        }
        if !settings.optionGroup.isEmpty {
            mysql_options(connection, MYSQL_READ_DEFAULT_GROUP, settings.optionGroup)
        }
        if settings.usesTLS {
            let s = settings
            _ = MySQLTable.withOptionalCString(s.tlsKeyFile.isEmpty ? nil : s.tlsKeyFile) { key in
                MySQLTable.withOptionalCString(s.tlsCertFile.isEmpty ? nil : s.tlsCertFile) { cert in
                    MySQLTable.withOptionalCString(s.tlsCAFile.isEmpty ? nil : s.tlsCAFile) { ca in
                        MySQLTable.withOptionalCString(s.tlsCAPath.isEmpty ? nil : s.tlsCAPath) { caPath in
                            MySQLTable.withOptionalCString(s.tlsCiphers.isEmpty ? nil : s.tlsCiphers) { ciphers in
                                mysql_ssl_set(connection, key, cert, ca, caPath, ciphers)
                            }
                        }
                    }
                }
            }
            var verify: my_bool = settings.tlsVerifyCert ? 1 : 0
            mysql_options(connection, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify)
        }
    }

    private enum Outcome {
        case rows([String?])
        case failed(String)
    }

    /// Runs `query` on `host`'s connection. A connection that the server
    /// dropped while idle is reopened once; any other failure closes it and
    /// marks the host down.
    private func run(_ query: String, on host: Host, now: Double) -> Outcome {
        guard let connection = host.connection else { return .failed("not connected") }
        let status = query.withCString { mysql_real_query(connection, $0, UInt(query.utf8.count)) }
        if status != 0 {
            let code = mysql_errno(connection)
            let message = String(cString: mysql_error(connection))
            let reused = host.lastUsed < now
            host.close()
            if reused && (code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST) {
                var error = ""
                if connect(host, now: now, error: &error) != nil {
                    host.lastUsed = now
                    return run(query, on: host, now: now)
                }
                return .failed(error)
            }
            return fail(host, now: now, message)
        }
        guard let result = mysql_store_result(connection) else {
            if mysql_field_count(connection) != 0 {
                return fail(host, now: now, String(cString: mysql_error(connection)))
            }
            if settings.requireResultSet {
                return fail(host, now: now, "query returned no result set(require_result_set = yes)")
            }
            return drain(connection, host: host, now: now, values: [])
        }
        var values: [String?] = []
        let fields = Int(mysql_num_fields(result))
        while let row = mysql_fetch_row(result) {
            let lengths = mysql_fetch_lengths(result)
            for i in 0..<fields {
                guard let cell = row[i] else { values.append(nil); continue }
                let length = lengths.map { Int($0[i]) } ?? strlen(cell)
                values.append(cell.withMemoryRebound(to: UInt8.self, capacity: length) {
                    String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                })
            }
        }
        mysql_free_result(result)
        return drain(connection, host: host, now: now, values: values)
    }

    /// Reads what follows the first result (a CALL's status result); a
    /// second result set is an error, as in Postfix.
    private func drain(_ connection: UnsafeMutablePointer<MYSQL>, host: Host, now: Double, values: [String?]) -> Outcome {
        while true {
            let next = mysql_next_result(connection)
            if next < 0 { return .rows(values) }
            if next > 0 { return fail(host, now: now, String(cString: mysql_error(connection))) }
            if let extra = mysql_store_result(connection) {
                mysql_free_result(extra)
                return fail(host, now: now, "stored procedure returned multiple result sets")
            }
        }
    }

    private func fail(_ host: Host, now: Double, _ message: String) -> Outcome {
        Diagnostics.warning("\(reference): query failed: \(message)")
        host.close()
        host.retryAfter = now + MySQLTable.retryInterval
        return .failed(message)
    }

    /// `text` quoted for use inside '...' with the connection's character
    /// set (mysql_real_escape_string); nil if the library refuses.
    static func escape(_ text: String, on connection: UnsafeMutablePointer<MYSQL>) -> String? {
        let length = text.utf8.count
        var buffer = [CChar](repeating: 0, count: 2 * length + 1)
        let written = text.withCString { mysql_real_escape_string(connection, &buffer, $0, UInt(length)) }
        guard written != UInt.max else { return nil }
        return buffer.withUnsafeBufferPointer { pointer in
            pointer.withMemoryRebound(to: UInt8.self) {
                String(decoding: UnsafeBufferPointer(start: $0.baseAddress, count: Int(written)), as: UTF8.self)
            }
        }
    }

    private static func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let text else { return body(nil) }
        return text.withCString { body($0) }
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
