// RewriteSettings: the parameters trivial-rewrite reads, gathered once per
// process: those of the rewrite contexts, those of resolving, and the two
// routing sets (plain resolve, and verify with the address_verify_*
// overrides). Tables and domain lists are opened here.
import Glibc
import Util
import Global
import Tables

/// What rewriting an address needs.
struct RewriteSettings {
    var myorigin = "localhost"
    var mydomain = "localdomain"
    var remoteHeaderRewriteDomain = ""
    var appendAtMyorigin = true
    var appendDotMydomain = false
    var swapBangpath = true
    var allowPercentHack = true

    init() {}

    init(config: MailConfig) {
        myorigin = config.value("myorigin")
        mydomain = config.value("mydomain")
        remoteHeaderRewriteDomain = config.value("remote_header_rewrite_domain")
        appendAtMyorigin = config.bool("append_at_myorigin")
        appendDotMydomain = config.bool("append_dot_mydomain")
        swapBangpath = config.bool("swap_bangpath")
        allowPercentHack = config.bool("allow_percent_hack")
    }
}

/// The transports and tables of one routing set.
struct RouteSettings {
    var localTransport = "local:localhost"
    var virtualTransport = "virtual"
    var relayTransport = "relay"
    var defaultTransport = "smtp"
    var relayhost = ""
    var transportMaps: TableList?
    var transportParentMatches = false
    var senderRelayhostMaps: TableList?
    var senderDefaultTransportMaps: TableList?
    var emptyRelayhostKey = "<>"
    var emptyDefaultTransportKey = "<>"
    var recipientDelimiter = ""

    init() {}

    /// `verify` reads the address_verify_* parameters instead.
    init(config: MailConfig, verify: Bool, context: TableContext, parentList: Set<String>) throws(LookupError) {
        func name(_ plain: String, _ verifyName: String) -> String { verify ? verifyName : plain }
        localTransport = config.value(name("local_transport", "address_verify_local_transport"))
        virtualTransport = config.value(name("virtual_transport", "address_verify_virtual_transport"))
        relayTransport = config.value(name("relay_transport", "address_verify_relay_transport"))
        defaultTransport = config.value(name("default_transport", "address_verify_default_transport"))
        relayhost = config.value(name("relayhost", "address_verify_relayhost")).trimmingSpaces()
        let transportParameter = name("transport_maps", "address_verify_transport_maps")
        transportMaps = try Self.tables(transportParameter, config, context)
        transportParentMatches = parentList.contains("transport_maps") || parentList.contains(transportParameter)
        senderRelayhostMaps = try Self.tables(name("sender_dependent_relayhost_maps",
                                                   "address_verify_sender_dependent_relayhost_maps"), config, context)
        senderDefaultTransportMaps = try Self.tables(name("sender_dependent_default_transport_maps",
                                                          "address_verify_sender_dependent_default_transport_maps"), config, context)
        emptyRelayhostKey = config.value("empty_address_relayhost_maps_lookup_key")
        emptyDefaultTransportKey = config.value("empty_address_default_transport_maps_lookup_key")
        recipientDelimiter = config.value("recipient_delimiter")
    }

    private static func tables(_ parameter: String, _ config: MailConfig, _ context: TableContext) throws(LookupError) -> TableList? {
        let value = config.value(parameter)
        if value.splitListGrouped().isEmpty { return nil }
        return try TableList(parameter: parameter, value: value, context: context)
    }
}

/// What resolving an address needs.
struct ResolveSettings {
    var myhostname = "localhost"
    var swapBangpath = true
    var allowPercentHack = true
    var emptyAddressRecipient = "MAILER-DAEMON"
    var resolveNullDomain = false
    var resolveNumericDomain = false
    var showUserUnknownTableName = true
    /// Addresses of $inet_interfaces and $proxy_interfaces.
    var interfaceAddresses: [[UInt8]] = []
    var localDomains: DomainMatchList?
    var virtualAliasDomains: DomainMatchList?
    var virtualMailboxDomains: DomainMatchList?
    var relayDomains: DomainMatchList?
    var resolve = RouteSettings()
    var verify = RouteSettings()
    /// The local rewriting context, applied to an address without a domain
    /// whose local part routes (host!user, user%domain).
    var rewrite = RewriteSettings()

    init() {}

    init(config: MailConfig) throws(LookupError) {
        let context = TableContext(config: config)
        let parents = Set(config.value("parent_domain_matches_subdomains").splitList())
        func list(_ parameter: String) throws(LookupError) -> DomainMatchList {
            try DomainMatchList(parameter: parameter, value: config.value(parameter),
                                  parentMatchesSubdomains: parents.contains(parameter), context: context)
        }
        rewrite = RewriteSettings(config: config)
        myhostname = config.value("myhostname")
        swapBangpath = config.bool("swap_bangpath")
        allowPercentHack = config.bool("allow_percent_hack")
        emptyAddressRecipient = config.value("empty_address_recipient")
        resolveNullDomain = config.bool("resolve_null_domain")
        resolveNumericDomain = config.bool("resolve_numeric_domain")
        showUserUnknownTableName = config.bool("show_user_unknown_table_name")
        let protocols = config.value("inet_protocols").asciiLowercased()
        interfaceAddresses = Self.interfaceAddresses(config.value("inet_interfaces"), protocols: protocols)
            + Self.interfaceAddresses(config.value("proxy_interfaces"), protocols: protocols)
        localDomains = try list("mydestination")
        virtualAliasDomains = try list("virtual_alias_domains")
        virtualMailboxDomains = try list("virtual_mailbox_domains")
        relayDomains = try list("relay_domains")
        resolve = try RouteSettings(config: config, verify: false, context: context, parentList: parents)
        verify = try RouteSettings(config: config, verify: true, context: context, parentList: parents)
    }

    /// The addresses an interface list names: `all`, `loopback-only`,
    /// numeric addresses and host names.
    static func interfaceAddresses(_ value: String, protocols: String) -> [[UInt8]] {
        let ipv4 = protocols.contains("all") || protocols.contains("ipv4")
        let ipv6 = protocols.contains("all") || protocols.contains("ipv6")
        func wanted(_ bytes: [UInt8]) -> Bool { bytes.count == 4 ? ipv4 : ipv6 }
        var result: [[UInt8]] = []
        for word in value.splitList() {
            switch word.asciiLowercased() {
            case "all":
                result += NetworkInterfaces.addresses().map(\.bytes).filter(wanted)
            case "loopback-only":
                result += NetworkInterfaces.addresses().map(\.bytes).filter { b in
                    wanted(b) && (b.count == 4 ? b[0] == 127 : b == [UInt8](repeating: 0, count: 15) + [1])
                }
            default:
                var host = word
                if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                if let bytes = DomainSyntax.addressBytes(host) {
                    result.append(bytes)
                } else {
                    result += resolveHost(host).filter(wanted)
                }
            }
        }
        return result
    }

    private static func resolveHost(_ name: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(name, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var result: [[UInt8]] = []
        var p = list
        while let node = p {
            defer { p = node.pointee.ai_next }
            guard let sa = node.pointee.ai_addr else { continue }
            if node.pointee.ai_family == AF_INET {
                result.append(sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { s in withUnsafeBytes(of: s.pointee.sin_addr) { Array($0) } })
            } else if node.pointee.ai_family == AF_INET6 {
                result.append(sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { s in withUnsafeBytes(of: s.pointee.sin6_addr) { Array($0) } })
            }
        }
        return result
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
