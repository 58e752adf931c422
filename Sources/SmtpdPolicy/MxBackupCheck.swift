// MxBackupCheck: permit_mx_backup, as Postfix 3.7: an authorized
// destination (final or relay class) is permitted; otherwise the recipient
// domain's MX hosts are looked up and the request is permitted when this
// host is one of the backup MX hosts but not a primary one (lowest
// preference), and, with permit_mx_backup_networks, when every address of
// every primary MX host is in those networks. "This host" is a name in
// mydestination (trivial-rewrite's local class) or an address of
// inet_interfaces or proxy_interfaces. DNS trouble turns a later reject of
// the stage into a 450 4.4.4 (defer_if_reject), never into a permit.
import Glibc
import Global
import Tables
import DNS

extension RestrictionEngine {
    func permitMxBackup(_ recipient: String, _ e: inout Evaluation) -> PolicyDecision {
        let kind = "Recipient address"
        let reply: ResolveReply
        do { reply = try environment.resolve(recipient) } catch {
            e.outcome.warn(error.text)
            return reject(450, "4.4.0", recipient, kind, "Temporary lookup failure")
        }
        if reply.flags.contains(.fail) { return reject(450, "4.4.0", recipient, kind, "Temporary lookup failure") }
        let resolved = reply.recipient.isEmpty ? recipient : reply.recipient
        guard let at = resolved.lastIndex(of: "@") else { return .permit }
        let domain = String(resolved[resolved.index(after: at)...])
        if reply.flags.contains(.routed) { return .dunno }
        if !reply.flags.intersection([.classLocal, .classAlias, .classVirtual, .classRelay]).isEmpty { return .permit }
        if domain.hasPrefix("[") && domain.hasSuffix("]") { return .dunno }

        func deferIfReject(_ text: String) {
            if e.deferIfReject == nil { e.deferIfReject = SmtpReply(450, "4.4.4", "<\(recipient)>: \(kind) rejected: \(text)") }
        }
        let records: [DNSRecord]
        switch dnsLookup().lookup(domain, type: .mx) {
        case .found(let list):
            // A null MX is no list of servers (and no reason to defer).
            if list.count == 1 && list[0].host == "" { return .dunno }
            records = list
        case .notFound, .noData:
            return .dunno
        case .temporaryFailure:
            deferIfReject("Unable to look up mail exchanger information: Host not found, try again")
            return .dunno
        }
        let best = records.map(\.preference).min() ?? 0
        let primaries = records.filter { $0.preference == best }.compactMap(\.host)
        let backups = records.filter { $0.preference != best }.compactMap(\.host)

        // Is this host one of `hosts`? Names first, then addresses.
        func isMe(_ hosts: [String]) -> Bool {
            for host in hosts {
                if let r = try? environment.resolve("postmaster@" + host), r.flags.contains(.classLocal) { return true }
            }
            let mine = localAddresses()
            for host in hosts {
                switch environment.hostAddresses(host, ipv4: wantsIPv4, ipv6: wantsIPv6) {
                case .failed(let why):
                    deferIfReject("Unable to look up mail exchanger host \(host): \(why)")
                case .found(let addresses):
                    if addresses.contains(where: { NetworkMatchList.addressBytes($0).map(mine.contains) ?? false }) { return true }
                }
            }
            return false
        }
        if isMe(primaries) { return .dunno }
        if backups.isEmpty || !isMe(backups) { return .dunno }
        guard !settings.permitMxBackupNetworks.isEmpty else { return .permit }

        // Every address of every primary MX host must be in permit_mx_backup_networks.
        let networks: NetworkMatchList
        do { networks = try backupNetworks() } catch {
            e.outcome.warn("permit_mx_backup_networks: \(error)")
            return configurationError(recipient, kind)
        }
        for host in primaries {
            var addresses: [String] = []
            var failure: DNSLookupResult?
            for type in (wantsIPv6 ? [DNSRecordType.a, .aaaa] : [.a]) where wantsIPv4 || type == .aaaa {
                switch dnsLookup().lookup(host, type: type) {
                case .found(let list): addresses += list.compactMap { $0.ipv4 ?? Self.ipv6Text($0) }
                case let other: if failure == nil { failure = other }
                }
            }
            if addresses.isEmpty {
                let why: String
                switch failure {
                case .notFound?: why = "Host not found"
                case .noData?: why = "Host found but no data record of requested type"
                default: why = "Host not found, try again"
                }
                deferIfReject("Unable to look up host \(host) as mail exchanger: \(why)")
                return .dunno
            }
            for address in addresses {
                let inside: Bool
                do { inside = try networks.matches(name: host, address: address) } catch {
                    e.outcome.warn("permit_mx_backup: permit_mx_backup_networks lookup error for address \(address) for \(host)")
                    deferIfReject("Unable to verify host \(host) as mail exchanger")
                    return .dunno
                }
                if !inside { return .dunno }
            }
        }
        return .permit
    }

    private var wantsIPv4: Bool {
        let p = settings.inetProtocols.asciiLowercased()
        return p.contains("all") || p.contains("ipv4")
    }

    private var wantsIPv6: Bool {
        let p = settings.inetProtocols.asciiLowercased()
        return p.contains("all") || p.contains("ipv6")
    }

    private func backupNetworks() throws(LookupError) -> NetworkMatchList {
        if let mxBackupNetworks { return mxBackupNetworks }
        let list = try NetworkMatchList(parameter: "permit_mx_backup_networks", value: settings.permitMxBackupNetworks)
        mxBackupNetworks = list
        return list
    }

    /// The addresses of inet_interfaces and proxy_interfaces.
    private func localAddresses() -> [[UInt8]] {
        if let ownAddresses { return ownAddresses }
        let v4 = wantsIPv4, v6 = wantsIPv6
        func wanted(_ bytes: [UInt8]) -> Bool { bytes.count == 4 ? v4 : v6 }
        var out: [[UInt8]] = []
        for word in (settings.inetInterfaces + " " + settings.proxyInterfaces).splitList() {
            switch word.asciiLowercased() {
            case "all":
                out += NetworkInterfaces.addresses().map(\.bytes).filter(wanted)
            case "loopback-only":
                out += NetworkInterfaces.addresses().map(\.bytes).filter { b in
                    wanted(b) && (b.count == 4 ? b[0] == 127 : b == [UInt8](repeating: 0, count: 15) + [1])
                }
            default:
                var host = word
                if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                if let bytes = NetworkMatchList.addressBytes(host) {
                    out.append(bytes)
                } else if case .found(let list) = environment.hostAddresses(host, ipv4: v4, ipv6: v6) {
                    out += list.compactMap(NetworkMatchList.addressBytes)
                }
            }
        }
        ownAddresses = out
        return out
    }

    static func ipv6Text(_ record: DNSRecord) -> String? {
        guard record.type == DNSRecordType.aaaa.rawValue, record.data.count == 16 else { return nil }
        var a = in6_addr()
        withUnsafeMutableBytes(of: &a) { $0.copyBytes(from: record.data) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard inet_ntop(AF_INET6, &a, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return String(cString: buffer)
    }
}
