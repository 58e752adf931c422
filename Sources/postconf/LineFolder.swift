// LineFolder: postconf's output layout: words joined by single spaces and,
// with -f, folded before column 80 with four-space continuation indents.
import Util

struct LineFolder {
    static let indent = "    "

    let fold: Bool
    /// Longest line (Postfix allows 80 columns, 79 for -F command fields).
    let limit: Int
    private(set) var text = ""
    private var column = 0

    init(fold: Bool, start: String, limit: Int = 80) {
        self.fold = fold
        self.limit = limit
        text = start
        column = start.utf8.count
    }

    /// Appends a word, breaking the line first when it would pass the limit.
    mutating func append(_ word: String) {
        let length = word.utf8.count
        if fold && column + 1 + length > limit {
            newLine(word)
        } else {
            text += " " + word
            column += 1 + length
        }
    }

    /// Starts a continuation line with `word` (only when folding; otherwise
    /// the word joins the current line).
    mutating func newLine(_ word: String) {
        guard fold else { append(word); return }
        text += "\n" + Self.indent + word
        column = Self.indent.utf8.count + word.utf8.count
    }

    /// "name = value" with value words normalized (and folded).
    static func nameValue(_ name: String, _ value: String, fold: Bool) -> String {
        var folder = LineFolder(fold: fold, start: "\(name) =")
        for word in value.splitList(separators: " \t\r\n\u{0B}\u{0C}") { folder.append(word) }
        return folder.text
    }

    /// The value alone, words normalized (and folded).
    static func valueOnly(_ value: String, fold: Bool) -> String {
        let words = value.splitList(separators: " \t\r\n\u{0B}\u{0C}")
        guard let first = words.first else { return "" }
        var folder = LineFolder(fold: fold, start: first)
        for word in words.dropFirst() { folder.append(word) }
        return folder.text
    }
}
