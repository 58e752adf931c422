// ShimTests: each C shim target links and its library answers a real call.
import XCTest
import Glibc
import COpenSSL
import CMariaDB
import CBerkeleyDB
import CLMDB
import CPCRE2
import CSQLite

final class ShimTests: XCTestCase {
    private func tempDir() -> String {
        var template = Array("/tmp/posthorn-shim-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        XCTAssertNotNil(made)
        return String(cString: template)
    }

    func testOpenSSLMakesAContextAndRandomBytes() {
        XCTAssertGreaterThanOrEqual(posthorn_ssl_version_number(), 0x3000_0000)
        let ctx = SSL_CTX_new(TLS_server_method())
        XCTAssertNotNil(ctx)
        XCTAssertNotEqual(posthorn_ssl_ctx_set_options(ctx, 0), UInt64.max)
        SSL_CTX_free(ctx)
        var bytes = [UInt8](repeating: 0, count: 32)
        XCTAssertEqual(RAND_bytes(&bytes, 32), 1)
        XCTAssertNotEqual(bytes, [UInt8](repeating: 0, count: 32))
    }

    func testMariaDBClientInitialisesAndReportsItsVersion() {
        let version = String(cString: posthorn_mariadb_client_info())
        XCTAssertFalse(version.isEmpty)
        let handle = mysql_init(nil)
        XCTAssertNotNil(handle)
        mysql_close(handle)
    }

    func testBerkeleyDBStoresAndFindsAKeyWithTrailingNul() {
        let path = tempDir() + "/table.db"
        var db: UnsafeMutablePointer<DB>? = nil
        XCTAssertEqual(posthorn_db_open(&db, path, DB_HASH, UInt32(DB_CREATE), 0o644), 0)
        let key = Array("user@example.com\0".utf8), value = Array("ok\0".utf8)
        XCTAssertEqual(posthorn_db_put(db, key, UInt32(key.count), value, UInt32(value.count), 0), 0)
        var out: UnsafeMutableRawPointer? = nil
        var outLen: UInt32 = 0
        XCTAssertEqual(posthorn_db_get(db, key, UInt32(key.count), &out, &outLen), 0)
        XCTAssertEqual(outLen, 3)
        XCTAssertEqual(String(cString: out!.assumingMemoryBound(to: CChar.self)), "ok")
        let missing = Array("nobody\0".utf8)
        XCTAssertEqual(posthorn_db_get(db, missing, UInt32(missing.count), &out, &outLen), DB_NOTFOUND)
        XCTAssertEqual(posthorn_db_close(db), 0)
    }

    func testLMDBWritesAndReadsInATransaction() {
        let dir = tempDir()
        var env: OpaquePointer? = nil
        XCTAssertEqual(mdb_env_create(&env), 0)
        XCTAssertEqual(mdb_env_open(env, dir, 0, 0o644), 0)
        var txn: OpaquePointer? = nil
        XCTAssertEqual(mdb_txn_begin(env, nil, 0, &txn), 0)
        var dbi: MDB_dbi = 0
        XCTAssertEqual(mdb_dbi_open(txn, nil, 0, &dbi), 0)
        var keyBytes = Array("key\0".utf8), valueBytes = Array("value\0".utf8)
        let rc = keyBytes.withUnsafeMutableBytes { kb in
            valueBytes.withUnsafeMutableBytes { vb -> Int32 in
                var k = MDB_val(mv_size: kb.count, mv_data: kb.baseAddress)
                var v = MDB_val(mv_size: vb.count, mv_data: vb.baseAddress)
                return mdb_put(txn, dbi, &k, &v, 0)
            }
        }
        XCTAssertEqual(rc, 0)
        XCTAssertEqual(mdb_txn_commit(txn), 0)
        XCTAssertEqual(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), 0)
        let found: String? = keyBytes.withUnsafeMutableBytes { kb in
            var k = MDB_val(mv_size: kb.count, mv_data: kb.baseAddress)
            var v = MDB_val()
            guard mdb_get(txn, dbi, &k, &v) == 0 else { return nil }
            return String(cString: v.mv_data.assumingMemoryBound(to: CChar.self))
        }
        XCTAssertEqual(found, "value")
        mdb_txn_abort(txn)
        mdb_env_close(env)
    }

    func testPCRE2CompilesMatchesAndCaptures() {
        var error: Int32 = 0
        var offset = 0
        let pattern = "^(\\w+)@example\\.(com|org)$"
        guard let code = posthorn_pcre2_compile(pattern, pattern.utf8.count, UInt32(PCRE2_CASELESS), &error, &offset) else {
            return XCTFail("compile failed: \(error)")
        }
        defer { posthorn_pcre2_code_free(code) }
        var ovector = [Int](repeating: 0, count: 6)
        let subject = "Alice@EXAMPLE.com"
        let rc = posthorn_pcre2_match(code, subject, subject.utf8.count, 0, &ovector, 3)
        XCTAssertEqual(rc, 3)
        XCTAssertEqual(ovector[2], 0)
        XCTAssertEqual(ovector[3], 5)
        XCTAssertEqual(posthorn_pcre2_match(code, "bob@example.net", 15, 0, &ovector, 3), PCRE2_ERROR_NOMATCH)
        XCTAssertNil(posthorn_pcre2_compile("(", 1, 0, &error, &offset))
        var message = [CChar](repeating: 0, count: 128)
        XCTAssertGreaterThan(posthorn_pcre2_error_message(error, &message, 128), 0)
    }

    func testSQLiteRunsAParameterisedQuery() {
        var db: OpaquePointer? = nil
        XCTAssertEqual(sqlite3_open(":memory:", &db), SQLITE_OK)
        defer { sqlite3_close(db) }
        XCTAssertEqual(sqlite3_exec(db, "CREATE TABLE alias(address TEXT, goto TEXT); INSERT INTO alias VALUES('a@x','b@y');", nil, nil, nil), SQLITE_OK)
        var stmt: OpaquePointer? = nil
        XCTAssertEqual(sqlite3_prepare_v2(db, "SELECT goto FROM alias WHERE address = ?", -1, &stmt, nil), SQLITE_OK)
        XCTAssertEqual(posthorn_sqlite3_bind_text(stmt, 1, "a@x", -1), SQLITE_OK)
        XCTAssertEqual(sqlite3_step(stmt), SQLITE_ROW)
        XCTAssertEqual(String(cString: sqlite3_column_text(stmt, 0)), "b@y")
        sqlite3_finalize(stmt)
    }
}
