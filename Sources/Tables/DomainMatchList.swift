// DomainMatchList: Postfix's domain lists (mydestination, relay_domains,
// virtual_alias_domains, ...): names, /file/name (more patterns, one per
// line or separated by white space), type:table, and !negation. A name
// matches its subdomains when the parameter is in
// parent_domain_matches_subdomains; ".domain" always does.
import Util
import Global

public final class DomainMatchList {
    enum Item {
        case name(String, negated: Bool)
        case table(LookupTable, negated: Bool)
    }

    let parameter: String
    let parentMatches: Bool
    private var items: [Item] = []

    /// Builds the list from an (expanded) parameter value.
    public init(parameter: String, value: String, parentMatchesSubdomains: Bool,
                context: TableContext = TableContext()) throws(LookupError) {
        self.parameter = parameter
        parentMatches = parentMatchesSubdomains
        try add(value, depth: 0, context: context)
    }

    private func add(_ value: String, depth: Int, context: TableContext) throws(LookupError) {
        for raw in value.splitListGrouped() {
            var word = raw
            var negated = false
            while word.hasPrefix("!") { negated.toggle(); word.removeFirst() }
            if word.hasPrefix("/") {
                guard depth < 10 else { throw .configuration("\(parameter): too many nested files: \(word)") }
                let text: String
                do { text = try TextFile.read(word) } catch {
                    throw .configuration("open \(word): \(error)")
                }
                let lines = LogicalLines.split(text).map(\.text).joined(separator: " ")
                try add(lines, depth: depth + 1, context: context)
            } else if TableReference.parse(word) != nil {
                items.append(.table(try TableOpener.open(word, context: context), negated: negated))
            } else {
                items.append(.name(word.lowercased(), negated: negated))
            }
        }
    }

    /// True when `domain` is in the list; the first matching item decides.
    public func matches(_ domain: String) throws(LookupError) -> Bool {
        let name = domain.lowercased()
        for item in items {
            switch item {
            case .name(let pattern, let negated):
                if Self.nameMatches(pattern, name, parentMatches: parentMatches) { return !negated }
            case .table(let table, let negated):
                if try table.find(name) != nil { return !negated }
                for parent in AddressSearch.domainKeys(name, parentMatchesSubdomains: parentMatches).dropFirst() {
                    if try table.find(parent) != nil { return !negated }
                }
            }
        }
        return false
    }

    static func nameMatches(_ pattern: String, _ domain: String, parentMatches: Bool) -> Bool {
        if pattern == domain { return true }
        if pattern.hasPrefix(".") { return domain.hasSuffix(pattern) }
        return parentMatches && domain.hasSuffix("." + pattern)
    }
}
