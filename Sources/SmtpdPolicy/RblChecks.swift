// RblChecks: the DNS block and allow lists of the restriction engine:
// reject_rbl_client, reject_rhsbl_{client,reverse_client,sender,helo,
// recipient}, permit_dnswl_client and permit_rhswl_client, with the
// `domain=d.d.d.d` reply filter (octets may be [n..m] ranges or [a;b]
// lists), rbl_reply_maps / default_rbl_reply templates and
// maps_rbl_reject_code. DNS goes through a DNSLookup (the stub resolver in
// smtpd, a dictionary in tests); answers are kept for 60 seconds.
import Glibc
import Util
import Global
import Tables
import DNS

public struct RblSettings: Equatable, Sendable {
    public var replyMaps = ""
    public var defaultReply = "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using $rbl_domain${rbl_reason?; $rbl_reason}"
    public var rejectCode = 554
    public init() {}
    public init(config: MailConfig) {
        replyMaps = config.value("rbl_reply_maps")
        let d = config.rawValue("default_rbl_reply") ?? config.defaultValue("default_rbl_reply")
        if let d, !d.isEmpty { defaultReply = d }
        rejectCode = Int(config.value("maps_rbl_reject_code")) ?? 554
    }
}

/// A `domain=filter` argument.
struct RblDomain: Equatable {
    var domain: String
    /// Four octet patterns; nil means any answer counts.
    var filter: [[ClosedRange<Int>]]?

    init?(_ text: String) {
        guard let eq = text.firstIndex(of: "=") else {
            domain = text
            filter = nil
            guard !domain.isEmpty else { return nil }
            return
        }
        domain = String(text[..<eq])
        // Octets split at dots outside [..] (ranges contain dots themselves).
        var octets: [Substring] = []
        var depth = 0
        var start = text.index(after: eq)
        var i = start
        while i < text.endIndex {
            let c = text[i]
            if c == "[" { depth += 1 } else if c == "]" { depth -= 1 } else if c == "." && depth == 0 {
                octets.append(text[start..<i])
                start = text.index(after: i)
            }
            i = text.index(after: i)
        }
        octets.append(text[start...])
        guard !domain.isEmpty, octets.count == 4 else { return nil }
        var parts: [[ClosedRange<Int>]] = []
        for o in octets {
            if o.hasPrefix("[") && o.hasSuffix("]") {
                var ranges: [ClosedRange<Int>] = []
                for item in o.dropFirst().dropLast().split(separator: ";", omittingEmptySubsequences: false) {
                    let bounds = item.components(separatedBy: "..")
                    guard bounds.count <= 2, let lo = Int(bounds[0]), let hi = Int(bounds.last!), lo >= 0, hi <= 255, lo <= hi else { return nil }
                    ranges.append(lo...hi)
                }
                parts.append(ranges)
            } else {
                guard let v = Int(o), v >= 0, v <= 255 else { return nil }
                parts.append([v...v])
            }
        }
        filter = parts
    }

    func matches(_ address: String) -> Bool {
        guard let filter else { return true }
        let octets = address.split(separator: ".").compactMap { Int($0) }
        guard octets.count == 4 else { return false }
        for (o, ranges) in zip(octets, filter) where !ranges.contains(where: { $0.contains(o) }) { return false }
        return true
    }
}

extension Substring {
    fileprivate func components(separatedBy separator: String) -> [Substring] {
        var out: [Substring] = []
        var rest = self
        while let r = rest.range(of: separator) {
            out.append(rest[..<r.lowerBound])
            rest = rest[r.upperBound...]
        }
        out.append(rest)
        return out
    }

    fileprivate func range(of needle: String) -> Range<Substring.Index>? {
        guard !needle.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) { return i..<index(i, offsetBy: needle.count) }
            i = index(after: i)
        }
        return nil
    }
}

extension RestrictionEngine {
    /// The reversed-address query prefix: "4.3.2.1" or IPv6 nibbles.
    static func reversedAddress(_ address: String) -> String? {
        let a4 = AddressBytes()
        if let v4 = a4.parse4(address) { return v4.reversed().map(String.init).joined(separator: ".") }
        if let v6 = a4.parse6(address) {
            let hex = Array("0123456789abcdef")
            var nibbles: [String] = []
            for b in v6.reversed() { nibbles.append(String(hex[Int(b & 0xF)])); nibbles.append(String(hex[Int(b >> 4)])) }
            return nibbles.joined(separator: ".")
        }
        return nil
    }

    /// A lookup through the 60-second cache; `cached` when no query was sent
    /// (then a failure is not logged again, as Postfix's cache behaves).
    func cachedLookup(_ name: String, _ type: DNSRecordType) -> (result: DNSLookupResult, cached: Bool) {
        let key = "\(type.rawValue) \(name)"
        let now = Int(time(nil))
        if let (stamp, result) = dnsCache[key], now - stamp < 60 { return (result, true) }
        let result = dnsLookup().lookup(name, type: type)
        if dnsCache.count > 200 { dnsCache.removeAll() }
        dnsCache[key] = (now, result)
        return (result, false)
    }

    func dnsList(_ r: Restriction, stage: PolicyStage, facts: PolicyFacts, _ e: inout Evaluation) -> PolicyDecision {
        guard let argument = r.argument, let list = RblDomain(argument) else {
            e.outcome.warn("restriction \(r.name) requires domain name argument")
            return .reject(SmtpReply(451, "4.3.5", "Server configuration error"))
        }
        // What is looked up, and how the reply names it.
        let what: String
        let rblClass: String
        var prefix: String
        switch r.name {
        case "reject_rbl_client", "reject_rbl", "permit_dnswl_client":
            guard let reversed = RestrictionEngine.reversedAddress(facts.clientAddress) else { return .dunno }
            what = facts.clientAddress
            rblClass = "Client host"
            prefix = reversed
        case "reject_rhsbl_client", "permit_rhswl_client", "reject_rhsbl":
            guard facts.clientName != "unknown" else { return .dunno }
            what = facts.clientName
            rblClass = "Client host"
            prefix = facts.clientName
        case "reject_rhsbl_reverse_client":
            guard facts.reverseClientName != "unknown" else { return .dunno }
            what = facts.reverseClientName
            rblClass = "Unverified Client host"
            prefix = facts.reverseClientName
        case "reject_rhsbl_helo":
            guard let helo = facts.helo, !helo.isEmpty, !helo.hasPrefix("[") else { return .dunno }
            what = helo
            rblClass = "Helo command"
            prefix = helo
        case "reject_rhsbl_sender":
            guard let s = facts.sender, !s.isEmpty else { return .dunno }
            let d = HostnameSyntax.domain(of: s)
            guard !d.isEmpty, !d.hasPrefix("[") else { return .dunno }
            what = s
            rblClass = "Sender address"
            prefix = d
        case "reject_rhsbl_recipient":
            guard let rcpt = facts.recipient, !rcpt.isEmpty else { return .dunno }
            let d = HostnameSyntax.domain(of: rcpt)
            guard !d.isEmpty, !d.hasPrefix("[") else { return .dunno }
            what = rcpt
            rblClass = "Recipient address"
            prefix = d
        default:
            return .dunno
        }
        while prefix.hasSuffix(".") { prefix.removeLast() }
        let query = prefix + "." + list.domain
        let listed: Bool
        let (answer, cached) = cachedLookup(query, .a)
        switch answer {
        case .found(let records):
            listed = records.contains { $0.ipv4.map(list.matches) ?? false }
        case .notFound, .noData:
            listed = false
        case .temporaryFailure(let text):
            if !cached { e.outcome.warn("\(query): RBL lookup error: Host or domain name not found. Name service error for name=\(query) type=A: \(text)") }
            return .dunno
        }
        guard listed else { return .dunno }
        if r.name.hasPrefix("permit_") {
            // For safety, never let a DNS allow list override reject_unauth_destination.
            if let rcpt = facts.recipient, stage == .relay || stage == .recipient,
               (try? isAuthorizedDestination(rcpt)) != true {
                return .dunno
            }
            return .permit
        }
        return .reject(rblReply(domain: list.domain, argument: argument, what: what, rblClass: rblClass, query: query, facts: facts, &e))
    }

    /// The reject reply from rbl_reply_maps or default_rbl_reply.
    func rblReply(domain: String, argument: String, what: String, rblClass: String, query: String, facts: PolicyFacts,
                  _ e: inout Evaluation) -> SmtpReply {
        var template = settings.rbl.defaultReply
        if !settings.rbl.replyMaps.isEmpty {
            do {
                let list = try rblReplyTables()
                // Keyed by the argument as written, filter included (as Postfix).
                if let t = try list.find(keys: [AddressSearch.Key(argument.asciiLowercased())]) { template = t.value }
            } catch {
                e.outcome.warn("rbl_reply_maps lookup error for \"\(argument)\"")
            }
        }
        let needsReason = template.contains("rbl_reason") || template.contains("rbl_txt")
        var reason = ""
        if needsReason, case .found(let records) = cachedLookup(query, .txt).result {
            reason = records.compactMap(\.text).first ?? ""
        }
        let sender = facts.sender ?? ""
        let recipient = facts.recipient ?? ""
        func split(_ address: String) -> (String, String) {
            guard let at = address.lastIndex(of: "@") else { return (address, "") }
            return (String(address[..<at]), String(address[address.index(after: at)...]))
        }
        let values: [String: String] = [
            "client": facts.nameAddress, "client_address": facts.clientAddress, "client_name": facts.clientName,
            "reverse_client_name": facts.reverseClientName, "helo_name": facts.helo ?? "",
            "sender": sender, "sender_name": split(sender).0, "sender_domain": split(sender).1,
            "recipient": recipient, "recipient_name": split(recipient).0, "recipient_domain": split(recipient).1,
            "rbl_code": String(settings.rbl.rejectCode), "rbl_domain": domain, "rbl_reason": reason, "rbl_txt": reason,
            "rbl_class": rblClass, "rbl_what": what,
        ]
        var expander = ValueExpander(recursive: false) { values[$0] }
        var text = (try? expander.expand(template)) ?? template
        // "nnn [d.d.d] text"
        var code = settings.rbl.rejectCode
        let bytes = Array(text.utf8)
        if bytes.count >= 4, bytes[0...2].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), bytes[3] == 0x20, let c = Int(String(text.prefix(3))) {
            code = c
            text = String(text.dropFirst(4))
        }
        var dsn = code / 100 == 4 ? "4.7.1" : "5.7.1"
        if let (d, rest) = SmtpReply.leadingDSN(Substring(text)) { dsn = d; text = String(rest) }
        return SmtpReply(code, dsn, text)
    }
}

/// inet_pton without Foundation.
struct AddressBytes {
    func parse4(_ text: String) -> [UInt8]? {
        var a = in_addr()
        guard inet_pton(AF_INET, text, &a) == 1 else { return nil }
        return withUnsafeBytes(of: &a) { Array($0) }
    }
    func parse6(_ text: String) -> [UInt8]? {
        var a = in6_addr()
        guard inet_pton(AF_INET6, text, &a) == 1 else { return nil }
        return withUnsafeBytes(of: &a) { Array($0) }
    }
}
