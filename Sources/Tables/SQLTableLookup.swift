// SQLTableLookup: what mysql: and sqlite: tables share around the database
// call: which keys are looked up at all (`domain`, suppressed expansions),
// the query for a key, and the answer built from the rows (`result_format`,
// values joined with commas, `expansion_limit`).
import Util

public struct SQLTableLookup {
    /// `type:name`, for messages.
    public let reference: String
    public let type: String
    public let name: String
    public let query: SQLTableTemplate
    public let resultFormat: SQLTableTemplate
    /// Most values an answer may hold; 0 for no limit.
    public let expansionLimit: Int
    public let domains: SQLTableDomainList?

    public init(type: String, config: SQLTableConfig, context: TableContext = TableContext()) throws(LookupError) {
        self.type = type
        name = config.name
        reference = type + ":" + config.name
        let queryText = try config.queryTemplateText()
        guard let query = SQLTableTemplate(queryText) else {
            throw .configuration("db_common_parse: \(config.name): Invalid query template: \(queryText)")
        }
        self.query = query
        let formatText = config.string("result_format", default: "%s")
        if formatText.isEmpty {
            throw .configuration("\(config.name): bad string length 0 < 1: result_format = ")
        }
        guard let resultFormat = SQLTableTemplate(formatText) else {
            throw .configuration("db_common_parse: \(config.name): Invalid result template: \(formatText)")
        }
        self.resultFormat = resultFormat
        expansionLimit = try config.integer("expansion_limit", default: 0)
        let domainText = config.string("domain")
        domains = domainText.isEmpty ? nil : try SQLTableDomainList(domainText, context: context)
    }

    /// The query to run for `key`, its pieces quoted by `escape`; nil when
    /// the key is not looked up (domain not listed, an expansion that the
    /// key cannot supply, an empty key, a key holding NUL).
    public func queryText(for key: String, escape: (String) -> String) throws(LookupError) -> String? {
        guard isEligible(key) else { return nil }
        if let domains, try !domains.allows(key) { return nil }
        if key.isEmpty {
            Diagnostics.warning("table \"\(reference)\": empty query string -- ignored")
            return nil
        }
        let address = SQLTableAddress(key)
        guard resultFormat.keyPartsAvailable(for: address) else { return nil }
        return query.expandQuery(key: key, escape: escape)
    }

    /// Whether `key` can be put into a query at all: C strings end at NUL,
    /// so Postfix never sees such keys; we answer "not found".
    public func isEligible(_ key: String) -> Bool {
        !key.utf8.contains(0)
    }

    /// The answer from the values of the rows (NULL as nil): each non-empty
    /// value through `result_format`, joined with commas; nil when nothing
    /// is left. More values than `expansion_limit` is a temporary error.
    public func answer(values: [String?], key: String) throws(LookupError) -> String? {
        let keyAddress = SQLTableAddress(key)
        var pieces: [String] = []
        for value in values {
            guard let value else { continue }
            if value.isEmpty {
                Diagnostics.warning("table \"\(reference)\": empty lookup result for: \"\(key)\" -- ignored")
                continue
            }
            guard let piece = resultFormat.expand(value: SQLTableAddress(value), key: keyAddress) else { continue }
            pieces.append(piece)
            if expansionLimit > 0 && pieces.count > expansionLimit {
                let separator = type == "mysql" ? ":" : ""
                Diagnostics.warning("dict_\(type)_lookup: \(name): Expansion limit exceeded for key\(separator) '\(key)'")
                throw .temporary("\(reference): expansion limit exceeded for key: '\(key)'")
            }
        }
        return pieces.isEmpty ? nil : pieces.joined(separator: ",")
    }
}
