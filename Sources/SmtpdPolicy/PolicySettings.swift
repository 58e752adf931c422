// PolicySettings: the parameters the restriction engine reads, read once per
// process (as Postfix reads them at start-up): reply codes, lists, switches.
import Util
import Global

public struct PolicySettings: Sendable {
    public var rejectCode = 554
    public var deferCode = 450
    public var accessMapRejectCode = 554
    public var accessMapDeferCode = 450
    public var relayRejectCode = 554
    public var unknownAddressRejectCode = 450
    public var unknownClientRejectCode = 450
    public var unknownHostnameRejectCode = 450
    public var invalidHostnameRejectCode = 501
    public var nonFQDNRejectCode = 504
    public var unknownLocalRecipientRejectCode = 550
    public var unknownVirtualAliasRejectCode = 550
    public var unknownVirtualMailboxRejectCode = 550
    public var unknownRelayRecipientRejectCode = 550
    public var unverifiedRecipientRejectCode = 450
    public var multiRecipientBounceRejectCode = 550
    public var plaintextRejectCode = 450
    public var showUserUnknownTableName = true
    public var recipientDelimiter = ""
    public var parentMatchesAccess = false
    public var nullAccessKey = "<>"
    public var restrictionClasses: Set<String> = []
    /// Restriction list text per stage.
    public var lists = PolicyStageTable<String>()
    public var mynetworks = ""
    public var localRecipientMaps = ""
    /// Local parts every local domain accepts without a table entry (as
    /// Postfix: $double_bounce_sender, postmaster, MAILER-DAEMON).
    public var alwaysLocalRecipients = ["double-bounce", "postmaster", "MAILER-DAEMON"]
    public var virtualAliasMaps = ""
    public var virtualMailboxMaps = ""
    public var relayRecipientMaps = ""
    /// smtpd_sender_login_maps: sender address -> the SASL logins that own it.
    public var senderLoginMaps = ""
    /// smtpd_sasl_auth_enable: without it the sender login checks are
    /// ignored with a warning, as Postfix does.
    public var saslEnabled = false
    /// inet_protocols: which address families host lookups keep.
    public var inetProtocols = "all"
    /// permit_mx_backup_networks: where a primary MX must be for permit_mx_backup.
    public var permitMxBackupNetworks = ""
    /// inet_interfaces and proxy_interfaces: this host's addresses for permit_mx_backup.
    public var inetInterfaces = "all"
    public var proxyInterfaces = ""
    /// Class name -> restriction list text.
    public var classLists: [String: String] = [:]
    /// check_policy_service defaults, and the DNS list replies.
    public var policyService = PolicyServiceSettings()
    public var rbl = RblSettings()
    /// smtpd_log_access_permit_actions: permit decisions that are logged.
    public var permitLogActions = ""
    /// permit_tls_clientcerts and check_ccert_access (ClientCertificateChecks).
    public var clientCerts = ClientCertificateSettings()

    public init() {}

    /// Reads every value from `config`; malformed numbers keep the default.
    public init(config: MailConfig) {
        func int(_ name: String, _ fallback: Int) -> Int { Int(config.value(name)) ?? fallback }
        rejectCode = int("reject_code", 554)
        deferCode = int("defer_code", 450)
        accessMapRejectCode = int("access_map_reject_code", 554)
        accessMapDeferCode = int("access_map_defer_code", 450)
        relayRejectCode = int("relay_domains_reject_code", 554)
        unknownAddressRejectCode = int("unknown_address_reject_code", 450)
        unknownClientRejectCode = int("unknown_client_reject_code", 450)
        unknownHostnameRejectCode = int("unknown_hostname_reject_code", 450)
        invalidHostnameRejectCode = int("invalid_hostname_reject_code", 501)
        nonFQDNRejectCode = int("non_fqdn_reject_code", 504)
        unknownLocalRecipientRejectCode = int("unknown_local_recipient_reject_code", 550)
        unknownVirtualAliasRejectCode = int("unknown_virtual_alias_reject_code", 550)
        unknownVirtualMailboxRejectCode = int("unknown_virtual_mailbox_reject_code", 550)
        unknownRelayRecipientRejectCode = int("unknown_relay_recipient_reject_code", 550)
        multiRecipientBounceRejectCode = int("multi_recipient_bounce_reject_code", 550)
        plaintextRejectCode = int("plaintext_reject_code", 450)
        showUserUnknownTableName = config.bool("show_user_unknown_table_name")
        recipientDelimiter = config.value("recipient_delimiter")
        parentMatchesAccess = config.value("parent_domain_matches_subdomains").splitList().contains("smtpd_access_maps")
        nullAccessKey = config.value("smtpd_null_access_lookup_key")
        for stage in PolicyStage.allCases { lists[stage] = config.value(stage.parameter) }
        mynetworks = config.value("mynetworks")
        localRecipientMaps = config.value("local_recipient_maps")
        alwaysLocalRecipients = [config.value("double_bounce_sender"), "postmaster", "MAILER-DAEMON"]
        virtualAliasMaps = config.value("virtual_alias_maps")
        virtualMailboxMaps = config.value("virtual_mailbox_maps")
        relayRecipientMaps = config.value("relay_recipient_maps")
        senderLoginMaps = config.value("smtpd_sender_login_maps")
        saslEnabled = config.bool("smtpd_sasl_auth_enable")
        inetProtocols = config.value("inet_protocols")
        permitMxBackupNetworks = config.value("permit_mx_backup_networks")
        inetInterfaces = config.value("inet_interfaces")
        proxyInterfaces = config.value("proxy_interfaces")
        restrictionClasses = Set(config.value("smtpd_restriction_classes").splitList())
        for name in restrictionClasses { classLists[name] = config.value(name) }
        policyService = PolicyServiceSettings(config: config)
        rbl = RblSettings(config: config)
        permitLogActions = config.value("smtpd_log_access_permit_actions")
        clientCerts = ClientCertificateSettings(config: config)
    }
}
