// SpareQueueFilesTests: a finished queue file parked by qmgr's keeper is
// reused by the next writer in incoming/ (same inode, new queue ID, only
// the new content, mode 0600 until commit); files the pool must not hold
// are dropped, never reused; the pool is bounded.
import XCTest
import Glibc
@testable import Global

final class SpareQueueFilesTests: XCTestCase {
    private func makeQueue() throws -> (String, QueueDirectory) {
        let top = NSTemporaryDirectory() + "sqf-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let dir = QueueDirectory(path: top)
        try dir.createMissing()
        return (top, dir)
    }

    private func message(_ body: Int) -> (QueueMessage, [[UInt8]]) {
        var m = QueueMessage()
        m.sender = "alice@example.com"
        m.recipients = [QueueRecipient(address: "bob@example.net")]
        return (m, [Array("Subject: \(body)".utf8), [], Array(repeating: 0x61, count: body)])
    }

    private func inode(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
    }

    func testParkedFileIsReusedWithOnlyTheNewContent() throws {
        let (top, dir) = try makeQueue()
        defer { try? FileManager.default.removeItem(atPath: top) }
        let (big, bigLines) = message(5000)
        let (oldID, oldPath) = try QueueFile.write(big, lines: bigLines, directory: dir)
        let oldInode = try XCTUnwrap(inode(oldPath))
        let keeper = SpareFileKeeper(directory: dir)
        XCTAssertTrue(keeper.park(path: oldPath, id: oldID, size: 6000))
        XCTAssertNil(inode(oldPath))
        let parked = top + "/spare/" + String(oldInode, radix: 16)
        var st = stat()
        XCTAssertEqual(stat(parked, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "a spare file is never complete")

        let (small, smallLines) = message(10)
        SpareFileTaker.forget()  // the first write found the pool empty
        let w = try QueueFileWriter(directory: dir, queue: "incoming")
        XCTAssertEqual(QueueID.decodeShort(w.id)?.inode, oldInode, "the spare file is reused")
        XCTAssertNotEqual(w.id, oldID)
        XCTAssertEqual(stat(w.path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "being written")
        XCTAssertNil(inode(parked))
        try w.append(.size)
        try w.append(.sender, small.sender ?? "")
        try w.appendRecipient(small.recipients[0])
        try w.append(.message)
        for line in smallLines { try w.appendLine(line) }
        try w.append(.extracted)
        try w.append(.end)
        try w.commit()
        XCTAssertEqual(stat(w.path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o700)
        let read = try QueueFile.read(path: w.path)
        XCTAssertEqual(read.lines, smallLines)
        XCTAssertEqual(read.recipients.map(\.address), ["bob@example.net"])
        XCTAssertLessThan(Int(st.st_size), 200, "the old message's tail is cut off")
    }

    func testFilesThePoolMustNotHoldAreNotReused() throws {
        let (top, dir) = try makeQueue()
        defer { try? FileManager.default.removeItem(atPath: top) }
        let keeper = SpareFileKeeper(directory: dir)
        let (m, lines) = message(10)
        // Too large to keep: the caller unlinks it.
        let (id, path) = try QueueFile.write(m, lines: lines, directory: dir)
        XCTAssertFalse(keeper.park(path: path, id: id, size: SpareQueueFiles.largestKept + 1))
        XCTAssertNotNil(inode(path))
        unlink(path)
        // A complete (0700) or misnamed file in spare/ is dropped, not used.
        let (id2, path2) = try QueueFile.write(m, lines: lines, directory: dir)
        let ino2 = try XCTUnwrap(inode(path2))
        XCTAssertEqual(rename(path2, top + "/spare/" + String(ino2, radix: 16)), 0)
        let (_, path3) = try QueueFile.write(m, lines: lines, directory: dir)
        let ino3 = try XCTUnwrap(inode(path3))
        XCTAssertEqual(chmod(path3, 0o600), 0)
        XCTAssertEqual(rename(path3, top + "/spare/" + String(ino3 &+ 1, radix: 16)), 0)
        SpareFileTaker.forget()
        let w = try QueueFileWriter(directory: dir, queue: "incoming")
        defer { w.abort() }
        var st = stat()
        XCTAssertEqual(stat(w.path, &st), 0)
        XCTAssertEqual(st.st_size, 0, "a new file, not one of the dropped ones")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: top + "/spare"), [])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: top + "/incoming"), [w.id])
        _ = (id2, ino2)
    }

    func testPoolIsBounded() throws {
        let (top, dir) = try makeQueue()
        defer { try? FileManager.default.removeItem(atPath: top) }
        for i in 0..<SpareQueueFiles.capacity {
            let fd = open(top + "/spare/x\(i)", O_CREAT | O_WRONLY, 0o600)
            close(fd)
        }
        let keeper = SpareFileKeeper(directory: dir)
        XCTAssertEqual(SpareFileKeeper.count(top + "/spare"), SpareQueueFiles.capacity)
        let (m, lines) = message(10)
        let (id, path) = try QueueFile.write(m, lines: lines, directory: dir)
        XCTAssertFalse(keeper.park(path: path, id: id, size: 100))
        XCTAssertNotNil(inode(path))
        unlink(top + "/spare/x0")
        // The pool is counted again within 16 messages.
        XCTAssertTrue((0..<16).contains { _ in keeper.park(path: path, id: id, size: 100) },
                      "room again once a file was taken")
    }
}
