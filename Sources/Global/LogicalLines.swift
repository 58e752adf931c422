// LogicalLines: split a Postfix configuration file (main.cf, master.cf,
// tables) into logical lines: comments and blank lines dropped, lines that
// start with white space joined to the line before, as Postfix's readllines().
import Util

/// One logical line and where it came from.
public struct LogicalLine: Sendable, Equatable {
    /// The joined text; continuation lines keep their leading white space
    /// and the newlines between them are removed.
    public let text: String
    /// 1-based number of the physical line where the logical line starts.
    public let firstLine: Int
    /// 1-based number of its last physical line.
    public let lastLine: Int
}

public enum LogicalLines {
    /// Physical lines of a file, without their newline characters.
    /// Split at each newline byte, as Postfix reads lines: a carriage
    /// return before the newline stays in the line (white space to the
    /// parsers), so a file with CRLF line ends reads as Postfix reads it.
    /// (Splitting the String by Character kept "\r\n" together, one
    /// grapheme, and it walked the text grapheme by grapheme: hundreds of
    /// instructions per byte of every main.cf at every process start.)
    public static func physicalLines(_ text: String) -> [Substring] {
        var lines: [Substring] = []
        let utf8 = text.utf8
        var start = utf8.startIndex
        var i = start
        while i != utf8.endIndex {
            if utf8[i] == 0x0A {
                lines.append(text[start..<i])
                start = utf8.index(after: i)
            }
            i = utf8.index(after: i)
        }
        if start != utf8.endIndex { lines.append(text[start..<utf8.endIndex]) }
        return lines
    }

    /// True for a line that is empty, white space only, or a comment.
    public static func isIgnorable(_ line: Substring) -> Bool {
        for ch in line.utf8 {
            if ch.isPostfixSpace { continue }
            return ch == UInt8(ascii: "#")
        }
        return true
    }

    /// Postfix's warning for a continuation line with nothing to continue;
    /// the line is quoted up to 30 characters, then "...".
    public static func orphanWarning(path: String, line: Substring) -> String {
        let shown = line.utf8.count > 30 ? String(decoding: Array(line.utf8.prefix(30)), as: UTF8.self) + "..." : String(line)
        return "\(path): logical line must not start with whitespace: \"\(shown)\""
    }

    /// Splits `text` into logical lines. A continuation line with nothing to
    /// continue is reported through `orphan` (Postfix warns and skips it).
    public static func split(_ text: String, orphan: (Int, Substring) -> Void = { _, _ in }) -> [LogicalLine] {
        var result: [LogicalLine] = []
        var current: String? = nil
        var first = 0, last = 0
        for (index, line) in physicalLines(text).enumerated() {
            let number = index + 1
            if isIgnorable(line) { continue }
            if let firstByte = line.utf8.first, firstByte.isPostfixSpace {
                if current != nil {
                    current! += line
                    last = number
                } else {
                    orphan(number, line)
                }
                continue
            }
            if let text = current { result.append(LogicalLine(text: text, firstLine: first, lastLine: last)) }
            current = String(line)
            first = number
            last = number
        }
        if let text = current { result.append(LogicalLine(text: text, firstLine: first, lastLine: last)) }
        return result
    }
}
