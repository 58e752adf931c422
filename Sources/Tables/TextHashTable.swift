// TextHashTable: texthash:/file — a postmap source file read into memory
// (`key value` lines, comments, continuation lines), no .db file needed.
import Util
import Global

public final class TextHashTable: LookupTable {
    public let reference: String
    public var keyCase: KeyCase { .foldToLower }
    private var values: [String: String] = [:]

    public init(path: String) throws(LookupError) {
        reference = "texthash:" + path
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            throw .configuration("open database \(path): \(error)")
        }
        for entry in SourceFile.entries(text, fileName: path) {
            let key = entry.key.asciiLowercased()
            if values[key] == nil { values[key] = entry.value }
        }
    }

    public func lookup(_ key: String) throws(LookupError) -> String? { values[key] }
}
