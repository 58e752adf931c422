// ConfigCheckerTests: `postfix check` findings, each bad value paired with
// the exact expected message and its line.
import XCTest
import Foundation
@testable import ConfigCheck

final class ConfigCheckerTests: XCTestCase {
    private func check(main: String, master: String = "smtp inet n - n - - smtpd\n") throws -> [String] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("posthorn-check-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try main.write(toFile: dir + "/main.cf", atomically: true, encoding: .utf8)
        try master.write(toFile: dir + "/master.cf", atomically: true, encoding: .utf8)
        var checker = ConfigChecker(configDirectory: dir)
        return checker.run().filter { !$0.message.contains("is not installed") }.map {
            "\($0.severity == .error ? "E" : "W") \(URL(fileURLWithPath: $0.file).lastPathComponent):\($0.line ?? 0) \($0.message)"
        }
    }

    func testBadValuesAreReportedWithLines() throws {
        let cases: [(String, String)] = [
            ("smtpd_use_tls = maybe\n", "E main.cf:1 bad boolean configuration: smtpd_use_tls = maybe"),
            ("# c\nmessage_size_limit = 10x\n", "E main.cf:2 bad numerical configuration: message_size_limit = 10x"),
            ("smtpd_timeout = 5q\n", "E main.cf:1 parameter smtpd_timeout: bad time value or unit: 5q"),
            ("default_process_limit = 0\n", "E main.cf:1 invalid default_process_limit parameter value 0 < 1"),
            ("smtpd_recipient_restrictions = permit_mynetworks,\n  reject_unauth_destinaton\n",
             "E main.cf:1 smtpd_recipient_restrictions: unknown smtpd restriction: \"reject_unauth_destinaton\""),
            ("alias_maps = bogus:/x\n", "E main.cf:1 alias_maps: unsupported dictionary type: bogus"),
            ("alias_maps = hash:/nonexistent/aliases\n",
             "E main.cf:1 alias_maps: open database /nonexistent/aliases.db: No such file or directory"),
            ("myhostname = ${x\n", "E main.cf:1 myhostname: truncated macro reference: \"${x\""),
            ("mispelled_parameter = 1\n", "W main.cf:1 unused parameter: mispelled_parameter=1"),
            ("bad line\n", "E main.cf:1 missing '=' after attribute name: \"bad line\""),
        ]
        for (main, expected) in cases {
            XCTAssertEqual(try check(main: main), [expected], main)
        }
    }

    func testGoodValuesPass() throws {
        let main = """
        smtpd_use_tls = yes
        message_size_limit = 10485760
        smtpd_timeout = 300s
        maximal_queue_lifetime = 5
        smtpd_restriction_classes = myclass
        myclass = permit_mynetworks, reject
        smtpd_recipient_restrictions = permit_mynetworks, myclass, check_sender_access inline:{ a=OK },
            reject_rbl_client zen.example, reject_unauth_destination
        virtual_uid_maps = static:5000
        virtual_mailbox_limit_inbox = yes

        """
        XCTAssertEqual(try check(main: main), [])
    }

    func testMasterEntryProblems() throws {
        let master = """
        smtp inet n - n - - smtpd
        smtp inet n - n - - smtpd
        x unix - - n - - nosuchdaemon
        y unix - - n - - smtp -o smtp_use_tls=perhaps -o nosuch=1
        z inet q - n - - smtpd

        """
        XCTAssertEqual(try check(main: "", master: master), [
            "E master.cf:2 duplicate service smtp/inet (first defined at line 1)",
            "E master.cf:3 service x/unix: unknown program \"nosuchdaemon\"",
            "E master.cf:4 service y/unix: bad boolean configuration: smtp_use_tls = perhaps",
            "W master.cf:4 service y/unix: unused parameter: nosuch=1",
            "E master.cf:5 invalid private field \"q\"",
        ])
    }
}
