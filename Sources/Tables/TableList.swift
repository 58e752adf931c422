// TableList: the tables one parameter names ("hash:/a, mysql:/b"), searched
// in order as Postfix's maps do: the first table with an answer wins, and
// a table that fails stops the search with that failure.
import Util
import Global

public final class TableList {
    /// The parameter the list came from (for messages and parent matching).
    public let parameter: String
    public let tables: [LookupTable]

    public init(parameter: String, tables: [LookupTable]) {
        self.parameter = parameter
        self.tables = tables
    }

    /// Opens every `type:name` in `value` (comma or white space separated,
    /// `{...}` kept whole). Items without a type are a configuration error.
    public convenience init(parameter: String, value: String, context: TableContext = TableContext()) throws(LookupError) {
        var tables: [LookupTable] = []
        for item in value.splitListGrouped() {
            tables.append(try TableOpener.open(item, context: context))
        }
        self.init(parameter: parameter, tables: tables)
    }

    /// Looks `key` up in each table (after each table's case folding).
    /// `fixedOnly` skips pattern tables, for partial keys such as `@domain`.
    public func find(_ key: String, fixedOnly: Bool = false) throws(LookupError) -> String? {
        for table in tables {
            if fixedOnly && table.isPatternTable { continue }
            if let value = try table.find(key) { return value }
        }
        return nil
    }

    /// Tries each key in order, each against all tables, until one answers.
    /// Keys marked partial are not sent to pattern tables.
    public func find(keys: [AddressSearch.Key]) throws(LookupError) -> (key: String, value: String)? {
        for key in keys {
            if let value = try find(key.text, fixedOnly: key.isPartial) { return (key.text, value) }
        }
        return nil
    }
}
