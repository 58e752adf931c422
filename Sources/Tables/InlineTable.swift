// InlineTable: inline:{ key=value, { key = text with spaces } } — a small
// table written in main.cf itself; keys are folded to lower case.
import Util

public final class InlineTable: LookupTable {
    public let reference: String
    public var keyCase: KeyCase { .foldToLower }
    private var values: [String: String] = [:]

    public init(name: String) throws(LookupError) {
        reference = "inline:" + name
        guard let body = BraceGroup.inside(name) else {
            throw .configuration("\(reference): syntax error: need \"inline:{name=value...}\"")
        }
        for item in body.splitListGrouped(separators: ", \t\r\n") {
            let pair = BraceGroup.inside(item) ?? item
            guard let eq = pair.firstIndex(of: "=") else {
                throw .configuration("\(reference): syntax error: missing '=' after attribute name: \"\(pair)\"")
            }
            let key = pair[..<eq].trimmingPostfixSpace()
            let value = pair[pair.index(after: eq)...].trimmingPostfixSpace()
            guard !key.isEmpty else {
                throw .configuration("\(reference): syntax error: missing attribute name: \"\(pair)\"")
            }
            values[key.lowercased()] = value
        }
    }

    public func lookup(_ key: String) throws(LookupError) -> String? { values[key] }
}
