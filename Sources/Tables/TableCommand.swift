// TableCommand: what postmap and postalias share: their option syntax
// (POSIX getopt: options stop at the first operand), and the -q, -d and -s
// operations over a list of `type:name` tables, with Postfix's output,
// messages and exit statuses. Each program supplies its output format and
// how it builds a table.
import Glibc
import Util
import Global

/// Parsed command line of postmap or postalias.
public struct TableCommandOptions: Sendable {
    public var configDirectory: String?
    public var query: String?
    public var delete: String?
    public var sequence = false
    public var incremental = false
    public var foldCase = true
    public var nullTermination = NullTermination.either
    public var inheritMode = true
    public var keepPrivileges = false
    public var duplicates = DuplicatePolicy.warn
    public var verbose = 0
    /// The `[type:]name` operands.
    public var tables: [String] = []

    public init() {}

    /// Parses `arguments` (without argv[0]) with the option letters
    /// `letters` (getopt syntax); calls `usage` on errors, after printing
    /// getopt's complaint the way glibc does.
    public static func parse(_ arguments: [String], letters: String, program: String,
                             usage: () -> Never) -> TableCommandOptions {
        var options = TableCommandOptions()
        var takesArgument: Set<Character> = []
        var known: Set<Character> = []
        let spec = Array(letters)
        for (i, c) in spec.enumerated() where c != ":" {
            known.insert(c)
            if i + 1 < spec.count && spec[i + 1] == ":" { takesArgument.insert(c) }
        }
        var index = 0
        outer: while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" { index += 1; break }
            guard argument.hasPrefix("-"), argument.count > 1 else { break }
            var letters = Array(argument.dropFirst())
            while !letters.isEmpty {
                let letter = letters.removeFirst()
                guard known.contains(letter) else {
                    Diagnostics.write("\(program): invalid option -- '\(letter)'\n")
                    usage()
                }
                var value = ""
                if takesArgument.contains(letter) {
                    if !letters.isEmpty {
                        value = String(letters)
                        letters = []
                    } else if index + 1 < arguments.count {
                        index += 1
                        value = arguments[index]
                    } else {
                        Diagnostics.write("\(program): option requires an argument -- '\(letter)'\n")
                        usage()
                    }
                }
                switch letter {
                case "c": options.configDirectory = value
                case "d", "q":
                    // Postfix's two wordings, by which option came second.
                    if options.query != nil || options.delete != nil || options.sequence {
                        Diagnostics.fatal("specify only one of -s -q or -d")
                    }
                    if letter == "d" { options.delete = value } else { options.query = value }
                case "s":
                    if options.query != nil || options.delete != nil {
                        Diagnostics.fatal("specify only one of -s or -q or -d")
                    }
                    options.sequence = true
                case "f": options.foldCase = false
                case "i": options.incremental = true
                case "N": options.nullTermination = .include
                case "n": options.nullTermination = .exclude
                case "o": options.keepPrivileges = true
                case "p": options.inheritMode = false
                case "r": options.duplicates = .replace
                case "w": options.duplicates = .ignore
                case "v": options.verbose += 1
                default: break  // -b -h -m -u -U -F: accepted
                }
            }
            index += 1
            continue outer
        }
        options.tables = Array(arguments[index...])
        return options
    }
}

/// The -q, -d and -s operations.
public struct TableCommand {
    public let options: TableCommandOptions
    public let config: MailConfig?
    /// Prints one `key value` line of -s and -q - output.
    public let formatLine: (String, String) -> String

    public init(options: TableCommandOptions, config: MailConfig?, formatLine: @escaping (String, String) -> String) {
        self.options = options
        self.config = config
        self.formatLine = formatLine
    }

    /// `[type:]name` with the default type filled in.
    public func reference(_ operand: String) -> (type: String, name: String) {
        if let ref = TableReference.parse(operand) { return (ref.type, ref.name) }
        let type = config?.value("default_database_type") ?? ""
        return (type.isEmpty ? "hash" : type, operand)
    }

    /// Opens a table for -q, -d or -s; fatal on errors, as Postfix.
    public func open(_ operand: String, writable: Bool) -> LookupTable {
        let (type, name) = reference(operand)
        do {
            if IndexedTableFile.creatableTypes.contains(type) {
                let table = try IndexedTableFile.open(type: type, name: name, config: config, writable: writable)
                table.nullTermination = options.nullTermination
                return table
            }
            if writable {
                let table = try TableOpener.open(type + ":" + name, context: TableContext(config: config, writable: true))
                if table is UpdatableTable { return table }
                Diagnostics.fatal("\(type):\(name) map requires O_RDONLY access mode")
            }
            return try TableOpener.open(type + ":" + name, context: TableContext(config: config))
        } catch {
            Diagnostics.fatal(error.description)
        }
    }

    private func fold(_ key: String, _ table: LookupTable) -> String {
        options.foldCase && table.keyCase == .foldToLower ? key.asciiLowercased() : key
    }

    /// -q: exit status 0 when found, 1 when not.
    /// Runs -q, -d or -s when one was given and exits with its status.
    public func runQueryModesAndExit() {
        if let key = options.query { exit(query(key)) }
        if let key = options.delete { exit(delete(key)) }
        if options.sequence { exit(dump()) }
    }

    public func query(_ key: String) -> Int32 {
        let tables = options.tables.map { open($0, writable: false) }
        let out = StandardOutput()
        if key == "-" {
            var found = false
            while let line = readLine(strippingNewline: true) {
                for table in tables {
                    if let value = lookup(line, in: table) {
                        out.write(formatLine(line, value) + "\n")
                        found = true
                        break
                    }
                }
            }
            out.flush()
            return found ? 0 : 1
        }
        for table in tables {
            if let value = lookup(key, in: table) {
                out.write(value + "\n")
                out.flush()
                return 0
            }
        }
        return 1
    }

    private func lookup(_ key: String, in table: LookupTable) -> String? {
        if key.isEmpty { return nil }
        do {
            return try table.lookup(fold(key, table))
        } catch {
            Diagnostics.fatal("table \(table.reference): query error: \(error.description)")
        }
    }

    /// -d: exit status 0 when some key was found and removed.
    public func delete(_ key: String) -> Int32 {
        let tables = options.tables.map { open($0, writable: true) }
        var keys: [String] = []
        if key == "-" {
            while let line = readLine(strippingNewline: true) { keys.append(line) }
        } else {
            keys = [key]
        }
        var found = false
        for key in keys where !key.isEmpty {
            for table in tables {
                guard let updatable = table as? UpdatableTable else { continue }
                do {
                    if try updatable.delete(fold(key, table)) { found = true }
                } catch {
                    Diagnostics.fatal("table \(table.reference): delete error: \(error.description)")
                }
            }
        }
        for table in tables { try? (table as? IndexedTable)?.close() }
        return found ? 0 : 1
    }

    /// -s: lists the first table; exit status 0.
    public func dump() -> Int32 {
        guard let operand = options.tables.first else { return 0 }
        let table = open(operand, writable: false)
        guard let updatable = table as? UpdatableTable else {
            Diagnostics.fatal("table \(table.reference): sequence operation is not supported")
        }
        let out = StandardOutput()
        do {
            for entry in try updatable.entries() { out.write(formatLine(entry.key, entry.value) + "\n") }
        } catch {
            out.flush()
            Diagnostics.fatal("table \(table.reference): sequence error: \(error.description)")
        }
        out.flush()
        return 0
    }
}
