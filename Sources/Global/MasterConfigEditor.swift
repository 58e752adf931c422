// MasterConfigEditor: the text transformations behind postconf's master.cf
// edits (`-Me`, `-MX`, `-M#`, `-Fe`, `-Pe`, `-PX`): old master.cf bytes plus
// requests give new bytes, laid out as Postfix 3.7's postconf leaves them.
// Edited entries are rewritten in `postconf -Mf` layout (MasterEntryLayout);
// everything else is kept byte for byte.
import Util

/// A `service/type` pattern from the command line; `*` matches anything.
public struct MasterServicePattern: Sendable, Equatable {
    public let service: String
    public let type: String

    /// Parses `service/type`: leading white space is ignored (trailing white
    /// space is not, as in Postfix); both parts must be non-empty.
    public init?(_ text: String) {
        let trimmed = Substring(text).drop(while: { $0.isPostfixSpace })
        let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        service = String(parts[0])
        type = String(parts[1])
    }

    public func matches(service: String, type: String) -> Bool {
        (self.service == "*" || self.service == service) && (self.type == "*" || self.type == type)
    }
}

/// One master.cf entry in the form postconf writes it: the seven fields,
/// the command, the `-o` overrides that directly follow the command (each
/// on a line of its own), then the remaining arguments, folded before
/// column 80.
public struct MasterEntryLayout: Sendable, Equatable {
    /// service, type, private, unprivileged, chroot, wakeup, process_limit.
    public var fields: [String]
    /// The command word as written (braces are not removed from it).
    public var command: String
    /// The arguments as postconf keeps them: braces removed, and the values
    /// of the leading `-o` options normalized to `name=value` when braced.
    public var arguments: [String]

    public static let fieldNames = ["service", "type", "private", "unprivileged", "chroot", "wakeup", "process_limit"]
    /// Column where each field after the first starts, and then the command.
    static let columns = [11, 17, 25, 33, 41, 49, 57]

    /// Parses the text of one logical line; nil when it has fewer than
    /// eight words. Warnings are Postfix's ("master.cf: missing '}' ...").
    public static func parse(_ text: String) -> (layout: MasterEntryLayout, warnings: [String])? {
        var warnings: [String] = []
        let tokens = tokenize(text, warnings: &warnings)
        guard tokens.count >= 8 else { return nil }
        var layout = MasterEntryLayout(fields: tokens[0..<7].map(\.raw), command: tokens[7].raw, arguments: [])
        layout.setArguments(Array(tokens[8...]), warnings: &warnings)
        return (layout, warnings)
    }

    /// Replaces the command and its arguments with `text` (a `-Fe` edit of
    /// the command field). Returns the parse warnings.
    public mutating func setCommand(_ text: String) -> [String] {
        var warnings: [String] = []
        let tokens = Self.tokenize(text, warnings: &warnings)
        command = tokens.first?.raw ?? ""
        setArguments(Array(tokens.dropFirst()), warnings: &warnings)
        return warnings
    }

    /// Sets field `index` (0...6) or, for index 7, the command line.
    public mutating func setField(_ index: Int, to value: String) -> [String] {
        if index == 7 { return setCommand(value) }
        fields[index] = value
        return []
    }

    /// Sets every leading `-o name=...` to `value`, or inserts one after
    /// the leading `-o` words when there is none (after a dangling `-o`
    /// too, as Postfix does).
    public mutating func setParameter(_ name: String, to value: String) {
        var found = false
        var k = 0
        while k < arguments.count && arguments[k] == "-o" {
            if k + 1 < arguments.count && Self.optionName(arguments[k + 1]) == name {
                arguments[k + 1] = "\(name)=\(value)"
                found = true
            }
            k += 2
        }
        if !found { arguments.insert(contentsOf: ["-o", "\(name)=\(value)"], at: min(k, arguments.count)) }
    }

    /// Removes every leading `-o name=...`.
    public mutating func removeParameter(_ name: String) {
        var k = 0
        while k < arguments.count && arguments[k] == "-o" {
            if k + 1 < arguments.count && Self.optionName(arguments[k + 1]) == name {
                arguments.removeSubrange(k...(k + 1))
            } else {
                k += 2
            }
        }
    }

    /// The name of a `-o` value (nil without `=`).
    static func optionName(_ option: String) -> String? {
        guard let eq = option.firstIndex(of: "=") else { return nil }
        return String(option[..<eq])
    }

    /// The entry as postconf writes it, ending in a newline.
    public func render() -> String {
        renderLine(fold: true) + "\n"
    }

    /// The entry as `postconf -M` (one line) or `-Mf` (folded) shows it.
    public func renderLine(fold: Bool) -> String {
        var folder = Folder(start: fieldsLine(), fold: fold)
        appendArguments(to: &folder)
        return folder.text
    }

    /// `prefix` and the command with its arguments, as `postconf -F` shows
    /// the command field (the command word folds like any other).
    public func renderCommand(prefix: String, fold: Bool) -> String {
        var folder = Folder(start: prefix, fold: fold)
        folder.appendFirst(command)
        appendArguments(to: &folder)
        return folder.text
    }

    /// `prefix` ("name = ") and a value as `postconf -F` folds it.
    public static func renderField(prefix: String, value: String, fold: Bool) -> String {
        var folder = Folder(start: prefix, fold: fold)
        let words = value.splitList(separators: " \t\r\n")
        if let first = words.first { folder.appendFirst(first) }
        for word in words.dropFirst() { folder.append(word, measured: word) }
        return folder.text
    }

    private func appendArguments(to folder: inout Folder) {
        var k = 0
        while k + 1 < arguments.count && arguments[k] == "-o" {
            folder.newLine("-o " + Self.braced(arguments[k + 1]))
            k += 2
        }
        for (i, argument) in arguments[k...].enumerated() {
            // Postfix shows the first argument without its braces.
            let shown = i == 0 ? argument : Self.braced(argument)
            if i == 0 && k > 0 { folder.newLine(shown) } else { folder.append(shown, measured: argument) }
        }
    }

    /// The fields in Postfix's columns followed by the command.
    func fieldsLine() -> String {
        var line = fields[0]
        for (word, column) in zip(fields.dropFirst() + [command], Self.columns) {
            let used = line.utf8.count
            if used > 0 { line += String(repeating: " ", count: used < column ? column - used : 1) }
            line += word
        }
        return line
    }

    static func braced(_ word: String) -> String {
        word.utf8.contains(where: { $0.isPostfixSpace }) ? "{\(word)}" : word
    }

    /// Keeps the arguments with braces removed; the values of the leading
    /// (unbraced) `-o` words are normalized as `name=value`.
    private mutating func setArguments(_ tokens: [Token], warnings: inout [String]) {
        arguments = []
        var k = 0
        while k + 1 < tokens.count && tokens[k].raw == "-o" {
            let value = tokens[k + 1]
            arguments.append("-o")
            if value.braced {
                switch MainConfigEditor.splitAssignment(value.text) {
                case .valid(let name, let v): arguments.append("\(name)=\(v)")
                case .invalid(let message):
                    warnings.append("master.cf: " + message)
                    arguments.append(value.text)
                }
            } else {
                arguments.append(value.text)
            }
            k += 2
        }
        arguments += tokens[k...].map(\.text)
    }

    /// One word of a master.cf line: as written, and with a surrounding
    /// brace pair (and the white space inside it) removed.
    struct Token {
        let raw: String
        let text: String
        let braced: Bool
    }

    /// Splits on white space; `{` opens a group that runs to its matching
    /// `}` (or the end of the line, with a warning).
    static func tokenize(_ line: String, warnings: inout [String]) -> [Token] {
        let bytes = Array(line.utf8)
        var tokens: [Token] = []
        var i = 0
        while i < bytes.count {
            while i < bytes.count && bytes[i].isPostfixSpace { i += 1 }
            if i >= bytes.count { break }
            let start = i
            var depth = 0
            var closedAt: Int? = nil
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "{") {
                    depth += 1
                } else if b == UInt8(ascii: "}") {
                    if depth > 0 {
                        depth -= 1
                        if depth == 0 && closedAt == nil { closedAt = i }
                    }
                } else if b.isPostfixSpace && depth == 0 {
                    break
                }
                i += 1
            }
            let word = Array(bytes[start..<i])
            let raw = String(decoding: word, as: UTF8.self)
            if depth > 0 {
                warnings.append("master.cf: missing '}' in \"\(raw)\"")
                if word.first == UInt8(ascii: "{") {
                    tokens.append(Token(raw: raw, text: String(decoding: word.dropFirst(), as: UTF8.self).trimmingPostfixSpace(), braced: true))
                    continue
                }
            } else if word.first == UInt8(ascii: "{"), closedAt == start + word.count - 1 {
                let inner = String(decoding: word[1..<(word.count - 1)], as: UTF8.self).trimmingPostfixSpace()
                tokens.append(Token(raw: raw, text: inner, braced: true))
                continue
            }
            tokens.append(Token(raw: raw, text: raw, braced: false))
        }
        return tokens
    }

    /// postconf's folding: words joined by spaces, a line broken before a
    /// word that would make it 80 columns or longer, continuation lines
    /// indented by four. Postfix measures a braced word without the braces
    /// it adds, so such a line can reach 81 columns.
    struct Folder {
        private(set) var text: String
        private var column: Int
        /// Without folding every word joins the line with one space.
        let fold: Bool

        init(start: String, fold: Bool = true) {
            text = start
            column = start.utf8.count
            self.fold = fold
        }

        mutating func append(_ word: String, measured: String) {
            if fold && column + 1 + measured.utf8.count >= 80 {
                newLine(word)
            } else {
                text += " " + word
                column += 1 + word.utf8.count
            }
        }

        /// The first word after a prefix that ends in a space.
        mutating func appendFirst(_ word: String) {
            if fold && column + word.utf8.count >= 80 {
                newLine(word)
            } else {
                text += word
                column += word.utf8.count
            }
        }

        mutating func newLine(_ word: String) {
            guard fold else {
                text += " " + word
                column += 1 + word.utf8.count
                return
            }
            text += "\n    " + word
            column = 4 + word.utf8.count
        }
    }
}

public enum MasterConfigEditor {
    /// A whole-entry request: `-Me pattern=entry`, `-MX pattern`, `-M# pattern`.
    public enum EntryRequest: Sendable, Equatable {
        case replace(MasterServicePattern, MasterEntryLayout, warnings: [String])
        case remove(MasterServicePattern)
        case commentOut(MasterServicePattern)

        var pattern: MasterServicePattern {
            switch self {
            case .replace(let p, _, _), .remove(let p), .commentOut(let p): return p
            }
        }
    }

    /// `-Fe service/type/field=value`; `field` indexes the seven fields, 7 is the command.
    public struct FieldRequest: Sendable, Equatable {
        public let pattern: MasterServicePattern
        public let field: Int
        public let value: String

        public init(pattern: MasterServicePattern, field: Int, value: String) {
            self.pattern = pattern
            self.field = field
            self.value = value
        }
    }

    /// `-Pe service/type/name=value` (value set) or `-PX service/type/name` (nil).
    public struct ParameterRequest: Sendable, Equatable {
        public let pattern: MasterServicePattern
        public let name: String
        public let value: String?

        public init(pattern: MasterServicePattern, name: String, value: String?) {
            self.pattern = pattern
            self.name = name
            self.value = value
        }
    }

    /// The edited file, warnings in the order postconf prints them, and the
    /// indexes of requests that matched no entry (for `-F`/`-P` warnings).
    public struct Result: Sendable, Equatable {
        public let bytes: [UInt8]
        public let warnings: [String]
        public let unmatched: [Int]

        public var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// The field names `-F` accepts, in entry order (index 7 is the command).
    public static let fieldNames = MasterEntryLayout.fieldNames + ["command"]

    /// Checks a `-Fe` value as postconf does; returns Postfix's error text.
    public static func validateField(_ index: Int, _ value: String) -> String? {
        func invalid() -> String { "invalid \(fieldNames[index]) field \"\(value)\" in \"\(value)\"" }
        let digits: (Substring) -> Bool = { $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        switch index {
        case 1:
            return MasterEntry.types.contains(value) ? nil : invalid()
        case 2, 3, 4:
            return value.isEmpty || value == "y" || value == "n" || value == "-" ? nil : invalid()
        case 5:
            var v = Substring(value)
            if v.hasSuffix("?") { v = v.dropLast() }
            return v == "-" || digits(v) ? nil : invalid()
        case 6:
            return value == "-" || digits(Substring(value)) ? nil : invalid()
        default:
            return nil
        }
    }

    /// Checks the entry text of a `-Me` argument as master.cf entries are
    /// checked; returns Postfix's error text (`argument` is the whole
    /// command-line argument, which the "bad field count" message quotes).
    public static func validateEntry(_ text: String, argument: String) -> String? {
        do {
            _ = try MasterConfigFile.parseEntry(LogicalLine(text: text, firstLine: 1, lastLine: 1), path: "master.cf")
            return nil
        } catch {
            return error.message == "bad field count" ? "bad field count: \"\(argument)\"" : error.postfixText
        }
    }

    // MARK: - Entry edits (-Me, -MX, -M#)

    public static func editEntries(_ bytes: [UInt8], requests: [EntryRequest]) -> Result {
        let file = SplitFile(bytes)
        var warnings: [String] = []
        for case .replace(_, _, let w) in requests {
            for _ in 0...file.entries.count { warnings += w }
        }
        var used = Array(repeating: false, count: requests.count)
        var output: [UInt8] = []
        var action: EntryAction = .keep
        for line in file.lines {
            switch line.kind {
            case .ignorable, .orphan:
                output.append(contentsOf: line.bytes)
            case .start(let e):
                let entry = file.entries[e]
                action = .keep
                var replacement: MasterEntryLayout? = nil
                for (r, request) in requests.enumerated()
                where request.pattern.matches(service: entry.service, type: entry.type) {
                    switch request {
                    case .remove: action = .remove
                    case .commentOut: action = .commentOut
                    case .replace(_, let layout, _):
                        if !used[r] { replacement = layout }
                        used[r] = true
                        action = .remove
                    }
                }
                if let replacement {
                    output.append(contentsOf: replacement.render().utf8)
                } else {
                    emit(line.bytes, action, &output)
                }
            case .continuation:
                emit(line.bytes, action, &output)
            }
        }
        for (r, request) in requests.enumerated() where !used[r] {
            if case .replace(_, let layout, _) = request { output.append(contentsOf: layout.render().utf8) }
        }
        return Result(bytes: output, warnings: warnings, unmatched: [])
    }

    // MARK: - Field and parameter edits (-Fe, -Pe, -PX)

    public static func editFields(_ bytes: [UInt8], requests: [FieldRequest]) -> Result {
        rewrite(bytes, patterns: requests.map(\.pattern)) { layout, matching in
            var warnings: [String] = []
            for r in matching { warnings += layout.setField(requests[r].field, to: requests[r].value) }
            return warnings
        }
    }

    public static func editParameters(_ bytes: [UInt8], requests: [ParameterRequest]) -> Result {
        rewrite(bytes, patterns: requests.map(\.pattern)) { layout, matching in
            for r in matching {
                if let value = requests[r].value {
                    layout.setParameter(requests[r].name, to: value)
                } else {
                    layout.removeParameter(requests[r].name)
                }
            }
            return []
        }
    }

    /// Rewrites every entry some pattern matches: its lines are dropped and
    /// the edited entry is written where the logical line ends, that is,
    /// after comment and blank lines inside or after it, before the next entry.
    static func rewrite(_ bytes: [UInt8], patterns: [MasterServicePattern],
                        apply: (inout MasterEntryLayout, [Int]) -> [String]) -> Result {
        let file = SplitFile(bytes)
        var matched = Array(repeating: false, count: patterns.count)
        var warnings: [String] = []
        var output: [UInt8] = []
        var pending: String? = nil
        var action: EntryAction = .keep
        for line in file.lines {
            switch line.kind {
            case .ignorable, .orphan:
                output.append(contentsOf: line.bytes)
            case .continuation:
                emit(line.bytes, action, &output)
            case .start(let e):
                if let text = pending { output.append(contentsOf: text.utf8); pending = nil }
                let entry = file.entries[e]
                let matching = patterns.indices.filter { patterns[$0].matches(service: entry.service, type: entry.type) }
                guard !matching.isEmpty, let (parsed, parseWarnings) = MasterEntryLayout.parse(entry.text) else {
                    action = .keep
                    output.append(contentsOf: line.bytes)
                    continue
                }
                for r in matching { matched[r] = true }
                var layout = parsed
                warnings += parseWarnings
                warnings += apply(&layout, matching)
                pending = layout.render()
                action = .remove
            }
        }
        if let text = pending { output.append(contentsOf: text.utf8) }
        let unmatched = matched.indices.filter { !matched[$0] }
        return Result(bytes: output, warnings: warnings, unmatched: unmatched)
    }

    // String conveniences for tests and callers holding text.

    public static func editEntries(_ text: String, requests: [EntryRequest]) -> Result {
        editEntries(Array(text.utf8), requests: requests)
    }

    public static func editFields(_ text: String, requests: [FieldRequest]) -> Result {
        editFields(Array(text.utf8), requests: requests)
    }

    public static func editParameters(_ text: String, requests: [ParameterRequest]) -> Result {
        editParameters(Array(text.utf8), requests: requests)
    }

    // MARK: - File structure

    enum EntryAction { case keep, remove, commentOut }

    static func emit(_ line: ArraySlice<UInt8>, _ action: EntryAction, _ output: inout [UInt8]) {
        switch action {
        case .keep: output.append(contentsOf: line)
        case .remove: break
        case .commentOut: output.append(UInt8(ascii: "#")); output.append(contentsOf: line)
        }
    }

    /// The physical lines of master.cf, each classified, and the entries
    /// (logical lines) they form.
    struct SplitFile {
        enum Kind { case ignorable, orphan, start(Int), continuation }
        struct Line { let bytes: ArraySlice<UInt8>; let kind: Kind }
        struct Entry { var text: String; let service: String; let type: String }

        var lines: [Line] = []
        var entries: [Entry] = []

        init(_ bytes: [UInt8]) {
            var texts: [[UInt8]] = []
            for line in MainConfigEditor.physicalLines(bytes) {
                if MainConfigEditor.isIgnorable(line) {
                    lines.append(Line(bytes: line, kind: .ignorable))
                } else if line[line.startIndex].isPostfixSpace {
                    if texts.isEmpty {
                        lines.append(Line(bytes: line, kind: .orphan))
                    } else {
                        texts[texts.count - 1] += Self.withoutNewline(line)
                        lines.append(Line(bytes: line, kind: .continuation))
                    }
                } else {
                    lines.append(Line(bytes: line, kind: .start(texts.count)))
                    texts.append(Array(Self.withoutNewline(line)))
                }
            }
            for text in texts {
                let string = String(decoding: text, as: UTF8.self)
                let words = string.utf8.split(whereSeparator: { $0.isPostfixSpace })
                let service = words.count > 0 ? String(decoding: words[0], as: UTF8.self) : ""
                let type = words.count > 1 ? String(decoding: words[1], as: UTF8.self) : ""
                entries.append(Entry(text: string, service: service, type: type))
            }
        }

        static func withoutNewline(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
            line.last == UInt8(ascii: "\n") ? line.dropLast() : line
        }
    }
}
