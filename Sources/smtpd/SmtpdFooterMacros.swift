// SmtpdFooterMacros: the session facts a reject footer may name
// ($server_name, $client, $client_address, $client_name, $client_port,
// $reverse_client_name, $helo_name, $sender[_name|_domain],
// $recipient[_name|_domain], $localtime), as Postfix's smtpd expands them.
// $recipient is the transaction's first accepted recipient, as in Postfix
// (the one being checked is no longer current when the reply goes out).
import Glibc

extension SmtpdSession {
    /// The value of footer macro `name`, or nil for a name smtpd does not know.
    func footerMacro(_ name: String) -> String? {
        switch name {
        case "server_name": return settings.myhostname
        case "client": return peer.nameAddress
        case "client_port": return peer.port
        case "client_address": return peer.address
        case "client_name": return peer.name
        case "reverse_client_name": return peer.reverseName
        case "helo_name": return helo ?? ""
        case "localtime": return SmtpdSession.localTime()
        default: break
        }
        for (prefix, address) in [("sender", sender), ("recipient", firstRecipient)] where name.hasPrefix(prefix) {
            return SmtpdSession.addressMacro(address, suffix: String(name.dropFirst(prefix.count)))
        }
        return nil
    }

    /// `$sender`, `$sender_name`, `$sender_domain` (and the same for the
    /// recipient): nil address gives "", the null address "<>".
    static func addressMacro(_ address: String?, suffix: String) -> String? {
        switch suffix {
        case "":
            guard let a = address else { return "" }
            return a.isEmpty ? "<>" : a
        case "_name":
            guard let a = address else { return "" }
            if a.isEmpty { return "<>" }
            return a.lastIndex(of: "@").map { String(a[..<$0]) } ?? a
        case "_domain":
            guard let a = address, let at = a.lastIndex(of: "@") else { return "" }
            return String(a[a.index(after: at)...])
        default:
            return nil
        }
    }

    /// "Mon DD HH:MM:SS" in local time.
    static func localTime() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%b %d %H:%M:%S", &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
