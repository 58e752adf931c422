// MasterProtocolTests: status records and attribute lists round-trip; log
// lines keep Postfix's shape.
import XCTest
import Glibc
@testable import Global
@testable import Util

final class MasterProtocolTests: XCTestCase {
    func testStatusRecordRoundTrip() {
        let record = MasterProtocol.Record(pid: 12345, generation: 7, status: .taken)
        let bytes = record.encoded()
        XCTAssertEqual(bytes.count, MasterProtocol.recordSize)
        XCTAssertEqual(MasterProtocol.Record.decode(bytes[...]), record)
        XCTAssertNil(MasterProtocol.Record.decode(Array("garbage".utf8)[...]))
    }

    func testStatusPageIsSharedThroughItsDescriptor() throws {
        let master = try XCTUnwrap(MasterStatusPage.create())
        defer { master.release() }
        // A child maps the same memory through the descriptor it inherits.
        let child = try XCTUnwrap(MasterStatusPage.attach(fd: master.fd))
        XCTAssertEqual(master.idle, 0)
        XCTAssertEqual(master.slot(7), .free)
        master.setSlot(7, .fresh)
        XCTAssertEqual(master.addIdle(1), 0)
        XCTAssertEqual(child.slot(7), .fresh)
        XCTAssertEqual(child.addIdle(-1), 1)  // the last idle process was taken
        child.setSlot(7, .busy)
        XCTAssertEqual(master.idle, 0)
        XCTAssertEqual(master.slot(7), .busy)
        XCTAssertFalse(master.slot(7).countedIdle)
        child.setSlot(MasterStatusPage.slotCount - 1, .idle)
        XCTAssertTrue(master.slot(MasterStatusPage.slotCount - 1).countedIdle)
        child.addIdle(-3)
        master.resetIdle()
        XCTAssertEqual(child.idle, 0)
    }

    func testStatusRecordDecodingAgreesWithTheWordSplittingReading() {
        func padded(_ text: String) -> ArraySlice<UInt8> {
            var bytes = Array(text.utf8)
            while bytes.count < MasterProtocol.recordSize { bytes.append(0x20) }
            return bytes.prefix(MasterProtocol.recordSize)
        }
        // The plain reading: split at spaces and newlines, three words.
        func plain(_ bytes: ArraySlice<UInt8>) -> MasterProtocol.Record? {
            let parts = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
            guard parts.count >= 3, let pid = pid_t(parts[0]), let gen = Int(parts[1]), parts[2].utf8.count == 1,
                  let status = MasterProtocol.Status(rawValue: parts[2].utf8.first!) else { return nil }
            return MasterProtocol.Record(pid: pid, generation: gen, status: status)
        }
        let cases = ["12345 7 T\n", "1 0 A\n", "  +12\n-3 A extra\n", "12 3 AB\n", "12 3\n", "12 x A\n",
                     "99999999999 1 A\n", "12 3 Z\n", "é 3 A\n", "", "-7 99999999999999999999 A", "12 3 A"]
        for c in cases {
            XCTAssertEqual(MasterProtocol.Record.decode(padded(c)), plain(padded(c)), c)
        }
        XCTAssertEqual(MasterProtocol.Record.decode(padded("1 0 A\n")), MasterProtocol.Record(pid: 1, generation: 0, status: .available))
    }

    func testAttributeListRoundTripOverAPipe() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        var list = AttributeList()
        list.append("request", "lookup")
        list.append("table", "hash:/etc/aliases")
        list.append("flags", 64)
        list.append("key", "")
        let writer = Stream(fd: fds[1])
        try AttributeCodec.write(list, to: writer)
        writer.close()
        let decoded = try AttributeCodec.read(from: Stream(fd: fds[0], timeout: 5))
        XCTAssertEqual(decoded, list)
        XCTAssertEqual(decoded.int("flags"), 64)
        XCTAssertThrowsError(try decoded.require("missing"))
    }

    func testAttributeDecodingRejectsBadNames() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        let bad: [UInt8] = Array("Bad Name\0v\0\0".utf8)
        _ = bad.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        XCTAssertThrowsError(try AttributeCodec.read(from: Stream(fd: fds[0], timeout: 5))) { error in
            XCTAssertEqual(error as? AttributeError, .badName("Bad Name"))
        }
    }

    func testLogLineShape() {
        let line = MailLog.fileLine(.warning, "bad\tthing")
        // "Mmm dd HH:MM:SS host tag[pid]: warning: bad?thing\n"
        let pattern = "^[A-Z][a-z]{2} [0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} [^ ]+ [^ ]+\\[[0-9]+\\]: warning: bad\\?thing\n$"
        XCTAssertNotNil(line.range(of: pattern, options: .regularExpression), line)
    }
}
