// BerkeleyDBTable: hash/btree tables (being written; until then opening one fails).

public final class BerkeleyDBTable: LookupTable {
    public let reference: String
    public var keyCase: KeyCase { .asGiven }

    public init(type: String, name: String, context: TableContext) throws(LookupError) {
        reference = type + ":" + name
        throw .configuration("\(reference): table type not available in this build")
    }

    public func lookup(_ key: String) throws(LookupError) -> String? { nil }
}
