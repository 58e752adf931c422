// PatternTableOracleTests: our regexp, pcre and cidr tables against the
// answers Debian's Postfix 3.7 gave for the same tables and keys
// (Fixtures/pattern-cases.tsv, written by scripts/gen-pattern-cases.py):
// the same result or not-found, and the same table warnings.
import XCTest
import Foundation
@testable import Tables

final class PatternTableOracleTests: XCTestCase {
    struct Case {
        let line: Int
        let type: String
        let table: String
        let key: String
        let result: String?
        let exit: Int
        let warnings: [String]
    }

    static func unescape(_ field: Substring) -> String {
        var out = ""
        var escaped = false
        for ch in field {
            if escaped {
                switch ch {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                default: out.append(ch)
                }
                escaped = false
            } else if ch == "\\" {
                escaped = true
            } else {
                out.append(ch)
            }
        }
        return out
    }

    static func loadCases() throws -> [Case] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/pattern-cases.tsv").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var cases: [Case] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 6 else { throw NSError(domain: "pattern-cases.tsv line \(index + 1): \(fields.count) fields", code: 1) }
            let result = fields[3] == "NOTFOUND" ? nil : unescape(fields[3])
            let warnings = unescape(fields[5])
            cases.append(Case(line: index + 1, type: String(fields[0]), table: unescape(fields[1]), key: unescape(fields[2]),
                              result: result, exit: Int(fields[4]) ?? -1,
                              warnings: warnings.isEmpty ? [] : warnings.components(separatedBy: "\n")))
        }
        return cases
    }

    static func open(_ type: String, _ name: String, warn: @escaping PatternTableWarn) throws -> LookupTable {
        switch type {
        case "regexp": return try RegexpTable(type: type, name: name, context: TableContext(), warn: warn)
        case "pcre": return try PCRETable(type: type, name: name, context: TableContext(), warn: warn)
        case "cidr": return try CIDRTable(type: type, name: name, context: TableContext(), warn: warn)
        default: throw LookupError.configuration("unsupported dictionary type: \(type)")
        }
    }

    func testOracleAnswers() throws {
        let cases = try Self.loadCases()
        XCTAssertGreaterThanOrEqual(cases.count, 120)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pattern-oracle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("table").path
        var failures = 0
        for c in cases {
            try c.table.write(toFile: path, atomically: false, encoding: .utf8)
            var warnings: [String] = []
            let table = try Self.open(c.type, path) { warnings.append($0.replacingOccurrences(of: path, with: "{path}")) }
            let result = try table.find(c.key)
            XCTAssertEqual(c.exit, c.result == nil ? 1 : 0, "line \(c.line)")
            if result != c.result || warnings != c.warnings {
                failures += 1
                XCTFail("""
                    pattern-cases.tsv line \(c.line): \(c.type) table \(c.table.debugDescription) key \(c.key.debugDescription)
                      oracle: \(c.result.debugDescription) \(c.warnings)
                      ours:   \(result.debugDescription) \(warnings)
                    """)
            }
        }
        print("PatternTableOracleTests: \(cases.count) cases, \(failures) differences")
    }
}
