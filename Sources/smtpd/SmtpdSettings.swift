// SmtpdSettings: the smtpd parameters, read once when the process starts
// (as Postfix's smtpd reads its configuration), so a session never parses
// main.cf values again. A class: every session shares the process's one
// instance (as a struct, its ~70 fields were copied into each session and
// released after it, a hundred reference counts per session).
import Util
import Global
import Tables
import ServerSkeleton

final class SmtpdSettings {
    var myhostname = "localhost"
    var mailName = "Postfix"
    var banner = "localhost ESMTP Postfix"
    var timeout: Int32 = 300
    var lineLimit = 2048
    var messageSizeLimit = 10_240_000
    var recipientLimit = 1000
    var softErrorLimit = 10
    var hardErrorLimit = 20
    var errorSleep: UInt32 = 1
    var heloRequired = false
    var delayReject = true
    var strictEnvelopes = false
    var disableVRFY = false
    var ehloDiscard = SmtpdEhloDiscard()
    var forbidBareNewline = "no"
    var bareNewlineExclusions = ""
    var bareNewlineRejectCode = 550
    var forbidUnauthPipelining = false
    var rejectUnlistedRecipient = true
    var rejectUnlistedSender = false
    var xforwardHosts = ""
    var xclientHosts = ""
    var fastFlushDomains = ""
    /// fast_flush_domains listed in parent_domain_matches_subdomains.
    var fastFlushParentMatches = true
    var flushServiceName = "flush"
    var connectionCountLimit = 50
    var connectionRateLimit = 0
    var messageRateLimit = 0
    var recipientRateLimit = 0
    var authRateLimit = 0
    var newTLSSessionRateLimit = 0
    var eventLimitExceptions = ""
    var receiveOverrideOptions = ""
    /// The cleanup flags receive_override_options asks for, parsed once.
    var cleanupFlags = CleanupProtocol.Flags.external(receiveOverrideOptions: "")
    var serviceName = "smtp"
    var noUnknownRecipientChecks = false
    var localHeaderRewriteClients = "permit_inet_interfaces"
    /// `local_header_rewrite_clients` split once per process.
    var localHeaderRewriteItems: [String] {
        if let cache = localHeaderRewriteItemsCache, cache.source == localHeaderRewriteClients { return cache.items }
        return localHeaderRewriteClients.splitList().map { $0.lowercased() }
    }
    private var localHeaderRewriteItemsCache: (source: String, items: [String])?
    var inetInterfaces = "all"
    var mynetworks = ""
    var peernameLookup = true
    var smtputf8Enable = true
    var forbiddenCommands = SmtpdForbiddenCommands.builtIn
    var recipientOvershootLimit = 1000
    var junkCommandLimit = 100
    /// smtpd_forbidden_commands, its tables opened once (the default's on first use).
    var forbiddenList = SmtpdForbiddenCommands()
    /// Reject footers and soft_bounce (SmtpdReplyShaper).
    var replyShaper = SmtpdReplyShaper()
    /// smtpd_command_filter, opened once.
    var commandFilter: SmtpdCommandFilter?
    /// smtpd_upstream_proxy_protocol ("haproxy" or empty) and its timeout.
    var upstreamProxy = ""
    /// smtpd_client_port_logging.
    var clientPortLogging = false
    /// smtpd_noop_commands.
    var noopCommands = StringMatchList(parameter: "smtpd_noop_commands", value: "")
    /// smtpd_delay_open_until_valid_rcpt.
    var delayOpen = true
    /// XVERP: smtpd_authorized_verp_clients, default_verp_delimiters, verp_delimiter_filter.
    var verpClients = ""
    var defaultVerpDelimiters = "+="
    var verpFilter = "-=+"
    /// smtpd_relay_before_recipient_restrictions, and whether "no" comes
    /// from the compatibility_level default (then Postfix notes each reject).
    var relayBeforeRecipient = true
    var relayOrderFromCompatibility = false
    var upstreamProxyTimeout: Int32 = 5
    /// inet_protocols: which address families a PROXY header may name.
    var ipv4Enabled = true
    var ipv6Enabled = true

    init() {}

    init(context: ServiceContext) {
        let c = context.config
        myhostname = c.value("myhostname")
        let name = c.value("mail_name")
        mailName = name.isEmpty ? "Postfix" : name
        banner = c.value("smtpd_banner")
        timeout = Int32(clamping: context.seconds("smtpd_timeout"))
        lineLimit = max(1, context.integer("line_length_limit"))
        messageSizeLimit = Int(c.value("message_size_limit")) ?? 10_240_000
        recipientLimit = context.integer("smtpd_recipient_limit")
        softErrorLimit = context.integer("smtpd_soft_error_limit")
        hardErrorLimit = context.integer("smtpd_hard_error_limit")
        errorSleep = UInt32(max(0, context.seconds("smtpd_error_sleep_time")))
        heloRequired = context.bool("smtpd_helo_required")
        delayReject = context.bool("smtpd_delay_reject")
        strictEnvelopes = context.bool("strict_rfc821_envelopes")
        disableVRFY = context.bool("disable_vrfy_command")
        ehloDiscard = SmtpdEhloDiscard(config: c, tableContext: TableContext(config: c))
        forbidBareNewline = c.value("smtpd_forbid_bare_newline").lowercased()
        bareNewlineExclusions = c.value("smtpd_forbid_bare_newline_exclusions")
        bareNewlineRejectCode = Int(c.value("smtpd_forbid_bare_newline_reject_code")) ?? 550
        forbidUnauthPipelining = c.bool("smtpd_forbid_unauth_pipelining")
        rejectUnlistedRecipient = c.bool("smtpd_reject_unlisted_recipient")
        rejectUnlistedSender = c.bool("smtpd_reject_unlisted_sender")
        xforwardHosts = c.value("smtpd_authorized_xforward_hosts")
        xclientHosts = c.value("smtpd_authorized_xclient_hosts")
        fastFlushDomains = c.value("fast_flush_domains")
        fastFlushParentMatches = c.value("parent_domain_matches_subdomains").splitList().contains("fast_flush_domains")
        flushServiceName = c.value("flush_service_name").isEmpty ? "flush" : c.value("flush_service_name")
        connectionCountLimit = Int(c.value("smtpd_client_connection_count_limit")) ?? 50
        connectionRateLimit = Int(c.value("smtpd_client_connection_rate_limit")) ?? 0
        messageRateLimit = Int(c.value("smtpd_client_message_rate_limit")) ?? 0
        recipientRateLimit = Int(c.value("smtpd_client_recipient_rate_limit")) ?? 0
        authRateLimit = Int(c.value("smtpd_client_auth_rate_limit")) ?? 0
        newTLSSessionRateLimit = Int(c.value("smtpd_client_new_tls_session_rate_limit")) ?? 0
        eventLimitExceptions = c.value("smtpd_client_event_limit_exceptions")
        receiveOverrideOptions = c.value("receive_override_options")
        cleanupFlags = CleanupProtocol.Flags.external(receiveOverrideOptions: receiveOverrideOptions)
        noUnknownRecipientChecks = receiveOverrideOptions.splitList().contains { $0.lowercased() == "no_unknown_recipient_checks" }
        serviceName = context.serviceName
        localHeaderRewriteClients = c.value("local_header_rewrite_clients")
        localHeaderRewriteItemsCache = (localHeaderRewriteClients, localHeaderRewriteClients.splitList().map { $0.lowercased() })
        inetInterfaces = c.value("inet_interfaces").lowercased()
        mynetworks = c.value("mynetworks")
        peernameLookup = c.bool("smtpd_peername_lookup")
        smtputf8Enable = c.bool("smtputf8_enable")
        forbiddenCommands = c.value("smtpd_forbidden_commands")
        forbiddenList = SmtpdForbiddenCommands(value: forbiddenCommands, context: TableContext(config: c))
        recipientOvershootLimit = context.integer("smtpd_recipient_overshoot_limit")
        junkCommandLimit = context.integer("smtpd_junk_command_limit")
        replyShaper = SmtpdReplyShaper(config: c, tableContext: TableContext(config: c))
        commandFilter = SmtpdCommandFilter.open(config: c, tableContext: TableContext(config: c))
        clientPortLogging = c.bool("smtpd_client_port_logging")
        delayOpen = c.bool("smtpd_delay_open_until_valid_rcpt")
        noopCommands = StringMatchList(parameter: "smtpd_noop_commands", value: c.value("smtpd_noop_commands"),
                                       context: TableContext(config: c))
        verpClients = c.value("smtpd_authorized_verp_clients")
        defaultVerpDelimiters = c.value("default_verp_delimiters")
        verpFilter = c.value("verp_delimiter_filter")
        relayBeforeRecipient = c.bool("smtpd_relay_before_recipient_restrictions")
        let relayOrder = "smtpd_relay_before_recipient_restrictions"
        relayOrderFromCompatibility = !relayBeforeRecipient && c.overrides[relayOrder] == nil && c.main.values[relayOrder] == nil
        upstreamProxy = c.value("smtpd_upstream_proxy_protocol").trimmingPostfixSpace().lowercased()
        upstreamProxyTimeout = Int32(clamping: max(1, context.seconds("smtpd_upstream_proxy_timeout")))
        let protocols = c.value("inet_protocols").lowercased().splitList()
        let all = protocols.contains("all")
        ipv4Enabled = all || protocols.contains("ipv4")
        ipv6Enabled = all || protocols.contains("ipv6")
    }

    /// Whether the first word of an unknown command matches
    /// smtpd_forbidden_commands.
    func isForbiddenCommand(_ word: String) -> Bool {
        forbiddenList.matches(word)
    }

    /// Bare <LF> handling: "reject" refuses it; anything else (no,
    /// normalize, and yes, an alias of normalize in Postfix 3.7.11) accepts
    /// it as a line end. End-of-data is always only <CR><LF>.<CR><LF>.
    var rejectsBareNewline: Bool { forbidBareNewline == "reject" }
}
