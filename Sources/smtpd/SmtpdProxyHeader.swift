// SmtpdProxyHeader: smtpd_upstream_proxy_protocol = haproxy. Before the
// greeting the client (a proxy such as HAProxy) sends a PROXY header,
// version 1 (text) or 2 (binary), naming the real client and server. As
// Postfix: the header is peeked at (at most 536 bytes), parsed, and only its
// own bytes are then read; an error is logged with the peeked bytes escaped
// ("warning: haproxy read: REASON: BYTES") and the session gets a 421. A
// version 2 LOCAL header (a health check) keeps the connection's own
// addresses. UNKNOWN and UDP are refused, as Postfix refuses them.
import Glibc

enum SmtpdProxyHeader {
    /// What the header says.
    enum Parsed: Equatable {
        /// The real client and server, and the header's length.
        case proxied(client: String, clientPort: String, server: String, serverPort: String, length: Int)
        /// Use the connection's own addresses.
        case local(length: Int)
        case error(String)
    }

    static let maximumLength = 536
    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// Waits up to `timeout` seconds for the header, reads it, and returns
    /// what it says; errors as Postfix words them (without "haproxy read: ").
    static func receive(fd: Int32, timeout: Int32, ipv4: Bool, ipv6: Bool) -> Parsed {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var ready: Int32
        repeat { ready = poll(&p, 1, timeout * 1000) } while ready < 0 && errno == EINTR
        guard ready > 0 else { return .error("timeout error") }
        var buffer = [UInt8](repeating: 0, count: maximumLength)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, maximumLength, Int32(MSG_PEEK)) }
        guard n > 0 else { return .error("EOF") }
        let peeked = Array(buffer[0..<n])
        let parsed = parse(peeked, ipv4: ipv4, ipv6: ipv6)
        let length: Int
        switch parsed {
        case .error(let reason): return .error(reason + ": " + escaped(peeked))
        case .proxied(_, _, _, _, let l), .local(let l): length = l
        }
        var discard = [UInt8](repeating: 0, count: length)
        let read = discard.withUnsafeMutableBytes { recv(fd, $0.baseAddress, length, 0) }
        guard read == length else { return .error(String(cString: strerror(errno))) }
        return parsed
    }

    /// Parses a peeked header (no I/O).
    static func parse(_ bytes: [UInt8], ipv4: Bool, ipv6: Bool) -> Parsed {
        if bytes.starts(with: Array("PROXY ".utf8)) { return parseV1(bytes, ipv4: ipv4, ipv6: ipv6) }
        return parseV2(bytes, ipv4: ipv4, ipv6: ipv6)
    }

    private static func parseV1(_ bytes: [UInt8], ipv4: Bool, ipv6: Bool) -> Parsed {
        let lineEnd = bytes.firstIndex(of: 0x0A).map { $0 + 1 } ?? bytes.count
        let words = bytes[..<lineEnd].split { $0 == 0x20 || $0 == 0x0D || $0 == 0x0A }.map { String(decoding: $0, as: UTF8.self) }
        func word(_ i: Int) -> String? { i < words.count ? words[i] : nil }
        let family: Int32
        switch word(1) {
        case "TCP4" where ipv4: family = AF_INET
        case "TCP6" where ipv6: family = AF_INET6
        default: return .error("bad or missing protocol type")
        }
        guard let client = word(2).flatMap({ address($0, family: family, ipv4: ipv4) }) else { return .error("bad or missing client address") }
        guard let server = word(3).flatMap({ address($0, family: family, ipv4: ipv4) }) else { return .error("bad or missing server address") }
        guard let clientPort = word(4), validPort(clientPort) else { return .error("bad or missing client port") }
        guard let serverPort = word(5), validPort(serverPort) else { return .error("bad or missing server port") }
        return .proxied(client: client, clientPort: clientPort, server: server, serverPort: serverPort, length: lineEnd)
    }

    private static func parseV2(_ b: [UInt8], ipv4: Bool, ipv6: Bool) -> Parsed {
        guard b.count >= 16 else { return .error("short protocol header") }
        guard b.starts(with: v2Signature) else { return .error("unrecognized protocol header") }
        guard b[12] & 0xF0 == 0x20 else { return .error("unrecognized protocol version") }
        let length = Int(b[14]) << 8 | Int(b[15])
        guard b.count >= 16 + length else { return .error("short version 2 protocol header") }
        switch b[12] & 0x0F {
        case 0x00:
            return .local(length: 16 + length)
        case 0x01:
            let body = Array(b[16...])
            switch b[13] {
            case 0x11:
                guard ipv4 else { return .error("Postfix IPv4 support is disabled") }
                guard length >= 12 else { return .error("short address field") }
                return .proxied(client: ntop(AF_INET, body[0..<4]), clientPort: String(Int(body[8]) << 8 | Int(body[9])),
                                server: ntop(AF_INET, body[4..<8]), serverPort: String(Int(body[10]) << 8 | Int(body[11])),
                                length: 16 + length)
            case 0x21:
                guard ipv6 else { return .error("Postfix IPv6 support is disabled") }
                guard length >= 36 else { return .error("short address field") }
                return .proxied(client: unmapped(ntop(AF_INET6, body[0..<16]), ipv4: ipv4), clientPort: String(Int(body[32]) << 8 | Int(body[33])),
                                server: unmapped(ntop(AF_INET6, body[16..<32]), ipv4: ipv4), serverPort: String(Int(body[34]) << 8 | Int(body[35])),
                                length: 16 + length)
            default:
                return .error("unsupported network protocol")
            }
        default:
            return .error("bad command in proxy header")
        }
    }

    /// A v1 address in canonical form, or nil when it is not one of
    /// `family` (IPv4 in dotted quads, leading zeros allowed, as Postfix).
    static func address(_ text: String, family: Int32, ipv4: Bool) -> String? {
        if family == AF_INET {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var bytes: [UInt8] = []
            for part in parts {
                guard !part.isEmpty, part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = Int(part), v <= 255 else { return nil }
                bytes.append(UInt8(v))
            }
            if bytes[0] == 0 && bytes != [0, 0, 0, 0] { return nil }
            return bytes.map(String.init).joined(separator: ".")
        }
        var a = in6_addr()
        guard inet_pton(AF_INET6, text, &a) == 1 else { return nil }
        let raw = withUnsafeBytes(of: &a) { Array($0) }
        return unmapped(ntop(AF_INET6, raw[...]), ipv4: ipv4)
    }

    /// A port: digits, no leading zero, at most 65535.
    static func validPort(_ text: String) -> Bool {
        guard !text.isEmpty, text.count <= 5, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
        if text.count > 1 && text.hasPrefix("0") { return false }
        return (Int(text) ?? 70000) <= 65535
    }

    private static func ntop(_ family: Int32, _ raw: ArraySlice<UInt8>) -> String {
        var out = [CChar](repeating: 0, count: 64)
        let bytes = Array(raw)
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &out, socklen_t(out.count)) }
        return String(cString: out)
    }

    private static func unmapped(_ address: String, ipv4: Bool) -> String {
        guard ipv4, address.lowercased().hasPrefix("::ffff:"), address.contains(".") else { return address }
        return String(address.dropFirst(7))
    }

    /// Bytes as Postfix's escape() writes them: printable ASCII as is, a
    /// backslash doubled, C escapes for \a \b \f \n \r \t \v, else \ooo.
    static func escaped(_ bytes: [UInt8]) -> String {
        var out = ""
        for b in bytes {
            switch b {
            case 0x5C: out += "\\\\"
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(b))
            case 0x07: out += "\\a"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x0B: out += "\\v"
            default:
                let octal = String(b, radix: 8)
                out += "\\" + String(repeating: "0", count: 3 - octal.count) + octal
            }
        }
        return out
    }
}
