// StringMatchList: Postfix's string_list, for parameters such as
// smtpd_forbidden_commands and smtpd_log_access_permit_actions: words
// compared without case, `type:table` entries that match when the table has
// the word as a key, `!` in front negating an entry; the first entry that
// matches decides. Tables are opened once; one that cannot be opened is
// logged and matches nothing.
import Util
import Global

public struct StringMatchList {
    private enum Entry {
        case word(String, negated: Bool)
        case table(LookupTable?, negated: Bool)
    }
    private let entries: [Entry]

    public var isEmpty: Bool { entries.isEmpty }

    public init(parameter: String, value: String, context: TableContext = TableContext()) {
        var entries: [Entry] = []
        for item in value.splitListGrouped() {
            let negated = item.hasPrefix("!")
            let pattern = negated ? String(item.dropFirst()) : item
            if pattern.contains(":") {
                var table: LookupTable? = nil
                do { table = try TableOpener.open(pattern, context: context) } catch {
                    MailLog.warning("\(parameter): \(pattern): \(error)")
                }
                entries.append(.table(table, negated: negated))
            } else {
                entries.append(.word(pattern.lowercased(), negated: negated))
            }
        }
        self.entries = entries
    }

    /// Whether `word` is in the list.
    public func matches(_ word: String) -> Bool {
        let lower = word.lowercased()
        for entry in entries {
            switch entry {
            case .word(let w, let negated):
                if w == lower { return !negated }
            case .table(let table, let negated):
                if ((try? table?.find(word)) ?? nil) != nil { return !negated }
            }
        }
        return false
    }
}
