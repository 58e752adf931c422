// Tests of DirectoryReader: directories read without access-time updates.
import XCTest
import Glibc
@testable import Util

final class DirectoryReaderTests: XCTestCase {
    func makeDirectory() throws -> String {
        var template = Array("/tmp/dirreader-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError() }
        let path = String(cString: made)
        for name in ["a", "b"] { close(creat(path + "/" + name, 0o600)) }
        return path
    }

    func names(_ dir: OpaquePointer) -> [String] {
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out.sorted()
    }

    func accessTime(_ path: String) -> Int {
        var st = stat()
        stat(path, &st)
        return st.st_atim.tv_sec
    }

    /// Sets the access time far before the modification time: with
    /// relatime, the next plain read updates it.
    func ageAccessTime(_ path: String) {
        var times = [timespec(tv_sec: 1000, tv_nsec: 0), timespec(tv_sec: time(nil), tv_nsec: 0)]
        utimensat(AT_FDCWD, path, &times, 0)
    }

    func testListsWithoutTouchingAccessTime() throws {
        let path = try makeDirectory()
        defer { for n in ["a", "b"] { unlink(path + "/" + n) }; rmdir(path) }
        // Control: a plain read updates the access time here (else the
        // file system does not keep it, and there is nothing to test).
        ageAccessTime(path)
        let plain = try XCTUnwrap(opendir(path))
        XCTAssertEqual(names(plain), ["a", "b"])
        closedir(plain)
        guard accessTime(path) != 1000 else { throw XCTSkip("this file system does not update access times") }

        ageAccessTime(path)
        let dir = try XCTUnwrap(DirectoryReader.open(path))
        XCTAssertEqual(names(dir), ["a", "b"])
        closedir(dir)
        XCTAssertEqual(accessTime(path), 1000, "O_NOATIME: the owner's read leaves the access time")
    }

    func testMissingPathAndFileAreNil() throws {
        let path = try makeDirectory()
        defer { for n in ["a", "b"] { unlink(path + "/" + n) }; rmdir(path) }
        XCTAssertNil(DirectoryReader.open(path + "/missing"))
        XCTAssertNil(DirectoryReader.open(path + "/a"))
    }
}
