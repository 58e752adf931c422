// PCRETable: pcre:/file tables — Perl-compatible regular expressions
// (PCRE2) in Postfix's pcre_table(5) syntax. Flags toggle PCRE2 options:
// `i` CASELESS (default on), `s` DOTALL (default on), `m` MULTILINE,
// `x` EXTENDED, `A` ANCHORED, `E` DOLLAR_ENDONLY, `U` UNGREEDY; `X` is
// obsolete with PCRE2 and ignored with a warning. libpcre2-8 is loaded on
// demand when the first pcre: table opens (CPCRE2's shim), as with
// Postfix's dynamicmaps; if it cannot be loaded the open fails.
import CPCRE2
import Util

public final class PCRETable: LookupTable {
    public let reference: String
    public var keyCase: KeyCase { .asGiven }
    public var isPatternTable: Bool { true }

    /// A compiled PCRE2 pattern, freed with the table.
    final class Expression {
        let code: OpaquePointer
        let groups: Int

        init(code: OpaquePointer) {
            self.code = code
            groups = Int(posthorn_pcre2_capture_count(code))
        }

        deinit { posthorn_pcre2_code_free(code) }

        /// Whether `subject` (NUL-terminated, `length` bytes before the NUL)
        /// matches; fills `ovector` (pairs of offsets, unset pairs UInt.max).
        func match(_ subject: [UInt8], length: Int, ovector: inout [UInt]) -> Bool {
            let pairs = UInt32(ovector.count / 2)
            let rc = subject.withUnsafeBytes { raw in
                ovector.withUnsafeMutableBufferPointer { vector in
                    posthorn_pcre2_match(code, raw.baseAddress!.assumingMemoryBound(to: CChar.self), length, 0,
                                         vector.baseAddress, pairs)
                }
            }
            // 0: matched, but more groups were set than `ovector` holds.
            guard rc >= 0 else { return false }
            // Pairs beyond those PCRE2 set are unset groups.
            if rc > 0 { for k in min(2 * Int(rc), ovector.count)..<ovector.count { ovector[k] = UInt.max } }
            return true
        }
    }

    private let program: PatternTableProgram<PatternTableRegexRule<Expression>>

    public convenience init(type: String, name: String, context: TableContext) throws(LookupError) {
        try self.init(type: type, name: name, context: context, warn: { Diagnostics.warning($0) })
    }

    /// Opens the table, sending its warnings to `warn`.
    init(type: String, name: String, context: TableContext, warn: @escaping PatternTableWarn) throws(LookupError) {
        reference = type + ":" + name
        if let error = posthorn_pcre2_load_error() {
            throw .configuration("\(reference): cannot load the PCRE2 library: \(String(cString: error))")
        }
        let lines = try PatternTableSource.lines(type: type, name: name, warn: warn)
        let dialect = PatternTableRegexDialect<Expression>(
            type: type, unterminatedVerb: "ignoring",
            allowsSecondPattern: false, zeroIndexWording: "out of range",
            compile: { pattern, flags, prefix in Self.compile(pattern, flags: flags, prefix: prefix, warn: warn) },
            groups: { $0.groups })
        program = PatternTableRegexSyntax.parse(lines, name: name, dialect: dialect, warn: warn)
    }

    static func compile(_ pattern: [UInt8], flags: [UInt8], prefix: String, warn: PatternTableWarn) -> Expression? {
        var options: UInt32 = PCRE2_CASELESS | PCRE2_DOTALL
        for flag in flags {
            switch flag {
            case UInt8(ascii: "i"): options ^= PCRE2_CASELESS
            case UInt8(ascii: "m"): options ^= PCRE2_MULTILINE
            case UInt8(ascii: "s"): options ^= PCRE2_DOTALL
            case UInt8(ascii: "x"): options ^= PCRE2_EXTENDED
            case UInt8(ascii: "A"): options ^= PCRE2_ANCHORED
            case UInt8(ascii: "E"): options ^= PCRE2_DOLLAR_ENDONLY
            case UInt8(ascii: "U"): options ^= PCRE2_UNGREEDY
            case UInt8(ascii: "X"): warn(prefix + "ignoring obsolete regexp option \"X\"")
            default:
                warn(prefix + "unknown regexp option \"\(PatternTableBytes.string([flag]))\": skipping this rule")
                return nil
            }
        }
        var error: Int32 = 0
        var offset = 0
        let text = pattern.map { CChar(bitPattern: $0) } + [0]
        let code = posthorn_pcre2_compile(text, pattern.count, options, &error, &offset)
        guard let code else {
            var message = [CChar](repeating: 0, count: 256)
            _ = posthorn_pcre2_error_message(error, &message, message.count)
            warn(prefix + "error in regex at offset \(offset): \(PatternTableBytes.cString(message))")
            return nil
        }
        return Expression(code: code)
    }

    public func lookup(_ key: String) throws(LookupError) -> String? {
        var subject = Array(key.utf8)
        let length = subject.count
        subject.append(0)
        var ovector: [UInt] = [0, 0]
        return program.first(
            holds: { rule in rule.pattern.match(subject, length: length, ovector: &ovector) != rule.negated },
            answer: { rule in
                let pairs = rule.replacement.usesGroups ? rule.pattern.groups + 1 : 1
                if ovector.count != 2 * pairs { ovector = [UInt](repeating: 0, count: 2 * pairs) }
                guard rule.pattern.match(subject, length: length, ovector: &ovector) != rule.negated else { return nil }
                return rule.replacement.expand { n in
                    guard 2 * n + 1 < ovector.count, ovector[2 * n] != UInt.max else { return nil }
                    return subject[Int(ovector[2 * n])..<Int(ovector[2 * n + 1])]
                }
            })
    }
}
