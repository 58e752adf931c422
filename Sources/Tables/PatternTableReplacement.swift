// PatternTableReplacement: the result text of a regexp or pcre rule, with
// `$1`..`$n`, `${n}`, `$(n)` substitution of matched groups and `$$` for
// a dollar sign, parsed as Postfix's macro parser does (and with its
// warnings for bad references).

struct PatternTableReplacement {
    enum Part {
        case text([UInt8])
        case group(Int)
    }

    let parts: [Part]
    /// The highest group referenced (compared as unsigned, as Postfix does),
    /// or nil when the text references no group.
    let highestGroup: Int32?

    var usesGroups: Bool { highestGroup != nil }

    /// Parses `text`; nil after warnings when its syntax is bad (the caller
    /// then warns "bad replacement syntax"). `prefix` is "type map name,
    /// line N: "; `zeroIndex` the spelling of the `$0` complaint, which
    /// differs between regexp ("out-of-range") and pcre ("out of range").
    static func parse(_ text: String, prefix: String, zeroIndex: String, warn: PatternTableWarn) -> PatternTableReplacement? {
        let b = Array(text.utf8)
        var parts: [Part] = []
        var literal: [UInt8] = []
        var highest: Int32? = nil
        var failed = false
        var i = 0
        while i < b.count {
            guard b[i] == UInt8(ascii: "$") else {
                literal.append(b[i])
                i += 1
                continue
            }
            if i + 1 < b.count && b[i + 1] == UInt8(ascii: "$") {
                literal.append(b[i])
                i += 2
                continue
            }
            i += 1
            let name: ArraySlice<UInt8>
            if i < b.count && (b[i] == UInt8(ascii: "{") || b[i] == UInt8(ascii: "(")) {
                let openByte = b[i]
                let closeByte = openByte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: ")")
                var depth = 1
                var j = i + 1
                while j < b.count {
                    if b[j] == openByte {
                        depth += 1
                    } else if b[j] == closeByte {
                        depth -= 1
                        if depth == 0 { break }
                    }
                    j += 1
                }
                if j >= b.count {
                    warn("truncated macro reference: \"\(text)\"")
                    return nil
                }
                name = b[(i + 1)..<j]
                i = j + 1
            } else {
                var j = i
                while j < b.count && (PatternTableBytes.isAlnum(b[j]) || b[j] == UInt8(ascii: "_")) { j += 1 }
                name = b[i..<j]
                i = j
            }
            if name.isEmpty {
                warn("empty macro name: \"\(text)\"")
                return nil
            }
            guard name.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                warn("\(prefix)non-numeric replacement index \"\(PatternTableBytes.string(name))\"")
                failed = true
                continue
            }
            // strtol with saturation, then narrowed to int, as Postfix's atoi-style parse.
            var value: Int64 = 0
            for digit in name {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int64(digit - 0x30))
                if o1 || o2 { value = Int64.max; break }
                value = s
            }
            let index = Int32(truncatingIfNeeded: value)
            if index == 0 {
                warn("\(prefix)\(zeroIndex) replacement index \"0\"")
                failed = true
                continue
            }
            if !literal.isEmpty { parts.append(.text(literal)); literal.removeAll() }
            parts.append(.group(Int(index)))
            if highest == nil || UInt32(bitPattern: index) > UInt32(bitPattern: highest!) { highest = index }
        }
        if failed { return nil }
        if !literal.isEmpty { parts.append(.text(literal)) }
        return PatternTableReplacement(parts: parts, highestGroup: highest)
    }

    /// True when the highest reference exceeds `groups` (the pattern's
    /// number of capturing groups).
    func exceeds(groups: Int) -> Bool {
        guard let highest = highestGroup else { return false }
        return UInt64(UInt32(bitPattern: highest)) > UInt64(groups)
    }

    /// The result with groups filled in by `group` (nil for an unset group).
    func expand(_ group: (Int) -> ArraySlice<UInt8>?) -> String {
        if parts.count == 1, case .text(let bytes) = parts[0] { return PatternTableBytes.string(bytes) }
        var out: [UInt8] = []
        for part in parts {
            switch part {
            case .text(let bytes): out.append(contentsOf: bytes)
            case .group(let n): if let bytes = group(n) { out.append(contentsOf: bytes) }
            }
        }
        return PatternTableBytes.string(out)
    }
}
