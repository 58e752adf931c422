// CIDRTable: cidr:/file tables — `network/prefix result`, `address result`,
// `!pattern result` and `if pattern ... endif`, for IPv4 and IPv6, as
// Postfix's cidr_table(5). Patterns may be written in brackets
// (`[2001:db8::]/32`); keys must be plain addresses. A key of the other
// address family matches no rule, negated or not.
import Glibc
import Util

public final class CIDRTable: LookupTable {
    public let reference: String
    public var keyCase: KeyCase { .asGiven }
    public var isPatternTable: Bool { true }

    /// One address pattern: network bytes (4 or 16) and prefix length.
    struct Pattern {
        let network: [UInt8]
        let prefix: Int
        let negated: Bool

        /// False for a key of the other family, whatever the negation.
        func holds(_ address: [UInt8]) -> Bool {
            guard address.count == network.count else { return false }
            return CIDRTable.prefixMatches(address, network, prefix) != negated
        }
    }

    struct Rule {
        let pattern: Pattern
        let result: String
    }

    private let program: PatternTableProgram<Rule>

    public convenience init(type: String, name: String, context: TableContext) throws(LookupError) {
        try self.init(type: type, name: name, context: context, warn: { Diagnostics.warning($0) })
    }

    /// Opens the table, sending its warnings to `warn`.
    init(type: String, name: String, context: TableContext, warn: @escaping PatternTableWarn) throws(LookupError) {
        reference = type + ":" + name
        var builder = PatternTableProgramBuilder<Rule>()
        for line in try PatternTableSource.lines(type: type, name: name, warn: warn) {
            let prefix = "\(type) map \(name), line \(line.number): "
            let b = line.bytes
            if PatternTableBytes.startsWithKeyword(b, "if") {
                var i = 2
                PatternTableBytes.skipSpace(b, &i)
                if i >= b.count {
                    warn(prefix + "no address pattern: skipping this rule")
                    continue
                }
                let negated = Self.negation(b, &i)
                switch Self.parsePattern(PatternTableBytes.string(b[i...]), negated: negated) {
                case .failure(let message): warn(prefix + message.text + ": skipping this rule")
                case .success(let pattern): builder.beginIf(Rule(pattern: pattern, result: ""), line: line.number)
                }
            } else if PatternTableBytes.startsWithKeyword(b, "endif") {
                var i = 5
                PatternTableBytes.skipSpace(b, &i)
                if i < b.count {
                    warn(prefix + "garbage after ENDIF: skipping this rule")
                } else if !builder.endIf() {
                    warn(prefix + "ENDIF without IF: skipping this rule")
                }
            } else {
                var i = 0
                let negated = Self.negation(b, &i)
                let start = i
                while i < b.count && !b[i].isPostfixSpace { i += 1 }
                let text = PatternTableBytes.string(b[start..<i])
                PatternTableBytes.skipSpace(b, &i)
                let result = PatternTableBytes.string(b[i...])
                switch Self.parsePattern(text, negated: negated) {
                case .failure(let message):
                    warn(prefix + message.text + ": skipping this rule")
                case .success(let pattern):
                    if result.isEmpty {
                        warn(prefix + "no lookup result: skipping this rule")
                    } else {
                        builder.add(Rule(pattern: pattern, result: result))
                    }
                }
            }
        }
        program = builder.finish { number in
            warn("\(type) map \(name), line \(number): IF has no matching ENDIF")
        }
    }

    public func lookup(_ key: String) throws(LookupError) -> String? {
        guard let address = Self.address(key) else { return nil }
        return program.first(holds: { $0.pattern.holds(address) },
                             answer: { $0.pattern.holds(address) ? $0.result : nil })
    }

    // MARK: - Addresses and patterns

    struct PatternError: Error { let text: String }

    /// Leading `!` characters (each may be followed by white space).
    private static func negation(_ b: [UInt8], _ i: inout Int) -> Bool {
        var negated = false
        while i < b.count && b[i] == UInt8(ascii: "!") {
            negated.toggle()
            i += 1
            PatternTableBytes.skipSpace(b, &i)
        }
        return negated
    }

    /// The binary form of a key: 4 bytes for IPv4, 16 for IPv6; nil when
    /// the key is not an address.
    static func address(_ text: String) -> [UInt8]? {
        let family = text.utf8.contains(UInt8(ascii: ":")) ? AF_INET6 : AF_INET
        var bytes = [UInt8](repeating: 0, count: family == AF_INET6 ? 16 : 4)
        let ok = bytes.withUnsafeMutableBytes { inet_pton(family, text, $0.baseAddress) }
        return ok == 1 ? bytes : nil
    }

    /// Parses `network/prefix`, `address`, or either in brackets, with
    /// Postfix's complaint (without ": skipping this rule") on failure.
    static func parsePattern(_ original: String, negated: Bool) -> Result<Pattern, PatternError> {
        var text = original
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                return .failure(PatternError(text: "missing ']' character after \"\(original)\""))
            }
            let after = text[text.index(after: close)...]
            if !after.isEmpty && !after.hasPrefix("/") {
                return .failure(PatternError(text: "garbage after \"\(text[...close])\""))
            }
            text = String(text[text.index(after: text.startIndex)..<close]) + after
        }
        guard let slash = text.firstIndex(of: "/") else {
            guard let network = address(text) else {
                return .failure(PatternError(text: "bad address pattern: \"\(text)\""))
            }
            return .success(Pattern(network: network, prefix: network.count * 8, negated: negated))
        }
        let addressText = String(text[..<slash])
        let maskText = text[text.index(after: slash)...]
        guard !maskText.isEmpty, maskText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return .failure(PatternError(text: "bad mask value in \"\(text)\""))
        }
        let maximum = addressText.contains(":") ? 128 : 32
        let prefix = Int(maskText) ?? Int.max
        guard prefix <= maximum else {
            return .failure(PatternError(text: "bad mask length in \"\(text)\""))
        }
        guard let network = address(addressText), network.count * 8 == maximum else {
            return .failure(PatternError(text: "bad network value in \"\(text)\""))
        }
        let masked = mask(network, prefix)
        guard masked == network else {
            return .failure(PatternError(text: "non-null host address bits in \"\(text)\", perhaps you should use \"\(presentation(masked))/\(prefix)\" instead"))
        }
        return .success(Pattern(network: network, prefix: prefix, negated: negated))
    }

    /// `bytes` with all bits after the first `prefix` cleared.
    static func mask(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        var out = bytes
        for k in out.indices {
            let bits = max(0, min(8, prefix - 8 * k))
            out[k] &= bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
        }
        return out
    }

    static func prefixMatches(_ address: [UInt8], _ network: [UInt8], _ prefix: Int) -> Bool {
        mask(address, prefix) == network
    }

    /// inet_ntop's text for 4 or 16 address bytes.
    static func presentation(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 16 ? AF_INET6 : AF_INET
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return PatternTableBytes.cString(buffer)
    }
}
