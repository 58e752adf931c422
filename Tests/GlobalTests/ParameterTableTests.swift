// ParameterTableTests: sanity checks on the generated parameter registry.

import XCTest
@testable import Global

final class ParameterTableTests: XCTestCase {
    private var table: [ParameterSpec] { ParameterRegistry.table }

    /// Seconds in one of Postfix's time units.
    private func seconds(in unit: Character) -> Int64? {
        switch unit {
        case "s": return 1
        case "m": return 60
        case "h": return 3600
        case "d": return 86400
        case "w": return 604800
        default: return nil
        }
    }

    /// Defaults that are expressions (`$name`, `${...}`) are checked only after expansion.
    private func isExpression(_ value: String) -> Bool { value.contains("$") }

    private func checkRange(_ spec: ParameterSpec, _ value: Int64,
                            file: StaticString = #filePath, line: UInt = #line) {
        if let lo = spec.minimum {
            XCTAssertGreaterThanOrEqual(value, lo, "\(spec.name) default below minimum", file: file, line: line)
        }
        if let hi = spec.maximum {
            XCTAssertLessThanOrEqual(value, hi, "\(spec.name) default above maximum", file: file, line: line)
        }
    }

    func testCountIsAtLeastAThousand() {
        XCTAssertGreaterThanOrEqual(table.count, 835)  // 831 built-in (Postfix 3.7) + 4 Posthorn
    }

    func testNamesSortedAndUnique() {
        let names = table.map(\.name)
        for (a, b) in zip(names, names.dropFirst()) {
            XCTAssertLessThan(a, b, "table not strictly sorted at \(a), \(b)")
        }
        XCTAssertEqual(Set(names).count, names.count)
    }

    func testLookupFindsEveryNameAndNothingElse() {
        for spec in table {
            XCTAssertEqual(ParameterRegistry.spec(named: spec.name)?.name, spec.name)
        }
        for name in ["", "a", "zzz", "myhostname_", "mydomai", "2bounce_notice_recipientx", "~"] {
            XCTAssertNil(ParameterRegistry.spec(named: name), name)
        }
        XCTAssertTrue(ParameterRegistry.isKnown("virtual_uid_maps"))
        XCTAssertFalse(ParameterRegistry.isKnown("no_such_parameter"))
    }

    func testEveryEntryHasASummary() {
        for spec in table {
            XCTAssertFalse(spec.name.isEmpty)
            XCTAssertFalse(spec.summary.isEmpty, "\(spec.name) has no summary")
        }
    }

    func testBoolDefaultsAreYesOrNo() {
        for spec in table where spec.kind == .bool && !isExpression(spec.defaultValue) {
            XCTAssertTrue(["yes", "no"].contains(spec.defaultValue),
                          "\(spec.name) = \(spec.defaultValue)")
        }
    }

    func testNumericDefaultsParseAndAreInRange() {
        for spec in table where spec.kind == .int || spec.kind == .long {
            if isExpression(spec.defaultValue) { continue }
            guard let number = Int64(spec.defaultValue) else {
                XCTFail("\(spec.name) = \(spec.defaultValue) is not a number")
                continue
            }
            if spec.kind == .int {
                XCTAssertNotNil(Int32(exactly: number), "\(spec.name) does not fit 32 bits")
            }
            checkRange(spec, number)
        }
    }

    func testTimeDefaultsParseAndAreInRange() {
        var timeCount = 0
        for spec in table {
            guard case .time(let defaultUnit) = spec.kind else { continue }
            timeCount += 1
            XCTAssertNotNil(seconds(in: defaultUnit), "\(spec.name) has bad default unit")
            if isExpression(spec.defaultValue) { continue }
            var digits = spec.defaultValue
            var unit = defaultUnit
            if let last = digits.last, !last.isNumber {
                unit = last
                digits.removeLast()
            }
            guard let number = Int64(digits), let scale = seconds(in: unit) else {
                XCTFail("\(spec.name) = \(spec.defaultValue) is not a time")
                continue
            }
            checkRange(spec, number * scale)
        }
        XCTAssertGreaterThan(timeCount, 100)
    }

    func testRangesOnlyOnNumericKinds() {
        for spec in table {
            switch spec.kind {
            case .string, .raw, .bool:
                XCTAssertNil(spec.minimum, spec.name)
                XCTAssertNil(spec.maximum, spec.name)
            case .int, .long, .time:
                if let lo = spec.minimum, let hi = spec.maximum {
                    XCTAssertLessThanOrEqual(lo, hi, spec.name)
                }
            }
        }
    }

    func testPosthornParameters() {
        let expected: [(String, ParameterKind, String)] = [
            ("virtual_mailbox_limit_maps", .string, ""),
            ("virtual_mailbox_limit_inbox", .bool, "no"),
            ("virtual_mailbox_limit_override", .bool, "no"),
            ("virtual_overquota_bounce", .bool, "no"),
        ]
        for (name, kind, value) in expected {
            guard let spec = ParameterRegistry.spec(named: name) else {
                XCTFail("\(name) missing")
                continue
            }
            XCTAssertEqual(spec.origin, .posthorn, name)
            XCTAssertEqual(spec.kind, kind, name)
            XCTAssertEqual(spec.defaultValue, value, name)
        }
        XCTAssertEqual(table.filter { $0.origin == .posthorn }.count, expected.count)
    }

    func testSomeWellKnownShapes() {
        XCTAssertEqual(ParameterRegistry.spec(named: "maximal_queue_lifetime")?.kind, .time(defaultUnit: "d"))
        XCTAssertEqual(ParameterRegistry.spec(named: "smtpd_timeout")?.kind, .time(defaultUnit: "s"))
        XCTAssertEqual(ParameterRegistry.spec(named: "delay_warning_time")?.kind, .time(defaultUnit: "h"))
        XCTAssertEqual(ParameterRegistry.spec(named: "message_size_limit")?.kind, .long)
        XCTAssertEqual(ParameterRegistry.spec(named: "default_process_limit")?.kind, .int)
        XCTAssertEqual(ParameterRegistry.spec(named: "default_process_limit")?.minimum, 1)
        XCTAssertEqual(ParameterRegistry.spec(named: "forward_path")?.kind, .raw)
        XCTAssertEqual(ParameterRegistry.spec(named: "biff")?.kind, .bool)
        XCTAssertEqual(ParameterRegistry.spec(named: "myorigin")?.defaultValue, "$myhostname")
        XCTAssertEqual(ParameterRegistry.spec(named: "alias_database")?.origin, .postfix)
        XCTAssertNil(ParameterRegistry.spec(named: "no_such_parameter"))
    }
}
