// AddressRewriter: the `rewrite` request — canonicalizes an address in
// external form in the `local` or `remote` context, as Postfix 3.7 does:
// a leading source route (@a,@b:) is dropped; without an @, a bang path
// (host!user, with $swap_bangpath) becomes user@host and a percent address
// (user%domain, with $allow_percent_hack) user@domain; an address still
// without a domain gets @$myorigin (local, with $append_at_myorigin) or
// @$remote_header_rewrite_domain (remote, when set); a domain without a dot
// gets .$mydomain (local) or .$remote_header_rewrite_domain (remote) with
// $append_dot_mydomain; one trailing dot is removed. The local part comes
// back quoted when it needs quotes.

import Global

enum AddressRewriter {
    static func rewrite(_ address: String, rule: String, settings s: RewriteSettings) -> String {
        guard let (localPart, domain) = parts(address, rule: rule, settings: s) else { return address }
        // As Postfix, a lone "@" is the empty address; a quoted empty local
        // part before an empty domain ("\"\"@", smtpd's form of <@>) is a
        // broken form, left alone (it then fails to resolve).
        if localPart.isEmpty && domain == nil { return "\"\"" }
        if localPart.isEmpty && domain == "" && AddressTokens.scan(address).count == 1 { return "\"\"" }
        return AddressTokens.quoteLocal(localPart) + (domain.map { "@" + $0 } ?? "")
    }

    /// The rewritten local part (internal form) and domain; nil for an
    /// address without tokens.
    static func parts(_ address: String, rule: String, settings s: RewriteSettings) -> (local: String, domain: String?)? {
        var tokens = AddressTokens.scan(address)
        if tokens.isEmpty { return nil }
        let local = rule == RewriteProtocol.Rule.local.rawValue
        // A source route: @a,@b:rest.
        if tokens[0].isSpecial("@"), let colon = tokens.firstIndex(where: { $0.isSpecial(":") }) {
            tokens.removeSubrange(...colon)
        }
        var localPart: String
        var domain: String?
        var localTokens: ArraySlice<AddressToken>
        if let at = tokens.lastIndex(where: { $0.isSpecial("@") }) {
            localTokens = tokens[..<at]
            localPart = AddressTokens.internalText(localTokens)
            domain = AddressTokens.compactText(tokens[(at + 1)...])
        } else {
            localTokens = tokens[...]
            localPart = AddressTokens.internalText(localTokens)
            let atoms = localTokens.filter { $0.kind == .atom }.map(\.text).joined()
            if s.swapBangpath && atoms.contains("!"), let bang = localPart.firstIndex(of: "!") {
                domain = String(localPart[..<bang])
                localPart = String(localPart[localPart.index(after: bang)...])
            } else if s.allowPercentHack && atoms.contains("%"), let percent = localPart.lastIndex(of: "%") {
                domain = String(localPart[localPart.index(after: percent)...])
                localPart = String(localPart[..<percent])
            }
        }
        if domain == nil && !tokens.isEmpty {
            if local && s.appendAtMyorigin {
                domain = s.myorigin
            } else if !local && !s.remoteHeaderRewriteDomain.isEmpty {
                domain = s.remoteHeaderRewriteDomain
            }
        }
        if var d = domain {
            // As Postfix: .$mydomain is appended to a domain without any dot
            // (a trailing one counts), then one trailing dot (not "..") goes.
            let suffix = local ? s.mydomain : s.remoteHeaderRewriteDomain
            if s.appendDotMydomain && !suffix.isEmpty && !d.isEmpty && !d.contains(".") && !d.hasPrefix("[") {
                d += "." + suffix
            }
            if d.hasSuffix(".") && d.count > 1 && !d.dropLast().hasSuffix(".") { d.removeLast() }
            domain = d
        }
        return (localPart, domain)
    }
}
