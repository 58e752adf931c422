// BerkeleyDBTableTests: hash: and btree: files in Postfix's form: NULs,
// both-way reads, duplicate policies, delete, listing, atomic builds.
import XCTest
import Foundation
import CBerkeleyDB
@testable import Tables

final class BerkeleyDBTableTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("bdb-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Raw (key, value) byte pairs of a Berkeley DB file.
    private func rawEntries(_ path: String, _ type: DBTYPE) -> [[UInt8]: [UInt8]] {
        var db: UnsafeMutablePointer<DB>?
        XCTAssertEqual(posthorn_db_open(&db, path, type, UInt32(DB_RDONLY), 0), 0)
        var cursor: UnsafeMutablePointer<DBC>?
        XCTAssertEqual(posthorn_db_cursor(db, &cursor), 0)
        var result: [[UInt8]: [UInt8]] = [:]
        var k: UnsafeMutableRawPointer?, v: UnsafeMutableRawPointer?
        var kl: UInt32 = 0, vl: UInt32 = 0
        while posthorn_dbc_get(cursor, &k, &kl, &v, &vl, UInt32(DB_NEXT)) == 0 {
            result[Array(UnsafeRawBufferPointer(start: k, count: Int(kl)))] = Array(UnsafeRawBufferPointer(start: v, count: Int(vl)))
        }
        _ = posthorn_dbc_close(cursor)
        _ = posthorn_db_close(db)
        return result
    }

    func testStoresKeysAndValuesWithNul() throws {
        for (type, dbType) in [("hash", DB_HASH), ("btree", DB_BTREE)] {
            let name = dir + "/t-" + type
            let table = try BerkeleyDBTable(type: type, name: name, context: TableContext(create: true))
            try table.update("user@example.com", "ok")
            try table.close()
            XCTAssertEqual(rawEntries(name + ".db", dbType), [Array("user@example.com\0".utf8): Array("ok\0".utf8)])
            let reader = try TableOpener.open(type + ":" + name)
            XCTAssertEqual(try reader.find("USER@example.com"), "ok")
            XCTAssertNil(try reader.find("other"))
        }
    }

    func testReadsTablesWithoutNul() throws {
        let name = dir + "/nonul"
        let writer = try BerkeleyDBTable(type: "hash", name: name, context: TableContext(create: true))
        writer.nullTermination = .exclude
        try writer.update("key", "value")
        try writer.close()
        XCTAssertEqual(rawEntries(name + ".db", DB_HASH), [Array("key".utf8): Array("value".utf8)])
        XCTAssertEqual(try TableOpener.open("hash:" + name).find("key"), "value")
        XCTAssertEqual(try (TableOpener.open("hash:" + name) as! UpdatableTable).entries().map(\.key), ["key"])
    }

    func testDuplicatePoliciesDeleteAndEntries() throws {
        let name = dir + "/dup"
        let table = try BerkeleyDBTable(type: "btree", name: name, context: TableContext(create: true))
        XCTAssertEqual(try table.insert("a", "1", policy: .warn), .stored)
        XCTAssertEqual(try table.insert("a", "2", policy: .warn), .duplicate)
        XCTAssertEqual(try table.insert("a", "3", policy: .ignore), .duplicate)
        XCTAssertEqual(try table.lookup("a"), "1")
        XCTAssertEqual(try table.insert("a", "4", policy: .replace), .replaced)
        XCTAssertEqual(try table.lookup("a"), "4")
        try table.update("b", "5")
        XCTAssertEqual(try table.entries().map { $0.key + "=" + $0.value }, ["a=4", "b=5"])
        XCTAssertTrue(try table.delete("a"))
        XCTAssertFalse(try table.delete("a"))
        XCTAssertNil(try table.lookup("a"))
    }

    func testMissingFileIsAConfigurationError() {
        XCTAssertThrowsError(try TableOpener.open("hash:" + dir + "/none")) { error in
            XCTAssertEqual(error as? LookupError, .configuration("open database \(dir)/none.db: No such file or directory"))
        }
    }

    func testBuildRenamesIntoPlaceWithSourcePermissions() throws {
        let name = dir + "/built"
        FileManager.default.createFile(atPath: name, contents: Data())
        let build = try IndexedTableFile.Build(type: "hash", name: name, config: nil, sourceMode: 0o640)
        IndexedTableFile.store("k", "v", in: build.table, policy: .warn)
        XCTAssertFalse(FileManager.default.fileExists(atPath: name + ".db"))
        try build.commit()
        let attributes = try FileManager.default.attributesOfItem(atPath: name + ".db")
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o640)
        XCTAssertEqual(try TableOpener.open("hash:" + name).find("k"), "v")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["built", "built.db"])
    }
}
