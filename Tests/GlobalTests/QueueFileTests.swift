// Tests for QueueRecord, QueueID, QueueDirectory and QueueFile: length
// vectors from the reference, round trips, segment rules, truncation,
// done-marking and queue ID formats.
import Foundation
import XCTest
import Glibc
@testable import Global

final class QueueFileTests: XCTestCase {
    func testLengthEncodingVectors() {
        let vectors: [(Int, [UInt8])] = [(0, [0x00]), (23, [0x17]), (95, [0x5f]), (912, [0x90, 0x07]), (2048, [0x80, 0x10])]
        for (n, bytes) in vectors {
            XCTAssertEqual(QueueRecordLength.encode(n), bytes, "\(n)")
            XCTAssertEqual(QueueRecordLength.decode(bytes, at: 0), .value(n, used: bytes.count))
        }
        for n in [1, 127, 128, 16383, 16384, 1 << 20, Int(Int32.max)] {
            XCTAssertEqual(QueueRecordLength.decode(QueueRecordLength.encode(n), at: 0),
                           .value(n, used: QueueRecordLength.encode(n).count))
        }
        XCTAssertEqual(QueueRecordLength.decode([0x80], at: 0), .truncated)
        XCTAssertEqual(QueueRecordLength.decode([0xff, 0xff, 0xff, 0xff, 0xff, 0x01], at: 0), .tooManyBits)
    }

    func testManyRecipientsWithDSNAttributesAreNotTooManyAttributes() throws {
        var w = QueueRecordWriter()
        w.append(.size, QueueSizeRecord(contentSize: 1, dataOffset: 1, recipientCount: 300).payload)
        w.append(.time, "1 0")
        w.append(.sender, "a@example.com")
        for i in 0..<300 {
            w.append(.attribute, "notify_flags=8")
            w.append(.attribute, "dsn_orig_rcpt=rfc822;r\(i)@example.org")
            w.append(.recipient, "r\(i)@example.org")
        }
        w.append(.message)
        w.appendLine(Array("Subject: x".utf8))
        w.append(.extracted)
        w.append(.end)
        let m = try QueueFile.parse(w.bytes)
        XCTAssertEqual(m.recipients.count, 300)
        XCTAssertEqual(m.recipients.last?.notifyFlags, 8)
        // Other attributes still count.
        var v = QueueRecordWriter()
        v.append(.sender, "a@example.com")
        for i in 0..<101 { v.append(.attribute, "x\(i)=y") }
        v.append(.end)
        XCTAssertThrowsError(try QueueFile.parse(v.bytes))
    }

    func testSizeRecordIsFixedWidth() {
        let s = QueueSizeRecord(contentSize: 282, dataOffset: 262, recipientCount: 1, contentLength: 282)
        XCTAssertEqual(s.payload.count, 95)
        XCTAssertEqual(String(decoding: s.payload, as: UTF8.self),
                       "            282             262               1               0             282               0")
        XCTAssertEqual(QueueSizeRecord(payload: s.payload), s)
        XCTAssertNil(QueueSizeRecord(payload: Array("12 abc".utf8)))
    }

    /// The pointer-record number reader agrees with Int() of the trimmed text.
    func testPointerDecimalAgreesWithInt() {
        for text in ["0", "  123", "456  ", " 789 ", "", "   ", "12a", "+5", "-5", "99999999999999999999", "007"] {
            let trimmed = String(text.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
            XCTAssertEqual(QueueFile.decimal(Array(text.utf8)), Int(trimmed), text)
        }
    }

    /// The byte reading of "seconds microseconds" agrees with splitting
    /// the text, and leaves anything else to that general path (nil).
    func testArrivalTimeAgreesWithSplit() {
        for text in ["1764495000 123456", "0 0", "7 000123"] {
            let parts = text.split(separator: " ").map { Int($0)! }
            XCTAssertEqual(QueueFile.arrivalTime(text: text).map { [$0.0, $0.1] }, parts, text)
        }
        for text in ["1764495000", "", " 1 2", "1 2 ", "1  2", "1 2 3", "+1 2", "1 x", "1234567890123456789 1"] {
            XCTAssertNil(QueueFile.arrivalTime(text: text), text)
        }
    }

    func testAttributeFromTextAgreesWithPayload() {
        for text in ["a=b", "log_client_name=localhost", "=x", "a=", "a=b=c", "é=ü", "noeq", "", "x=\u{0}y"] {
            XCTAssertEqual(QueueAttribute(text: text), QueueAttribute(payload: Array(text.utf8)), text)
        }
    }

    /// The in-place digits agree with printf's `%15ld` for every width,
    /// and the field still grows past 15 digits.
    func testSizeRecordDigitsAgreeWithPadding() {
        for value in [0, 7, 10, 99, 12345, 999_999_999_999_999, 100_000_000_000_000] {
            let s = QueueSizeRecord(contentSize: value, dataOffset: 1, recipientCount: value, contentLength: 3)
            let expected = [value, 1, value, 0, 3, 0].map { QueueSizeRecord.pad15($0) }.joined(separator: " ")
            XCTAssertEqual(String(decoding: s.payload, as: UTF8.self), expected)
        }
        let wide = QueueSizeRecord(contentSize: 1_000_000_000_000_000, dataOffset: 1, recipientCount: 1)
        XCTAssertEqual(String(decoding: wide.payload, as: UTF8.self).split(separator: " ").first, "1000000000000000")
    }

    func testReaderRoundTripAndTruncation() throws {
        var w = QueueRecordWriter()
        w.append(.sender, "a@example.com")
        w.appendLine(Array(repeating: UInt8(ascii: "x"), count: 5008))
        w.append(.end)
        var r = QueueRecordReader(bytes: w.bytes)
        XCTAssertEqual(try r.next()?.text, "a@example.com")
        var lengths: [Int] = []
        var types: [UInt8] = []
        while let rec = try r.next() { lengths.append(rec.payload.count); types.append(rec.type) }
        XCTAssertEqual(lengths, [2048, 2048, 912, 0])
        XCTAssertEqual(types, Array("LLNE".utf8))

        var t1 = QueueRecordReader(bytes: Array(w.bytes.prefix(10)))
        XCTAssertThrowsError(try t1.next()) { XCTAssertEqual($0 as? QueueRecordError, .truncatedData(type: 0x53, length: 13)) }
        var t2 = QueueRecordReader(bytes: [0x53])
        XCTAssertThrowsError(try t2.next()) {
            XCTAssertEqual(($0 as? QueueRecordError)?.description, "unexpected EOF reading length, record type 83")
        }
        var t3 = QueueRecordReader(bytes: [0x4e, 0x05, 0x61], lengthLimit: 2)
        XCTAssertThrowsError(try t3.next())
    }

    func testSegmentRules() {
        XCTAssertTrue(QueueSegment.envelope.allows(UInt8(ascii: "S")))
        XCTAssertFalse(QueueSegment.envelope.allows(UInt8(ascii: "N")))
        XCTAssertFalse(QueueSegment.content.allows(UInt8(ascii: "R")))
        XCTAssertTrue(QueueSegment.extracted.allows(UInt8(ascii: "R")))
        XCTAssertFalse(QueueSegment.extracted.allows(UInt8(ascii: "S")))

        func file(_ body: (inout QueueRecordWriter) -> Void) -> [UInt8] {
            var w = QueueRecordWriter(); body(&w); return w.bytes
        }
        XCTAssertThrowsError(try QueueFile.parse(file { $0.append(.sender, "a"); $0.append(.normal, "x"); $0.append(.message); $0.append(.extracted); $0.append(.end) }))
        XCTAssertThrowsError(try QueueFile.parse(file { $0.append(.sender, "a"); $0.append(.message); $0.append(.recipient, "r"); $0.append(.extracted); $0.append(.end) }))
        XCTAssertThrowsError(try QueueFile.parse(file { $0.append(.sender, "a"); $0.append(.message); $0.append(.extracted); $0.append(.sender, "b"); $0.append(.end) }))
        XCTAssertThrowsError(try QueueFile.parse(file { $0.append(.sender, "a"); $0.append(.message); $0.append(.extracted) })) {
            XCTAssertEqual(($0 as? QueueFileError)?.description, "message rejected: missing end record")
        }
        XCTAssertThrowsError(try QueueFile.parse(file { $0.append(typeByte: UInt8(ascii: "Z"), []); $0.append(.message); $0.append(.extracted); $0.append(.end) }))
        XCTAssertThrowsError(try QueueFile.parse(file { $0.append(.sender, "a"); $0.append(.sender, "b"); $0.append(.message); $0.append(.extracted); $0.append(.end) }))
        XCTAssertNoThrow(try QueueFile.parse(file { $0.append(.sender, "a"); $0.append(.pointer, "              0"); $0.append(.message); $0.append(.padding, "  0"); $0.append(.normal, "x"); $0.append(.extracted); $0.append(.end) }))
    }

    func testQueueIDs() {
        XCTAssertEqual(QueueID.short(microseconds: 0xE76E7, inode: 16221980), "E76E7F7871C")
        XCTAssertEqual(QueueID.short(microseconds: 5, inode: 1), "000051")
        XCTAssertEqual(QueueID.long(seconds: 1795916030, microseconds: 889977, inode: 16223678), "4jcV6k6K6xz2NHSK")
        let parts = QueueID.decodeLong("4jcV6k6K6xz2NHSK")
        XCTAssertEqual(parts?.seconds, 1795916030)
        XCTAssertEqual(parts?.microseconds, 889977)
        XCTAssertEqual(parts?.inode, 16223678)
        XCTAssertTrue(QueueID.isValid("E76E7F7871C"))
        XCTAssertFalse(QueueID.isValid("12345.678"))
        XCTAssertFalse(QueueID.isValid(""))
        let hashed: Set<String> = ["deferred", "defer"]
        XCTAssertEqual(QueueID.relativePath(queue: "deferred", id: "2A908F78165", hashedQueues: hashed, depth: 1), "deferred/2/2A908F78165")
        XCTAssertEqual(QueueID.relativePath(queue: "deferred", id: "2A908F78165", hashedQueues: hashed, depth: 2), "deferred/2/A/2A908F78165")
        XCTAssertEqual(QueueID.relativePath(queue: "deferred", id: "4jcV6k6K6xz2NHSK", hashedQueues: hashed, depth: 2), "deferred/D/9/4jcV6k6K6xz2NHSK")
        XCTAssertEqual(QueueID.relativePath(queue: "incoming", id: "2A908F78165", hashedQueues: hashed, depth: 1), "incoming/2A908F78165")
        XCTAssertEqual(QueueID.hashDirectories("A", depth: 3), ["A", "_", "_"])
        XCTAssertEqual(QueueID.hashedQueueNames("deferred, defer"), hashed)
    }

    private func makeQueue() throws -> (String, QueueDirectory) {
        let top = NSTemporaryDirectory() + "qft-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let dir = QueueDirectory(path: top)
        try dir.createMissing()
        return (top, dir)
    }

    func testDirectoryLayout() throws {
        let (top, _) = try makeQueue()
        defer { try? FileManager.default.removeItem(atPath: top) }
        var st = stat()
        XCTAssertEqual(stat(top + "/maildrop", &st), 0)
        XCTAssertEqual(st.st_mode & 0o7777, 0o730)
        XCTAssertEqual(stat(top + "/public", &st), 0)
        XCTAssertEqual(st.st_mode & 0o7777, 0o710)
        XCTAssertEqual(stat(top + "/incoming", &st), 0)
        XCTAssertEqual(st.st_mode & 0o7777, 0o700)
    }

    func testWriteReadRoundTripAndDoneMarking() throws {
        let (top, dir) = try makeQueue()
        defer { try? FileManager.default.removeItem(atPath: top) }
        var m = QueueMessage()
        m.sender = "alice@example.com"
        m.fullName = "Alice"
        m.attributes = [QueueAttribute("rewrite_context", "local")]
        m.recipients = [QueueRecipient(address: "bob@example.net", original: "bob@example.net",
                                       dsnOriginalRecipient: "rfc822;bob@example.net", notifyFlags: 6),
                        QueueRecipient(address: "carol@example.org", original: "carol@example.org",
                                       dsnOriginalRecipient: "rfc822;carol@example.org", notifyFlags: 1)]
        m.extractedRecipients = [QueueRecipient(address: "bcc@example.org", original: "bcc@example.org")]
        let lines: [[UInt8]] = [Array("Subject: hi".utf8), [], Array(repeating: 0x62, count: 3000)]
        let (id, path) = try QueueFile.write(m, lines: lines, directory: dir)
        XCTAssertEqual(path, top + "/incoming/" + id)
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o7777, 0o700)
        XCTAssertEqual(QueueID.decodeShort(id)?.inode, UInt64(st.st_ino))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: top + "/incoming"), [id])

        let read = try QueueFile.read(path: path)
        XCTAssertEqual(read.sender, "alice@example.com")
        XCTAssertEqual(read.fullName, "Alice")
        XCTAssertEqual(read.attribute("rewrite_context"), "local")
        XCTAssertEqual(read.recipients.map(\.address), ["bob@example.net", "carol@example.org"])
        XCTAssertEqual(read.recipients.map(\.notifyFlags), [6, 1])
        XCTAssertEqual(read.recipients.map(\.dsnOriginalRecipient), ["rfc822;bob@example.net", "rfc822;carol@example.org"])
        XCTAssertEqual(read.extractedRecipients.map(\.address), ["bcc@example.org"])
        XCTAssertEqual(read.lines, lines)
        XCTAssertNotNil(read.createTime)
        let size = try XCTUnwrap(read.size)
        XCTAssertEqual(size.dataOffset, read.dataOffset)
        XCTAssertEqual(size.contentSize, read.extractedOffset - read.dataOffset)
        XCTAssertEqual(size.recipientCount, 3)
        XCTAssertEqual(size.qmgrFlags, (6 | 1) << 1)

        let offset = read.recipients[0].offset
        try QueueFile.markDone(path: path, offset: offset)
        let after = try QueueFile.read(path: path)
        XCTAssertEqual(after.recipients.map(\.state), [.done, .pending])
        XCTAssertEqual(after.size, read.size, "the size record is never rewritten after delivery")
        XCTAssertThrowsError(try QueueFile.markDone(path: path, offset: offset), "already done")
        XCTAssertThrowsError(try QueueFile.markDone(path: path, offset: 1), "not a recipient record")

        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: path)).map { $0 }
        bytes.removeLast(3)
        XCTAssertThrowsError(try QueueFile.parse(bytes))
    }

    func testEnvelopeOnlyReadSkipsTheContentAndFallsBack() throws {
        let (top, dir) = try makeQueue()
        defer { try? FileManager.default.removeItem(atPath: top) }
        var m = QueueMessage()
        m.sender = "alice@example.com"
        m.recipients = [QueueRecipient(address: "bob@example.net")]
        m.extractedRecipients = [QueueRecipient(address: "bcc@example.org")]
        // A content line that looks like an empty X record.
        let lines: [[UInt8]] = [Array("Subject: x".utf8), [], [0x58, 0x00, 0x41], Array(repeating: 0x62, count: 500)]
        let (_, path) = try QueueFile.write(m, lines: lines, directory: dir)
        let whole = try QueueFile.read(path: path)
        let envelope = try QueueFile.read(path: path, envelopeOnly: true)
        XCTAssertTrue(envelope.content.isEmpty)
        XCTAssertEqual(envelope.recipients, whole.recipients)
        XCTAssertEqual(envelope.extractedRecipients, whole.extractedRecipients)
        XCTAssertEqual(envelope.extractedOffset, whole.extractedOffset)
        XCTAssertEqual(envelope.dataOffset, whole.dataOffset)
        XCTAssertEqual(envelope.size, whole.size)
        // A (damaged) size record that points at the X-like bytes inside
        // the content: the file is read whole instead.
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: path)).map { $0 }
        let size = try XCTUnwrap(whole.size)
        let fakeX = 12 + 2 + 2  // "Subject: x", "", then N 03 before "X\0A"
        XCTAssertEqual(Array(bytes[(size.dataOffset + fakeX)...].prefix(2)), [0x58, 0x00])
        let wrong = QueueSizeRecord(contentSize: fakeX, dataOffset: size.dataOffset,
                                    recipientCount: size.recipientCount, qmgrFlags: size.qmgrFlags,
                                    contentLength: size.contentLength, smtputf8: 0).payload
        let start = 2  // "C" and a one-byte length
        XCTAssertEqual(try XCTUnwrap(QueueSizeRecord(payload: Array(bytes[start..<(start + wrong.count)]))), size)
        bytes.replaceSubrange(start..<(start + wrong.count), with: wrong)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        let reread = try QueueFile.read(path: path, envelopeOnly: true)
        XCTAssertEqual(reread.recipients, whole.recipients)
        XCTAssertEqual(reread.extractedRecipients, whole.extractedRecipients)
        XCTAssertEqual(reread.extractedOffset, whole.extractedOffset)
    }

    func testLongIDsInHashedQueue() throws {
        let (top, _) = try makeQueue()
        defer { try? FileManager.default.removeItem(atPath: top) }
        let dir = QueueDirectory(path: top, hashDepth: 2, longQueueIDs: true)
        let w = try QueueFileWriter(directory: dir, queue: "deferred")
        try w.append(.size)
        try w.append(.sender, "")
        try w.appendRecipient(QueueRecipient(address: "x@example.com"))
        try w.append(.message)
        try w.appendLine(Array("Subject: x".utf8))
        try w.append(.extracted)
        try w.append(.end)
        try w.commit()
        XCTAssertTrue(QueueID.isLong(w.id))
        let usec = try XCTUnwrap(QueueID.decodeLong(w.id)).microseconds
        let hex = String(format: "%05X", usec)
        XCTAssertEqual(w.relativePath, "deferred/\(hex.prefix(1))/\(hex.dropFirst().prefix(1))/\(w.id)")
        var st = stat()
        XCTAssertEqual(stat(top + "/" + w.relativePath, &st), 0)
        XCTAssertEqual(QueueID.decodeLong(w.id)?.inode, UInt64(st.st_ino))
    }

    func testAbortLeavesNothing() throws {
        let (top, dir) = try makeQueue()
        defer { try? FileManager.default.removeItem(atPath: top) }
        let w = try QueueFileWriter(directory: dir, queue: "incoming")
        try w.append(.sender, "a")
        w.abort()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: top + "/incoming"), [])
    }
}
