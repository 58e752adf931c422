// RegexpTable: regexp:/file tables — POSIX extended regular expressions
// (Glibc's regcomp/regexec) in Postfix's regexp_table(5) syntax. Flags:
// `i` case sensitivity (default insensitive), `x` extended syntax (default
// on), `m` multi-line; `/re1/!/re2/` two-pattern rules; `$n` substitution.
import Glibc
import Util

public final class RegexpTable: LookupTable {
    public let reference: String
    public var keyCase: KeyCase { .asGiven }
    public var isPatternTable: Bool { true }

    /// A compiled POSIX regular expression, freed with the table.
    final class Expression {
        let regex: UnsafeMutablePointer<regex_t>
        let groups: Int

        init(regex: UnsafeMutablePointer<regex_t>) {
            self.regex = regex
            groups = Int(regex.pointee.re_nsub)
        }

        deinit {
            regfree(regex)
            regex.deallocate()
        }

        /// Whether `key` matches; with `captures`, the group offsets too.
        func match(_ key: [CChar], captures: UnsafeMutablePointer<regmatch_t>? = nil) -> Bool {
            let count = captures == nil ? 0 : groups + 1
            return regexec(regex, key, count, captures, 0) == 0
        }
    }

    private let program: PatternTableProgram<PatternTableRegexRule<Expression>>

    public convenience init(type: String, name: String, context: TableContext) throws(LookupError) {
        try self.init(type: type, name: name, context: context, warn: { Diagnostics.warning($0) })
    }

    /// Opens the table, sending its warnings to `warn`.
    init(type: String, name: String, context: TableContext, warn: @escaping PatternTableWarn) throws(LookupError) {
        reference = type + ":" + name
        let lines = try PatternTableSource.lines(type: type, name: name, warn: warn)
        let dialect = PatternTableRegexDialect<Expression>(
            type: type, unterminatedVerb: "skipping",
            allowsSecondPattern: true, zeroIndexWording: "out-of-range",
            compile: { pattern, flags, prefix in Self.compile(pattern, flags: flags, prefix: prefix, warn: warn) },
            groups: { $0.groups })
        program = PatternTableRegexSyntax.parse(lines, name: name, dialect: dialect, warn: warn)
    }

    static func compile(_ pattern: [UInt8], flags: [UInt8], prefix: String, warn: PatternTableWarn) -> Expression? {
        var options = REG_ICASE | REG_EXTENDED
        for flag in flags {
            switch flag {
            case UInt8(ascii: "i"): options ^= REG_ICASE
            case UInt8(ascii: "x"): options ^= REG_EXTENDED
            case UInt8(ascii: "m"): options ^= REG_NEWLINE
            default:
                warn(prefix + "unknown regexp option \"\(PatternTableBytes.string([flag]))\": skipping this rule")
                return nil
            }
        }
        let regex = UnsafeMutablePointer<regex_t>.allocate(capacity: 1)
        let text = pattern.map { CChar(bitPattern: $0) } + [0]
        let status = regcomp(regex, text, options)
        guard status == 0 else {
            var buffer = [CChar](repeating: 0, count: 256)
            regerror(status, regex, &buffer, buffer.count)
            warn(prefix + PatternTableBytes.cString(buffer))
            regfree(regex)
            regex.deallocate()
            return nil
        }
        return Expression(regex: regex)
    }

    public func lookup(_ key: String) throws(LookupError) -> String? {
        let bytes = Array(key.utf8)
        let cKey = bytes.map { CChar(bitPattern: $0) } + [0]
        return program.first(
            holds: { rule in rule.pattern.match(cKey) != rule.negated },
            answer: { rule in
                let expression = rule.pattern
                guard rule.replacement.usesGroups else {
                    guard expression.match(cKey) != rule.negated else { return nil }
                    if let also = rule.also, also.pattern.match(cKey) == also.negated { return nil }
                    return rule.replacement.expand { _ in nil }
                }
                // Only positive rules reference groups.
                var captures = [regmatch_t](repeating: regmatch_t(), count: expression.groups + 1)
                let matched = captures.withUnsafeMutableBufferPointer { expression.match(cKey, captures: $0.baseAddress) }
                guard matched else { return nil }
                if let also = rule.also, also.pattern.match(cKey) == also.negated { return nil }
                return rule.replacement.expand { n in
                    guard n < captures.count, captures[n].rm_so >= 0 else { return nil }
                    return bytes[Int(captures[n].rm_so)..<Int(captures[n].rm_eo)]
                }
            })
    }
}
