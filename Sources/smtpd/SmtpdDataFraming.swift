// SmtpdDataFraming: where DATA content ends and how dot-stuffing comes off,
// as a pure value the session feeds line by line (SmtpdInput already split
// the stream at line_length_limit). End-of-data is only <CR><LF>.<CR><LF>:
// a "." line counts only when it and the line before it ended in <CR><LF>
// (no SMTP smuggling with bare <LF> or bare <CR>). Fuzzed by
// scripts/fuzz-smtpd.sh together with SmtpdInput and SmtpdCommand.

struct DataFraming {
    /// How the previous line ended (the DATA command's line counts as CR LF).
    private(set) var previousEnd = LineEnd.crlf

    /// True when `line`, ended by `end`, is the end-of-data marker.
    func isEnd(_ line: ArraySlice<UInt8>, _ end: LineEnd) -> Bool {
        end == .crlf && previousEnd == .crlf && line.count == 1 && line.first == 0x2E
    }

    func isEnd(_ line: [UInt8], _ end: LineEnd) -> Bool { isEnd(line[...], end) }

    /// The line's content without a stuffed leading dot (only at the start
    /// of a line, not in the continuation of a long one).
    mutating func content(_ line: [UInt8], _ end: LineEnd) -> ArraySlice<UInt8> { content(line[...], end) }

    mutating func content(_ line: ArraySlice<UInt8>, _ end: LineEnd) -> ArraySlice<UInt8> {
        var content = line
        if previousEnd != .truncated && content.first == 0x2E { content = content.dropFirst() }
        previousEnd = end
        return content
    }
}

extension SmtpdCommand {
    /// `BDAT count [LAST]`: the chunk size and whether it is the last; nil
    /// when malformed (Postfix then ends the session with 521).
    static func bdatArguments(_ rest: Substring) -> (size: Int, last: Bool)? {
        let words = rest.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard words.count >= 1 && words.count <= 2, words[0].allSatisfy({ $0.isASCII && $0.isNumber }),
              let size = Int(words[0]), words.count == 1 || words[1].uppercased() == "LAST" else { return nil }
        return (size, words.count == 2)
    }
}
