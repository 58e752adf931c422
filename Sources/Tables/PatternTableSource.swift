// PatternTableSource: the lines of a regexp, pcre or cidr table, read from
// its file or from the inline form `type:{ {rule-1}, {rule-2} }`, plus the
// small byte-level helpers their line parsers share.
import Util
import Global

/// Receives a pattern table's warnings: the text Postfix writes after
/// "program: warning: " (tables skip a bad rule and go on, as Postfix does).
public typealias PatternTableWarn = (String) -> Void

/// One logical line of a pattern table.
struct PatternTableLine {
    /// The line without trailing white space.
    let bytes: [UInt8]
    /// Where the logical line starts (for "line N" in messages).
    let number: Int
}

enum PatternTableSource {
    /// The logical lines of table `name` of `type`: a file, or `{ {rule}, ... }`.
    static func lines(type: String, name: String, warn: PatternTableWarn) throws(LookupError) -> [PatternTableLine] {
        let text: String
        if name.hasPrefix("{") {
            text = try inlineText(type: type, name: name)
        } else {
            do {
                text = try TextFile.read(name)
            } catch {
                throw .configuration("open \(name): \(error)")
            }
        }
        let logical = LogicalLines.split(text) { _, line in
            warn("\(name): logical line must not start with whitespace: \"\(line)\"")
        }
        return logical.map { line in
            var bytes = Array(line.text.utf8)
            while let last = bytes.last, last.isPostfixSpace { bytes.removeLast() }
            return PatternTableLine(bytes: bytes, number: line.firstLine)
        }
    }

    /// The rules of the inline form, one a line, as Postfix writes them to
    /// an in-memory file.
    private static func inlineText(type: String, name: String) throws(LookupError) -> String {
        guard let body = BraceGroup.inside(name) else {
            throw .configuration("\(type) map: missing '}' in \"\(name)\"")
        }
        var text = ""
        for item in body.splitListGrouped(separators: ", \t\r\n") {
            guard item.hasPrefix("{") else {
                throw .configuration("\(type) map: no '{' at start of text in \"\(item)\"")
            }
            guard let rule = BraceGroup.inside(item) else {
                throw .configuration("\(type) map: missing '}' in \"\(name)\"")
            }
            text += rule + "\n"
        }
        return text
    }
}

/// Byte helpers for the pattern table parsers (ASCII, as Postfix's ctype in the C locale).
enum PatternTableBytes {
    static func isAlnum(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
    }

    static func skipSpace(_ bytes: [UInt8], _ i: inout Int) {
        while i < bytes.count && bytes[i].isPostfixSpace { i += 1 }
    }

    /// True when the line starts with `word` (any case) followed by a
    /// non-alphanumeric character or the end: "if", "IF /a/", "endif#".
    static func startsWithKeyword(_ bytes: [UInt8], _ word: String) -> Bool {
        let w = Array(word.utf8)
        guard bytes.count >= w.count else { return false }
        for k in w.indices where bytes[k] | 0x20 != w[k] { return false }
        return bytes.count == w.count || !isAlnum(bytes[w.count])
    }

    /// The text of a NUL-terminated C buffer.
    static func cString(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func string<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        String(decoding: bytes, as: UTF8.self)
    }
}
