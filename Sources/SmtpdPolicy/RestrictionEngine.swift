// RestrictionEngine: evaluates smtpd's restriction lists as Postfix's
// smtpd_check does: each stage's list in order, the first restriction that
// permits or rejects ends the stage, access tables answer with actions
// (OK, REJECT, DEFER, DUNNO, nnn text, HOLD, DISCARD, FILTER, REDIRECT,
// PREPEND, BCC, WARN, INFO, or more restrictions), restriction classes
// expand to their lists; policy servers (PolicyServiceCheck) and DNS lists
// (RblChecks), the session checks (SessionRestrictions), the MX/NS/A
// access checks (ServerAccessChecks) and permit_mx_backup (MxBackupCheck)
// plug in here. Facts in (PolicyFacts), verdict out
// (PolicyOutcome); the protocol and the logging context stay in smtpd.
import Glibc
import Util
import Global
import Tables
import DNS

public final class RestrictionEngine {
    public let settings: PolicySettings
    let environment: PolicyEnvironment
    private let tableContext: TableContext
    private var parsedLists: [String: [Restriction]] = [:]
    private var accessTables: [String: LookupTable] = [:]
    private var mapLists: [String: TableList] = [:]
    private var networks: NetworkMatchList?
    private static let maxDepth = 100
    // check_policy_service and the DNS lists (PolicyServiceCheck, RblChecks).
    var policyClients: [String: PolicyServiceClient] = [:]
    /// Replaces the policy client's retry sleep (tests).
    public var policySleeper: ((Int) -> Void)?
    /// The DNS used by the block/allow lists; the stub resolver unless set.
    public var dns: DNSLookup?
    var dnsCache: [String: (Int, DNSLookupResult)] = [:]
    // permit_mx_backup (MxBackupCheck): read when first needed.
    var mxBackupNetworks: NetworkMatchList?
    var ownAddresses: [[UInt8]]?
    private var rblTables: TableList?
    /// smtpd_log_access_permit_actions, its tables opened once.
    let permitLog: StringMatchList

    struct Restriction: Equatable {
        var name: String
        var argument: String?
    }

    public init(settings: PolicySettings, environment: PolicyEnvironment, tableContext: TableContext = TableContext()) {
        self.settings = settings
        self.environment = environment
        self.tableContext = tableContext
        permitLog = StringMatchList(parameter: "smtpd_log_access_permit_actions", value: settings.permitLogActions,
                                    context: tableContext)
    }

    /// True when the stage's list is empty (nothing to check).
    public func isEmpty(_ stage: PolicyStage) -> Bool {
        stageList(stage).isEmpty
    }

    /// A stage's parsed list (settings do not change: kept per stage, which
    /// spares hashing the list's text at every check).
    private func stageList(_ stage: PolicyStage) -> [Restriction] {
        if let list = stageLists[stage] { return list }
        let list = parse(settings.lists[stage] ?? "")
        stageLists[stage] = list
        return list
    }
    private var stageLists = PolicyStageTable<[Restriction]>()

    /// Splits a restriction list, attaching arguments to the restrictions that take one.
    func parse(_ text: String) -> [Restriction] {
        if let cached = parsedLists[text] { return cached }
        var out: [Restriction] = []
        let words = text.splitListGrouped()
        var i = 0
        while i < words.count {
            let name = words[i]
            let lower = name.lowercased()
            if SmtpdRestrictions.withArgument[lower] != nil, i + 1 < words.count {
                out.append(Restriction(name: lower, argument: words[i + 1]))
                i += 2
            } else {
                out.append(Restriction(name: SmtpdRestrictions.simple.contains(lower) ? lower : name, argument: nil))
                i += 1
            }
        }
        parsedLists[text] = out
        return out
    }

    // MARK: - Evaluation

    /// The mutable state of one stage's evaluation.
    struct Evaluation {
        var outcome = PolicyOutcome()
        var warnIfReject = false
        /// DEFER_IF_PERMIT / DEFER_IF_REJECT results (policy servers such as
        /// postgrey answer DEFER_IF_PERMIT), applied when the stage ends.
        var deferIfPermit: SmtpReply?
        var deferIfReject: SmtpReply?
        /// The "<name>" and class words of the access table whose answer is
        /// being evaluated as restrictions (Postfix names replies after the
        /// table's subject there, not after the stage); nil at top level.
        var names: (name: String, kind: String)?

        /// The stage's verdict after the deferred DEFER_IF_* results.
        func finalDecision(_ decision: PolicyDecision) -> PolicyDecision {
            if case .reject(let r) = decision {
                if r.isPermanent, let d = deferIfReject { return .reject(d) }
                return decision
            }
            if let d = deferIfPermit { return .reject(d) }
            return decision
        }
    }

    /// Evaluates one stage's list.
    public func check(_ stage: PolicyStage, facts: PolicyFacts) -> PolicyOutcome {
        var e = Evaluation()
        let list = stageList(stage)
        let decision = run(list, stage: stage, facts: facts, depth: 0, &e)
        e.outcome.decision = e.finalDecision(decision)
        return e.outcome
    }

    /// Evaluates an explicit list (for tests and for restriction classes).
    public func check(list text: String, stage: PolicyStage, facts: PolicyFacts) -> PolicyOutcome {
        var e = Evaluation()
        let decision = run(parse(text), stage: stage, facts: facts, depth: 0, &e)
        e.outcome.decision = e.finalDecision(decision)
        return e.outcome
    }

    private func run(_ list: [Restriction], stage: PolicyStage, facts: PolicyFacts, depth: Int, _ e: inout Evaluation) -> PolicyDecision {
        guard depth < RestrictionEngine.maxDepth else {
            e.outcome.warn("restriction class nesting too deep")
            return .reject(SmtpReply(451, "4.3.5", "Server configuration error"))
        }
        for r in list {
            let decision = apply(r, stage: stage, facts: facts, depth: depth, &e)
            if decision == .permit && !permitLog.isEmpty { notePermit(r.name, stage: stage, facts: facts, &e) }
            if e.warnIfReject && r.name != "warn_if_reject" {
                e.warnIfReject = false
                if case .reject(let reply) = decision {
                    e.outcome.note(PolicyEvent("reject_warning", reply.description))
                    continue
                }
            }
            if decision != .dunno { return decision }
        }
        return .dunno
    }

    /// "<name>" and the class words of the stage's replies.
    func replyName(_ stage: PolicyStage, _ facts: PolicyFacts) -> (name: String, kind: String) {
        switch stage {
        case .client: return (facts.nameAddress, "Client host")
        case .helo: return (facts.helo ?? "", "Helo command")
        case .sender: return (facts.sender ?? "", "Sender address")
        case .relay, .recipient: return (facts.recipient ?? "", "Recipient address")
        case .data: return ("DATA", "Data command")
        case .endOfData: return ("END-OF-MESSAGE", "End-of-data")
        case .etrn: return (facts.etrnDomain ?? "", "Etrn command")
        }
    }

    func reject(_ code: Int, _ dsn: String, _ name: String, _ kind: String, _ text: String) -> PolicyDecision {
        .reject(SmtpReply(code, dsn, "<\(name)>: \(kind) rejected: \(text)"))
    }

    /// Postfix's reject_invalid_hostaddr for a HELO name in [].
    private func invalidHostAddress(_ helo: String) -> PolicyDecision {
        guard !(helo.hasSuffix("]") && HostnameSyntax.isValidAddressLiteral(helo)) else { return .dunno }
        return reject(settings.invalidHostnameRejectCode, "5.5.2", helo, "Helo command", "invalid ip address")
    }

    func configurationError(_ name: String, _ kind: String) -> PolicyDecision {
        reject(451, "4.3.5", name, kind, "Server configuration error")
    }

    /// The reply's "<name>" and class words where `e` is.
    func replyName(_ stage: PolicyStage, _ facts: PolicyFacts, _ e: Evaluation) -> (name: String, kind: String) {
        e.names ?? replyName(stage, facts)
    }

    private func apply(_ r: Restriction, stage: PolicyStage, facts: PolicyFacts, depth: Int, _ e: inout Evaluation) -> PolicyDecision {
        let (name, kind) = replyName(stage, facts, e)
        // A table restriction needs type:table after it (checked before anything else, as Postfix).
        if SmtpdRestrictions.withArgument[r.name] == true, !(r.argument?.contains(":") ?? false) {
            e.outcome.warn("restriction \(r.name): bad argument \"\(r.argument ?? r.name)\": need maptype:mapname")
            return .reject(SmtpReply(451, "4.3.5", "Server configuration error"))
        }
        switch r.name {
        case "permit": return .permit
        case "reject": return reject(settings.rejectCode, "5.7.1", name, kind, "Access denied")
        case "defer": return reject(settings.deferCode, "4.3.2", name, kind, "Try again later")
        case "warn_if_reject": e.warnIfReject = true; return .dunno
        case "defer_if_permit", "defer_if_reject": return .dunno
        case "permit_mynetworks":
            do { return try mynetworks().matches(name: facts.clientName, address: facts.clientAddress) ? .permit : .dunno } catch {
                e.outcome.warn("mynetworks: \(error)")
                return configurationError(name, kind)
            }
        case "permit_sasl_authenticated":
            return facts.saslUsername != nil ? .permit : .dunno
        case "reject_unauth_pipelining":
            return facts.pipelinedImproperly
                ? .reject(SmtpReply(503, "5.5.0", "<\(name)>: \(kind) rejected: Improper use of SMTP command pipelining")) : .dunno
        case "reject_unauth_destination", "defer_unauth_destination", "permit_auth_destination", "check_relay_domains":
            guard let rcpt = facts.recipient else { return .dunno }
            let authorized: Bool
            do { authorized = try isAuthorizedDestination(rcpt) } catch {
                e.outcome.warn(error.text)
                return reject(450, "4.4.0", rcpt, "Recipient address", "Temporary lookup failure")
            }
            if r.name == "permit_auth_destination" { return authorized ? .permit : .dunno }
            if authorized { return r.name == "check_relay_domains" ? .permit : .dunno }
            var code = settings.relayRejectCode
            if r.name == "defer_unauth_destination" { code = 400 + code % 100 }
            return .reject(SmtpReply(code, "5.7.1", "<\(rcpt)>: Relay access denied"))
        case "permit_mx_backup":
            guard let rcpt = facts.recipient else { return .dunno }
            return permitMxBackup(rcpt, &e)
        case "reject_unlisted_recipient", "check_recipient_maps":
            guard let rcpt = facts.recipient else { return .dunno }
            return unlisted(rcpt, sender: false, &e)
        case "reject_sender_login_mismatch", "reject_authenticated_sender_login_mismatch",
             "reject_known_sender_login_mismatch", "reject_unauthenticated_sender_login_mismatch":
            guard settings.saslEnabled else {
                // As Postfix: the combined restriction is its two halves.
                let halves = r.name == "reject_sender_login_mismatch"
                    ? ["reject_authenticated_sender_login_mismatch", "reject_unauthenticated_sender_login_mismatch"] : [r.name]
                for half in halves { e.outcome.warn("restriction `\(half)' ignored: no SASL support") }
                return .dunno
            }
            guard let s = facts.sender, !s.isEmpty else { return .dunno }
            return senderLoginMismatch(r.name, sender: s, login: facts.saslUsername, &e)
        case "reject_unlisted_sender":
            guard let s = facts.sender, !s.isEmpty else { return .dunno }
            return unlisted(s, sender: true, &e)
        case "reject_non_fqdn_helo_hostname", "reject_non_fqdn_hostname":
            guard let helo = facts.helo else { return .dunno }
            // As Postfix: a name in [] is checked as an address literal.
            if helo.hasPrefix("[") { return invalidHostAddress(helo) }
            guard !HostnameSyntax.isFQDNHelo(helo) else { return .dunno }
            return reject(settings.nonFQDNRejectCode, "5.5.2", helo, "Helo command", "need fully-qualified hostname")
        case "reject_invalid_helo_hostname", "reject_invalid_hostname":
            guard let helo = facts.helo else { return .dunno }
            if helo.hasPrefix("[") { return invalidHostAddress(helo) }
            guard !HostnameSyntax.isValidHelo(helo) else { return .dunno }
            return reject(settings.invalidHostnameRejectCode, "5.5.2", helo, "Helo command", "Invalid name")
        case "reject_unknown_helo_hostname", "reject_unknown_hostname":
            guard let helo = facts.helo, !HostnameSyntax.isValidAddressLiteral(helo) else { return .dunno }
            switch environment.lookupHost(helo) {
            case .found: return .dunno
            case .notFound: return reject(settings.unknownHostnameRejectCode, "4.7.1", helo, "Helo command", "Host not found")
            case .temporaryFailure: return reject(450, "4.7.1", helo, "Helo command", "Host not found")
            }
        case "reject_non_fqdn_sender":
            guard let s = facts.sender, !s.isEmpty, !HostnameSyntax.isFQDNAddress(s) else { return .dunno }
            return reject(settings.nonFQDNRejectCode, "5.5.2", s, "Sender address", "need fully-qualified address")
        case "reject_non_fqdn_recipient":
            guard let rcpt = facts.recipient, !HostnameSyntax.isFQDNAddress(rcpt) else { return .dunno }
            return reject(settings.nonFQDNRejectCode, "5.5.2", rcpt, "Recipient address", "need fully-qualified address")
        case "reject_unknown_sender_domain":
            guard let s = facts.sender, !s.isEmpty else { return .dunno }
            return unknownDomain(s, kind: "Sender address", dsn: "4.1.8")
        case "reject_unknown_recipient_domain":
            guard let rcpt = facts.recipient else { return .dunno }
            return unknownDomain(rcpt, kind: "Recipient address", dsn: "4.1.2")
        case "reject_unknown_client_hostname", "reject_unknown_client":
            guard facts.clientName == "unknown" else { return .dunno }
            let code = facts.clientNameTemporary ? 450 : settings.unknownClientRejectCode
            return .reject(SmtpReply(code, "4.7.25", "Client host rejected: cannot find your hostname, [\(facts.clientAddress)]"))
        case "reject_unknown_reverse_client_hostname":
            guard facts.reverseClientName == "unknown" else { return .dunno }
            let code = facts.reverseNameTemporary ? 450 : settings.unknownClientRejectCode
            return .reject(SmtpReply(code, "4.7.25", "Client host rejected: cannot find your reverse hostname, [\(facts.clientAddress)]"))
        case "check_client_access", "check_reverse_client_hostname_access":
            let clientName = r.name == "check_client_access" ? facts.clientName : facts.reverseClientName
            var keys: [AddressSearch.Key] = []
            if clientName != "unknown" {
                keys += AddressSearch.domainKeys(clientName.asciiLowercased(), parentMatchesSubdomains: settings.parentMatchesAccess)
                    .enumerated().map { AddressSearch.Key($0.element, partial: $0.offset > 0) }
            }
            keys += AddressSearch.networkKeys(facts.clientAddress).enumerated().map { AddressSearch.Key($0.element, partial: $0.offset > 0) }
            return access(r.argument ?? "", keys: keys, stage: stage, facts: facts, name: facts.nameAddress, kind: "Client host", depth: depth, &e)
        case "check_helo_access":
            guard let helo = facts.helo else { return .dunno }
            let keys = AddressSearch.domainKeys(helo.asciiLowercased(), parentMatchesSubdomains: settings.parentMatchesAccess)
                .enumerated().map { AddressSearch.Key($0.element, partial: $0.offset > 0) }
            return access(r.argument ?? "", keys: keys, stage: stage, facts: facts, name: helo, kind: "Helo command", depth: depth, &e)
        case "check_sender_access":
            guard let s = facts.sender else { return .dunno }
            let keys = s.isEmpty ? [AddressSearch.Key(settings.nullAccessKey)] : addressKeys(s)
            return access(r.argument ?? "", keys: keys, stage: stage, facts: facts, name: s, kind: "Sender address", depth: depth, &e)
        case "check_recipient_access":
            guard let rcpt = facts.recipient else { return .dunno }
            let keys = rcpt.isEmpty ? [AddressSearch.Key(settings.nullAccessKey)] : addressKeys(rcpt)
            return access(r.argument ?? "", keys: keys, stage: stage, facts: facts, name: rcpt, kind: "Recipient address", depth: depth, &e)
        case "check_etrn_access":
            guard let d = facts.etrnDomain else { return .dunno }
            let keys = AddressSearch.domainKeys(d.asciiLowercased(), parentMatchesSubdomains: settings.parentMatchesAccess)
                .enumerated().map { AddressSearch.Key($0.element, partial: $0.offset > 0) }
            return access(r.argument ?? "", keys: keys, stage: stage, facts: facts, name: d, kind: "Etrn command", depth: depth, &e)
        case "sleep":
            if let s = r.argument.flatMap({ UInt32($0) }) { Glibc.sleep(s) }
            return .dunno
        case "permit_tls_clientcerts", "permit_tls_all_clientcerts":
            return permitClientCertificate(all: r.name == "permit_tls_all_clientcerts", facts: facts, name: name, &e)
        case "check_ccert_access":
            return checkClientCertificateAccess(r.argument ?? "", stage: stage, facts: facts, depth: depth, &e)
        case "check_policy_service":
            return policyService(r.argument ?? "", stage: stage, facts: facts, depth: depth, &e)
        case "reject_rbl_client", "reject_rbl", "permit_dnswl_client", "reject_rhsbl_client", "reject_rhsbl",
             "permit_rhswl_client", "reject_rhsbl_reverse_client", "reject_rhsbl_helo", "reject_rhsbl_sender",
             "reject_rhsbl_recipient":
            return dnsList(r, stage: stage, facts: facts, &e)
        default:
            if let d = sessionRestriction(r, stage: stage, facts: facts, depth: depth, &e) { return d }
            if let d = serverAccessCheck(r, stage: stage, facts: facts, depth: depth, &e) { return d }
            if settings.restrictionClasses.contains(r.name) {
                return run(parse(settings.classLists[r.name] ?? ""), stage: stage, facts: facts, depth: depth + 1, &e)
            }
            if SmtpdRestrictions.simple.contains(r.name) || SmtpdRestrictions.withArgument[r.name] != nil {
                // Known to Postfix but needing services Posthorn does not have yet (DNS lists,
                // policy servers, address verification, TLS certificates).
                e.outcome.warn("restriction \"\(r.name)\" is not supported; ignored")
                return .dunno
            }
            e.outcome.warn("unknown smtpd restriction: \"\(r.name)\"")
            return .reject(SmtpReply(451, "4.3.5", "Server configuration error"))
        }
    }

    private func addressKeys(_ address: String) -> [AddressSearch.Key] {
        AddressSearch.accessKeys(address, delimiters: settings.recipientDelimiter, parentMatchesSubdomains: settings.parentMatchesAccess)
    }

    func dnsLookup() -> DNSLookup {
        if let dns { return dns }
        let resolver = DNSResolver()
        dns = resolver
        return resolver
    }

    func rblReplyTables() throws(LookupError) -> TableList {
        if let rblTables { return rblTables }
        let list = try TableList(parameter: "rbl_reply_maps", value: settings.rbl.replyMaps, context: tableContext)
        rblTables = list
        return list
    }

    private func mynetworks() throws(LookupError) -> NetworkMatchList {
        if let networks { return networks }
        let list = try NetworkMatchList(parameter: "mynetworks", value: settings.mynetworks, context: tableContext)
        networks = list
        return list
    }

    /// True when `address` resolves to a domain this server is final
    /// destination or relay for, without sender-specified routing.
    public func isAuthorizedDestination(_ address: String) throws(PolicyTemporaryFailure) -> Bool {
        let reply = try environment.resolve(address)
        if reply.flags.contains(.fail) { throw PolicyTemporaryFailure("address resolver failure for \(address)") }
        if reply.flags.contains(.routed) { return false }
        return !reply.flags.intersection([.classLocal, .classAlias, .classVirtual, .classRelay]).isEmpty
    }

    private func unknownDomain(_ address: String, kind: String, dsn: String) -> PolicyDecision {
        let domain = HostnameSyntax.domain(of: address)
        guard !domain.isEmpty, !domain.hasPrefix("[") else { return .dunno }
        switch environment.lookupHost(domain) {
        case .found: return .dunno
        case .notFound: return reject(settings.unknownAddressRejectCode, dsn, address, kind, "Domain not found")
        case .temporaryFailure: return reject(450, dsn, address, kind, "Domain not found")
        }
    }

    // MARK: - Recipient tables

    func maps(_ parameter: String, _ value: String) throws(LookupError) -> TableList {
        if let list = mapLists[parameter] { return list }
        let list = try TableList(parameter: parameter, value: value, context: tableContext)
        mapLists[parameter] = list
        return list
    }

    /// The reject for an address no table lists, or .dunno (Postfix's check_rcpt_maps).
    /// The reject_*sender_login_mismatch family: the owners of the
    /// (resolved) sender address in smtpd_sender_login_maps, a comma or
    /// space separated list of SASL logins, against the client's login.
    /// Authenticated: a login that is not among the owners is rejected
    /// (an address without owners too, except for the `known` variant).
    /// Unauthenticated: an address that has owners is rejected.
    func senderLoginMismatch(_ name: String, sender: String, login: String?, _ e: inout Evaluation) -> PolicyDecision {
        guard !settings.senderLoginMaps.isEmpty else { return .dunno }
        if login != nil && name == "reject_unauthenticated_sender_login_mismatch" { return .dunno }
        if login == nil && name == "reject_authenticated_sender_login_mismatch" { return .dunno }
        let owners: [String]?
        do {
            let reply = try environment.resolve(sender)
            if reply.flags.contains(.fail) { return reject(450, "4.4.0", sender, "Sender address", "Temporary lookup failure") }
            let resolved = reply.recipient.isEmpty ? sender : reply.recipient
            let keys = AddressSearch.virtualKeys(resolved.asciiLowercased(), delimiters: settings.recipientDelimiter,
                                                 domainIsLocal: reply.flags.contains(.classLocal))
            owners = try maps("smtpd_sender_login_maps", settings.senderLoginMaps).find(keys: keys)
                .map { $0.value.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }).map(String.init) }
        } catch {
            e.outcome.warn("\(error)")
            return reject(451, "4.3.0", sender, "Sender address", "Temporary lookup failure")
        }
        guard let login else {
            return owners == nil ? .dunno : reject(553, "5.7.1", sender, "Sender address", "not logged in")
        }
        guard let owners else {
            return name == "reject_known_sender_login_mismatch"
                ? .dunno : reject(553, "5.7.1", sender, "Sender address", "not owned by user \(login)")
        }
        if owners.contains(where: { $0.lowercased() == login.lowercased() }) { return .dunno }
        return reject(553, "5.7.1", sender, "Sender address", "not owned by user \(login)")
    }

    func unlisted(_ address: String, sender: Bool, _ e: inout Evaluation) -> PolicyDecision {
        let kind = sender ? "Sender address" : "Recipient address"
        let dsn = sender ? "5.1.0" : "5.1.1"
        let reply: ResolveReply
        do { reply = try environment.resolve(address) } catch {
            e.outcome.warn(error.text)
            return reject(450, "4.4.0", address, kind, "Temporary lookup failure")
        }
        if reply.flags.contains(.fail) { return reject(450, "4.4.0", address, kind, "Temporary lookup failure") }
        let resolved = reply.recipient.isEmpty ? address : reply.recipient
        let flags = reply.flags
        let isLocal = flags.contains(.classLocal)
        func found(_ parameter: String, _ value: String, domainIsLocal: Bool) throws(LookupError) -> Bool {
            guard !value.isEmpty else { return false }
            let keys = AddressSearch.virtualKeys(resolved.asciiLowercased(), delimiters: settings.recipientDelimiter, domainIsLocal: domainIsLocal)
            return try maps(parameter, value).find(keys: keys) != nil
        }
        func unknown(_ code: Int, _ table: String, dsn: String = dsn) -> PolicyDecision {
            let suffix = settings.showUserUnknownTableName ? " in \(table) table" : ""
            return reject(code, dsn, address, kind, "User unknown\(suffix)")
        }
        do {
            if try found("virtual_alias_maps", settings.virtualAliasMaps, domainIsLocal: isLocal) { return .dunno }
            if isLocal {
                guard !settings.localRecipientMaps.isEmpty else { return .dunno }
                if Self.isAlwaysLocal(resolved, settings.alwaysLocalRecipients) { return .dunno }
                if try found("local_recipient_maps", settings.localRecipientMaps, domainIsLocal: true) { return .dunno }
                return unknown(settings.unknownLocalRecipientRejectCode, "local recipient")
            }
            if flags.contains(.classVirtual) {
                if try found("virtual_mailbox_maps", settings.virtualMailboxMaps, domainIsLocal: false) { return .dunno }
                return unknown(settings.unknownVirtualMailboxRejectCode, "virtual mailbox")
            }
            if flags.contains(.classRelay) {
                guard !settings.relayRecipientMaps.isEmpty else { return .dunno }
                if try found("relay_recipient_maps", settings.relayRecipientMaps, domainIsLocal: false) { return .dunno }
                return unknown(settings.unknownRelayRecipientRejectCode, "relay recipient")
            }
            if flags.contains(.classAlias) {
                // As Postfix: trivial-rewrite's error transport says 5.1.1,
                // which a sender check turns into its sender form, 5.1.7.
                if sender { e.outcome.inform("mapping DSN status 5.1.1 into Sender address status 5.1.7") }
                return unknown(settings.unknownVirtualAliasRejectCode, "virtual alias", dsn: sender ? "5.1.7" : "5.1.1")
            }
            return .dunno
        } catch {
            e.outcome.warn("\(error)")
            return reject(451, "4.3.0", address, kind, "Temporary lookup failure")
        }
    }

    /// True when `resolved` is one of `names` (case-insensitively) followed
    /// by "@": the recipients qmgr and bounce absorb or generate themselves.
    static func isAlwaysLocal(_ resolved: String, _ names: [String]) -> Bool {
        guard let at = resolved.firstIndex(of: "@") else { return false }
        let local = resolved[..<at].asciiLowercased()
        return names.contains { !$0.isEmpty && $0.asciiLowercased() == local }
    }

    /// True when trivial-rewrite resolves `address` to an error (bad
    /// domain syntax); a temporary failure is not an answer here.
    public func isUnresolvable(_ address: String) -> Bool {
        guard let reply = try? environment.resolve(address) else { return false }
        return reply.flags.contains(.error)
    }

    /// reject_unlisted_recipient outside any list (smtpd_reject_unlisted_*).
    public func checkUnlisted(_ address: String, sender: Bool) -> PolicyOutcome {
        var e = Evaluation()
        e.outcome.decision = unlisted(address, sender: sender, &e)
        return e.outcome
    }

    // MARK: - Access tables

    private func table(_ reference: String) throws(LookupError) -> LookupTable {
        if let t = accessTables[reference] { return t }
        let t = try TableOpener.open(reference, context: tableContext)
        accessTables[reference] = t
        return t
    }

    func access(_ reference: String, keys: [AddressSearch.Key], stage: PolicyStage, facts: PolicyFacts,
                        name: String, kind: String, depth: Int, _ e: inout Evaluation) -> PolicyDecision {
        accessLookup(reference, keys: keys, stage: stage, facts: facts, name: name, kind: kind, depth: depth, &e) ?? .dunno
    }

    /// The first key the table has, as its action decides; nil when no key
    /// is found (a found DUNNO is .dunno, which ends some searches).
    func accessLookup(_ reference: String, keys: [AddressSearch.Key], stage: PolicyStage, facts: PolicyFacts,
                      name: String, kind: String, depth: Int, _ e: inout Evaluation) -> PolicyDecision? {
        let value: String?
        do {
            let t = try table(reference)
            var hit: String? = nil
            for key in keys {
                if key.isPartial && t.isPatternTable { continue }
                if let v = try t.find(key.text) { hit = v; break }
            }
            value = hit
        } catch {
            e.outcome.warn("\(reference) lookup error for \"\(keys.first?.text ?? "")\"")
            return configurationError(name, kind)
        }
        guard let value else { return nil }
        return tableResult(value, stage: stage, facts: facts, name: name, kind: kind, depth: depth, source: reference, &e)
    }

    /// What an access table's answer means (access(5)).
    func tableResult(_ value: String, stage: PolicyStage, facts: PolicyFacts, name: String, kind: String,
                     depth: Int, source: String? = nil, _ e: inout Evaluation) -> PolicyDecision {
        let trimmed = value.trimmingPostfixSpace()
        let word: Substring
        var text: Substring = ""
        if let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" }) {
            word = trimmed[..<space]
            text = trimmed[space...].drop { $0 == " " || $0 == "\t" }
        } else {
            word = Substring(trimmed)
        }
        let action = word.uppercased()
        switch action {
        case "OK":
            if let source { logPermit("OK", kind: kind, name: name, suffix: "from " + source, &e) }
            return .permit
        case "DUNNO": return .dunno
        case "REJECT":
            return reject(settings.accessMapRejectCode, "5.7.1", name, kind, text.isEmpty ? "Access denied" : String(text))
        case "DEFER":
            return reject(settings.accessMapDeferCode, "4.7.1", name, kind, text.isEmpty ? "Access denied" : String(text))
        case "DEFER_IF_REJECT", "DEFER_IF_PERMIT":
            var dsn = "4.7.1"
            var rest = text
            if let (d, r) = SmtpReply.leadingDSN(text) { dsn = d; rest = r }
            let reply = SmtpReply(settings.deferCode, dsn, "<\(name)>: \(kind) rejected: \(rest.isEmpty ? "Service unavailable" : String(rest))")
            if action == "DEFER_IF_PERMIT" {
                if e.deferIfPermit == nil { e.deferIfPermit = reply }
            } else if e.deferIfReject == nil {
                e.deferIfReject = reply
            }
            return .dunno
        case "HOLD":
            e.outcome.actions.hold = true
            e.outcome.note(PolicyEvent("hold", "<\(name)>: \(kind) \(text.isEmpty ? "triggers HOLD action" : String(text))"))
            return .dunno
        case "DISCARD":
            e.outcome.actions.discard = true
            e.outcome.note(PolicyEvent("discard", "<\(name)>: \(kind) \(text.isEmpty ? "triggers DISCARD action" : String(text))"))
            return .permit
        case "FILTER":
            e.outcome.actions.filter = String(text)
            e.outcome.note(PolicyEvent("filter", "<\(name)>: \(kind) triggers FILTER \(text)"))
            return .dunno
        case "REDIRECT":
            e.outcome.actions.redirect = String(text)
            e.outcome.note(PolicyEvent("redirect", "<\(name)>: \(kind) triggers REDIRECT \(text)"))
            return .dunno
        case "BCC":
            e.outcome.actions.bcc.append(String(text))
            e.outcome.note(PolicyEvent("bcc", "<\(name)>: \(kind) triggers BCC \(text)"))
            return .dunno
        case "PREPEND":
            e.outcome.actions.prepend.append(String(text))
            return .dunno
        case "WARN":
            e.outcome.note(PolicyEvent("warn", String(text)))
            return .dunno
        case "INFO":
            e.outcome.note(PolicyEvent("info", String(text)))
            return .dunno
        default:
            break
        }
        // nnn [d.d.d] text
        let utf8 = Array(word.utf8)
        if utf8.count == 3, utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let code = Int(word) {
            if code / 100 == 4 || code / 100 == 5 {
                var dsn = code / 100 == 4 ? "4.7.1" : "5.7.1"
                var rest = text
                if let (d, r) = SmtpReply.leadingDSN(text) { dsn = d; rest = r }
                return reject(code, dsn, name, kind, rest.isEmpty ? "Access denied" : String(rest))
            }
            return code / 100 == 2 ? .permit : .dunno
        }
        // Otherwise the value is a list of restrictions, answering in the table's names.
        let saved = e.names
        e.names = (name, kind)
        defer { e.names = saved }
        return run(parse(trimmed), stage: stage, facts: facts, depth: depth + 1, &e)
    }
}
