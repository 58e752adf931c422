import XCTest
import Glibc
import DNS

/// HostsFile answers from /etc/hosts exactly what glibc answers, or nil.
final class HostsFileTests: XCTestCase {
    private var directory = ""

    override func setUp() {
        directory = "/tmp/hostsfile-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(directory, 0o700)
    }

    override func tearDown() {
        for name in ["hosts", "nsswitch.conf", "host.conf"] { unlink(directory + "/" + name) }
        rmdir(directory)
    }

    private func write(_ name: String, _ text: String) {
        let path = directory + "/" + name
        let fd = open(path + ".new", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
        rename(path + ".new", path)  // a new inode: the cache sees the change
    }

    private func hostsFile(hosts: String, nsswitch: String = "hosts: files dns\n", hostConf: String? = "multi on\n") -> HostsFile {
        write("hosts", hosts)
        write("nsswitch.conf", nsswitch)
        if let hostConf { write("host.conf", hostConf) } else { unlink(directory + "/host.conf") }
        let file = HostsFile(hosts: directory + "/hosts", nsswitch: directory + "/nsswitch.conf",
                             hostConf: directory + "/host.conf")
        file.refresh()
        return file
    }

    private let v4: [UInt8] = [192, 0, 2, 7]
    private let v6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [9]

    func testReverseGivesTheCanonicalNameOfTheFirstLine() {
        let file = hostsFile(hosts: """
            # comment line
            192.0.2.7\tMail.Example.ORG mail   # trailing comment
            192.0.2.7 second.example.org
            2001:db8::9 six.example.org six
            """)
        XCTAssertEqual(file.name(family: AF_INET, address: v4), "Mail.Example.ORG")
        XCTAssertEqual(file.name(family: AF_INET6, address: v6), "six.example.org")
        XCTAssertNil(file.name(family: AF_INET, address: [192, 0, 2, 8]), "not in the file: glibc asks DNS")
    }

    func testForwardMatchesNamesAndAliasesWithoutCase() {
        let file = hostsFile(hosts: "192.0.2.7 mail.example.org mx\n192.0.2.9 other.example.org\n")
        XCTAssertEqual(file.confirms("MAIL.example.org", family: AF_INET, address: v4), true)
        XCTAssertEqual(file.confirms("Mx", family: AF_INET, address: v4), true)
        XCTAssertNil(file.confirms("other.example.org", family: AF_INET, address: v4),
                     "the first line naming it has another address: glibc decides (multi)")
        XCTAssertNil(file.confirms("absent.example.org", family: AF_INET, address: v4))
        XCTAssertNil(file.confirms("mail.example.org", family: AF_INET6, address: v6), "no IPv6 line: glibc")
    }

    func testNumericNamesAreNotLookedUp() {
        let file = hostsFile(hosts: "192.0.2.7 192.0.2.7 127.1\n")
        XCTAssertNil(file.confirms("192.0.2.7", family: AF_INET, address: v4))
        XCTAssertNil(file.confirms("127.1", family: AF_INET, address: v4))
    }

    func testOnlyPlainFilesFirstIsAnswered() {
        let hosts = "192.0.2.7 mail.example.org\n"
        XCTAssertNil(hostsFile(hosts: hosts, nsswitch: "hosts: dns files\n").name(family: AF_INET, address: v4))
        XCTAssertNil(hostsFile(hosts: hosts, nsswitch: "hosts: files [SUCCESS=continue] dns\n").name(family: AF_INET, address: v4))
        XCTAssertNil(hostsFile(hosts: hosts, nsswitch: "passwd: files\n").name(family: AF_INET, address: v4),
                     "no hosts line: glibc's default puts dns first")
        XCTAssertEqual(hostsFile(hosts: hosts, nsswitch: "hosts:files mdns4_minimal [NOTFOUND=return] dns\n")
            .name(family: AF_INET, address: v4), "mail.example.org")
        XCTAssertNil(hostsFile(hosts: hosts, hostConf: "multi on\ntrim example.org\n").name(family: AF_INET, address: v4))
        XCTAssertEqual(hostsFile(hosts: hosts, hostConf: nil).name(family: AF_INET, address: v4), "mail.example.org")
    }

    func testMappedAndSpecialIPv6AddressesAreLeftToGlibc() {
        let file = hostsFile(hosts: "::1 localhost6\n::ffff:192.0.2.7 mapped\n")
        XCTAssertNil(file.name(family: AF_INET6, address: [UInt8](repeating: 0, count: 15) + [1]))
        XCTAssertNil(file.name(family: AF_INET6, address: [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + v4))
    }

    func testAChangedFileIsReadAgain() {
        let file = hostsFile(hosts: "192.0.2.7 old.example.org\n")
        XCTAssertEqual(file.name(family: AF_INET, address: v4), "old.example.org")
        write("hosts", "192.0.2.7 new.example.org\n")
        file.refresh()
        XCTAssertEqual(file.name(family: AF_INET, address: v4), "new.example.org")
    }

    /// Differential: every IPv4 address in this machine's /etc/hosts gets
    /// the answer glibc's getnameinfo and getaddrinfo give, or nil.
    func testAgreesWithGlibcOnThisMachine() throws {
        let file = HostsFile.system
        file.refresh()
        guard let stream = fopen("/etc/hosts", "r") else { throw XCTSkip("no /etc/hosts") }
        var text = ""
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), stream) != nil { text += buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }
        fclose(stream)
        var checked = 0
        for line in text.split(separator: "\n") {
            guard let word = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first,
                  !word.hasPrefix("#") else { continue }
            var a = in_addr()
            guard inet_pton(AF_INET, String(word), &a) == 1 else { continue }
            let bytes = withUnsafeBytes(of: a) { Array($0) }
            guard let ours = file.name(family: AF_INET, address: bytes) else { continue }
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_addr = a
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let rc = withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    getnameinfo($0, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count), nil, 0, NI_NAMEREQD)
                }
            }
            XCTAssertEqual(rc, 0)
            XCTAssertEqual(ours, host.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, "reverse of \(word)")
            if let confirmed = file.confirms(ours, family: AF_INET, address: bytes) {
                var hints = addrinfo()
                hints.ai_family = AF_INET
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>? = nil
                var glibc = false
                if getaddrinfo(ours, nil, &hints, &result) == 0 {
                    var p = result
                    while let info = p {
                        let addr = info.pointee.ai_addr!.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                        if withUnsafeBytes(of: addr, { Array($0) }) == bytes { glibc = true }
                        p = info.pointee.ai_next
                    }
                    freeaddrinfo(result)
                }
                XCTAssertEqual(confirmed, glibc, "forward of \(ours)")
            }
            checked += 1
        }
        if checked == 0 { throw XCTSkip("this machine's nsswitch.conf does not consult files first for hosts") }
    }
}
