// AddressResolver: the `resolve` and `verify` requests — turns an address
// in internal form into transport, nexthop, recipient and flags, as
// Postfix 3.7 does. An empty address is $empty_address_recipient; one
// without a domain is resolved after bang-path and percent-hack rewriting,
// else @$myhostname; a local domain is stripped while the local part still
// routes (user%remote@local, a!b@local, user@x@local). The address class
// is local ($mydestination, [address] of $inet_interfaces or
// $proxy_interfaces), virtual alias ($virtual_alias_domains: the error
// transport), virtual mailbox, relay or default; see TransportSelection
// for transports and nexthops. A malformed domain gives the ERROR flag; a
// failed lookup the FAIL flag (deferral, never a bounce).
import Util
import Global
import Tables

final class AddressResolver {
    let settings: ResolveSettings

    init(settings: ResolveSettings) {
        self.settings = settings
    }

    typealias Flags = RewriteProtocol.ResolveFlags

    /// The local part without surrounding quotes (for finding routing operators).
    static func dequoted(_ local: String) -> String {
        if local.count >= 2 && local.hasPrefix("\"") && local.hasSuffix("\"") { return String(local.dropFirst().dropLast()) }
        return local
    }

    /// "@a,@b:" as Postfix writes it back: "@a, @b:".
    static func normalizedRoute(_ route: Substring) -> String {
        route.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.drop { $0 == " " } }.joined(separator: ", ")
    }

    func isLocal(_ domain: String, flags: inout Flags) -> Bool {
        let lower = domain.asciiLowercased()
        if let inner = DomainSyntax.literalAddress(lower), let bytes = DomainSyntax.addressBytes(inner),
           settings.interfaceAddresses.contains(bytes) {
            return true
        }
        return matches(settings.localDomains, lower, flags: &flags)
    }

    private func matches(_ list: DomainMatchList?, _ domain: String, flags: inout Flags) -> Bool {
        guard let list else { return false }
        do {
            return try list.matches(domain)
        } catch {
            MailLog.warning("\(list.parameter) lookup failure")
            flags.insert(.fail)
            return false
        }
    }

    func resolve(sender: String, address: String, verify: Bool) -> ResolveReply {
        let s = settings
        var flags: Flags = []
        var route = ""
        var rest = Substring(address)
        if rest.hasPrefix("@"), let colon = rest.firstIndex(of: ":") {
            route = Self.normalizedRoute(rest[...colon])
            rest = rest[rest.index(after: colon)...]
        }
        var local: String
        var domain: String?
        if address.isEmpty {
            local = s.emptyAddressRecipient
        } else if let at = rest.lastIndex(of: "@") {
            local = String(rest[..<at])
            domain = String(rest[rest.index(after: at)...])
            if local.isEmpty && domain!.isEmpty && route.isEmpty { local = s.emptyAddressRecipient }
        } else {
            local = String(rest)
        }

        var routeError = false
        var rewritten = false
        for _ in 0..<100 {
            let bare = Self.dequoted(local)
            if domain == nil {
                if !route.isEmpty { routeError = true; break }
                if !rewritten && bare.contains(where: { $0 == "!" || $0 == "%" }) {
                    // Canonicalized as in the local rewrite context (bang path,
                    // percent hack, $myorigin, $mydomain), then resolved again.
                    rewritten = true
                    let external = local.hasPrefix("\"") ? local : AddressTokens.quoteLocal(local)
                    if let parts = AddressRewriter.parts(external, rule: "local", settings: s.rewrite), parts.domain != nil {
                        local = parts.local
                        domain = parts.domain
                        continue
                    }
                }
                domain = s.myhostname
            }
            // One trailing dot goes, not "..": that stays and is invalid.
            if let d = domain, d.count > 1, d.hasSuffix("."), !d.dropLast().hasSuffix(".") { domain = String(d.dropLast()) }
            guard route.isEmpty, isLocal(domain!, flags: &flags) else { break }
            if bare.isEmpty {
                // "@local.domain": as Postfix, an empty local part in a local
                // domain is $empty_address_recipient there (to=<MAILER-DAEMON@...>).
                local = s.emptyAddressRecipient
                break
            }
            if let at = bare.lastIndex(of: "@") {
                local = String(bare[..<at])
                domain = String(bare[bare.index(after: at)...])
            } else if (s.swapBangpath && bare.contains("!")) || (s.allowPercentHack && bare.contains("%")) {
                local = bare
                domain = nil
                rewritten = false
            } else {
                break
            }
        }

        let bare = Self.dequoted(local)
        if !routeError && (!route.isEmpty || bare.contains(where: { $0 == "!" || $0 == "%" || $0 == "@" })) { flags.insert(.routed) }
        var d = domain ?? ""
        if !routeError && DomainSyntax.isValidIPv4(d) && s.resolveNumericDomain { d = "[" + d + "]" }
        let recipient = route + local + (routeError ? "" : "@" + d)
        let valid: Bool
        if routeError {
            valid = false
        } else if d.isEmpty {
            valid = s.resolveNullDomain
        } else if d.hasPrefix("[") {
            valid = DomainSyntax.isValidLiteral(d)
        } else {
            valid = DomainSyntax.isValidHostname(d)
        }
        guard valid else {
            return ResolveReply(transport: RewriteProtocol.errorTransport, nexthop: RewriteProtocol.errorNexthop,
                                recipient: recipient, flags: flags.union([.error, .classDefault]))
        }

        let routes = verify ? s.verify : s.resolve
        let lower = d.asciiLowercased()
        let addressClass: Flags
        if isLocal(d, flags: &flags) {
            addressClass = .classLocal
        } else if matches(s.virtualAliasDomains, lower, flags: &flags) {
            let text = s.showUserUnknownTableName ? "5.1.1 User unknown in virtual alias table" : "5.1.1 User unknown"
            return ResolveReply(transport: "error", nexthop: text, recipient: recipient, flags: flags.union(.classAlias))
        } else if matches(s.virtualMailboxDomains, lower, flags: &flags) {
            addressClass = .classVirtual
        } else if matches(s.relayDomains, lower, flags: &flags) {
            addressClass = .classRelay
        } else {
            addressClass = .classDefault
        }
        flags.insert(addressClass)
        var choice = TransportSelection.classDefault(addressClass, domain: d, sender: sender, routes: routes, flags: &flags)
        let keys = TransportSelection.transportKeys(local: local, domain: d, delimiters: routes.recipientDelimiter,
                                                    parentMatches: routes.transportParentMatches)
        if let value = TransportSelection.lookup(routes.transportMaps, keys, flags: &flags) {
            choice = TransportSelection.apply(value, to: choice, domain: d)
        }
        return ResolveReply(transport: choice.0, nexthop: choice.1, recipient: recipient, flags: flags)
    }
}
