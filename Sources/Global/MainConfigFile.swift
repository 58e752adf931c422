// MainConfigFile: main.cf read exactly as Postfix reads it: `name = value`
// logical lines, white space around `=` and at the end ignored, the last
// definition of a name winning. Values are kept unexpanded.
import Glibc
import Util

/// One `name = value` definition in main.cf.
public struct MainConfigEntry: Sendable, Equatable {
    public let name: String
    public let value: String
    public let firstLine: Int
    public let lastLine: Int
}

public struct MainConfigFile: Sendable {
    public let path: String
    /// Every definition in file order, repeats included.
    public let entries: [MainConfigEntry]
    /// The value in force for each name (last definition wins).
    public let values: [String: String]
    /// Warnings Postfix prints while reading (e.g. a leading-space line).
    public let warnings: [String]

    /// Reads `path`; a missing file is an error, as in Postfix.
    public static func load(path: String) throws(ConfigError) -> MainConfigFile {
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            throw ConfigError(file: path, line: nil, "open \(path): \(error)", postfixText: "open \(path): \(error)")
        }
        return try parse(text, path: path)
    }

    /// A main.cf with no definitions.
    public static func empty(path: String) -> MainConfigFile {
        MainConfigFile(path: path, entries: [], values: [:], warnings: [])
    }

    public static func parse(_ text: String, path: String) throws(ConfigError) -> MainConfigFile {
        var warnings: [String] = []
        let lines = LogicalLines.split(text) { _, line in
            warnings.append(LogicalLines.orphanWarning(path: path, line: line))
        }
        var entries: [MainConfigEntry] = []
        entries.reserveCapacity(lines.count)
        var values = [String: String](minimumCapacity: lines.count)
        for line in lines {
            let (name, value) = try splitNameValue(line, path: path)
            entries.append(MainConfigEntry(name: name, value: value, firstLine: line.firstLine, lastLine: line.lastLine))
            if let earlier = values[name] {
                warnings.append("\(path), line \(line.firstLine): overriding earlier entry: \(name)=\(earlier)")
            }
            values[name] = value
        }
        return MainConfigFile(path: path, entries: entries, values: values, warnings: warnings)
    }

    /// Splits one logical line into name and value, as Postfix's split_nameval().
    public static func splitNameValue(_ line: LogicalLine, path: String) throws(ConfigError) -> (String, String) {
        let bytes = Array(line.text.utf8)
        var i = 0
        while i < bytes.count && bytes[i].isPostfixSpace { i += 1 }
        let nameStart = i
        while i < bytes.count && !bytes[i].isPostfixSpace && bytes[i] != UInt8(ascii: "=") { i += 1 }
        let name = String(decoding: bytes[nameStart..<i], as: UTF8.self)
        if name.isEmpty {
            throw ConfigError(file: path, line: line.firstLine, "missing attribute name: \"\(line.text)\"")
        }
        while i < bytes.count && bytes[i].isPostfixSpace { i += 1 }
        guard i < bytes.count && bytes[i] == UInt8(ascii: "=") else {
            throw ConfigError(file: path, line: line.firstLine, "missing '=' after attribute name: \"\(line.text)\"")
        }
        i += 1
        let value = String(decoding: bytes[i...], as: UTF8.self).trimmingPostfixSpace()
        return (name, value)
    }
}
