// AtomicFileTests: replacement keeps mode and leaves no temporary file.
import XCTest
import Foundation
@testable import Util

final class AtomicFileTests: XCTestCase {
    func testReplaceKeepsModeAndContent() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("posthorn-atomic-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/main.cf"
        try "old\n".write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o640)
        try AtomicFile.write(Array("new\n".utf8), to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "new\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o640)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["main.cf"])
    }

    func testReadMissingFileGivesStrerrorText() {
        XCTAssertThrowsError(try TextFile.read("/nonexistent/file")) { error in
            XCTAssertEqual("\(error)", "No such file or directory")
        }
    }
}
