// MasterConfigFileTests: master.cf as Postfix reads it (golden cases).
import XCTest
@testable import Global

final class MasterConfigFileTests: XCTestCase {
    private func parse(_ text: String) throws -> MasterConfigFile {
        try MasterConfigFile.parse(text, path: "master.cf")
    }

    func testFieldsOptionsAndContinuations() throws {
        let text = """
        # comment
        smtp      inet  n       -       n       -       -       smtpd
        amavis    unix  -       -       n       -       4       smtp
          -o smtp_data_done_timeout=1200
          -o content_filter=
        flush     unix  n       -       n       1000?   0       flush
        localhost:10025 inet n - n - - smtpd -o { smtpd_banner = $myhostname ESMTP } { arg with space }
        [::1]:2525 inet n - n - - smtpd
        procmail  unix  -       n       n       -       -       pipe
          flags=R user=postfixadmin argv=/usr/bin/procmail -t -m USER=${user}

        """
        let file = try parse(text)
        XCTAssertEqual(file.entries.map(\.key), ["smtp/inet", "amavis/unix", "flush/unix", "localhost:10025/inet",
                                                  "[::1]:2525/inet", "procmail/unix"])
        let amavis = file.entries[1]
        XCTAssertEqual(amavis.processLimitField, "4")
        XCTAssertEqual(amavis.options.map { "\($0.name)=\($0.value)" }, ["smtp_data_done_timeout=1200", "content_filter="])
        XCTAssertEqual(amavis.firstLine, 3)
        XCTAssertEqual(amavis.lastLine, 5)
        XCTAssertEqual(file.entries[2].wakeupField, "1000?")
        XCTAssertEqual(file.entries[3].arguments, [.option(name: "smtpd_banner", value: "$myhostname ESMTP"), .plain("arg with space")])
        XCTAssertEqual(file.entries[5].arguments.first, .plain("flags=R"))
        XCTAssertEqual(file.entries[1].layout.renderLine(fold: true),
                       "amavis     unix  -       -       n       -       4       smtp\n    -o smtp_data_done_timeout=1200\n    -o content_filter=")
        XCTAssertEqual(file.entries[5].arguments.last, .plain("USER=${user}"))
    }

    func testArgumentWordsAndPostconfLayoutBraceValuesWithSpaces() throws {
        let file = try parse("x unix - - n - - smtp -o a=b -o c={ x y } -o { d = e f } -o\n")
        XCTAssertEqual(file.entries[0].argumentWords, ["-o", "a=b", "-o", "c={ x y }", "-o", "d=e f", "-o"])
        XCTAssertEqual(file.entries[0].layout.renderLine(fold: false),
                       "x          unix  -       -       n       -       -       smtp -o a=b -o {c={ x y }} -o {d=e f} -o")
    }

    func testOnlyLeadingOptionsAreOverrides() throws {
        let file = try parse("smtp inet n - n - - smtpd -o a=1 -o -o novalue -o b=2\n")
        XCTAssertEqual(file.entries[0].options.map(\.name), ["a"])
        XCTAssertEqual(file.entries[0].arguments, [.option(name: "a", value: "1"), .malformedOption("-o"),
                                                   .plain("novalue"), .plain("-o"), .plain("b=2")])
    }

    func testErrorsAsPostfixWordsThem() {
        let cases: [(String, String)] = [
            ("smtp inet n - n -\n", "file master.cf: line 1: bad field count"),
            ("smtp bogus n - n - - smtpd\n", "invalid type field \"bogus\" in \"smtp bogus n - n - - smtpd\""),
            ("smtp inet x - n - - smtpd\n", "invalid private field \"x\" in \"smtp inet x - n - - smtpd\""),
            ("smtp inet n - n abc - smtpd\n", "invalid wakeup field \"abc\" in \"smtp inet n - n abc - smtpd\""),
            ("smtp inet n - n - -5 smtpd\n", "invalid process_limit field \"-5\" in \"smtp inet n - n - -5 smtpd\""),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try parse(text), text) { error in
                XCTAssertEqual((error as? ConfigError)?.description, expected)
                XCTAssertEqual((error as? ConfigError)?.line, 1)
            }
        }
    }

    func testUnbalancedBraceIsAWarning() throws {
        let file = try parse("x inet n - n - - smtpd { unbalanced\n")
        XCTAssertEqual(file.warnings, ["master.cf: missing '}' in \"{ unbalanced\""])
        XCTAssertEqual(file.entries[0].arguments, [.plain("unbalanced")])
    }

    func testServiceDefinedParameters() throws {
        let file = try parse("procmail unix - n n - - pipe\namavis unix - - n - 4 smtp\nsmtps inet n - n - - smtpd\n")
        let defaults = ServiceParameters.defaults(for: file.entries)
        XCTAssertEqual(defaults["procmail_time_limit"], "$command_time_limit")
        XCTAssertEqual(defaults["amavis_destination_concurrency_limit"], "$default_destination_concurrency_limit")
        XCTAssertNil(defaults["amavis_time_limit"])
        XCTAssertNil(defaults["smtps_recipient_limit"])
    }
}
