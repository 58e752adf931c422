// QmgrNoticesTests: the delay warning's W record: found in the envelope,
// due once its time has passed, rewritten in place as -1 (warn once).
import XCTest
import Glibc
import Util
@testable import Global
@testable import qmgr

final class QmgrNoticesTests: XCTestCase {
    func testWarningRecord() throws {
        var template = Array("/tmp/qmgr-notices-XXXXXX".utf8CString)
        let root = String(cString: mkdtemp(&template)!)
        mkdir(root + "/active", 0o700)
        let directory = QueueDirectory(path: root, hashedQueues: [])
        var m = QueueMessage()
        m.sender = "a@example.test"
        m.warningTime = 1_795_000_000
        m.recipients = [QueueRecipient(address: "x@example.net")]
        let written = try QueueFile.write(m, lines: [Array("Subject: x".utf8)], directory: directory, queue: "active")
        let bytes = try TextFile.readBytes(written.path)
        let w = try XCTUnwrap(QmgrWarning.find(in: bytes))
        XCTAssertEqual(w.value, 1_795_000_000)
        XCTAssertEqual(w.length, 15)
        XCTAssertFalse(QmgrWarning.due(warningTime: nil, now: 2_000_000_000))
        XCTAssertFalse(QmgrWarning.due(warningTime: -1, now: 2_000_000_000))
        XCTAssertFalse(QmgrWarning.due(warningTime: 1_795_000_000, now: 1_794_999_999))
        XCTAssertTrue(QmgrWarning.due(warningTime: 1_795_000_000, now: 1_795_000_000))
        try QmgrWarning.markSent(path: written.path)
        let after = try TextFile.readBytes(written.path)
        XCTAssertEqual(after.count, bytes.count)
        XCTAssertEqual(try QueueFile.read(path: written.path).warningTime, -1)
        XCTAssertEqual(QmgrWarning.find(in: after)?.value, -1)
        XCTAssertNil(QmgrWarning.find(in: try TextFile.readBytes(written.path).prefix(0).map { $0 }))
        unlink(written.path)
        rmdir(root + "/active")
        rmdir(root)
    }
}
