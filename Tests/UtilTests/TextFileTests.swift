// TextFileTests: readAll gives a file's exact bytes however it is read
// (sized by fstat, from the current position or from the start, pipes
// without a size, files larger than one read).
import XCTest
import Glibc
@testable import Util

final class TextFileTests: XCTestCase {
    private func temporaryFile(_ bytes: [UInt8]) -> String {
        var template = Array("/tmp/textfile-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        XCTAssertGreaterThanOrEqual(fd, 0)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        return String(cString: template)
    }

    func testRegularFilesOfEverySize() throws {
        for size in [0, 1, 4095, 65536, 65537, 300_000] {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let path = temporaryFile(bytes)
            defer { unlink(path) }
            XCTAssertEqual(try TextFile.readBytes(path), bytes, "size \(size)")
        }
    }

    func testFromStartDoesNotMoveAndCurrentPositionReadsTheRest() throws {
        let bytes = Array("0123456789".utf8)
        let path = temporaryFile(bytes)
        defer { unlink(path) }
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        XCTAssertEqual(lseek(fd, 4, SEEK_SET), 4)
        XCTAssertEqual(try TextFile.readAll(fd: fd, fromStart: true), bytes)
        XCTAssertEqual(lseek(fd, 0, SEEK_CUR), 4)
        XCTAssertEqual(try TextFile.readAll(fd: fd), Array("456789".utf8))
    }

    func testPipesHaveNoSizeAndAreReadToTheEnd() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let bytes = [UInt8](repeating: 0x41, count: 10_000)
        _ = bytes.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        defer { close(fds[0]) }
        XCTAssertEqual(try TextFile.readAll(fd: fds[0]), bytes)
    }

    func testMissingFileIsAnError() {
        XCTAssertThrowsError(try TextFile.readBytes("/nonexistent/textfile-test"))
    }
}
