// TableOpener: opens a table from its `type:name` text, the single place
// that maps type names to implementations. Types register a factory here.
import Global

/// Everything a table needs to open: its name and the configuration
/// (for $name expansion in database files, proxy sockets and the like).
public struct TableContext: Sendable {
    public let config: MailConfig?
    /// Open for writing (postmap, postalias, proxywrite).
    public let writable: Bool
    /// Create or truncate the table (postmap building from source).
    public let create: Bool

    public init(config: MailConfig? = nil, writable: Bool = false, create: Bool = false) {
        self.config = config
        self.writable = writable
        self.create = create
    }
}

public typealias TableFactory = @Sendable (_ type: String, _ name: String, _ context: TableContext) throws(LookupError) -> LookupTable

public enum TableOpener {
    nonisolated(unsafe) private static var factories: [String: TableFactory] = [:]
    nonisolated(unsafe) private static var registeredBuiltins = false

    /// Adds or replaces the factory for `type`.
    public static func register(_ type: String, _ factory: @escaping TableFactory) {
        factories[type] = factory
    }

    /// The types that can be opened.
    public static var types: [String] {
        registerBuiltinsOnce()
        return factories.keys.sorted()
    }

    /// Opens `type:name`.
    public static func open(_ text: String, context: TableContext = TableContext()) throws(LookupError) -> LookupTable {
        registerBuiltinsOnce()
        guard let reference = TableReference.parse(text) else {
            throw .configuration("need dictionary_type:dictionary_name format: \"\(text)\"")
        }
        guard let factory = factories[reference.type] else {
            throw .configuration("unsupported dictionary type: \(reference.type)")
        }
        return try factory(reference.type, reference.name, context)
    }

    private static func registerBuiltinsOnce() {
        guard !registeredBuiltins else { return }
        registeredBuiltins = true
        BuiltinTables.registerAll()
    }
}
