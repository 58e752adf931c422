// SQLTableTests: the parts of mysql: and sqlite: tables that need no
// server: '%' expansion in queries and result formats, quoting, the legacy
// settings, `domain`, `expansion_limit`; an SQLite file end to end; and an
// unreachable MySQL server giving a temporary error, never "not found".
// The expected answers were taken from Debian's postmap 3.7 (sqlite:).
import XCTest
import Foundation
@testable import Tables
import Global

final class SQLTableTests: XCTestCase {
    private func template(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> SQLTableTemplate {
        guard let parsed = SQLTableTemplate(text) else {
            XCTFail("template did not parse: \(text)", file: file, line: line)
            return SQLTableTemplate("")!
        }
        return parsed
    }

    private func query(_ text: String, _ key: String) -> String? {
        template(text).expandQuery(key: key, escape: SQLiteTable.escape)
    }

    // MARK: query templates

    func testEveryQueryExpansion() {
        let all = "SELECT '%%|%s|%u|%d|%1|%2|%S|%U|%D'"
        XCTAssertEqual(query(all, "a@b.c"), "SELECT '%|a@b.c|a|b.c|c|b|a@b.c|a|b.c'")
        XCTAssertEqual(query(all, "a@b@c.d"), "SELECT '%|a@b@c.d|a@b|c.d|d|c|a@b@c.d|a@b|c.d'")
        // Suppressed: no domain for %d or %1, one label only for %2, empty local part.
        XCTAssertNil(query(all, "plain"))
        XCTAssertNil(query(all, "a@b"))
        XCTAssertNil(query(all, "@b.c"))
        XCTAssertNil(query(all, "a@"))
    }

    func testUserExpansion() {
        XCTAssertEqual(query("%s|%u", "a@b.c"), "a@b.c|a")
        XCTAssertEqual(query("%s|%u", "plain"), "plain|plain")
        XCTAssertEqual(query("%s|%u", "a@"), "a@|a")
        XCTAssertEqual(query("%s|%U", "a@b@c.d"), "a@b@c.d|a@b")
        XCTAssertNil(query("%u", "@b.c"))
        XCTAssertNil(query("%U", "@b.c"))
    }

    func testDomainExpansion() {
        XCTAssertEqual(query("%d", "@b.c"), "b.c")
        XCTAssertEqual(query("%d", "a@b"), "b")
        XCTAssertEqual(query("%D", "a@B"), "B")
        XCTAssertNil(query("%d", "a@"))
        XCTAssertNil(query("%D", "plain"))
    }

    func testDomainLabels() {
        XCTAssertEqual(query("%1,%2,%3", "a@x.y.c"), "c,y,x")
        XCTAssertNil(query("%3", "a@b.c"))
        XCTAssertEqual(query("%1,%2", "a@x..c"), "c,x")   // empty labels do not count
        XCTAssertEqual(query("%1,%2", "a@x.c."), "c,x")
        XCTAssertEqual(query("%1,%2", "a@.x.c"), "c,x")
        XCTAssertNil(query("%1,%2,%3", "a@x..c"))
        XCTAssertNil(query("%1,%2", "a@c"))
        XCTAssertEqual(query("%9", "a@9.8.7.6.5.4.3.2.1"), "9")
        XCTAssertNil(query("%1", "plain"))
    }

    func testInvalidTemplates() {
        for bad in ["SELECT '%x'", "SELECT '%'", "SELECT 'a%0'", "%", "%\u{301}s"] {
            XCTAssertNil(SQLTableTemplate(bad), bad)
        }
        XCTAssertEqual(SQLTableTemplate("100%%")?.parts, [.text("100%")])
        XCTAssertEqual(SQLTableTemplate("")?.parts, [])
    }

    // MARK: quoting

    func testSQLiteQuotingDoublesQuotes() {
        XCTAssertEqual(SQLiteTable.escape("o'brien"), "o''brien")
        XCTAssertEqual(SQLiteTable.escape("' OR '1'='1"), "'' OR ''1''=''1")
        XCTAssertEqual(SQLiteTable.escape("a\\b%_\""), "a\\b%_\"")
        // A quote followed by a combining mark is one Character but still a quote.
        XCTAssertEqual(SQLiteTable.escape("x'\u{301}y"), "x''\u{301}y")
        XCTAssertEqual(query("WHERE k = '%s' AND u = '%u' AND d = '%d' AND t = '%1'", "o'b@ex'.c'om"),
                       "WHERE k = 'o''b@ex''.c''om' AND u = 'o''b' AND d = 'ex''.c''om' AND t = 'c''om'")
    }

    func testQuotingOnlyAppliesToExpansions() {
        var seen: [String] = []
        let text = template("SELECT '%s' -- 100%% '%u'").expandQuery(key: "k'@d") { seen.append($0); return "<\($0)>" }
        XCTAssertEqual(text, "SELECT '<k'@d>' -- 100% '<k'>'")
        XCTAssertEqual(seen, ["k'@d", "k'"])
    }

    // MARK: configuration files

    func testLegacySettingsBuildTheQuery() throws {
        let config = try SQLTableConfig(name: "/x.cf", text: """
            user = postfix-mysql-user
            table = domain
            select_field = domain
            where_field = domain
            additional_conditions = and backupmx = '0' and active = '1'
            """)
        XCTAssertEqual(try config.queryTemplateText(),
                       "SELECT domain FROM domain WHERE domain='%s' and backupmx = '0' and active = '1'")
        let noConditions = try SQLTableConfig(name: "/y.cf", text: "table = alias\nselect_field = goto\nwhere_field = address\n")
        XCTAssertEqual(try noConditions.queryTemplateText(), "SELECT goto FROM alias WHERE address='%s' ")
        // The legacy text is a template too: a bare '%' in it is an error.
        let percent = try SQLTableConfig(name: "/z.cf", text: "table = t\nselect_field = a\nwhere_field = k\nadditional_conditions = and a like '%'\n")
        XCTAssertThrowsError(try SQLTableLookup(type: "sqlite", config: percent)) { error in
            XCTAssertEqual(error as? LookupError,
                           .configuration("db_common_parse: /z.cf: Invalid query template: SELECT a FROM t WHERE k='%s' and a like '%'"))
        }
    }

    func testQueryWinsOverLegacySettings() throws {
        let config = try SQLTableConfig(name: "/q.cf", text: "query = SELECT 1 WHERE '%s'\ntable = ignored\n")
        XCTAssertEqual(try config.queryTemplateText(), "SELECT 1 WHERE '%s'")
    }

    func testObsoleteMainCfForm() throws {
        let main = try MainConfigFile.parse("""
            base = /var/db
            mymap_dbpath = $base/users.sqlite
            mymap_query = SELECT v FROM t WHERE k = '%s'
            other_query = ignored
            """, path: "/etc/postfix/main.cf")
        let config = try SQLTableConfig(name: "mymap", context: TableContext(config: MailConfig(configDirectory: "/etc/postfix", main: main)))
        XCTAssertEqual(config.string("dbpath"), "/var/db/users.sqlite")
        XCTAssertEqual(try config.queryTemplateText(), "SELECT v FROM t WHERE k = '%s'")
        XCTAssertFalse(config.has("other_query"))
        XCTAssertFalse(config.has("query_x"))
    }

    func testConfigurationErrors() throws {
        let missing = try SQLTableConfig(name: "/m.cf", text: "dbpath = /x\n")
        XCTAssertThrowsError(try missing.queryTemplateText()) { error in
            XCTAssertEqual(error as? LookupError, .configuration("/m.cf: bad string length 0 < 1: table = "))
        }
        let limit = try SQLTableConfig(name: "/l.cf", text: "query = SELECT 1\nexpansion_limit = x\n")
        XCTAssertThrowsError(try SQLTableLookup(type: "sqlite", config: limit)) { error in
            XCTAssertEqual(error as? LookupError, .configuration("/l.cf: bad numerical configuration: expansion_limit = x"))
        }
        let format = try SQLTableConfig(name: "/f.cf", text: "query = SELECT 1\nresult_format = %x\n")
        XCTAssertThrowsError(try SQLTableLookup(type: "sqlite", config: format)) { error in
            XCTAssertEqual(error as? LookupError, .configuration("db_common_parse: /f.cf: Invalid result template: %x"))
        }
        XCTAssertThrowsError(try SQLTableConfig(name: "/nonexistent/file.cf", context: TableContext())) { error in
            guard case .configuration(let text)? = error as? LookupError else { return XCTFail("\(error)") }
            XCTAssertTrue(text.hasPrefix("open /nonexistent/file.cf: "), text)
        }
    }

    // MARK: result_format and expansion_limit

    private func rules(_ settings: String) throws -> SQLTableLookup {
        try SQLTableLookup(type: "sqlite", config: SQLTableConfig(name: "/r.cf", text: "query = SELECT v FROM r\n" + settings))
    }

    private let rows: [String?] = ["u1@d1.com", "plain", "", "@d2.com", "u3@", nil, "u4@d4.com"]

    func testResultFormat() throws {
        XCTAssertEqual(try rules("").answer(values: rows, key: "k"), "u1@d1.com,plain,@d2.com,u3@,u4@d4.com")
        XCTAssertEqual(try rules("result_format = [%s]").answer(values: rows, key: "k"),
                       "[u1@d1.com],[plain],[@d2.com],[u3@],[u4@d4.com]")
        XCTAssertEqual(try rules("result_format = [%u]").answer(values: rows, key: "k"), "[u1],[plain],[u3],[u4]")
        XCTAssertEqual(try rules("result_format = [%d]").answer(values: rows, key: "k"), "[d1.com],[d2.com],[d4.com]")
        XCTAssertEqual(try rules("result_format = [%%%S|%U|%D|%1]").answer(values: ["x", "y"], key: "a@b.c"),
                       "[%a@b.c|a|b.c|c],[%a@b.c|a|b.c|c]")
        XCTAssertEqual(try rules("result_format = smtp:[%s]").answer(values: ["mx.example"], key: "k"), "smtp:[mx.example]")
        XCTAssertNil(try rules("result_format = %u-%d").answer(values: ["plain"], key: "k"))
        XCTAssertNil(try rules("").answer(values: [], key: "k"))
        XCTAssertNil(try rules("").answer(values: [nil, ""], key: "k"))
    }

    func testResultFormatNeedingKeyPartsSuppressesTheQuery() throws {
        let lookup = try rules("result_format = %D")
        XCTAssertNil(try lookup.queryText(for: "plain", escape: { $0 }))
        XCTAssertEqual(try lookup.queryText(for: "a@b", escape: { $0 }), "SELECT v FROM r")
    }

    func testExpansionLimit() throws {
        XCTAssertEqual(try rules("expansion_limit = 5").answer(values: rows, key: "k"), "u1@d1.com,plain,@d2.com,u3@,u4@d4.com")
        XCTAssertEqual(try rules("expansion_limit = 1").answer(values: ["a", nil, ""], key: "k"), "a")
        XCTAssertThrowsError(try rules("expansion_limit = 3").answer(values: rows, key: "k")) { error in
            guard case .temporary? = error as? LookupError else { return XCTFail("\(error)") }
        }
    }

    // MARK: domain

    func testDomainRestriction() throws {
        let lookup = try rules("domain = ex.com, Par.com !neg.org neg.org")
        let eligible = { (key: String) in try lookup.queryText(for: key, escape: { $0 }) != nil }
        XCTAssertTrue(try eligible("a@ex.com"))
        XCTAssertTrue(try eligible("a@EX.com"))
        XCTAssertTrue(try eligible("a@par.com"))
        XCTAssertFalse(try eligible("a@sub.ex.com"))   // exact match only
        XCTAssertFalse(try eligible("a@other.com"))
        XCTAssertFalse(try eligible("a@neg.org"))      // first match wins
        XCTAssertFalse(try eligible("@ex.com"))        // empty local part
        XCTAssertFalse(try eligible("ex.com"))         // not an address
        XCTAssertFalse(try eligible("a"))
        XCTAssertFalse(try eligible("a@"))
        XCTAssertFalse(try eligible(""))
    }

    func testDomainListFromFileAndTable() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sqldom-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "dom1.com\n# comment dom9.com\nDom2.com dom3.com\n".write(toFile: dir + "/doms", atomically: true, encoding: .utf8)
        try "dom4.com x\n".write(toFile: dir + "/table", atomically: true, encoding: .utf8)
        let list = try SQLTableDomainList("\(dir)/doms, texthash:\(dir)/table")
        for domain in ["dom1.com", "dom2.com", "dom3.com", "dom4.com"] { XCTAssertTrue(try list.matches(domain), domain) }
        for domain in ["dom9.com", "dom5.com", "comment"] { XCTAssertFalse(try list.matches(domain), domain) }
    }

    func testKeysThatAreNeverQueried() throws {
        let lookup = try rules("")
        XCTAssertNil(try lookup.queryText(for: "a\u{0}b", escape: { $0 }))
        XCTAssertNil(try lookup.queryText(for: "", escape: { $0 }))
        XCTAssertEqual(try lookup.queryText(for: "\u{FFFD}", escape: { $0 }), "SELECT v FROM r")
    }

    // MARK: sqlite end to end

    private func makeSQLiteDatabase(_ statements: String) throws -> String {
        let sqlite3 = "/usr/bin/sqlite3"
        guard FileManager.default.isExecutableFile(atPath: sqlite3) else { throw XCTSkip("sqlite3 not installed") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sqlt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: sqlite3)
        process.arguments = [dir + "/db.sqlite", statements]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        return dir
    }

    func testSQLiteTableEndToEnd() throws {
        let dir = try makeSQLiteDatabase("""
            CREATE TABLE alias (address varchar(255) PRIMARY KEY, goto text NOT NULL, active tinyint(1) NOT NULL DEFAULT 1);
            INSERT INTO alias VALUES ('alice@example.com', 'alice@example.com', 1), ('o''brien@example.com', 'ob@example.com', 1),
              ('old@example.com', 'x@example.com', 0), ('list@example.com', 'a@example.com', 1);
            INSERT INTO alias VALUES ('list2@example.com', 'b@example.com', 1);
            CREATE TABLE pair (k text, v text); INSERT INTO pair VALUES ('m', 'one'), ('m', 'two'), ('m', NULL);
            """)
        try "dbpath = \(dir)/db.sqlite\ntable = alias\nselect_field = goto\nwhere_field = address\nadditional_conditions = and active = '1'\n"
            .write(toFile: dir + "/alias.cf", atomically: true, encoding: .utf8)
        let table = try TableOpener.open("sqlite:\(dir)/alias.cf")
        XCTAssertEqual(table.reference, "sqlite:\(dir)/alias.cf")
        XCTAssertEqual(try table.find("alice@example.com"), "alice@example.com")
        XCTAssertEqual(try table.find("ALICE@Example.COM"), "alice@example.com")
        XCTAssertEqual(try table.find("o'brien@example.com"), "ob@example.com")
        XCTAssertNil(try table.find("old@example.com"))
        XCTAssertNil(try table.find("nobody@example.com"))
        for hostile in ["' OR '1'='1", "x' OR 1=1 --", "'; DROP TABLE alias; --", "a\\'b", "%", "_", "%@example.com",
                        "\u{0}", "x'\u{301} OR 'a'='a", "alice@example.com' --", "\u{FFFD}\u{FFFD}"] {
            XCTAssertNil(try table.find(hostile), hostile)
        }
        XCTAssertEqual(try table.find("alice@example.com"), "alice@example.com")

        try "dbpath = \(dir)/db.sqlite\nquery = SELECT v FROM pair WHERE k = '%s'\n".write(toFile: dir + "/pair.cf", atomically: true, encoding: .utf8)
        XCTAssertEqual(try TableOpener.open("sqlite:\(dir)/pair.cf").find("m"), "one,two")
    }

    func testSQLiteErrors() throws {
        let dir = try makeSQLiteDatabase("CREATE TABLE t (k text);")
        try "dbpath = \(dir)/missing.sqlite\nquery = SELECT 1\n".write(toFile: dir + "/missing.cf", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TableOpener.open("sqlite:\(dir)/missing.cf")) { error in
            guard case .configuration? = error as? LookupError else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/missing.sqlite"), "read-only open must not create the file")
        // Read-only: a query that writes fails and changes nothing.
        try "dbpath = \(dir)/db.sqlite\nquery = INSERT INTO t VALUES ('%s') RETURNING k\n".write(toFile: dir + "/write.cf", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TableOpener.open("sqlite:\(dir)/write.cf").find("x"))
    }

    // MARK: mysql without a server

    func testUnreachableMySQLIsTemporary() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mysqlt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            user = u
            password = p
            dbname = d
            hosts = unix:\(dir)/no-such-socket inet:127.0.0.1:1
            option_group =
            table = mailbox
            select_field = maildir
            where_field = username
            """.write(toFile: dir + "/down.cf", atomically: true, encoding: .utf8)
        let table = try TableOpener.open("mysql:\(dir)/down.cf")
        XCTAssertThrowsError(try table.find("alice@example.com")) { error in
            guard case .temporary? = error as? LookupError else { return XCTFail("\(error)") }
        }
        // Keys that are never queried need no server.
        XCTAssertNil(try table.find(""))
    }

    func testMySQLHostSpecs() {
        let unix = MySQLTable.Host("unix:/run/mysqld/mysqld.sock")
        XCTAssertTrue(unix.isUnix)
        XCTAssertEqual(unix.socketPath, "/run/mysqld/mysqld.sock")
        for (spec, host, port) in [("inet:db.example:3307", "db.example", 3307), ("db.example", "db.example", 0),
                                   ("127.0.0.1:3306", "127.0.0.1", 3306), ("inet:[::1]:3310", "::1", 3310),
                                   ("localhost", "localhost", 0)] as [(String, String, UInt32)] {
            let parsed = MySQLTable.Host(spec)
            XCTAssertFalse(parsed.isUnix, spec)
            XCTAssertEqual(parsed.hostname, host, spec)
            XCTAssertEqual(parsed.port, port, spec)
        }
    }
}
