// TransportSelection: the transport and nexthop of a resolved address:
// each class's default ($local_transport, $virtual_transport,
// $relay_transport, $default_transport or a
// $sender_dependent_default_transport_maps answer; nexthop from the
// transport, $sender_dependent_relayhost_maps, $relayhost or the domain),
// then $transport_maps in Postfix's search order (the full address, the
// address without its extension, the domain, its parents as "parent" or
// ".parent" per $parent_domain_matches_subdomains, then "*") with its
// result forms: "transport:nexthop", ":nexthop", "transport:", ":" and
// "error:text".
import Util
import Global
import Tables

enum TransportSelection {
    /// Splits "transport:nexthop" at the first colon; no colon is a
    /// transport without nexthop.
    static func split(_ spec: String) -> (transport: String, nexthop: String) {
        guard let colon = spec.firstIndex(of: ":") else { return (spec.trimmingSpaces(), "") }
        return (String(spec[..<colon]).trimmingSpaces(), String(spec[spec.index(after: colon)...]).trimmingSpaces())
    }

    /// Keys for a sender-dependent table: the address, the address without
    /// extension, then @domain; the null sender is `emptyKey`.
    static func senderKeys(_ sender: String, delimiters: String, emptyKey: String) -> [AddressSearch.Key] {
        if sender.isEmpty { return [AddressSearch.Key(emptyKey)] }
        var keys = [AddressSearch.Key(sender)]
        let parts = AddressSearch.split(sender, delimiters: delimiters)
        if let domain = parts.domain {
            if parts.extensionPart != nil { keys.append(AddressSearch.Key(parts.user + "@" + domain, partial: true)) }
            keys.append(AddressSearch.Key("@" + domain, partial: true))
        }
        return keys
    }

    /// Keys for $transport_maps.
    static func transportKeys(local: String, domain: String, delimiters: String, parentMatches: Bool) -> [AddressSearch.Key] {
        let address = local + "@" + domain
        var keys = [AddressSearch.Key(address)]
        let parts = AddressSearch.split(address, delimiters: delimiters)
        if parts.extensionPart != nil { keys.append(AddressSearch.Key(parts.user + "@" + domain, partial: true)) }
        var rest = Substring(domain)
        keys.append(AddressSearch.Key(domain, partial: true))
        while let dot = rest.firstIndex(of: ".") {
            rest = rest[rest.index(after: dot)...]
            if rest.isEmpty { break }
            keys.append(AddressSearch.Key(parentMatches ? String(rest) : "." + rest, partial: true))
        }
        keys.append(AddressSearch.Key("*", partial: true))
        var seen = Set<String>()
        return keys.filter { seen.insert($0.text).inserted }
    }

    /// Looks `keys` up; a failure sets `.fail` and logs as Postfix does.
    static func lookup(_ tables: TableList?, _ keys: [AddressSearch.Key],
                       flags: inout RewriteProtocol.ResolveFlags) -> String? {
        guard let tables else { return nil }
        do {
            return try tables.find(keys: keys)?.value
        } catch {
            MailLog.warning("\(tables.parameter) lookup failure")
            flags.insert(.fail)
            return nil
        }
    }

    /// The class's default transport and nexthop.
    static func classDefault(_ addressClass: RewriteProtocol.ResolveFlags, domain: String, sender: String,
                             routes r: RouteSettings, flags: inout RewriteProtocol.ResolveFlags) -> (String, String) {
        switch addressClass {
        case .classLocal, .classVirtual:
            let (t, n) = split(addressClass == .classLocal ? r.localTransport : r.virtualTransport)
            return (t, n.isEmpty ? domain : n)
        default:
            var spec = r.relayTransport
            if addressClass == .classDefault {
                spec = lookup(r.senderDefaultTransportMaps,
                              senderKeys(sender, delimiters: r.recipientDelimiter, emptyKey: r.emptyDefaultTransportKey),
                              flags: &flags) ?? r.defaultTransport
            }
            let (t, n) = split(spec)
            if !n.isEmpty { return (t, n) }
            if let relay = lookup(r.senderRelayhostMaps,
                                  senderKeys(sender, delimiters: r.recipientDelimiter, emptyKey: r.emptyRelayhostKey),
                                  flags: &flags), !relay.isEmpty {
                return (t, relay)
            }
            return (t, r.relayhost.isEmpty ? domain : r.relayhost)
        }
    }

    /// Applies a $transport_maps answer to (transport, nexthop).
    static func apply(_ value: String, to current: (String, String), domain: String) -> (String, String) {
        let (t, n) = split(value)
        if t.isEmpty && n.isEmpty { return current }
        if t.isEmpty { return (current.0, n) }
        return (t, n.isEmpty ? domain : n)
    }
}
