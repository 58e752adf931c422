// PatternTableRegexSyntax: the line syntax regexp and pcre tables share:
// `/pattern/flags result`, `!/pattern/flags result`, `if /pattern/flags`,
// `endif`, any non-alphanumeric delimiter, and (regexp only) the
// two-pattern form `/pattern1/flags!/pattern2/flags result`. Each table
// supplies its own flag handling and compiler; the warnings and the choice
// of skipping a rule follow Postfix's.

import Util

/// One rule (or IF condition) of a regexp or pcre table.
struct PatternTableRegexRule<Compiled> {
    let pattern: Compiled
    let negated: Bool
    /// regexp's `!/pattern2/`: must also (not) match.
    let also: (pattern: Compiled, negated: Bool)?
    let replacement: PatternTableReplacement
    let line: Int
}

/// How one table type differs in the shared syntax.
struct PatternTableRegexDialect<Compiled> {
    /// "regexp" or "pcre": messages say "regexp map NAME, line N: ...".
    let type: String
    /// Word in "no closing regexp delimiter ...: skipping this rule".
    let unterminatedVerb: String
    /// regexp: `!` ends the flags and starts a second pattern.
    let allowsSecondPattern: Bool
    /// "out-of-range" (regexp) or "out of range" (pcre) for `$0`.
    let zeroIndexWording: String
    /// Applies `flags` and compiles `pattern`; warns (with the prefix) and
    /// returns nil on an unknown flag or a pattern that does not compile.
    let compile: (_ pattern: [UInt8], _ flags: [UInt8], _ prefix: String) -> Compiled?
    /// The number of capturing groups.
    let groups: (Compiled) -> Int
}

enum PatternTableRegexSyntax {
    /// Parses all lines into a program; bad lines are warned about and skipped.
    static func parse<Compiled>(_ lines: [PatternTableLine], name: String, dialect: PatternTableRegexDialect<Compiled>,
                                warn: PatternTableWarn) -> PatternTableProgram<PatternTableRegexRule<Compiled>> {
        var builder = PatternTableProgramBuilder<PatternTableRegexRule<Compiled>>()
        for line in lines {
            let prefix = "\(dialect.type) map \(name), line \(line.number): "
            let b = line.bytes
            guard let first = b.first else { continue }
            if PatternTableBytes.startsWithKeyword(b, "if") {
                var i = 2
                PatternTableBytes.skipSpace(b, &i)
                if i >= b.count {
                    warn(prefix + "no regexp: skipping this rule")
                    continue
                }
                guard let (pattern, negated) = parsePattern(b, &i, prefix: prefix, dialect: dialect, warn: warn) else { continue }
                PatternTableBytes.skipSpace(b, &i)
                if i < b.count {
                    warn(prefix + "ignoring extra text after IF statement: \"\(PatternTableBytes.string(b[i...]))\"")
                    warn(prefix + "do not prepend whitespace to statements between IF and ENDIF")
                }
                let rule = PatternTableRegexRule(pattern: pattern, negated: negated, also: nil,
                                                 replacement: PatternTableReplacement(parts: [], highestGroup: nil), line: line.number)
                builder.beginIf(rule, line: line.number)
            } else if PatternTableBytes.startsWithKeyword(b, "endif") {
                var i = 5
                PatternTableBytes.skipSpace(b, &i)
                if !builder.endIf() {
                    warn(prefix + "ignoring ENDIF without matching IF")
                } else if i < b.count {
                    warn(prefix + "ignoring extra text after ENDIF")
                }
            } else if PatternTableBytes.isAlnum(first) {
                warn(prefix + "ignoring unrecognized request")
            } else if let rule = parseRule(b, line: line.number, prefix: prefix, dialect: dialect, warn: warn) {
                builder.add(rule)
            }
        }
        return builder.finish { number in
            warn("\(dialect.type) map \(name), line \(number): IF has no matching ENDIF")
        }
    }

    private static func parseRule<Compiled>(_ b: [UInt8], line: Int, prefix: String, dialect: PatternTableRegexDialect<Compiled>,
                                            warn: PatternTableWarn) -> PatternTableRegexRule<Compiled>? {
        var i = 0
        guard let (pattern, negated) = parsePattern(b, &i, prefix: prefix, dialect: dialect, warn: warn) else { return nil }
        var also: (pattern: Compiled, negated: Bool)? = nil
        if dialect.allowsSecondPattern && i < b.count && b[i] == UInt8(ascii: "!") {
            guard let second = parsePattern(b, &i, prefix: prefix, dialect: dialect, warn: warn) else { return nil }
            also = (second.0, second.1)
        }
        PatternTableBytes.skipSpace(b, &i)
        if i >= b.count { warn(prefix + "no replacement text: using empty string") }
        let text = PatternTableBytes.string(b[min(i, b.count)...])
        guard let replacement = PatternTableReplacement.parse(text, prefix: prefix, zeroIndex: dialect.zeroIndexWording, warn: warn) else {
            warn(prefix + "bad replacement syntax: skipping this rule")
            return nil
        }
        if negated && replacement.usesGroups {
            warn(prefix + "$number found in negative match replacement text: skipping this rule")
            return nil
        }
        if replacement.exceeds(groups: dialect.groups(pattern)) {
            warn(prefix + "out of range replacement index \"\(replacement.highestGroup!)\": skipping this rule")
            return nil
        }
        return PatternTableRegexRule(pattern: pattern, negated: negated, also: also, replacement: replacement, line: line)
    }

    /// `[!...]<d>pattern<d>flags` starting at `i`, compiled; nil after a warning.
    private static func parsePattern<Compiled>(_ b: [UInt8], _ i: inout Int, prefix: String, dialect: PatternTableRegexDialect<Compiled>,
                                               warn: PatternTableWarn) -> (Compiled, Bool)? {
        var negated = false
        while i < b.count && b[i] == UInt8(ascii: "!") {
            negated.toggle()
            i += 1
            PatternTableBytes.skipSpace(b, &i)
        }
        guard i < b.count else {
            warn(prefix + "no regexp: skipping this rule")
            return nil
        }
        let delimiter = b[i]
        i += 1
        var pattern: [UInt8] = []
        var closed = false
        while i < b.count {
            if b[i] == UInt8(ascii: "\\") && i + 1 < b.count {
                // A backslash protects the next character (even the delimiter) and stays in the pattern.
                pattern.append(b[i])
                pattern.append(b[i + 1])
                i += 2
            } else if b[i] == delimiter {
                closed = true
                i += 1
                break
            } else {
                pattern.append(b[i])
                i += 1
            }
        }
        guard closed else {
            warn(prefix + "no closing regexp delimiter \"\(PatternTableBytes.string([delimiter]))\": \(dialect.unterminatedVerb) this rule")
            return nil
        }
        var flags: [UInt8] = []
        while i < b.count && !b[i].isPostfixSpace && !(dialect.allowsSecondPattern && b[i] == UInt8(ascii: "!")) {
            flags.append(b[i])
            i += 1
        }
        guard let compiled = dialect.compile(pattern, flags, prefix) else { return nil }
        return (compiled, negated)
    }
}
