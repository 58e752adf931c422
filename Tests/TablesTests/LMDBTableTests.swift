// LMDBTableTests: lmdb: files in Postfix's form (one file, NULs), both-way
// reads, duplicates, listing, and growth past lmdb_map_size.
import XCTest
import Foundation
import Global
@testable import Tables

final class LMDBTableTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmdb-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testRoundTripWithAndWithoutNul() throws {
        let name = dir + "/t"
        let table = try LMDBTable(type: "lmdb", name: name, context: TableContext(create: true))
        try table.update("user@example.com", "ok")
        try table.close()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["t.lmdb"])
        let reader = try TableOpener.open("lmdb:" + name)
        XCTAssertEqual(try reader.find("User@Example.com"), "ok")
        XCTAssertNil(try reader.find("nobody"))
        XCTAssertEqual(try (reader as! UpdatableTable).entries().map(\.value), ["ok"])

        let plain = try LMDBTable(type: "lmdb", name: dir + "/n", context: TableContext(create: true))
        plain.nullTermination = .exclude
        try plain.update("k", "v")
        try plain.close()
        XCTAssertEqual(try TableOpener.open("lmdb:" + dir + "/n").find("k"), "v")
    }

    func testDuplicatesAndDelete() throws {
        let table = try LMDBTable(type: "lmdb", name: dir + "/d", context: TableContext(create: true))
        XCTAssertEqual(try table.insert("a", "1", policy: .warn), .stored)
        XCTAssertEqual(try table.insert("a", "2", policy: .warn), .duplicate)
        XCTAssertEqual(try table.insert("a", "3", policy: .replace), .replaced)
        XCTAssertEqual(try table.lookup("a"), "3")
        XCTAssertTrue(try table.delete("a"))
        XCTAssertFalse(try table.delete("a"))
        XCTAssertEqual(table.warningName, "lmdb:\(dir)/d")
    }

    func testGrowsPastTheMapSize() throws {
        let main = try MainConfigFile.parse("lmdb_map_size = 65536\n", path: "main.cf")
        let config = MailConfig(configDirectory: dir, main: main)
        let build = try IndexedTableFile.Build(type: "lmdb", name: dir + "/big", config: config, sourceMode: nil)
        let value = String(repeating: "x", count: 200)
        for i in 0..<20000 { IndexedTableFile.store("key\(i)", value, in: build.table, policy: .warn) }
        try build.commit()
        let reader = try TableOpener.open("lmdb:" + dir + "/big", context: TableContext(config: config))
        XCTAssertEqual(try reader.find("key0"), value)
        XCTAssertEqual(try reader.find("key19999"), value)
        XCTAssertEqual(try (reader as! UpdatableTable).entries().count, 20000)
    }

    func testMissingFile() {
        XCTAssertThrowsError(try TableOpener.open("lmdb:" + dir + "/none")) { error in
            XCTAssertEqual(error as? LookupError, .configuration("open database \(dir)/none.lmdb: No such file or directory"))
        }
    }
}
