// SQLTableConfig: the settings behind a mysql: or sqlite: table. A name
// that starts with '/' or '.' is a file in main.cf syntax (values are not
// $-expanded); any other name reads the obsolete `name_setting` parameters
// from main.cf, as Postfix does.
import Util
import Global

public struct SQLTableConfig: Sendable {
    /// The table's name (the file, or the main.cf prefix).
    public let name: String
    private let values: [String: String]

    /// Reads the settings for table `name`.
    public init(name: String, context: TableContext) throws(LookupError) {
        if name.hasPrefix("/") || name.hasPrefix(".") {
            let text: String
            do {
                text = try TextFile.read(name)
            } catch {
                throw .configuration("open \(name): \(error)")
            }
            try self.init(name: name, text: text)
        } else {
            var values: [String: String] = [:]
            if let config = context.config {
                let prefix = name + "_"
                let names = Set(config.main.values.keys).union(config.overrides.keys)
                for parameter in names where parameter.hasPrefix(prefix) {
                    values[String(parameter.dropFirst(prefix.count))] = config.value(parameter)
                }
            }
            self.init(name: name, values: values)
        }
    }

    /// Settings given directly.
    public init(name: String, values: [String: String]) {
        self.name = name
        self.values = values
    }

    /// Settings parsed from `text`, the contents of file `name`.
    public init(name: String, text: String) throws(LookupError) {
        let values: [String: String]
        do {
            values = try MainConfigFile.parse(text, path: name).values
        } catch {
            throw .configuration("\(error)")
        }
        self.init(name: name, values: values)
    }

    /// The value of `setting`, or `fallback` when it is not set.
    public func string(_ setting: String, default fallback: String = "") -> String {
        values[setting] ?? fallback
    }

    /// Whether `setting` appears at all (even with an empty value).
    public func has(_ setting: String) -> Bool { values[setting] != nil }

    /// A setting that must not be empty.
    public func required(_ setting: String) throws(LookupError) -> String {
        let value = string(setting)
        if value.isEmpty {
            throw .configuration("\(name): bad string length 0 < 1: \(setting) = ")
        }
        return value
    }

    /// A number (expansion_limit and the like).
    public func integer(_ setting: String, default fallback: Int) throws(LookupError) -> Int {
        guard let text = values[setting] else { return fallback }
        guard let number = Int(text), number >= 0 else {
            throw .configuration("\(name): bad numerical configuration: \(setting) = \(text)")
        }
        return number
    }

    /// A yes/no setting.
    public func boolean(_ setting: String, default fallback: Bool) throws(LookupError) -> Bool {
        guard let text = values[setting] else { return fallback }
        switch text.lowercased() {
        case "yes", "true", "1": return true
        case "no", "false", "0": return false
        default: throw .configuration("\(name): bad boolean configuration: \(setting) = \(text)")
        }
    }

    /// The query template: `query`, or the legacy `select_field`, `table`,
    /// `where_field` and `additional_conditions` settings when it is absent.
    public func queryTemplateText() throws(LookupError) -> String {
        if let query = values["query"], !query.isEmpty { return query }
        let table = try required("table")
        let selectField = try required("select_field")
        let whereField = try required("where_field")
        return SQLTableTemplate.legacyQuery(selectField: selectField, table: table, whereField: whereField,
                                            additionalConditions: string("additional_conditions"))
    }
}
