// SmtpdEhloDiscard: which EHLO keywords a client does not get
// (smtpd_discard_ehlo_keywords, or the list smtpd_discard_ehlo_keyword_
// address_maps gives for the client's address), and the line Postfix logs
// about it ("discarding EHLO keywords: ...", keywords in Postfix's fixed
// order; not logged with "silent-discard"). Unknown keywords are ignored.
import Util
import Global
import Tables

struct SmtpdEhloDiscard {
    /// Postfix's keyword order (its EHLO mask table).
    static let knownKeywords = ["8BITMIME", "AUTH", "ETRN", "PIPELINING", "SIZE", "VERP", "VRFY", "XCLIENT",
                                "XFORWARD", "STARTTLS", "ENHANCEDSTATUSCODES", "DSN", "SMTPUTF8", "CHUNKING",
                                "SILENT-DISCARD"]

    var mainList: Set<String> = []
    var maps: TableList?

    init() {}

    init(config c: MailConfig, tableContext: TableContext) {
        mainList = SmtpdEhloDiscard.parse(c.value("smtpd_discard_ehlo_keywords"))
        let value = c.value("smtpd_discard_ehlo_keyword_address_maps")
        if !value.isEmpty {
            do { maps = try TableList(parameter: "smtpd_discard_ehlo_keyword_address_maps", value: value, context: tableContext) } catch {
                MailLog.warning("smtpd_discard_ehlo_keyword_address_maps: \(error)")
            }
        }
    }

    static func parse(_ list: String) -> Set<String> {
        Set(list.splitList().map { $0.uppercased() })
    }

    /// The keywords withheld from the client at `address`.
    func keywords(for address: String, warn: (String) -> Void) -> Set<String> {
        guard let maps else { return mainList }
        do {
            if let list = try maps.find(address) { return SmtpdEhloDiscard.parse(list) }
        } catch {
            warn("smtpd_discard_ehlo_keyword_address_maps lookup error for \"\(address)\"")
        }
        return mainList
    }

    /// The log line for `keywords`, or nil when nothing (known) is
    /// discarded or the discard is silent.
    static func logLine(_ keywords: Set<String>) -> String? {
        guard !keywords.contains("SILENT-DISCARD") else { return nil }
        let named = knownKeywords.filter { keywords.contains($0) }
        return named.isEmpty ? nil : "discarding EHLO keywords: " + named.joined(separator: " ")
    }
}
