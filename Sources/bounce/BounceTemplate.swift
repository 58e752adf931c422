// BounceTemplate: the texts of delivery status notifications: built-in
// defaults (Posthorn's wording, Postfix's subjects) and bounce_template_file
// in Postfix's bounce(5) format:
//
//   failure_template = <<EOF
//   Charset: us-ascii
//   From: Mail Delivery System <MAILER-DAEMON>
//   Subject: Undelivered Mail Returned to Sender
//   Postmaster-Subject: Postmaster Copy: Undelivered Mail
//
//   text with $parameter expansions...
//   EOF
//
// Names: failure_template, delay_template, success_template,
// verify_template. `#` lines and blank lines between templates are
// ignored. A template missing from the file keeps its built-in text.

/// One notification text.
struct BounceTemplate: Equatable {
    var charset = "us-ascii"
    var from = "Mail Delivery System <MAILER-DAEMON>"
    var subject: String
    var postmasterSubject: String?
    var body: [String]

    /// The body with `$name` / `${name}` replaced by `lookup`; `$$` is a
    /// dollar. Time parameters converted to a unit too large for their
    /// value give Postfix's three warnings.
    func render(kind: String, origin: String, lookup: (String) -> String?) -> (lines: [String], warnings: [String]) {
        var warnings: [String] = []
        let lines = body.map { line -> String in
            var out = ""
            var rest = Substring(line)
            while let dollar = rest.firstIndex(of: "$") {
                out += rest[..<dollar]
                rest = rest[rest.index(after: dollar)...]
                if rest.first == "$" { out += "$"; rest = rest.dropFirst(); continue }
                var name: Substring
                if rest.first == "{", let close = rest.firstIndex(of: "}") {
                    name = rest[rest.index(after: rest.startIndex)..<close]
                    rest = rest[rest.index(after: close)...]
                } else {
                    name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                    rest = rest.dropFirst(name.count)
                }
                guard !name.isEmpty else { out += "$"; continue }
                let value = lookup(String(name)) ?? ""
                if value == "0", let unit = ["_seconds", "_minutes", "_hours", "_days", "_weeks"].first(where: { name.hasSuffix($0) }) {
                    warnings.append("\(origin): zero result in \(kind) template conversion of parameter \"\(name)\"")
                    warnings.append("please reduce time unit \"\(unit.dropFirst())\" of \"\(name)\" in \(kind) template")
                    warnings.append("for instructions see the bounce(5) manual")
                }
                out += value
            }
            return out + rest
        }
        return (lines, warnings)
    }
}

/// The four templates in use.
struct BounceTemplates: Equatable {
    var failure: BounceTemplate
    var delay: BounceTemplate
    var success: BounceTemplate
    var verify: BounceTemplate
    /// Where they came from: "[built-in]" or the file name.
    var origin = "[built-in]"
    /// Problems found while parsing (logged as warnings).
    var warnings: [String] = []

    static let builtin = BounceTemplates(
        failure: BounceTemplate(
            subject: "Undelivered Mail Returned to Sender",
            postmasterSubject: "Postmaster Copy: Undelivered Mail",
            body: [
                "This is the mail system at host $myhostname.",
                "",
                "Your message could not be delivered to one or more of its",
                "recipients. The reasons are listed below; the message itself",
                "is attached.",
                "",
                "If you need help, write to postmaster and include this report.",
                "You may remove your own text from the attached message.",
                "",
                "                   The mail system",
            ]),
        delay: BounceTemplate(
            subject: "Delayed Mail (still being retried)",
            postmasterSubject: "Postmaster Warning: Delayed Mail",
            body: [
                "This is the mail system at host $myhostname.",
                "",
                "####################################################################",
                "#  THIS IS ONLY A WARNING.  THERE IS NO NEED TO RESEND YOUR MAIL.  #",
                "####################################################################",
                "",
                "Your message has not been delivered for more than $delay_warning_time_hours hour(s).",
                "Delivery will be retried until the message is $maximal_queue_lifetime_days day(s) old.",
                "",
                "If you need help, write to postmaster and include this report.",
                "You may remove your own text from the attached message headers.",
                "",
                "                   The mail system",
            ]),
        success: BounceTemplate(
            subject: "Successful Mail Delivery Report",
            body: [
                "This is the mail system at host $myhostname.",
                "",
                "Your message was delivered to the destination(s) listed below.",
                "Where it went into a mailbox, this is the last you will hear",
                "from us; where it was passed on, other systems may still",
                "report delivery problems to you.",
                "",
                "                   The mail system",
            ]),
        verify: BounceTemplate(
            subject: "Mail Delivery Status Report",
            body: [
                "This is the mail system at host $myhostname.",
                "",
                "Here is the mail delivery report that you asked for.",
                "",
                "                   The mail system",
            ]))

    enum ParseError: Error, CustomStringConvertible {
        case syntax(Int, String)
        var description: String {
            switch self { case .syntax(let line, let text): return "line \(line): \(text)" }
        }
    }

    /// Parses a bounce_template_file; templates it does not define stay
    /// built in.
    static func parse(_ text: String, origin: String) throws(ParseError) -> BounceTemplates {
        var result = builtin
        result.origin = origin
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var i = 0
        while i < lines.count {
            let line = lines[i]
            i += 1
            let trimmed = line.trimmingSpaces()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let eq = trimmed.firstIndex(of: "=") else { throw .syntax(i, "missing '=' in \"\(trimmed)\"") }
            let name = String(trimmed[..<eq]).trimmingSpaces()
            let value = String(trimmed[trimmed.index(after: eq)...]).trimmingSpaces()
            guard value.hasPrefix("<<"), value.count > 2 else { throw .syntax(i, "missing '<<' here-document for \(name)") }
            let terminator = String(value.dropFirst(2)).trimmingSpaces()
            var body: [String] = []
            var closed = false
            while i < lines.count {
                let l = lines[i]
                i += 1
                if l.trimmingSpaces() == terminator { closed = true; break }
                body.append(l)
            }
            guard closed else { throw .syntax(i, "missing \"\(terminator)\" at the end of \(name)") }
            let template = try template(body, name: name, line: i)
            switch name {
            case "failure_template": result.failure = template
            case "delay_template": result.delay = template
            case "success_template": result.success = template
            case "verify_template": result.verify = template
            default: result.warnings.append("\(origin): unknown template name: \(name)")
            }
        }
        return result
    }

    /// Splits a template's header lines (Charset, From, Subject,
    /// Postmaster-Subject) from its text.
    private static func template(_ lines: [String], name: String, line: Int) throws(ParseError) -> BounceTemplate {
        var t = BounceTemplate(subject: "", body: [])
        var headers = true
        var sawSubject = false
        for l in lines {
            if headers {
                if l.trimmingSpaces().isEmpty { headers = false; continue }
                guard let colon = l.firstIndex(of: ":") else { throw .syntax(line, "\(name): malformed header line \"\(l)\"") }
                let field = l[..<colon].lowercased()
                let value = String(l[l.index(after: colon)...]).trimmingSpaces()
                switch field {
                case "charset": t.charset = value
                case "from": t.from = value
                case "subject": t.subject = value; sawSubject = true
                case "postmaster-subject": t.postmasterSubject = value
                default: throw .syntax(line, "\(name): unknown header \"\(field)\"")
                }
            } else {
                t.body.append(l)
            }
        }
        guard sawSubject else { throw .syntax(line, "\(name): missing Subject: header") }
        return t
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" || c == "\r" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" { s = s.dropLast() }
        return String(s)
    }
}
