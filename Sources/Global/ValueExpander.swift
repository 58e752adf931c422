// ValueExpander: Postfix's `$name` expansion for parameter values:
// `$name`, `${name}`, `$(name)`, `${name?value}`, `${name:value}`, the
// braced `{value}` forms, `${name?{a}:{b}}`, relational expressions
// `${{x} == {y} ? {a} : {b}}` (also != < <= > >= and the compatibility
// level forms <level <=level >level >=level), and `$$` for a dollar sign.
// Expansion is recursive with a nesting limit, as in Postfix.

public enum ExpansionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `${name` without its closing bracket.
    case truncatedReference(String)
    /// `$` followed by something that is not a name or bracket.
    case emptyName(String)
    /// Expansion nested deeper than the limit (a reference loop).
    case tooDeep(String)
    /// A malformed `${...}` body.
    case syntax(String)

    public var description: String {
        switch self {
        case .truncatedReference(let text): return "truncated macro reference: \"\(text)\""
        case .emptyName(let text): return "empty macro name: \"\(text)\""
        case .tooDeep(let name): return "unreasonable macro call nesting: \"\(name)\""
        case .syntax(let text): return text
        }
    }
}

public struct ValueExpander {
    /// Nesting limit for recursive expansion (Postfix uses 100).
    public static let nestingLimit = 100

    /// Looks a name up; nil means undefined.
    public let lookup: (String) -> String?
    /// Whether a referenced value is itself expanded (true for main.cf).
    public let recursive: Bool
    /// Names referenced but undefined, in order of first use.
    public private(set) var undefinedNames: [String] = []

    public init(recursive: Bool = true, lookup: @escaping (String) -> String?) {
        self.lookup = lookup
        self.recursive = recursive
    }

    /// Expands `text`.
    public mutating func expand(_ text: String) throws(ExpansionError) -> String {
        var out: [UInt8] = []
        try expand(Array(text.utf8)[...], into: &out, depth: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// Every name `text` refers to (without expanding), for "undefined
    /// parameter" and "unused parameter" checks. Syntax errors are thrown.
    public static func referencedNames(_ text: String) throws(ExpansionError) -> [String] {
        let (names, error) = scan(text)
        if let error { throw error }
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }

    /// The names `text` refers to, once per reference, up to the first
    /// syntax error (if any).
    public static func scan(_ text: String) -> (names: [String], error: ExpansionError?) {
        var names: [String] = []
        var expander = ValueExpander(recursive: false) { name in
            names.append(name)
            return "x"  // a non-empty stand-in so both branches are visited below
        }
        expander.collectAll = true
        do {
            _ = try expander.expand(text)
            return (names, nil)
        } catch {
            return (names, error)
        }
    }

    /// When set, both arms of conditionals are visited (name collection).
    private var collectAll = false

    private mutating func value(of name: String, depth: Int) throws(ExpansionError) -> String? {
        guard let raw = lookup(name) else {
            if !undefinedNames.contains(name) { undefinedNames.append(name) }
            return nil
        }
        guard recursive else { return raw }
        if depth > Self.nestingLimit { throw .tooDeep(name) }
        var out: [UInt8] = []
        try expand(Array(raw.utf8)[...], into: &out, depth: depth + 1)
        return String(decoding: out, as: UTF8.self)
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }

    private mutating func expand(_ text: ArraySlice<UInt8>, into out: inout [UInt8], depth: Int) throws(ExpansionError) {
        var i = text.startIndex
        let whole = String(decoding: text, as: UTF8.self)
        while i < text.endIndex {
            let b = text[i]
            if b != UInt8(ascii: "$") { out.append(b); i += 1; continue }
            i += 1
            guard i < text.endIndex else { throw .emptyName(whole) }
            let c = text[i]
            if c == UInt8(ascii: "$") { out.append(c); i += 1; continue }
            if c == UInt8(ascii: "{") || c == UInt8(ascii: "(") {
                let close: UInt8 = c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: ")")
                guard let end = Self.matching(text, from: i, open: c, close: close) else {
                    throw .truncatedReference(whole)
                }
                let body = text[(i + 1)..<end]
                out += Array(try evaluateBody(body, whole: whole, depth: depth).utf8)
                i = end + 1
                continue
            }
            guard Self.isNameByte(c) else { throw .emptyName(whole) }
            var j = i
            while j < text.endIndex && Self.isNameByte(text[j]) { j += 1 }
            let name = String(decoding: text[i..<j], as: UTF8.self)
            if let v = try value(of: name, depth: depth) { out += Array(v.utf8) }
            i = j
        }
    }

    /// Index of the bracket closing the one at `from`, counting nesting.
    private static func matching(_ text: ArraySlice<UInt8>, from: Int, open: UInt8, close: UInt8) -> Int? {
        var level = 0
        var i = from
        while i < text.endIndex {
            if text[i] == open { level += 1 } else if text[i] == close {
                level -= 1
                if level == 0 { return i }
            }
            i += 1
        }
        return nil
    }

    private static func skipSpace(_ text: ArraySlice<UInt8>, _ i: inout Int) {
        while i < text.endIndex && text[i].isPostfixSpace { i += 1 }
    }

    /// Reads `{...}` at `i` (after optional white space) and returns its inside.
    private static func bracedOperand(_ text: ArraySlice<UInt8>, _ i: inout Int) -> ArraySlice<UInt8>? {
        skipSpace(text, &i)
        guard i < text.endIndex, text[i] == UInt8(ascii: "{"),
              let end = matching(text, from: i, open: UInt8(ascii: "{"), close: UInt8(ascii: "}")) else { return nil }
        let inside = text[(i + 1)..<end]
        i = end + 1
        return inside
    }

    private mutating func expanded(_ text: ArraySlice<UInt8>, depth: Int) throws(ExpansionError) -> String {
        var out: [UInt8] = []
        try expand(text, into: &out, depth: depth)
        return String(decoding: out, as: UTF8.self)
    }

    /// Evaluates the inside of `${...}`.
    private mutating func evaluateBody(_ body: ArraySlice<UInt8>, whole: String, depth: Int) throws(ExpansionError) -> String {
        var i = body.startIndex
        Self.skipSpace(body, &i)
        let condition: Bool
        if i < body.endIndex && body[i] == UInt8(ascii: "{") {
            condition = try relational(body, &i, depth: depth)
        } else {
            var j = i
            while j < body.endIndex && Self.isNameByte(body[j]) { j += 1 }
            guard j > i else { throw .emptyName(whole) }
            let name = String(decoding: body[i..<j], as: UTF8.self)
            i = j
            if i == body.endIndex {
                return try value(of: name, depth: depth) ?? ""
            }
            let v = try value(of: name, depth: depth) ?? ""
            condition = !v.isEmpty
            let op = body[i]
            if op == UInt8(ascii: ":") {
                i += 1
                let alternative = try Self.branch(body, &i)
                if collectAll { return try expanded(alternative, depth: depth) }
                return condition ? "" : try expanded(alternative, depth: depth)
            }
            guard op == UInt8(ascii: "?") else {
                throw Self.syntaxError("attribute name syntax error", body, from: i - name.utf8.count, at: i)
            }
            i += 1
            return try conditional(body, &i, condition: condition, depth: depth)
        }
        let afterOperand = i
        Self.skipSpace(body, &i)
        if i < body.endIndex, body[i] == UInt8(ascii: ":") {
            i += 1
            let alternative = try Self.branch(body, &i)
            if collectAll { return try expanded(alternative, depth: depth) }
            return condition ? "" : try expanded(alternative, depth: depth)
        }
        guard i < body.endIndex, body[i] == UInt8(ascii: "?") else {
            throw Self.syntaxError("\"?\" or \":\" expected", body, from: afterOperand - 1, at: i)
        }
        i += 1
        return try conditional(body, &i, condition: condition, depth: depth)
    }

    /// Postfix's parse error form: `WHAT at: "...BEFORE>>>AFTER"`, where
    /// BEFORE runs from `from` to `at` (trailing white space dropped).
    static func syntaxError(_ what: String, _ body: ArraySlice<UInt8>, from: Int, at: Int) -> ExpansionError {
        let start = max(body.startIndex, min(from, at))
        let before = String(decoding: body[start..<at], as: UTF8.self)
        var trimmed = Substring(before)
        while let last = trimmed.last, last.isPostfixSpace { trimmed = trimmed.dropLast() }
        let after = String(decoding: body[at...], as: UTF8.self)
        return .syntax("\(what) at: \"...\(trimmed)>>>\(after)\"")
    }

    /// A value after `?` or `:`: `{text}` (white space around ignored) or
    /// plain text running to the end of the body.
    private static func branch(_ body: ArraySlice<UInt8>, _ i: inout Int) throws(ExpansionError) -> ArraySlice<UInt8> {
        var j = i
        skipSpace(body, &j)
        if j < body.endIndex, body[j] == UInt8(ascii: "{"), let inside = bracedOperand(body, &j) {
            skipSpace(body, &j)
            if j < body.endIndex {
                throw syntaxError("unexpected input", body, from: inside.startIndex, at: j)
            }
            i = j
            return inside
        }
        let rest = body[i...]
        i = body.endIndex
        return rest
    }

    /// After `?`: `value`, `{value}`, or `{value1}:value2` / `{value1}:{value2}`.
    private mutating func conditional(_ body: ArraySlice<UInt8>, _ i: inout Int, condition: Bool, depth: Int) throws(ExpansionError) -> String {
        var j = i
        Self.skipSpace(body, &j)
        if j < body.endIndex, body[j] == UInt8(ascii: "{"), let first = Self.bracedOperand(body, &j) {
            Self.skipSpace(body, &j)
            if j == body.endIndex {
                if collectAll { return try expanded(first, depth: depth) }
                return condition ? try expanded(first, depth: depth) : ""
            }
            guard body[j] == UInt8(ascii: ":") else {
                throw Self.syntaxError("\":\" expected", body, from: first.startIndex, at: j)
            }
            j += 1
            let second = try Self.branch(body, &j)
            if collectAll {
                return try expanded(first, depth: depth) + expanded(second, depth: depth)
            }
            return condition ? try expanded(first, depth: depth) : try expanded(second, depth: depth)
        }
        let plain = body[i...]
        i = body.endIndex
        if collectAll { return try expanded(plain, depth: depth) }
        return condition ? try expanded(plain, depth: depth) : ""
    }

    /// `{a} op {b}` at `i`; returns whether the relation holds.
    private mutating func relational(_ body: ArraySlice<UInt8>, _ i: inout Int, depth: Int) throws(ExpansionError) -> Bool {
        let start = i
        guard let left = Self.bracedOperand(body, &i) else {
            throw Self.syntaxError("\"{expression}\" expected", body, from: start, at: i)
        }
        Self.skipSpace(body, &i)
        let opStart = i
        var j = i
        while j < body.endIndex, !body[j].isPostfixSpace, body[j] != UInt8(ascii: "{") { j += 1 }
        let op = String(decoding: body[i..<j], as: UTF8.self)
        guard Self.operators.contains(op) else {
            throw Self.syntaxError(Self.operatorExpected, body, from: left.startIndex, at: opStart)
        }
        i = j
        var k = i
        Self.skipSpace(body, &k)
        guard let right = Self.bracedOperand(body, &k) else {
            throw Self.syntaxError("\"{expression}\" expected", body, from: start, at: i)
        }
        i = k
        let a = try expanded(left, depth: depth).trimmingPostfixSpace()
        let b = try expanded(right, depth: depth).trimmingPostfixSpace()
        return Self.compare(a, op, b) ?? false
    }

    static let operators: Set<String> = ["==", "!=", "<", "<=", ">", ">=", "<level", "<=level", ">level", ">=level", "==level", "!=level"]
    /// Postfix's own wording, quotes and all.
    static let operatorExpected = "\"==\" or \"!=\"\" or \"<\"\" or \"<=\"\" or \">=\"\" or \">\" expected"

    /// Applies a relational operator; nil for an unknown operator.
    static func compare(_ a: String, _ op: String, _ b: String) -> Bool? {
        if op.hasSuffix("level") {
            let order = CompatibilityLevel.compare(a, b)
            switch op {
            case "<level": return order < 0
            case "<=level": return order <= 0
            case ">level": return order > 0
            case ">=level": return order >= 0
            case "==level": return order == 0
            case "!=level": return order != 0
            default: return nil
            }
        }
        let order: Int
        if let x = UInt64(a), let y = UInt64(b), !a.isEmpty, !b.isEmpty {
            order = x < y ? -1 : (x > y ? 1 : 0)
        } else {
            order = a < b ? -1 : (a > b ? 1 : 0)
        }
        switch op {
        case "==": return order == 0
        case "!=": return order != 0
        case "<": return order < 0
        case "<=": return order <= 0
        case ">": return order > 0
        case ">=": return order >= 0
        default: return nil
        }
    }
}

/// Postfix compatibility levels: "0", "1", "2", "3.6", "3.6.1".
public enum CompatibilityLevel {
    /// The level of Postfix 3.7's newest default changes.
    public static let current = "3.6"

    /// True when `level` (main.cf's compatibility_level) keeps older defaults.
    public static func isBelowCurrent(_ level: String) -> Bool {
        compare(level.isEmpty ? "0" : level, current) < 0
    }

    /// Compares two levels component by component; -1, 0 or 1.
    public static func compare(_ a: String, _ b: String) -> Int {
        let x = a.split(separator: ".").map { Int($0) ?? 0 }
        let y = b.split(separator: ".").map { Int($0) ?? 0 }
        for k in 0..<max(x.count, y.count) {
            let p = k < x.count ? x[k] : 0, q = k < y.count ? y[k] : 0
            if p != q { return p < q ? -1 : 1 }
        }
        return 0
    }
}
