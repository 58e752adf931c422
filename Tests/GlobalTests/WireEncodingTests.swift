// WireEncodingTests: the allocation-free encoders and parsers of the hot
// path give exactly the bytes and values of the plain ones they replace
// (cleanup envelope lists, the size record, attribute lists read from a
// stream, spare-file names).
import XCTest
import Glibc
@testable import Global
import Util

final class WireEncodingTests: XCTestCase {
    /// What `body` writes into a Stream, as bytes.
    private func written(_ body: (Util.Stream) throws -> Void) throws -> [UInt8] {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        let stream = Util.Stream(fd: fds[1])
        try body(stream)
        try stream.flush()
        close(fds[1])
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &chunk, chunk.count)
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    func testEnvelopeWrittenInPlaceEqualsTheList() throws {
        let attributes = [QueueAttribute("log_ident", "4ABCD123"), QueueAttribute("client_name", "host.example"),
                          QueueAttribute("helo_name", "héllo=x"), QueueAttribute("empty", "")]
        for (fullName, arrival) in [(nil, nil), ("Full Name", (1_700_000_000, 123_456))] as [(String?, (Int, Int)?)] {
            let expected = CleanupProtocol.envelopeList(sender: "a@b.example", fullName: fullName, arrival: arrival,
                                                        attributes: attributes).encoded()
            let got = try written {
                CleanupProtocol.writeEnvelope(to: $0, sender: "a@b.example", fullName: fullName, arrival: arrival,
                                              attributes: attributes)
            }
            XCTAssertEqual(got, expected)
        }
    }

    func testAttributeListsReadInPlaceRoundTrip() throws {
        let lists = [AttributeList([("status", "0"), ("reason", "")]),
                     AttributeList([("queue_id", "4ABCD123"), ("text", String(repeating: "x", count: 5000))]),
                     AttributeList([])]
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        for l in lists { _ = l.encoded().withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) } }
        _ = Array("BAD!\u{0}x\u{0}\u{0}".utf8).withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        let stream = Util.Stream(fd: fds[0])
        for l in lists { XCTAssertEqual(try AttributeCodec.read(from: stream), l) }
        XCTAssertThrowsError(try AttributeCodec.read(from: stream)) { error in
            XCTAssertEqual(error as? AttributeError, .badName("BAD!"))
        }
    }

    func testSizeRecordPayloadAndParse() {
        for values in [[0, 0, 0, 0, 0, 0], [1322, 646, 1, 2, 1322, 0], [-5, 999_999_999_999_999, 3, 0, 7, 1]] {
            let r = QueueSizeRecord(contentSize: values[0], dataOffset: values[1], recipientCount: values[2],
                                    qmgrFlags: values[3], contentLength: values[4], smtputf8: values[5])
            let plain = Array(values.map { QueueSizeRecord.pad15($0) }.joined(separator: " ").utf8)
            XCTAssertEqual(r.payload, plain)
            XCTAssertEqual(r.payload.count, 95)
            XCTAssertEqual(QueueSizeRecord(payload: r.payload), r)
        }
        // Wider than 15 digits: the field grows.
        let wide = QueueSizeRecord(contentSize: Int.min)
        XCTAssertEqual(wide.payload, Array(([Int.min, 0, 0, 0, 0, 0].map { QueueSizeRecord.pad15($0) }.joined(separator: " ")).utf8))
        // Separators, signs, short records, and parsing that stops at junk.
        XCTAssertEqual(QueueSizeRecord(payload: Array("  12\t34 +5".utf8)),
                       QueueSizeRecord(contentSize: 12, dataOffset: 34, recipientCount: 5))
        XCTAssertEqual(QueueSizeRecord(payload: Array("1 2 3 4x 5".utf8)),
                       QueueSizeRecord(contentSize: 1, dataOffset: 2, recipientCount: 3))
        XCTAssertEqual(QueueSizeRecord(payload: Array("1 2 -3 4 5 6 7".utf8)),
                       QueueSizeRecord(contentSize: 1, dataOffset: 2, recipientCount: -3, qmgrFlags: 4,
                                       contentLength: 5, smtputf8: 6))
        XCTAssertNil(QueueSizeRecord(payload: Array("1 2".utf8)))
        XCTAssertNil(QueueSizeRecord(payload: Array("1 2 + 4".utf8)))
        XCTAssertNil(QueueSizeRecord(payload: Array("1 2 99999999999999999999".utf8)))
        XCTAssertNil(QueueSizeRecord(payload: []))
    }

    func testSpareNamesParseAsHexInodes() {
        func value(_ s: String) -> UInt64? {
            let bytes = Array(s.utf8) + [0]
            return bytes.withUnsafeBufferPointer { SpareFileTaker.hexValue($0.baseAddress!) }
        }
        XCTAssertEqual(value("f94064"), 0xF94064)
        XCTAssertEqual(value(SpareQueueFiles.name(inode: 0xFFFF_FFFF_FFFF_FFFF)), 0xFFFF_FFFF_FFFF_FFFF)
        XCTAssertNil(value("."))
        XCTAssertNil(value(".."))
        XCTAssertNil(value(""))
        XCTAssertNil(value("F94064"))
        XCTAssertNil(value("12345678901234567"))
        XCTAssertNil(value("abc.tmp"))
    }

    func testRecordLengthAppendEqualsEncode() {
        for n in [0, 1, 127, 128, 16383, 16384, 1 << 21, 1 << 28] {
            var out: [UInt8] = [9]
            QueueRecordLength.append(n, to: &out)
            XCTAssertEqual(Array(out.dropFirst()), QueueRecordLength.encode(n))
            XCTAssertEqual(QueueRecordLength.decode(out, at: 1), .value(n, used: out.count - 1))
        }
    }

    func testSegmentAllowsExactlyItsTypes() {
        for segment in [QueueSegment.envelope, .content, .extracted] {
            for t in 0...255 {
                XCTAssertEqual(segment.allows(UInt8(t)), segment.allowedTypes.contains(UInt8(t)), "\(segment) \(t)")
            }
        }
    }

    func testHashedPathsEqualTheDirectoryList() {
        let hashed: Set<String> = ["deferred", "defer"]
        for id in ["2A908F78165", "4dRKqy5cB8zJgxxq", "AB", "x", "é1234567", "1", ""] {
            for depth in 0...3 {
                let plain = (["deferred"] + QueueID.hashDirectories(id, depth: depth) + [id]).joined(separator: "/")
                XCTAssertEqual(QueueID.relativePath(queue: "deferred", id: id, hashedQueues: hashed, depth: depth), plain, id)
            }
        }
        XCTAssertEqual(QueueID.relativePath(queue: "active", id: "2A908F78165", hashedQueues: hashed, depth: 1), "active/2A908F78165")
    }
}
