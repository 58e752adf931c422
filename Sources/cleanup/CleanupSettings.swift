// CleanupSettings: the parameters and tables cleanup reads, opened once per
// process before privileges are dropped.
import Glibc
import Util
import Global
import Tables

final class CleanupSettings {
    let config: MailConfig
    let queue: QueueDirectory
    let headerChecks: TableList?
    let mimeHeaderChecks: TableList?
    let nestedHeaderChecks: TableList?
    let bodyChecks: TableList?
    let canonical: TableList?
    let senderCanonical: TableList?
    let recipientCanonical: TableList?
    let canonicalClasses: Set<String>
    let senderCanonicalClasses: Set<String>
    let recipientCanonicalClasses: Set<String>
    let virtualAlias: TableList?
    let senderBcc: TableList?
    let recipientBcc: TableList?
    let alwaysBcc: String
    let mydestination: DomainMatchList?
    let myorigin: String
    let myhostname: String
    let delimiters: String
    let alwaysAddMissingHeaders: Bool
    let undisclosedRecipientsHeader: String
    let headerSizeLimit: Int
    let hopcountLimit: Int
    let messageSizeLimit: Int
    let lineLengthLimit: Int
    let recursionLimit: Int
    let expansionLimit: Int
    let contentFilter: String
    let qmgrTrigger: String
    let masqueradeDomains: [String]
    let masqueradeExceptions: Set<String>
    let masqueradeExceptionTables: TableList?
    let masqueradeClasses: Set<String>
    let remoteHeaderRewriteDomain: String
    let bodyChecksSizeLimit: Int
    let disableMime: Bool
    let mimeNestingLimit: Int
    let mimeBoundaryLengthLimit: Int
    let reportNesting: Bool
    let dropHeaders: Set<String>
    let tokenLimit: Int
    /// delay_warning_time in seconds (0 = no W record).
    let delayWarningTime: Int
    /// private/$bounce_service_name (absolute).
    let bounceService: String
    let ipcTimeout: Int32

    init(config: MailConfig) throws(LookupError) {
        self.config = config
        queue = QueueDirectory(config: config)
        let context = TableContext(config: config)
        func tables(_ name: String) throws(LookupError) -> TableList? {
            let value = config.value(name)
            guard !value.trimmingPostfixSpace().isEmpty else { return nil }
            return try TableList(parameter: name, value: value, context: context)
        }
        func classes(_ name: String) -> Set<String> { Set(config.value(name).splitList().map { $0.lowercased() }) }
        headerChecks = try tables("header_checks")
        mimeHeaderChecks = try tables("mime_header_checks")
        nestedHeaderChecks = try tables("nested_header_checks")
        bodyChecks = try tables("body_checks")
        canonical = try tables("canonical_maps")
        senderCanonical = try tables("sender_canonical_maps")
        recipientCanonical = try tables("recipient_canonical_maps")
        canonicalClasses = classes("canonical_classes")
        senderCanonicalClasses = classes("sender_canonical_classes")
        recipientCanonicalClasses = classes("recipient_canonical_classes")
        virtualAlias = try tables("virtual_alias_maps")
        senderBcc = try tables("sender_bcc_maps")
        recipientBcc = try tables("recipient_bcc_maps")
        alwaysBcc = config.value("always_bcc").trimmingPostfixSpace()
        mydestination = try DomainMatchList(parameter: "mydestination", value: config.value("mydestination"),
                                            parentMatchesSubdomains: config.value("parent_domain_matches_subdomains")
                                                .splitList().contains("mydestination"), context: context)
        myorigin = config.value("myorigin").asciiLowercased()
        myhostname = config.value("myhostname")
        delimiters = config.value("recipient_delimiter")
        alwaysAddMissingHeaders = config.bool("always_add_missing_headers")
        undisclosedRecipientsHeader = config.value("undisclosed_recipients_header")
        func int(_ name: String, _ fallback: Int) -> Int { Int(config.value(name)) ?? fallback }
        headerSizeLimit = int("header_size_limit", 102400)
        hopcountLimit = int("hopcount_limit", 50)
        messageSizeLimit = int("message_size_limit", 10240000)
        lineLengthLimit = max(1, int("line_length_limit", 2048))
        recursionLimit = int("virtual_alias_recursion_limit", 1000)
        expansionLimit = int("virtual_alias_expansion_limit", 1000)
        contentFilter = config.value("content_filter").trimmingPostfixSpace()
        let qmgr = config.value("queue_service_name")
        qmgrTrigger = queue.path + "/public/" + (qmgr.isEmpty ? "qmgr" : qmgr)
        masqueradeDomains = config.value("masquerade_domains").splitList()
        let exceptions = config.value("masquerade_exceptions").splitList()
        masqueradeExceptions = Set(exceptions.filter { !$0.contains(":") }.map { $0.asciiLowercased() })
        let exceptionTables = exceptions.filter { $0.contains(":") }
        masqueradeExceptionTables = exceptionTables.isEmpty ? nil
            : try TableList(parameter: "masquerade_exceptions", value: exceptionTables.joined(separator: ", "), context: context)
        masqueradeClasses = classes("masquerade_classes")
        remoteHeaderRewriteDomain = config.value("remote_header_rewrite_domain").trimmingPostfixSpace()
        bodyChecksSizeLimit = int("body_checks_size_limit", 51200)
        disableMime = config.bool("disable_mime_input_processing")
        mimeNestingLimit = int("mime_nesting_limit", 100)
        mimeBoundaryLengthLimit = max(1, int("mime_boundary_length_limit", 2048))
        reportNesting = headerChecks != nil || mimeHeaderChecks != nil || nestedHeaderChecks != nil
            || ["strict_8bitmime", "strict_7bit_headers", "strict_8bitmime_body", "strict_mime_encoding_domain"]
                .contains { config.bool($0) }
        dropHeaders = Set(config.value("message_drop_headers").splitList().map { $0.asciiLowercased() })
        tokenLimit = int("header_address_token_limit", 10240)
        delayWarningTime = Int(ValueChecker.seconds(config.value("delay_warning_time").trimmingPostfixSpace(),
                                                    defaultUnit: "h") ?? 0)
        let bounce = config.value("bounce_service_name")
        bounceService = queue.path + "/private/" + (bounce.isEmpty ? BounceProtocol.bounceService : bounce)
        ipcTimeout = max(1, Int32(ValueChecker.seconds(config.value("ipc_timeout"), defaultUnit: "s") ?? 3600))
    }

    /// masquerade_exceptions: local parts that are never masqueraded.
    func isMasqueradeException(_ local: String) -> Bool {
        if masqueradeExceptions.contains(local.asciiLowercased()) { return true }
        return ((try? masqueradeExceptionTables?.find(local)) ?? nil) != nil
    }

    /// True when `domain` is $myorigin or matches $mydestination.
    func domainIsLocal(_ domain: String) -> Bool {
        if domain == myorigin { return true }
        return (try? mydestination?.matches(domain)) ?? false
    }

    /// A TableList as an address lookup (partial keys skip pattern tables).
    static func addressLookup(_ list: TableList) -> AddressLookup {
        return { (key: AddressSearch.Key) throws(CleanupTemporaryError) -> String? in
            do { return try list.find(key.text, fixedOnly: key.isPartial) } catch {
                throw CleanupTemporaryError(text: "\(list.parameter): \(error)")
            }
        }
    }

    /// A TableList as a header/body check.
    static func checkLookup(_ list: TableList?) -> CheckLookup? {
        guard let list else { return nil }
        return { (text: String) throws(CleanupTemporaryError) -> String? in
            do { return try list.find(text) } catch {
                throw CleanupTemporaryError(text: "\(list.parameter): \(error)")
            }
        }
    }
}
