// StringScanning: the small text helpers Postfix's parsers share: its notion
// of white space, trimming, and splitting lists on commas and white space.

extension UInt8 {
    /// Space, tab, newline, carriage return, vertical tab or form feed.
    @inlinable public var isPostfixSpace: Bool {
        self == 0x20 || self == 0x09 || self == 0x0A || self == 0x0D || self == 0x0B || self == 0x0C
    }
}

extension Character {
    @inlinable public var isPostfixSpace: Bool {
        self == " " || self == "\t" || self == "\n" || self == "\r" || self == "\u{0B}" || self == "\u{0C}"
    }
}

extension StringProtocol {
    /// The text without leading and trailing white space.
    public func trimmingPostfixSpace() -> String {
        let utf8 = Array(self.utf8)
        var start = 0, end = utf8.count
        while start < end && utf8[start].isPostfixSpace { start += 1 }
        while end > start && utf8[end - 1].isPostfixSpace { end -= 1 }
        return String(decoding: utf8[start..<end], as: UTF8.self)
    }

    /// Splits on any of the separator characters, dropping empty pieces, as
    /// Postfix's mystrtok does (default separators: comma and white space).
    public func splitList(separators: String = ", \t\r\n") -> [String] {
        let seps = Set(separators.utf8)
        var result: [String] = []
        var current: [UInt8] = []
        for byte in self.utf8 {
            if seps.contains(byte) {
                if !current.isEmpty { result.append(String(decoding: current, as: UTF8.self)); current.removeAll() }
            } else {
                current.append(byte)
            }
        }
        if !current.isEmpty { result.append(String(decoding: current, as: UTF8.self)) }
        return result
    }
}

extension StringProtocol {
    /// Like `splitList`, but text inside `{...}` (nested) stays in one piece,
    /// as in `inline:{ a=b, c=d }` (Postfix's mystrtokq with "{}").
    public func splitListGrouped(separators: String = ", \t\r\n") -> [String] {
        let seps = Set(separators.utf8)
        var result: [String] = []
        var current: [UInt8] = []
        var depth = 0
        for byte in self.utf8 {
            if byte == UInt8(ascii: "{") { depth += 1 } else if byte == UInt8(ascii: "}") && depth > 0 { depth -= 1 }
            if depth == 0 && seps.contains(byte) {
                if !current.isEmpty { result.append(String(decoding: current, as: UTF8.self)); current.removeAll() }
            } else {
                current.append(byte)
            }
        }
        if !current.isEmpty { result.append(String(decoding: current, as: UTF8.self)) }
        return result
    }
}

extension StringProtocol {
    /// ASCII-only lower case, as Postfix folds table keys.
    public func asciiLowercased() -> String {
        var bytes = Array(utf8)
        var changed = false
        for i in bytes.indices where bytes[i] >= 0x41 && bytes[i] <= 0x5A {
            bytes[i] += 0x20
            changed = true
        }
        return changed ? String(decoding: bytes, as: UTF8.self) : String(self)
    }
}
