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
        for entry in SourceFile.entries(text) {
            if values[entry.key.lowercased()] == nil { values[entry.key.lowercased()] = entry.value }
        }
    }

    public func lookup(_ key: String) throws(LookupError) -> String? { values[key] }
}

/// The `key value` source format shared by postmap and texthash.
public enum SourceFile {
    public struct Entry: Sendable, Equatable {
        public let key: String
        public let value: String
        public let line: Int
    }

    /// Entries in file order. A key is the text up to the first white space
    /// (or a quoted "..." key); the value is the rest, trimmed.
    public static func entries(_ text: String) -> [Entry] {
        var result: [Entry] = []
        for line in LogicalLines.split(text) {
            let bytes = Array(line.text.utf8)
            var i = 0
            var key: [UInt8] = []
            if bytes.first == UInt8(ascii: "\"") {
                i = 1
                while i < bytes.count && bytes[i] != UInt8(ascii: "\"") {
                    if bytes[i] == UInt8(ascii: "\\") && i + 1 < bytes.count { i += 1 }
                    key.append(bytes[i])
                    i += 1
                }
                i += 1
            } else {
                while i < bytes.count && !bytes[i].isPostfixSpace { key.append(bytes[i]); i += 1 }
            }
            let value = String(decoding: bytes[min(i, bytes.count)...], as: UTF8.self).trimmingPostfixSpace()
            result.append(Entry(key: String(decoding: key, as: UTF8.self), value: value, line: line.firstLine))
        }
        return result
    }
}
