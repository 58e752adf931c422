// SendmailOptions: the Sendmail command line as Postfix's sendmail reads it
// (options may be glued to their values: -fuser, -oi, -bm, -N success).

struct SendmailOptions {
    enum Mode: Equatable { case deliver, listQueue, flushQueue, newAliases, smtp, unsupported(String) }

    var mode = Mode.deliver
    var configDirectory: String?
    var sender: String?
    var fullName: String?
    var extractRecipients = false
    var ignoreDots = false
    var notifyFlags: Int?
    var retFlags: Int?
    var envelopeID: String?
    /// -XV (VERP): the delimiters given, empty for default_verp_delimiters.
    var verpDelimiters: String?
    var recipients: [String] = []

    struct Problem: Error { var text: String }

    /// Options that take a value (glued or as the next word).
    static let withValue: Set<Character> = ["B", "C", "F", "L", "N", "O", "R", "V", "X", "b", "e", "f", "h", "o", "p", "r", "q"]

    static func parse(_ args: [String]) -> Result<SendmailOptions, Problem> {
        var o = SendmailOptions()
        var i = 0
        while i < args.count {
            let arg = args[i]
            i += 1
            if arg == "--" { break }
            guard arg.hasPrefix("-"), arg.count > 1 else { i -= 1; break }
            var rest = Substring(arg.dropFirst())
            while let letter = rest.first {
                rest = rest.dropFirst()
                var value = ""
                if withValue.contains(letter) {
                    if letter == "q" {  // -q alone flushes; -q30m etc. are ignored
                        value = String(rest); rest = ""
                    } else if !rest.isEmpty {
                        value = String(rest); rest = ""
                    } else if i < args.count {
                        value = args[i]; i += 1
                    } else {
                        return .failure(Problem(text: "option requires an argument -- '\(letter)'"))
                    }
                }
                switch letter {
                case "t": o.extractRecipients = true
                case "i": o.ignoreDots = true
                case "f", "r":
                    var s = value
                    if s.hasPrefix("<") && s.hasSuffix(">") && s.count >= 2 { s = String(s.dropFirst().dropLast()) }
                    o.sender = s
                case "F": o.fullName = value
                case "C":
                    o.configDirectory = value.hasSuffix(".cf") ? String(value[..<(value.lastIndex(of: "/") ?? value.startIndex)]) : value
                    if o.configDirectory == "" { o.configDirectory = "." }
                case "o":
                    if value.hasPrefix("i") && value.count == 1 { o.ignoreDots = true }
                    // every other -oX option is ignored, as Postfix does
                case "b":
                    switch value {
                    case "m": o.mode = .deliver
                    case "p": o.mode = .listQueue
                    case "i": o.mode = .newAliases
                    case "s": o.mode = .smtp
                    default: o.mode = .unsupported("-b\(value)")
                    }
                case "q":
                    if value.isEmpty { o.mode = .flushQueue }
                case "N":
                    var flags = 0
                    for word in value.lowercased().split(separator: ",") {
                        switch word.trimmingCharacters() {
                        case "never": flags |= 1
                        case "success": flags |= 2
                        case "failure": flags |= 4
                        case "delay": flags |= 8
                        default: return .failure(Problem(text: "bad -N option value: \(value)"))
                        }
                    }
                    if flags & 1 != 0 && flags != 1 { return .failure(Problem(text: "bad -N option value: \(value)")) }
                    o.notifyFlags = flags
                case "R":
                    switch value.lowercased() {
                    case "full": o.retFlags = 1
                    case "hdrs": o.retFlags = 2
                    default: return .failure(Problem(text: "bad -R option value: \(value)"))
                    }
                case "V": o.envelopeID = value
                case "X" where value.hasPrefix("V"): o.verpDelimiters = String(value.dropFirst())
                case "B", "L", "O", "X", "e", "h", "p", "c", "m", "n", "v", "x", "G", "I", "U":
                    break  // accepted and ignored
                default:
                    return .failure(Problem(text: "invalid option -- '\(letter)'"))
                }
            }
        }
        o.recipients = Array(args[i...])
        return .success(o)
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

extension String {
    func replacingOccurrences(of what: String, with: String) -> String {
        guard !what.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while !rest.isEmpty {
            if rest.hasPrefix(what) { out += with; rest = rest.dropFirst(what.count) } else { out.append(rest.removeFirst()) }
        }
        return out
    }
}
