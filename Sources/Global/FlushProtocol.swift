// FlushProtocol: the fast flush service's names and codes (Postfix
// flush(8), served by Sources/flush on public/flush), shared by the server
// and Global/FlushClient.
//
// On connect the server sends `protocol=queue_flush_protocol`; the client
// then sends one request and reads one reply, and the connection ends:
//
//   request=add site=S queue_id=Q   -> status   (append Q to S's logfile)
//   request=send_site site=S        -> status   (deliver S's deferred mail)
//   request=send_file queue_id=Q    -> status   (deliver one deferred message)
//   request=rfrsh                   -> status   (refresh old logfiles; work
//   request=purge                   -> status    continues after the reply)
//
// Status values are Postfix 3.7's: -1 FAIL, 0 OK, 3 BAD, 4 DENY (2 UNKNOWN
// is an old code no server sends any more). A master wakeup (a lone "W")
// counts as a refresh request.
public enum FlushProtocol {
    public static let service = "flush"
    public static let protocolName = "queue_flush_protocol"

    public enum Attribute {
        public static let proto = "protocol"
        public static let request = "request"
        public static let site = "site"
        public static let queueID = "queue_id"
        public static let status = "status"
    }

    public enum Request: String, Sendable, CaseIterable {
        case add = "add"
        case sendSite = "send_site"
        case sendFile = "send_file"
        case refresh = "rfrsh"
        case purge = "purge"
    }

    /// The status a flush request ends with (FLUSH_STAT_*).
    public enum Status: Int, Sendable, Equatable {
        case fail = -1
        case ok = 0
        case unknown = 2
        case bad = 3
        case deny = 4
    }

    /// The logfile name of a destination (relative to the flush queue):
    /// letters and digits stay, everything else becomes "_" (the server
    /// lower-cases the site first).
    public static func logName(site: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(site.utf8.count)
        for c in site.utf8 {
            let alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            out.append(alnum ? c : UInt8(ascii: "_"))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The queue IDs a logfile lists, in order, without duplicates; lines
    /// that are not queue IDs are returned in `bad` (the server warns).
    public static func parseLog(_ text: String) -> (ids: [String], bad: [String]) {
        var seen = Set<String>()
        var ids: [String] = []
        var bad: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let id = String(line)
            if id.isEmpty && line.endIndex == text.endIndex { continue }
            guard QueueID.isValid(id) else { bad.append(id); continue }
            if seen.insert(id).inserted { ids.append(id) }
        }
        return (ids, bad)
    }

    /// The destination of a recipient address (right of the last "@"),
    /// nil when there is none.
    public static func site(ofRecipient address: String) -> String? {
        guard let at = address.lastIndex(of: "@") else { return nil }
        let rest = address[address.index(after: at)...]
        return rest.isEmpty ? nil : String(rest)
    }

    /// The destinations `postqueue -s` and ETRN accept: a host name
    /// (letters, digits, "-", "_"; labels of 1..63 bytes not starting or
    /// ending in "-"; at most 255 bytes; not all digits; no trailing dot)
    /// or an address literal [a.b.c.d] / [ipv6:...].
    public static func isValidDestination(_ site: String) -> Bool {
        isValidHostname(site) || isValidAddressLiteral(site)
    }

    static func isValidHostname(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 255 else { return false }
        var label = 0
        var numeric = true
        var previous: UInt8 = UInt8(ascii: ".")
        for c in bytes {
            if c == UInt8(ascii: ".") {
                guard label > 0, previous != UInt8(ascii: "-") else { return false }
                label = 0
            } else {
                let digit = c >= 0x30 && c <= 0x39
                let letter = (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                guard digit || letter || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") else { return false }
                if c == UInt8(ascii: "-") && label == 0 { return false }
                if !digit { numeric = false }
                label += 1
                if label > 63 { return false }
            }
            previous = c
        }
        guard label > 0, previous != UInt8(ascii: "-") else { return false }
        return !numeric
    }

    static func isValidAddressLiteral(_ name: String) -> Bool {
        guard name.hasPrefix("["), name.hasSuffix("]"), name.utf8.count > 2 else { return false }
        let inner = String(name.dropFirst().dropLast())
        if inner.lowercased().hasPrefix("ipv6:") {
            return AddressText.ipv6(String(inner.dropFirst(5)))
        }
        return AddressText.ipv4(inner)
    }
}

/// Numeric address syntax checks without C types above the shims.
enum AddressText {
    static func ipv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        for p in parts {
            guard !p.isEmpty, p.utf8.count <= 3, p.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let v = Int(p), v <= 255 else { return false }
        }
        return true
    }

    static func ipv6(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 45 else { return false }
        var groups = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var limit = 8
        if let last = groups.last, last.contains(".") {
            guard ipv4(last) else { return false }
            groups.removeLast()
            groups.append("0")
            groups.append("0")
            limit = 8
        }
        let compressed = text.components(separatedByDoubleColon: ())
        guard compressed <= 1 else { return false }
        if compressed == 1 {
            // "::" adds at least one zero group; empty strings around it are its halves.
            let nonEmpty = groups.filter { !$0.isEmpty }
            guard nonEmpty.count < limit else { return false }
            return nonEmpty.allSatisfy(hexGroup) && !text.hasPrefix(":::") && !text.hasSuffix(":::")
                && (text.hasPrefix("::") || !text.hasPrefix(":")) && (text.hasSuffix("::") || !text.hasSuffix(":"))
        }
        return groups.count == limit && groups.allSatisfy(hexGroup)
    }

    static func hexGroup(_ g: String) -> Bool {
        !g.isEmpty && g.utf8.count <= 4 && g.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x46) || ($0 >= 0x61 && $0 <= 0x66)
        }
    }
}

extension String {
    /// How many times "::" occurs.
    fileprivate func components(separatedByDoubleColon: Void) -> Int {
        let b = Array(utf8)
        var n = 0
        var i = 0
        while i + 1 < b.count {
            if b[i] == 0x3A && b[i + 1] == 0x3A { n += 1; i += 2 } else { i += 1 }
        }
        return n
    }
}
