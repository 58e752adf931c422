// SmtpdForbiddenCommands: smtpd_forbidden_commands, the words that end a
// session when a client sends them as an unknown command. Only unknown
// commands are compared, so most sessions never ask; the built-in default
// (with its inline regexp table, which cannot fail to open) is compiled on
// first use, saving every smtpd start-up the regexp compilation. Any other
// value is opened at start-up, so that a table that cannot be opened is
// reported there, as before.
import Tables

final class SmtpdForbiddenCommands {
    static let builtIn = "CONNECT GET POST regexp:{{/^[^A-Z]/ Bogus}}"

    private let value: String
    private let context: TableContext
    private var list: StringMatchList?

    init(value: String = SmtpdForbiddenCommands.builtIn, context: TableContext = TableContext()) {
        self.value = value
        self.context = context
        if value != Self.builtIn { list = open() }
    }

    /// Whether `word` (the first word of an unknown command) is forbidden.
    func matches(_ word: String) -> Bool {
        if let list { return list.matches(word) }
        let opened = open()
        list = opened
        return opened.matches(word)
    }

    private func open() -> StringMatchList {
        StringMatchList(parameter: "smtpd_forbidden_commands", value: value, context: context)
    }
}
