// DomainMatchList: Postfix's domain lists (mydestination, relay_domains,
// virtual_alias_domains, virtual_mailbox_domains, ...), matched as Postfix
// 3.7 matches them: a name matches
// itself; its parent domains are compared as "parent" when the parameter is
// in $parent_domain_matches_subdomains and as ".parent" otherwise (so with
// parent matching on, a ".domain" pattern matches nothing). Items may be
// /file/names, type:table (looked up by the name and the same parent
// forms) and !negated.
import Util
import Global

public final class DomainMatchList {
    public enum Item {
        case name(String, negated: Bool)
        case table(LookupTable, negated: Bool)
    }

    public let parameter: String
    public let parentMatches: Bool
    public private(set) var items: [Item] = []

    public var isEmpty: Bool { items.isEmpty }

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
                do { text = try TextFile.read(word) } catch { throw .configuration("open \(word): \(error)") }
                try add(LogicalLines.split(text).map(\.text).joined(separator: " "), depth: depth + 1, context: context)
            } else if TableReference.parse(word) != nil {
                items.append(.table(try TableOpener.open(word, context: context), negated: negated))
            } else {
                items.append(.name(word.asciiLowercased(), negated: negated))
            }
        }
    }

    /// The name and the forms of its parents that patterns are compared with.
    public func candidates(_ domain: String) -> [String] {
        var keys = [domain]
        var rest = Substring(domain)
        while let dot = rest.firstIndex(of: ".") {
            rest = rest[rest.index(after: dot)...]
            if rest.isEmpty { break }
            keys.append(parentMatches ? String(rest) : "." + rest)
        }
        return keys
    }

    /// True when `domain` is in the list; the first matching item decides.
    public func matches(_ domain: String) throws(LookupError) -> Bool {
        let keys = candidates(domain.asciiLowercased())
        for item in items {
            switch item {
            case .name(let pattern, let negated):
                if keys.contains(pattern) { return !negated }
            case .table(let table, let negated):
                for key in keys where try table.find(key) != nil { return !negated }
            }
        }
        return false
    }
}
