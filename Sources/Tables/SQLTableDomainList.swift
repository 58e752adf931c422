// SQLTableDomainList: the `domain` setting of mysql: and sqlite: tables, the
// domains whose addresses are looked up at all. Items are domain names
// (matched exactly, without case), "!name" (exclude), "/file" (more items)
// and "type:table" (domain found in the table). The first match decides.
import Util
import Global

public struct SQLTableDomainList {
    private enum Item {
        case name(String)
        case table(LookupTable)
    }

    private let items: [(negated: Bool, item: Item)]

    /// Parses the list; files and tables are read now, as Postfix does.
    public init(_ text: String, context: TableContext = TableContext()) throws(LookupError) {
        var items: [(negated: Bool, item: Item)] = []
        try SQLTableDomainList.add(text, to: &items, context: context, depth: 0)
        self.items = items
    }

    private static func add(_ text: String, to items: inout [(negated: Bool, item: Item)],
                            context: TableContext, depth: Int) throws(LookupError) {
        for var entry in text.splitListGrouped() {
            var negated = false
            while entry.hasPrefix("!") { negated.toggle(); entry.removeFirst() }
            if entry.isEmpty { continue }
            if entry.hasPrefix("/") {
                guard depth < 10 else { throw .configuration("\(entry): too many nested domain list files") }
                let contents: String
                do {
                    contents = try TextFile.read(entry)
                } catch {
                    throw .configuration("open \(entry): \(error)")
                }
                var nested: [(negated: Bool, item: Item)] = []
                let lines = contents.split(separator: "\n", omittingEmptySubsequences: true)
                    .map { line in line.prefix { $0 != "#" } }
                try add(lines.joined(separator: " "), to: &nested, context: context, depth: depth + 1)
                items += nested.map { (negated != $0.negated, $0.item) }
            } else if TableReference.parse(entry) != nil && entry.contains(":") {
                items.append((negated, .table(try TableOpener.open(entry, context: TableContext(config: context.config)))))
            } else {
                items.append((negated, .name(entry.lowercased())))
            }
        }
    }

    /// Whether addresses in `domain` may be looked up.
    public func matches(_ domain: String) throws(LookupError) -> Bool {
        let folded = domain.lowercased()
        for (negated, item) in items {
            switch item {
            case .name(let name):
                if name == folded { return !negated }
            case .table(let table):
                if try table.find(folded) != nil { return !negated }
            }
        }
        return false
    }

    /// Whether `key` may be looked up: a fully qualified address with a
    /// non-empty local part in a listed domain.
    public func allows(_ key: String) throws(LookupError) -> Bool {
        let address = SQLTableAddress(key)
        guard let local = address.localPart, !local.isEmpty, let domain = address.domain else { return false }
        return try matches(domain)
    }
}
