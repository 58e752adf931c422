// BounceReport: builds the lines of one RFC 3464 delivery status
// notification in the layout of Postfix 3.7's reports: our own Received:
// and Date: headers, a multipart/report with the human-readable part
// (template text and one `<rcpt>: reason` line per recipient), the
// message/delivery-status part, and the original message
// (message/rfc822) or its headers (text/rfc822-headers). Pure: the
// caller supplies times and IDs, so unit tests compare whole reports.
import Glibc
import Global

struct BounceReport {
    enum Kind { case failure, delay, success }

    var kind: Kind
    /// A postmaster copy: no template text, Postmaster-Subject,
    /// Auto-Submitted: auto-generated.
    var postmaster = false
    var template: BounceTemplate
    /// The rendered template text (ignored for postmaster copies).
    var text: [String] = []
    /// Who receives the notice (To:).
    var to: String
    /// The original message.
    var queueID: String
    var sender: String
    var envelopeID = ""
    var entries: [DeferLogEntry]
    var original: BounceOriginal
    /// Return the whole message (else headers only).
    var returnFull: Bool
    /// The notice's own queue ID and the time it is made.
    var newQueueID: String
    var now: Int
    var myhostname: String
    var mailName = "Postfix"
    var smtputf8 = true
    /// For delay notices: arrival + maximal_queue_lifetime.
    var willRetryUntil: Int?

    var boundary: String { "\(queueID).\(now)/\(myhostname)" }

    /// `MAILER-DAEMON@$myhostname` for the null sender.
    var senderShown: String { sender.isEmpty ? "MAILER-DAEMON@" + myhostname : sender }

    /// The message lines, without line terminators.
    func lines() -> [[UInt8]] {
        var out: [String] = []
        let date = MailDate.format(now)
        let encoding = original.encoding == "7bit" ? "7bit" : "8bit"
        out.append("Received: by \(myhostname) (\(mailName))")
        out.append("\tid \(newQueueID); \(date)")
        out.append("Date: \(date)")
        out.append("From: " + Self.qualify(template.from, host: myhostname))
        out.append("Subject: " + (postmaster ? (template.postmasterSubject ?? "Postmaster Copy: " + template.subject) : template.subject))
        out.append("To: \(to)")
        out.append("Auto-Submitted: " + (postmaster ? "auto-generated" : "auto-replied"))
        out.append("MIME-Version: 1.0")
        out.append("Content-Type: multipart/report; report-type=delivery-status;")
        out.append("\tboundary=\"\(boundary)\"")
        out.append("Content-Transfer-Encoding: \(encoding)")
        out.append("")
        out.append("This is a MIME-encapsulated message.")
        out.append("")

        // 1. What happened, for people.
        let charset = smtputf8 && template.charset.lowercased() == "us-ascii" ? "utf-8" : template.charset
        out.append("--\(boundary)")
        out.append("Content-Description: Notification")
        out.append("Content-Type: text/plain; charset=\(charset)")
        out.append("Content-Transfer-Encoding: \(encoding)")
        out.append("")
        if !postmaster { out += text }
        for e in entries {
            out.append("")
            var who = "<\(e.recipient)>"
            if !e.original.isEmpty && e.original.lowercased() != e.recipient.lowercased() {
                who += " (expanded from <\(e.original)>)"
            }
            out.append("\(who): \(e.reason)")
        }
        out.append("")

        // 2. What happened, for programs (RFC 3464).
        out.append("--\(boundary)")
        out.append("Content-Description: Delivery report")
        out.append("Content-Type: message/delivery-status")
        out.append("")
        out.append("Reporting-MTA: dns; \(myhostname)")
        if !envelopeID.isEmpty { out.append("Original-Envelope-Id: \(envelopeID)") }
        out.append("X-Postfix-Queue-ID: \(queueID)")
        out.append("X-Postfix-Sender: rfc822; \(senderShown)")
        if let arrival = original.arrival { out.append("Arrival-Date: \(MailDate.format(arrival))") }
        for e in entries {
            out.append("")
            out.append("Final-Recipient: rfc822; \(e.recipient)")
            if !e.dsnOriginalRecipient.isEmpty { out.append("Original-Recipient: \(e.dsnOriginalRecipient)") }
            out.append("Action: \(e.action)")
            out.append("Status: \(e.status)")
            if !e.mtaType.isEmpty && !e.mtaName.isEmpty { out.append("Remote-MTA: \(e.mtaType); \(e.mtaName)") }
            if !e.diagType.isEmpty && !e.diagText.isEmpty {
                out.append("Diagnostic-Code: \(e.diagType); \(e.diagText)")
            } else if !e.reason.isEmpty {
                out.append("Diagnostic-Code: X-Postfix; \(e.reason)")
            }
            if kind == .delay, let until = willRetryUntil { out.append("Will-Retry-Until: \(MailDate.format(until))") }
        }
        out.append("")

        // 3. The message (or its headers).
        var result = out.map { Array($0.utf8) }
        if original.readable {
            let full = returnFull
            let noun = kind == .success ? "Message" : "Undelivered Message"
            var part: [String] = []
            part.append("--\(boundary)")
            part.append("Content-Description: \(noun)\(full ? "" : " Headers")")
            part.append("Content-Type: " + (full ? "message/rfc822" : "text/rfc822-headers"))
            part.append("Content-Transfer-Encoding: \(encoding)")
            part.append("")
            part.append("Return-Path: <\(senderShown)>")
            result += part.map { Array($0.utf8) }
            result += original.headers
            if full {
                result.append([])
                result += original.body
            }
            result.append([])
        }
        result.append(Array("--\(boundary)--".utf8))
        return result
    }

    /// Adds `@host` to an address without a domain, in `Name <addr>` or
    /// bare form.
    static func qualify(_ from: String, host: String) -> String {
        if let open = from.lastIndex(of: "<"), let close = from.lastIndex(of: ">"), open < close {
            let address = from[from.index(after: open)..<close]
            if address.contains("@") || address.isEmpty { return from }
            return String(from[...open]) + address + "@" + host + String(from[close...])
        }
        return from.contains("@") ? from : from + "@" + host
    }
}
