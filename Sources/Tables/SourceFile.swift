// SourceFile: the postmap source format (also read by texthash:): `key whitespace value` logical
// lines; a key may hold white space inside double quotes and a backslash
// keeps the next character (both are stored as written, as Postfix does);
// bad lines are reported in Postfix's words with `file, line N`.
import Util
import Global

public enum SourceFile {
    public struct Entry: Equatable, Sendable {
        public let key: String
        public let value: String
        public let line: Int
    }

    public enum Item: Equatable, Sendable {
        case entry(Entry)
        case warning(String)
    }

    /// Entries and warnings for bad lines, in file order.
    public static func items(_ text: String, fileName: String) -> [Item] {
        var result: [Item] = []
        func warn(_ text: String) { result.append(.warning(text)) }
        let lines = LogicalLines.split(text) { _, line in
            warn("\(fileName): logical line must not start with whitespace: \"\(line)\"")
        }
        for line in lines {
            let bytes = Array(line.text.utf8)
            var i = 0
            var quoted = false
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "\\") && i + 1 < bytes.count { i += 2; continue }
                if b == UInt8(ascii: "\"") { quoted.toggle() } else if !quoted && b.isPostfixSpace { break }
                i += 1
            }
            if quoted {
                warn("\(fileName), line \(line.firstLine): unbalanced '\"' in '\(line.text)' -- ignoring this line")
                continue
            }
            let key = String(decoding: bytes[..<i], as: UTF8.self)
            let value = String(decoding: bytes[i...], as: UTF8.self).trimmingPostfixSpace()
            if value.isEmpty {
                warn("\(fileName), line \(line.firstLine): expected format: key whitespace value")
                continue
            }
            if key.hasSuffix(":") {
                warn("\(fileName), line \(line.firstLine): record is in \"key: value\" format; is this an alias file?")
            }
            result.append(.entry(Entry(key: key, value: value, line: line.firstLine)))
        }
        return result
    }
}

extension SourceFile {
    /// Only the entries, warnings dropped.
    public static func entries(_ text: String, fileName: String = "") -> [Entry] {
        items(text, fileName: fileName).compactMap { if case .entry(let e) = $0 { return e } else { return nil } }
    }
}
