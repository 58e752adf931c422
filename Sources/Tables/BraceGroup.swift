// BraceGroup: Postfix's `{ text }` grouping in table names and values:
// the text inside the outer braces with white space after `{` and before
// `}` removed.
import Util

enum BraceGroup {
    /// The inside of `{...}`, or nil when `text` is not one brace group.
    static func inside(_ text: String) -> String? {
        let t = text.trimmingPostfixSpace()
        guard t.hasPrefix("{"), t.hasSuffix("}"), t.count >= 2 else { return nil }
        return String(t.dropFirst().dropLast()).trimmingPostfixSpace()
    }
}
