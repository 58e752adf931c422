// StaticTable: static:value answers every key with value
// (static:{ text with spaces } for values with white space); and
// fail:name, which fails every lookup (for tests of error handling).

public final class StaticTable: LookupTable {
    public let reference: String
    public let value: String
    public var keyCase: KeyCase { .asGiven }

    public init(name: String) {
        reference = "static:" + name
        value = BraceGroup.inside(name) ?? name
    }

    public func lookup(_ key: String) throws(LookupError) -> String? { value }
}

public final class FailTable: LookupTable {
    public let reference: String
    public var keyCase: KeyCase { .asGiven }

    public init(name: String) { reference = "fail:" + name }

    public func lookup(_ key: String) throws(LookupError) -> String? {
        throw .temporary("\(reference): table lookup failed")
    }
}
