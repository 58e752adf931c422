// Tests of the service command line master passes (MasterProtocol).
import XCTest
import Global
@testable import ServerSkeleton

final class ServerOptionsTests: XCTestCase {
    func parse(_ words: [String]) -> ServerOptions? {
        if case .success(let options) = ServerOptions.parse(words) { return options }
        return nil
    }

    func testFullCommandLine() throws {
        let o = try XCTUnwrap(parse(["-c", "/etc/x", "-n", "submission", "-t", "inet", "-u", "-r", "-z",
                                     "-o", "syslog_name=postfix/submission", "-o", "smtpd_tls_security_level = encrypt",
                                     "arg1", "-o", "notanoption=1"]))
        XCTAssertEqual(o.configDirectory, "/etc/x")
        XCTAssertEqual(o.serviceName, "submission")
        XCTAssertEqual(o.serviceType, "inet")
        XCTAssertTrue(o.dropPrivileges)
        XCTAssertTrue(o.chroot)
        XCTAssertTrue(o.wakeup)
        XCTAssertFalse(o.standalone)
        XCTAssertEqual(o.overrideTable, ["syslog_name": "postfix/submission", "smtpd_tls_security_level": "encrypt"])
        XCTAssertEqual(o.arguments, ["arg1", "-o", "notanoption=1"])
    }

    func testAttachedValuesAndClusters() throws {
        let o = try XCTUnwrap(parse(["-cdir", "-nsvc", "-ttype", "-uvS", "-ox=1", "-o", "x=2"]))
        XCTAssertEqual(o.configDirectory, "dir")
        XCTAssertEqual(o.serviceName, "svc")
        XCTAssertEqual(o.serviceType, "type")
        XCTAssertTrue(o.dropPrivileges)
        XCTAssertEqual(o.verbose, 1)
        XCTAssertTrue(o.standalone)
        XCTAssertEqual(o.overrideTable, ["x": "2"], "the last -o wins")
        XCTAssertEqual(o.arguments, [])
    }

    func testSocketCount() throws {
        XCTAssertEqual(try XCTUnwrap(parse(["-n", "25", "-s", "2"])).socketCount, 2)
        XCTAssertEqual(try XCTUnwrap(parse(["-n", "25"])).socketCount, 1)
        guard case .failure(let bad) = ServerOptions.parse(["-s", "0"]) else { return XCTFail() }
        XCTAssertEqual(bad.text, "invalid socket count: 0")
    }

    func testDoubleDashEndsOptions() throws {
        let o = try XCTUnwrap(parse(["-n", "a", "--", "-u"]))
        XCTAssertFalse(o.dropPrivileges)
        XCTAssertEqual(o.arguments, ["-u"])
    }

    func testErrors() {
        guard case .failure(let missing) = ServerOptions.parse(["-n"]) else { return XCTFail() }
        XCTAssertEqual(missing.text, "option requires an argument -- n")
        guard case .failure(let bad) = ServerOptions.parse(["-q"]) else { return XCTFail() }
        XCTAssertEqual(bad.text, "invalid option -- q")
        guard case .failure(let option) = ServerOptions.parse(["-o", "novalue"]) else { return XCTFail() }
        XCTAssertEqual(option.text, "bad -o option: novalue")
    }
}

final class StatusRecordTests: XCTestCase {
    func testRoundTrip() {
        let record = MasterProtocol.Record(pid: 12345, generation: 7, status: .taken)
        let bytes = record.encoded()
        XCTAssertEqual(bytes.count, MasterProtocol.recordSize)
        XCTAssertEqual(String(decoding: bytes.prefix(10), as: UTF8.self), "12345 7 T\n")
        XCTAssertEqual(MasterProtocol.Record.decode(bytes[...]), record)
    }

    func testRejectsShortAndGarbage() {
        XCTAssertNil(MasterProtocol.Record.decode(Array("1 2 A\n".utf8)[...]))
        var junk = Array("x y Z\n".utf8)
        while junk.count < 32 { junk.append(0x20) }
        XCTAssertNil(MasterProtocol.Record.decode(junk[...]))
    }
}

final class ServerUsageTests: XCTestCase {
    func testMaxUse() {
        var usage = ServerUsage(maxUse: 2, maxIdle: 100, now: 0)
        XCTAssertFalse(usage.exhausted)
        usage.served(at: 1)
        XCTAssertFalse(usage.exhausted)
        usage.served(at: 2)
        XCTAssertTrue(usage.exhausted)
    }

    func testZeroMaxUseIsUnlimited() {
        var usage = ServerUsage(maxUse: 0, maxIdle: 0, now: 0)
        for i in 0..<1000 { usage.served(at: Double(i)) }
        XCTAssertFalse(usage.exhausted)
        XCTAssertNil(usage.idleRemaining(at: 1e9))
        XCTAssertFalse(usage.idleExpired(at: 1e9))
    }

    func testIdleClockRestartsOnUse() {
        var usage = ServerUsage(maxUse: 100, maxIdle: 10, now: 0)
        XCTAssertEqual(usage.idleRemaining(at: 4), 6)
        XCTAssertFalse(usage.idleExpired(at: 9.9))
        usage.served(at: 9)
        XCTAssertFalse(usage.idleExpired(at: 18))
        XCTAssertTrue(usage.idleExpired(at: 19))
        usage.touch(at: 30)
        XCTAssertEqual(usage.idleRemaining(at: 35), 5)
    }
}

final class ParameterValuesTests: XCTestCase {
    func config(_ text: String) throws -> MailConfig {
        MailConfig(configDirectory: "/etc/postfix", main: try MainConfigFile.parse(text, path: "/etc/postfix/main.cf"))
    }

    func testTimes() {
        XCTAssertEqual(ParameterValues.parseTime("10"), 10)
        XCTAssertEqual(ParameterValues.parseTime("10m"), 600)
        XCTAssertEqual(ParameterValues.parseTime("2d"), 172800)
        XCTAssertEqual(ParameterValues.parseTime("1", defaultUnit: "h"), 3600)
        XCTAssertNil(ParameterValues.parseTime("bogus"))
        XCTAssertNil(ParameterValues.parseTime("10x"))
        XCTAssertNil(ParameterValues.parseTime(""))
    }

    func testFatalWording() throws {
        var c = try config("max_idle = 5m\n")
        c.overrides = ["smtpd_timeout": "bogus", "max_use": "lots", "max_idle": "0"]
        XCTAssertEqual(ParameterValues.seconds("smtpd_timeout", config: c),
                       .failure(ParameterProblem("parameter smtpd_timeout: bad time value or unit: bogus")))
        XCTAssertEqual(ParameterValues.integer("max_use", config: c),
                       .failure(ParameterProblem("bad numerical configuration: max_use = lots")))
        XCTAssertEqual(ParameterValues.seconds("max_idle", config: c),
                       .failure(ParameterProblem("invalid max_idle parameter value 0 < 1s")))
        c.overrides = [:]
        XCTAssertEqual(ParameterValues.seconds("max_idle", config: c), .success(300))
        XCTAssertEqual(ParameterValues.integer("max_use", config: c), .success(100))
    }
}
