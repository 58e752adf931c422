// ServerAccessChecks: check_{client,reverse_client_hostname,helo,sender,
// recipient}_{a,mx,ns}_access, as Postfix's check_server_access: the
// domain's MX hosts (the domain itself when it has no MX record), its name
// servers (those of the nearest parent that has some), or the name itself
// (A), are searched in the access table by host name and parent domains
// (not for A), then by each of their addresses and parent networks. The
// first entry found decides, DUNNO included. A DNS failure only logs a
// warning; OK is refused as a configuration error (allow lists would be
// unsafe: anyone can point a name at a listed server).
import Tables
import DNS

extension RestrictionEngine {
    enum ServerRecordType: String {
        case a = "A", mx = "MX", ns = "NS"
    }

    /// The subject and type of a check_*_{a,mx,ns}_access name.
    static func serverAccessKind(_ name: String) -> (subject: String, type: ServerRecordType)? {
        guard name.hasPrefix("check_"), name.hasSuffix("_access") else { return nil }
        let middle = name.dropFirst(6).dropLast(7)
        for (suffix, type) in [("_a", ServerRecordType.a), ("_mx", .mx), ("_ns", .ns)] where middle.hasSuffix(suffix) {
            let subject = String(middle.dropLast(suffix.count))
            guard ["client", "reverse_client_hostname", "helo", "sender", "recipient"].contains(subject) else { return nil }
            return (subject, type)
        }
        return nil
    }

    func serverAccessCheck(_ r: Restriction, stage: PolicyStage, facts: PolicyFacts, depth: Int,
                           _ e: inout Evaluation) -> PolicyDecision? {
        guard let (subject, type) = Self.serverAccessKind(r.name) else { return nil }
        let name: String, replyName: String, kind: String
        switch subject {
        case "client":
            guard facts.clientName.lowercased() != "unknown" else { return .dunno }
            (name, replyName, kind) = (facts.clientName, facts.nameAddress, "Client host")
        case "reverse_client_hostname":
            guard facts.reverseClientName.lowercased() != "unknown" else { return .dunno }
            (name, replyName, kind) = (facts.reverseClientName, facts.reverseClientName, "Unverified Client host")
        case "helo":
            guard let helo = facts.helo else { return .dunno }
            (name, replyName, kind) = (helo, helo, "Helo command")
        case "sender":
            guard let s = facts.sender, !s.isEmpty else { return .dunno }
            (name, replyName, kind) = (s, s, "Sender address")
        default:
            guard let rcpt = facts.recipient, !rcpt.isEmpty else { return .dunno }
            (name, replyName, kind) = (rcpt, rcpt, "Recipient address")
        }
        let decision = serverAccess(r.argument ?? "", name: name, type: type, replyName: replyName, kind: kind,
                                    stage: stage, facts: facts, depth: depth, &e)
        if decision == .permit && !e.outcome.actions.discard {
            e.outcome.warn("restriction \(r.name) returns OK for \(name)")
            e.outcome.warn("this is not allowed for security reasons")
            e.outcome.warn("use DUNNO instead of OK if you want to make an exception")
            return .reject(SmtpReply(451, "4.3.5", "Server configuration error"))
        }
        return decision
    }

    private func serverAccess(_ table: String, name: String, type: ServerRecordType, replyName: String, kind: String,
                              stage: PolicyStage, facts: PolicyFacts, depth: Int, _ e: inout Evaluation) -> PolicyDecision {
        func byAddress(_ address: String) -> PolicyDecision? {
            let keys = AddressSearch.networkKeys(address).enumerated().map { AddressSearch.Key($0.element, partial: $0.offset > 0) }
            return accessLookup(table, keys: keys, stage: stage, facts: facts, name: replyName, kind: kind, depth: depth, &e)
        }
        func byName(_ host: String) -> PolicyDecision? {
            let keys = AddressSearch.domainKeys(host.asciiLowercased(), parentMatchesSubdomains: settings.parentMatchesAccess)
                .enumerated().map { AddressSearch.Key($0.element, partial: $0.offset > 0) }
            return accessLookup(table, keys: keys, stage: stage, facts: facts, name: replyName, kind: kind, depth: depth, &e)
        }
        var domain = name
        if let at = name.lastIndex(of: "@") { domain = String(name[name.index(after: at)...]) }

        // An address literal is its own mail exchanger (it has no name servers).
        if domain.hasPrefix("[") {
            guard type != .ns, domain.count >= 2, domain.hasSuffix("]") else { return .dunno }
            var inner = Substring(domain.dropFirst().dropLast())
            if inner.lowercased().hasPrefix("ipv6:") {
                inner = inner.dropFirst(5)
                guard NetworkMatchList.addressBytes(String(inner))?.count == 16 else { return .dunno }
            } else {
                guard !inner.contains(":"), HostnameSyntax.isValidAddressLiteral(String(inner)) else { return .dunno }
            }
            return byAddress(String(inner)) ?? .dunno
        }

        var servers: [String]
        switch type {
        case .a:
            servers = [domain]
        case .mx:
            switch dnsLookup().lookup(domain, type: .mx) {
            case .found(let records):
                // A null MX (RFC 7505): the domain accepts no mail; nothing to check.
                if records.count == 1 && records[0].host == "" { return .dunno }
                servers = records.compactMap(\.host)
            case .notFound, .noData:
                servers = [domain]
            case .temporaryFailure:
                e.outcome.warn("Unable to look up MX host for \(domain): Host not found, try again")
                return .dunno
            }
        case .ns:
            var zone = Substring(domain)
            var answer = dnsLookup().lookup(domain, type: .ns)
            var exhausted = false
            while answer == .notFound || answer == .noData {
                // No name servers here: those of the parent domain.
                guard let dot = zone.firstIndex(of: "."), zone.index(after: dot) < zone.endIndex else {
                    exhausted = true
                    break
                }
                zone = zone[zone.index(after: dot)...]
                answer = dnsLookup().lookup(String(zone), type: .ns)
            }
            guard case .found(let records) = answer else {
                let why: String
                switch answer {
                case .notFound: why = "Host not found"
                case .noData: why = "Host found but no data record of requested type"
                default: why = "Host not found, try again"
                }
                e.outcome.warn("Unable to look up NS host for \(exhausted || zone.count < 2 ? name : String(zone)): \(why)")
                return .dunno
            }
            servers = records.compactMap(\.host)
        }

        let protocols = settings.inetProtocols.asciiLowercased()
        let ipv4 = protocols.contains("all") || protocols.contains("ipv4")
        let ipv6 = protocols.contains("all") || protocols.contains("ipv6")
        for server in servers {
            if Self.isNumericHost(server) {
                if let d = byAddress(server) { return d }
                continue
            }
            if type != .a, let d = byName(server) { return d }
            switch environment.hostAddresses(server, ipv4: ipv4, ipv6: ipv6) {
            case .failed(let why):
                if type != .a { e.outcome.warn("Unable to look up \(type.rawValue) host \(server) for \(kind) \(replyName): \(why)") }
            case .found(let addresses):
                for address in addresses {
                    if let d = byAddress(address) { return d }
                }
            }
        }
        return .dunno
    }

    /// A bare IPv4 or IPv6 address (Postfix's valid_hostaddr).
    static func isNumericHost(_ name: String) -> Bool {
        if name.contains(":") { return NetworkMatchList.addressBytes(name)?.count == 16 }
        return HostnameSyntax.isValidAddressLiteral(name)
    }
}
