// SmtpReply: one SMTP reply as smtpd sends and logs it: a three-digit code,
// an RFC 3463 enhanced status code and text. The enhanced code's class digit
// always follows the reply code (a 4xx reply never carries "5.x.y"), as
// Postfix forces it.

public struct SmtpReply: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: Int
    /// "5.7.1"; empty for replies without an enhanced code (ETRN, HELO syntax).
    public var dsn: String
    public var text: String

    public init(_ code: Int, _ dsn: String, _ text: String) {
        self.code = code
        self.text = text
        if dsn.count >= 5, let first = dsn.first, first == "4" || first == "5", code >= 400 && code < 600 {
            self.dsn = String(code / 100) + dsn.dropFirst()
        } else {
            self.dsn = dsn
        }
    }

    public var isTemporary: Bool { code / 100 == 4 }
    public var isPermanent: Bool { code / 100 == 5 }

    /// The reply line without CR LF.
    public var description: String { dsn.isEmpty ? "\(code) \(text)" : "\(code) \(dsn) \(text)" }

    /// True when `text` starts with an enhanced status code "d.ddd.ddd".
    public static func leadingDSN(_ text: Substring) -> (dsn: String, rest: Substring)? {
        var i = text.startIndex
        guard i < text.endIndex, text[i] == "2" || text[i] == "4" || text[i] == "5" else { return nil }
        i = text.index(after: i)
        for part in 0..<2 {
            guard i < text.endIndex, text[i] == "." else { return nil }
            i = text.index(after: i)
            var digits = 0
            while i < text.endIndex, text[i].isASCII, text[i].isNumber { digits += 1; i = text.index(after: i) }
            guard digits >= 1 && digits <= 3 else { return nil }
            _ = part
        }
        if i < text.endIndex && text[i] != " " { return nil }
        let dsn = String(text[text.startIndex..<i])
        var rest = text[i...]
        while rest.first == " " { rest = rest.dropFirst() }
        return (dsn, rest)
    }
}
