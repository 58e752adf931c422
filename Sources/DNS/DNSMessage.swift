// DNSMessage: the DNS wire format (RFC 1035) as far as Posthorn's lookups
// need it: one question out, the answer section back. Pure functions over
// bytes, bounded everywhere (name compression loops, lengths), fuzzed by
// scripts/fuzz-smtpd.sh.

/// Record types Posthorn asks for.
public enum DNSRecordType: UInt16, Sendable {
    case a = 1, ns = 2, cname = 5, ptr = 12, mx = 15, txt = 16, aaaa = 28
}

/// One answer record; `data` is the raw RDATA.
public struct DNSRecord: Equatable, Sendable {
    public var name: String
    public var type: UInt16
    public var ttl: UInt32
    public var data: [UInt8]
    /// The host an MX, NS, CNAME or PTR record names (decompressed, lower
    /// case, "" for the root); nil for other types.
    public var host: String?
    /// An MX record's preference.
    public var preference: UInt16

    public init(name: String, type: UInt16, ttl: UInt32, data: [UInt8], host: String? = nil, preference: UInt16 = 0) {
        self.name = name
        self.type = type
        self.ttl = ttl
        self.data = data
        self.host = host
        self.preference = preference
    }

    /// Dotted quad of an A record.
    public var ipv4: String? {
        guard type == DNSRecordType.a.rawValue, data.count == 4 else { return nil }
        return data.map(String.init).joined(separator: ".")
    }

    /// The character strings of a TXT record, concatenated.
    public var text: String? {
        guard type == DNSRecordType.txt.rawValue else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < data.count {
            let n = Int(data[i])
            i += 1
            guard i + n <= data.count else { return nil }
            out += data[i..<(i + n)]
            i += n
        }
        return String(decoding: out, as: UTF8.self)
    }
}

public enum DNSResponseCode: Equatable, Sendable {
    case noError, formatError, serverFailure, nameError, notImplemented, refused, other(Int)

    init(_ v: Int) {
        switch v {
        case 0: self = .noError
        case 1: self = .formatError
        case 2: self = .serverFailure
        case 3: self = .nameError
        case 4: self = .notImplemented
        case 5: self = .refused
        default: self = .other(v)
        }
    }
}

/// A parsed response.
public struct DNSResponse: Equatable, Sendable {
    public var id: UInt16
    public var rcode: DNSResponseCode
    public var truncated: Bool
    public var answers: [DNSRecord]
}

public enum DNSMessage {
    /// The query for `name` (absolute, without the trailing dot), or nil when
    /// the name cannot be encoded (empty label, label over 63 bytes, name over 253).
    public static func query(id: UInt16, name: String, type: DNSRecordType) -> [UInt8]? {
        var out: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        var trimmed = Substring(name)
        if trimmed.hasSuffix(".") { trimmed = trimmed.dropLast() }
        guard !trimmed.isEmpty, trimmed.utf8.count <= 253 else { return nil }
        for label in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(label.utf8)
            guard !bytes.isEmpty, bytes.count <= 63 else { return nil }
            out.append(UInt8(bytes.count))
            out += bytes
        }
        out.append(0)
        out += [UInt8(type.rawValue >> 8), UInt8(type.rawValue & 0xFF), 0, 1]
        return out
    }

    /// Parses a response; nil when it is malformed.
    public static func parse(_ bytes: [UInt8]) -> DNSResponse? {
        guard bytes.count >= 12 else { return nil }
        func u16(_ i: Int) -> Int? { i + 1 < bytes.count ? Int(bytes[i]) << 8 | Int(bytes[i + 1]) : nil }
        let id = UInt16(u16(0)!)
        let flags = u16(2)!
        guard flags & 0x8000 != 0 else { return nil }
        let qd = u16(4)!, an = u16(6)!
        var pos = 12
        for _ in 0..<qd {
            guard let (_, next) = name(bytes, at: pos) else { return nil }
            pos = next + 4
            guard pos <= bytes.count else { return nil }
        }
        var answers: [DNSRecord] = []
        for _ in 0..<an {
            guard let (owner, next) = name(bytes, at: pos) else { return nil }
            pos = next
            guard pos + 10 <= bytes.count, let type = u16(pos), let length = u16(pos + 8) else { return nil }
            let ttl = UInt32(bytes[pos + 4]) << 24 | UInt32(bytes[pos + 5]) << 16 | UInt32(bytes[pos + 6]) << 8 | UInt32(bytes[pos + 7])
            pos += 10
            guard pos + length <= bytes.count else { return nil }
            var record = DNSRecord(name: owner, type: UInt16(type), ttl: ttl, data: Array(bytes[pos..<(pos + length)]))
            // Names inside RDATA may point anywhere in the message.
            switch DNSRecordType(rawValue: UInt16(type)) {
            case .mx:
                guard length >= 3, let pref = u16(pos), let (host, end) = name(bytes, at: pos + 2), end <= pos + length else { return nil }
                record.preference = UInt16(pref)
                record.host = host
            case .ns, .cname, .ptr:
                guard let (host, end) = name(bytes, at: pos), end <= pos + length else { return nil }
                record.host = host
            default: break
            }
            answers.append(record)
            pos += length
        }
        return DNSResponse(id: id, rcode: DNSResponseCode(flags & 0x0F), truncated: flags & 0x0200 != 0, answers: answers)
    }

    /// A (possibly compressed) name at `start`: the name in lower case and
    /// the position after it in the message.
    static func name(_ bytes: [UInt8], at start: Int) -> (String, Int)? {
        var labels: [String] = []
        var pos = start
        var end: Int? = nil
        var jumps = 0
        var length = 0
        while true {
            guard pos < bytes.count else { return nil }
            let n = Int(bytes[pos])
            if n == 0 { pos += 1; break }
            if n & 0xC0 == 0xC0 {
                guard pos + 1 < bytes.count else { return nil }
                jumps += 1
                guard jumps <= 64 else { return nil }
                if end == nil { end = pos + 2 }
                pos = (n & 0x3F) << 8 | Int(bytes[pos + 1])
                continue
            }
            guard n & 0xC0 == 0, pos + 1 + n <= bytes.count else { return nil }
            length += n + 1
            guard length <= 255 else { return nil }
            labels.append(String(decoding: bytes[(pos + 1)...(pos + n)].map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self))
            pos += 1 + n
        }
        return (labels.joined(separator: "."), end ?? pos)
    }
}
