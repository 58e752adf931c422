// SmtpdSession: one SMTP conversation, as Postfix's smtpd conducts it: the
// greeting, the command loop with Postfix's replies and error accounting,
// restrictions through SmtpdPolicy, the message handed to cleanup, and the
// log lines (connect, reject, client=, lost connection, disconnect
// statistics). I/O goes through SmtpdInput/SmtpdOutput over a
// SmtpdTransport, so tests drive a session from memory.
import Glibc
import Util
import Global
import Tables
import SmtpdPolicy


final class SmtpdSession {
    let settings: SmtpdSettings
    let engine: RestrictionEngine
    let queue: SmtpdQueue
    let limiter: SmtpdRateLimiter?
    /// TLS and SASL state (SmtpdSecurity.swift).
    let security: SmtpdSecurity
    var peer: SmtpdPeer
    let input: SmtpdInput
    let output: SmtpdOutput
    /// Mail log sinks (MailLog by default; tests collect lines).
    var logInfo: (String) -> Void = { MailLog.info($0) }
    var logWarning: (String) -> Void = { MailLog.warning($0) }
    var sleeper: (UInt32) -> Void = { _ = Glibc.sleep($0) }
    var now: () -> (Int, Int) = {
        var tv = timeval()
        gettimeofday(&tv, nil)
        return (Int(tv.tv_sec), Int(tv.tv_usec))
    }

    // Session state.
    var helo: String?
    var proto = "SMTP"
    private(set) var errorCount = 0
    /// smtpd_junk_command_limit: HELO/EHLO/NOOP/VRFY/ETRN/RSET/XCLIENT/XFORWARD since the last delivery.
    private var junkCount = 0
    /// XFORWARD permission, decided for the real client at connect time
    /// (XCLIENT changes who the client is, not who may use XFORWARD).
    private var xforwardAllowed = false
    /// The command line being handled (for warnings that quote it).
    private var commandLine = ""
    /// RCPTs refused by smtpd_recipient_limit in this transaction.
    private var rcptOvershoot = 0
    /// DSN not announced (smtpd_discard_ehlo_keywords): its parameters are refused.
    /// The client ended the session with QUIT (no input can be left unread).
    private(set) var endedByQuit = false
    /// The PROXY header (smtpd_upstream_proxy_protocol) was missing or bad.
    var proxyFailed = false
    /// XVERP delimiters of the current transaction.
    private var verpDelimiters: String?
    /// smtpd_authorized_verp_clients, decided for the real client.
    private lazy var verpAllowed: Bool = !settings.verpClients.isEmpty
        && authorized(settings.verpClients, "smtpd_authorized_verp_clients") && !discardedKeywords.contains("VERP")
        && !discardedKeywords.contains("XVERP")
    private var dsnDisabled: Bool { discardedKeywords.contains("DSN") }
    /// EHLO keywords withheld from this client (SmtpdEhloDiscard).
    private lazy var discardedKeywords: Set<String> = settings.ehloDiscard.keywords(for: peer.address, warn: logWarning)
    var stage = "CONNECT"
    private var improperPipelining = false
    private var accessDenied: SmtpReply?
    private var xforward: [String: String] = [:]
    var saslUsername: String?
    /// MAIL FROM's `AUTH=` value while SASL is on (not `<>`), for the
    /// `client=` line and policy servers, as Postfix keeps it: raw, with
    /// non-printable characters as `?`.
    var saslSender: String?
    private var anvilIdent: String?
    var finished = false
    /// Stand-alone (`sendmail -bs` by a user other than mail_owner): no
    /// restrictions, unlisted-address or pipelining checks; ETRN refused.
    var standalone = false
    static let statNames = ["helo", "ehlo", "xclient", "xforward", "starttls", "auth", "mail", "rcpt", "data", "bdat",
                            "rset", "noop", "vrfy", "etrn", "quit", "unknown"]
    private var statOK = [Int](repeating: 0, count: statNames.count)
    private var statTotal = [Int](repeating: 0, count: statNames.count)

    // Transaction state.
    private(set) var sender: String?
    private var recipients: [QueueRecipient] = []
    /// The transaction's first accepted recipient (reply footers' $recipient, as Postfix's).
    var firstRecipient: String? { recipients.first?.address }
    private var queueFile: SmtpdQueueFile?
    private var declaredSize = 0
    private var envid: String?
    private var retFlags: Int?
    /// BODY=8BITMIME/7BIT: the `encoding` attribute (8bit, 7bit).
    private var encoding: String?
    private var actions = PolicyActions()
    private var earlyVerdict: PolicyOutcome?
    private var arrival = (0, 0)
    private var bdat: BdatState?

    struct BdatState {
        var failure: SmtpReply?
        var writer: MessageWriter?
    }

    init(settings: SmtpdSettings, engine: RestrictionEngine, queue: SmtpdQueue, limiter: SmtpdRateLimiter?,
         peer: SmtpdPeer, transport: SmtpdTransport, security: SmtpdSecurity = SmtpdSecurity()) {
        self.security = security
        self.settings = settings
        self.engine = engine
        self.queue = queue
        self.limiter = limiter
        self.peer = peer
        input = SmtpdInput(transport: transport, timeout: settings.timeout, capacity: max(8192, settings.lineLimit + 2))
        output = SmtpdOutput(transport: transport, timeout: settings.timeout)
        input.beforeRead = { [unowned output] in try? output.flush() }
    }

    // MARK: - Replies and logs

    func reply(_ line: String) {
        if settings.replyShaper.isActive {
            for l in settings.replyShaper.shape(line, macro: footerMacro, warn: logWarning) { output.append(l) }
        } else {
            output.append(line)
        }
        // As Postfix: a 421 or 521 reply ends the session.
        if line.hasPrefix("421") || line.hasPrefix("521") { finished = true }
    }

    func reply(_ r: SmtpReply) { reply(r.description) }

    /// A 4xx/5xx reply that counts as a client error (and is slowed down
    /// after smtpd_soft_error_limit errors).
    func error(_ line: String) {
        errorCount += 1
        if settings.softErrorLimit > 0 && errorCount >= settings.softErrorLimit && settings.errorSleep > 0 {
            try? output.flush()
            sleeper(settings.errorSleep)
        }
        reply(line)
    }

    func error(_ r: SmtpReply) { error(r.description) }

    var client: String { peer.nameAddress }

    private func facts() -> PolicyFacts {
        var f = PolicyFacts(clientName: peer.name, reverseClientName: peer.reverseName, clientAddress: peer.address)
        f.clientNameTemporary = peer.nameTemporary
        f.reverseNameTemporary = peer.reverseTemporary
        if peer.portLogging { f.portSuffix = ":" + peer.port }
        f.helo = helo
        f.sender = sender
        f.saslUsername = saslUsername
        f.saslSender = saslSender ?? ""
        f.pipelinedImproperly = improperPipelining
        f.commandName = stage
        // For policy servers (check_policy_service).
        f.protocolName = proto
        f.clientPort = peer.port
        f.serverAddress = peer.serverAddress
        f.serverPort = peer.serverPort
        f.recipientCount = recipients.count
        f.queueID = queueFile?.queueID ?? ""
        f.size = declaredSize
        f.saslMethod = security.saslMethod ?? ""
        if let tls = security.summary {
            f.encryptionProtocol = tls.protocolName
            f.encryptionCipher = tls.cipherName
            f.encryptionKeysize = tls.cipherBits
        }
        if sender != nil { f.instanceParts = (Int(MasterProtocol.processID), arrival.0, arrival.1) }
        addSecurityFacts(&f)
        return f
    }

    /// `from=<s> to=<r> proto=P helo=<h>` context of restriction log lines.
    private func context(recipient: String?, sender: String? = nil) -> String {
        // Addresses in external form (info_log_address_format = external).
        var text = ""
        if let s = sender ?? self.sender { text += " from=<\(s.isEmpty ? s : HeaderAddressParser.quoteInternal(s))>" }
        if let r = recipient { text += " to=<\(r.isEmpty ? r : HeaderAddressParser.quoteInternal(r))>" }
        text += " proto=\(proto)"
        if let h = helo { text += " helo=<\(h)>" }
        return text
    }

    private func logEvents(_ outcome: PolicyOutcome, recipient: String?, sender: String? = nil) {
        for line in outcome.lines {
            switch line {
            case .warning(let w): logWarning(w)
            case .info(let text): logInfo(text)
            case .event(let e):
                let text = e.action == "reject_warning" ? settings.replyShaper.logged(e.text) : e.text
                logInfo("\(queueFile?.queueID ?? "NOQUEUE"): \(e.action): \(stage) from \(client): \(text);\(context(recipient: recipient, sender: sender))")
            }
        }
    }

    private func logReject(_ r: SmtpReply, recipient: String?, sender: String? = nil) {
        logInfo("\(queueFile?.queueID ?? "NOQUEUE"): reject: \(stage) from \(client): \(settings.replyShaper.logged(r.description));\(context(recipient: recipient, sender: sender))")
    }

    /// Logs the events of `outcome`, merges its actions, and returns its reject.
    private func absorb(_ outcome: PolicyOutcome, recipient: String?, sender: String? = nil) -> SmtpReply? {
        logEvents(outcome, recipient: recipient, sender: sender)
        merge(outcome.actions)
        if let r = outcome.reply {
            logReject(r, recipient: recipient, sender: sender)
            return r
        }
        return nil
    }

    /// The restriction engine, bypassed in stand-alone mode.
    private func policyCheck(_ stage: PolicyStage, facts: PolicyFacts) -> PolicyOutcome {
        standalone ? PolicyOutcome() : engine.check(stage, facts: facts)
    }

    private func unlistedCheck(_ address: String, sender: Bool) -> PolicyOutcome {
        standalone ? PolicyOutcome() : engine.checkUnlisted(address, sender: sender)
    }

    private func merge(_ a: PolicyActions) {
        if a.hold { actions.hold = true }
        if a.discard { actions.discard = true }
        if let f = a.filter { actions.filter = f }
        if let r = a.redirect { actions.redirect = r }
        actions.prepend += a.prepend
        actions.bcc += a.bcc
    }

    private func count(_ name: String, ok: Bool) {
        guard let i = SmtpdSession.statNames.firstIndex(of: name) else { return }
        statTotal[i] += 1
        if ok { statOK[i] += 1 }
    }

    private func countAttempt(_ name: String) {
        if let i = SmtpdSession.statNames.firstIndex(of: name) { statTotal[i] += 1 }
    }

    private func countSuccess(_ name: String) {
        if let i = SmtpdSession.statNames.firstIndex(of: name) { statOK[i] += 1 }
    }

    /// ` ehlo=1 mail=1 ... commands=N[/T]`.
    var statistics: String {
        // Bytes, not interpolation: this runs for every session.
        var text: [UInt8] = []
        text.reserveCapacity(128)
        var ok = 0
        var total = 0
        func item(_ name: String, _ good: Int, _ all: Int, slash: Bool) {
            text.append(UInt8(ascii: " "))
            text.appendUTF8(name)
            text.append(UInt8(ascii: "="))
            text.appendDecimal(good)
            if slash {
                text.append(UInt8(ascii: "/"))
                text.appendDecimal(all)
            }
        }
        for (i, name) in SmtpdSession.statNames.enumerated() where statTotal[i] > 0 {
            item(name, statOK[i], statTotal[i], slash: statOK[i] != statTotal[i])
            ok += statOK[i]
            total += statTotal[i]
        }
        item("commands", ok, total, slash: !(ok == total && total > 0))
        return String(decoding: text, as: UTF8.self)
    }

    // MARK: - The conversation

    func run() {
        xforwardAllowed = authorized(settings.xforwardHosts, "smtpd_authorized_xforward_hosts")
        logInfo("connect from \(client)")
        defer {
            if let ident = anvilIdent { limiter?.disconnect(ident) }
            mailReset()
            logInfo("disconnect from \(client)\(statistics)")
        }
        // smtpd_upstream_proxy_protocol: no usable PROXY header (logged).
        if proxyFailed {
            reply("421 4.3.0 \(settings.myhostname) Server local error")
            try? output.flush()
            return
        }
        if let r = connectionLimit() {
            reply(r)
            try? output.flush()
            return
        }
        if !settings.delayReject {
            let outcome = policyCheck(.client, facts: facts())
            if let r = absorb(outcome, recipient: nil) {
                accessDenied = r
                error(r)
            }
        }
        // smtpd_tls_wrappermode: TLS before the greeting.
        if security.wrapperMode && !startWrapperTLS() { return }
        if accessDenied == nil { reply("220 \(settings.banner)") }
        do {
            // A client that talks before the greeting.
            if !standalone && input.hasPending && checkPipelining(after: "CONNECT") { return }
            try output.flush()
            try loop()
            try output.flush()
        } catch TransportError.timeout {
            reply("421 4.4.2 \(settings.myhostname) Error: timeout exceeded")
            try? output.flush()
            logInfo("timeout after \(stage) from \(client)")
        } catch {
            if stage != "END-OF-MESSAGE" { logInfo("lost connection after \(stage) from \(client)") }
        }
    }

    /// Logs improper pipelining once; true when the session must end.
    private func checkPipelining(after command: String) -> Bool {
        guard !improperPipelining else { return false }
        improperPipelining = true
        let rest = SmtpdCommand.escaped(input.peekBuffered(limit: 100))
        logInfo("improper command pipelining after \(command) from \(client): \(rest)")
        if settings.forbidUnauthPipelining {
            reply("554 5.5.0 Error: SMTP protocol synchronization")
            try? output.flush()
            return true
        }
        return false
    }

    private static let mustBeLast: Set<String> = ["HELO", "EHLO", "DATA", "VRFY", "EXPN", "NOOP", "QUIT", "ETRN", "AUTH", "XCLIENT"]

    private func loop() throws(TransportError) {
        while !finished {
            if settings.hardErrorLimit > 0 && errorCount >= settings.hardErrorLimit {
                reply("421 4.7.0 \(settings.myhostname) Error: too many errors")
                try output.flush()
                logInfo("too many errors after \(stage) from \(client)")
                return
            }
            if input.buffered == 0 { try output.flush() }
            var (bytes, end) = try input.readLine(limit: settings.lineLimit)
            let rawLine = bytes
            if end == .truncated {
                let preview = String(decoding: bytes.prefix(30), as: UTF8.self)
                logWarning("\(client): request longer than \(settings.lineLimit): \(preview)...")
                while end == .truncated { (_, end) = try input.readLine(limit: settings.lineLimit) }
            }
            if end == .bareLF && settings.rejectsBareNewline && !bareNewlineExcluded() {
                // As Postfix 3.7.11 with smtpd_forbid_bare_newline = reject:
                // the command is not run, and the session ends.
                logInfo("\(queueFile?.queueID ?? "NOQUEUE"): reject: \(stage) from \(client): bare <LF> received;\(context(recipient: nil))")
                reply(bareNewlineReply)
                try output.flush()
                return
            }
            // Postfix reads a command as a C string: a NUL ends it.
            if let nul = bytes.firstIndex(of: 0) { bytes.removeSubrange(nul...) }
            if let filter = settings.commandFilter,
               let replaced = filter.replacement(for: bytes, client: client, log: logInfo, warn: logWarning) {
                bytes = replaced
            }
            if settings.smtputf8Enable && !SmtpdCommand.isValidUTF8(bytes) {
                error("500 5.5.2 Error: bad UTF-8 syntax")
                continue
            }
            let line = String(decoding: bytes, as: UTF8.self)
            commandLine = line
            let (verb, rest) = SmtpdCommand.split(line)
            if verb.isEmpty {
                error("500 5.5.2 Error: bad syntax")
                continue
            }
            // smtpd_noop_commands: 250, nothing else (not in the statistics).
            if !settings.noopCommands.isEmpty && settings.noopCommands.matches(verb) {
                reply("250 2.0.0 Ok")
                if junkCount > settings.junkCommandLimit { errorCount += 1 }
                junkCount += 1
                continue
            }
            guard let name = SmtpdSession.commands[verb] else {
                stage = "UNKNOWN"
                count("unknown", ok: false)
                let word = String(line.drop(while: SmtpdCommand.isSpace).prefix { !SmtpdCommand.isSpace($0) })
                if SmtpdCommand.looksLikeHeader(word) || settings.isForbiddenCommand(word) {
                    logWarning("non-SMTP command from \(client): \(String(SmtpdCommand.escaped(rawLine).prefix(100)))")
                    reply("221 2.7.0 Error: I can break rules, too. Goodbye.")
                    try output.flush()
                    return
                }
                if accessDenied != nil {
                    error("503 5.7.0 Error: access denied for \(client)")
                } else {
                    error("500 5.5.2 Error: command not recognized")
                }
                continue
            }
            if let denied = accessDenied, verb != "QUIT" && verb != "RSET" && verb != "NOOP" {
                _ = denied
                count(name, ok: false)
                error("503 5.7.0 Error: access denied for \(client)")
                continue
            }
            if let r = tlsRequired(verb) {
                count(name, ok: false)
                error(r)
                continue
            }
            stage = verb
            // Counted before it runs: a command that loses the connection
            // (DATA, BDAT) or is refused for pipelining counts as failed.
            countAttempt(name)
            if !standalone && (SmtpdSession.mustBeLast.contains(verb) || proto == "SMTP") && !improperPipelining && input.hasPending {
                if checkPipelining(after: verb) { return }
            }
            if try dispatch(verb, rest) { countSuccess(name) }
            if SmtpdSession.junkCommands.contains(verb) {
                // smtpd_junk_command_limit: junk beyond the limit counts as errors.
                if junkCount > settings.junkCommandLimit { errorCount += 1 }
                junkCount += 1
            }
        }
    }

    /// Commands a client may repeat without a tarpit, limited by
    /// smtpd_junk_command_limit (as Postfix's: HELO and EHLO too).
    private static let junkCommands: Set<String> = ["HELO", "EHLO", "NOOP", "VRFY", "ETRN", "RSET", "XCLIENT", "XFORWARD"]

    private static let commands: [String: String] = [
        "HELO": "helo", "EHLO": "ehlo", "XCLIENT": "xclient", "XFORWARD": "xforward", "STARTTLS": "starttls",
        "AUTH": "auth", "MAIL": "mail", "RCPT": "rcpt", "DATA": "data", "BDAT": "bdat", "RSET": "rset",
        "NOOP": "noop", "VRFY": "vrfy", "ETRN": "etrn", "QUIT": "quit",
    ]

    private func dispatch(_ verb: String, _ rest: Substring) throws(TransportError) -> Bool {
        switch verb {
        case "HELO", "EHLO": return heloCommand(verb, rest)
        case "MAIL": return mailCommand(rest)
        case "RCPT": return rcptCommand(rest)
        case "DATA": return try dataCommand(rest)
        case "BDAT": return try bdatCommand(rest)
        case "RSET":
            guard rest.isEmpty else { error("501 5.5.4 Syntax: RSET"); return false }
            mailReset()
            reply("250 2.0.0 Ok")
            return true
        case "NOOP":
            reply("250 2.0.0 Ok")
            return true
        case "QUIT":
            reply("221 2.0.0 Bye")
            try output.flush()
            finished = true
            endedByQuit = true
            return true
        case "VRFY": return vrfyCommand(rest)
        case "ETRN": return etrnCommand(rest)
        case "STARTTLS": return try starttlsCommand(rest)
        case "AUTH": return try authCommand(rest)
        case "XFORWARD": return xforwardCommand(rest)
        case "XCLIENT": return xclientCommand(rest)
        default:
            error("500 5.5.2 Error: command not recognized")
            return false
        }
    }

    /// local_header_rewrite_clients: permit_inet_interfaces, permit_mynetworks,
    /// permit_sasl_authenticated (other entries are not supported yet).
    private lazy var localRewriteClient: Bool = {
        for item in settings.localHeaderRewriteItems {
            switch item {
            case "permit_inet_interfaces":
                let interfaces = settings.inetInterfaces
                if interfaces == "loopback-only" {
                    if peer.address.hasPrefix("127.") || peer.address == "::1" { return true }
                } else if interfaces == "all" {
                    for a in NetworkInterfaces.addresses() where NetworkInterfaces.text(a.family, a.bytes) == peer.address { return true }
                } else if interfaces.splitList().contains(peer.address) || (interfaces.contains("localhost") && peer.address.hasPrefix("127.")) {
                    return true
                }
            case "permit_mynetworks":
                if authorized(settings.mynetworks, "mynetworks") { return true }
            case "permit_sasl_authenticated":
                if saslUsername != nil { return true }
            default: continue
            }
        }
        return false
    }()

    // MARK: - Limits

    private func eventLimitExempt() -> Bool {
        guard let list = try? NetworkMatchList(parameter: "smtpd_client_event_limit_exceptions", value: settings.eventLimitExceptions) else {
            return false
        }
        return (try? list.matches(name: peer.name, address: peer.address)) ?? false
    }

    private func bareNewlineExcluded() -> Bool {
        guard let list = try? NetworkMatchList(parameter: "smtpd_forbid_bare_newline_exclusions", value: settings.bareNewlineExclusions) else {
            return false
        }
        return (try? list.matches(name: peer.name, address: peer.address)) ?? false
    }

    private lazy var limitsApply: Bool = {
        guard limiter != nil else { return false }
        let any = settings.connectionCountLimit > 0 || settings.connectionRateLimit > 0
            || settings.messageRateLimit > 0 || settings.recipientRateLimit > 0 || settings.authRateLimit > 0
            || settings.newTLSSessionRateLimit > 0
        return any && !eventLimitExempt()
    }()

    private func connectionLimit() -> SmtpReply? {
        guard limitsApply, let limiter else { return nil }
        let ident = AnvilClient.ident(service: settings.serviceName, client: peer.address)
        guard let (count, rate) = limiter.connect(ident) else { return nil }
        anvilIdent = ident
        if settings.connectionCountLimit > 0 && count > settings.connectionCountLimit {
            logWarning("Connection concurrency limit exceeded: \(count) from \(client) for service \(settings.serviceName)")
            return SmtpReply(421, "4.7.0", "\(settings.myhostname) Error: too many connections from \(peer.address)")
        }
        if settings.connectionRateLimit > 0 && rate > settings.connectionRateLimit {
            logWarning("Connection rate limit exceeded: \(rate) from \(client) for service \(settings.serviceName)")
            return SmtpReply(421, "4.7.0", "\(settings.myhostname) Error: too many connections from \(peer.address)")
        }
        return nil
    }

    /// smtpd_client_auth_rate_limit: every AUTH command counts, before any
    /// other check (even when AUTH is not offered), as Postfix 3.7's; a
    /// client allowed to use XCLIENT is not limited. True when the command
    /// was answered here.
    func authRateExceeded() -> Bool {
        guard limitsApply, settings.authRateLimit > 0,
              !authorized(settings.xclientHosts, "smtpd_authorized_xclient_hosts"),
              let rate = limiter?.auth(anvilIdent ?? AnvilClient.ident(service: settings.serviceName, client: peer.address)),
              rate > settings.authRateLimit else { return false }
        logWarning("AUTH command rate limit exceeded: \(rate) from \(client) for service \(settings.serviceName)")
        error("450 4.7.1 Error: too many AUTH commands from \(peer.address)")
        return true
    }

    /// smtpd_client_new_tls_session_rate_limit, before a handshake: true
    /// when the client has had too many new TLS sessions already.
    func newTLSRefused() -> Bool {
        guard limitsApply, settings.newTLSSessionRateLimit > 0,
              !authorized(settings.xclientHosts, "smtpd_authorized_xclient_hosts"),
              let rate = limiter?.newTLSRate(anvilIdent ?? AnvilClient.ident(service: settings.serviceName, client: peer.address))
        else { return false }
        return rate > settings.newTLSSessionRateLimit
    }

    /// After a handshake that made a new session: counts it, and true when
    /// that was one too many (logged as Postfix logs it).
    func newTLSExceeded(reused: Bool) -> Bool {
        guard !reused, limitsApply, settings.newTLSSessionRateLimit > 0,
              !authorized(settings.xclientHosts, "smtpd_authorized_xclient_hosts"),
              let rate = limiter?.newTLS(anvilIdent ?? AnvilClient.ident(service: settings.serviceName, client: peer.address)),
              rate > settings.newTLSSessionRateLimit else { return false }
        logWarning("New TLS session rate limit exceeded: \(rate) from \(client) for service \(settings.serviceName)")
        return true
    }

    // MARK: - HELO/EHLO

    func ehloKeywords() -> [String] {
        var words: [String] = ["PIPELINING"]
        words.append(settings.messageSizeLimit > 0 ? "SIZE \(settings.messageSizeLimit)" : "SIZE")
        if !settings.disableVRFY { words.append("VRFY") }
        words.append("ETRN")
        words += securityKeywords()
        if verpAllowed { words.append("XVERP") }
        if authorized(settings.xclientHosts, "smtpd_authorized_xclient_hosts") {
            words.append("XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT")
        }
        if xforwardAllowed {
            words.append("XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT")
        }
        words += ["ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"]
        return words.filter { word in
            let key = word.split(separator: " ").first.map(String.init) ?? word
            return !discardedKeywords.contains(key)
        }
    }

    private func authorized(_ value: String, _ parameter: String) -> Bool {
        guard !value.isEmpty, let list = try? NetworkMatchList(parameter: parameter, value: value) else { return false }
        return (try? list.matches(name: peer.name, address: peer.address)) ?? false
    }

    private func heloCommand(_ verb: String, _ rest: Substring) -> Bool {
        let name = rest.trimmingSuffix()
        guard !name.isEmpty else {
            error("501 Syntax: \(verb) hostname")
            return false
        }
        mailReset()
        let previous = (helo, proto)
        helo = String(name)
        // As Postfix: HELO after EHLO (even across STARTTLS) stays ESMTP.
        if verb == "EHLO" { proto = "ESMTP" }
        if !settings.delayReject {
            if let r = absorb(policyCheck(.helo, facts: facts()), recipient: nil) {
                (helo, proto) = previous
                error(r)
                return false
            }
        }
        if verb == "HELO" {
            reply("250 \(settings.myhostname)")
        } else {
            if let line = SmtpdEhloDiscard.logLine(discardedKeywords) { logInfo(line) }
            let words = ehloKeywords()
            reply((words.isEmpty ? "250 " : "250-") + settings.myhostname)
            for (i, w) in words.enumerated() { reply((i == words.count - 1 ? "250 " : "250-") + w) }
        }
        return true
    }

    // MARK: - MAIL

    private func mailCommand(_ rest: Substring) -> Bool {
        if settings.heloRequired && helo == nil { error("503 5.5.1 Error: send HELO/EHLO first"); return false }
        if sender != nil { error("503 5.5.1 Error: nested MAIL command"); return false }
        if bdat != nil { error("503 5.5.1 Error: MAIL after BDAT"); return false }
        let parsed: (address: String, parameters: [Substring])
        switch SmtpdCommand.path(rest, keyword: "FROM:", strict: settings.strictEnvelopes) {
        case .failure(.syntax): error("501 5.5.4 Syntax: MAIL FROM:<address>"); return false
        case .failure(let problem):
            if problem == .badAddress {
                logWarning("Illegal address syntax from \(client) in MAIL command: \(SmtpdCommand.addressToken(rest, keyword: "FROM:"))")
            }
            error("501 5.1.7 Bad sender address syntax")
            return false
        case .success(let p): parsed = p
        }
        if !parsed.address.isEmpty && badAddress(parsed.address) {
            logWarning("Illegal address syntax from \(client) in MAIL command: \(SmtpdCommand.addressToken(rest, keyword: "FROM:"))")
            error("501 5.1.7 Bad sender address syntax")
            return false
        }
        var newEnvid: String? = nil
        var newRet: Int? = nil
        var newEncoding: String? = nil
        var newVerp: String? = nil
        for p in parsed.parameters {
            let (key, value) = keyValue(p)
            switch key {
            case "SIZE":
                guard let v = value, !v.isEmpty, v.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                    error("501 5.5.4 Bad message size syntax"); return false
                }
                guard let n = Int(v) else {
                    // Larger than the file system's offsets (off_cvt_string overflow).
                    error("552 5.3.4 Message size exceeds file system imposed limit"); return false
                }
                declaredSize = n
            case "BODY":
                guard let v = value?.uppercased(), v == "8BITMIME" || v == "7BIT" else {
                    error("555 5.5.4 Unsupported option: \(p)"); return false
                }
                newEncoding = v == "8BITMIME" ? "8bit" : "7bit"
            case "RET":
                if dsnDisabled { error("501 5.7.1 DSN support is disabled"); return false }
                guard newRet == nil, let v = value?.uppercased(), v == "FULL" || v == "HDRS" else {
                    error("501 5.5.4 Bad RET parameter syntax"); return false
                }
                newRet = v == "FULL" ? 1 : 2
            case "ENVID":
                if dsnDisabled { error("501 5.7.1 DSN support is disabled"); return false }
                guard newEnvid == nil, let v = value, let decoded = SmtpdCommand.xtextDecode(v), !decoded.isEmpty else {
                    error("501 5.5.4 Bad ENVID parameter syntax"); return false
                }
                newEnvid = decoded
            case "SMTPUTF8" where value == nil: break
            case "XVERP" where verpAllowed:
                // As Postfix: two delimiters from verp_delimiter_filter.
                let delimiters = value.map(String.init) ?? settings.defaultVerpDelimiters
                guard value == nil || (delimiters.utf8.count == 2 && delimiters.allSatisfy { settings.verpFilter.contains($0) }) else {
                    error("501 5.5.4 Error: XVERP needs two characters from \(settings.verpFilter)"); return false
                }
                newVerp = delimiters
            case "AUTH" where value != nil:
                // As Postfix 3.7, with or without SASL: a sender other than
                // <> is kept at once (the MAIL restrictions see it; logged
                // as sasl_sender=, a queue file attribute) and, as there,
                // outlives a MAIL command that then fails, until the
                // transaction is reset; AUTH= while one is kept is an error.
                if saslSender != nil { error("503 5.5.4 Error: multiple AUTH= options"); return false }
                if value! != "<>" { saslSender = Self.printable(String(value!)) }
            default:
                error("555 5.5.4 Unsupported option: \(p)")
                return false
            }
        }
        if settings.messageSizeLimit > 0 && declaredSize > settings.messageSizeLimit {
            let r = SmtpReply(552, "5.3.4", "Message size exceeds fixed limit")
            logReject(r, recipient: nil, sender: parsed.address)
            error(r)
            return false
        }
        if newVerp != nil && parsed.address.isEmpty {
            error("503 5.5.4 Error: XVERP requires non-null sender")
            return false
        }
        if !settings.delayReject {
            let f = { () -> PolicyFacts in var f = self.facts(); f.sender = parsed.address; return f }()
            // The client and HELO stages ran at connect and HELO time.
            for stage in [PolicyStage.sender] {
                if let r = absorb(policyCheck(stage, facts: f), recipient: nil, sender: parsed.address) { error(r); return false }
            }
        }
        if settings.rejectUnlistedSender && !parsed.address.isEmpty {
            if let r = absorb(unlistedCheck(parsed.address, sender: true), recipient: nil, sender: parsed.address) {
                error(r); return false
            }
        }
        if limitsApply && settings.messageRateLimit > 0, let ident = anvilIdent ?? Optional(AnvilClient.ident(service: settings.serviceName, client: peer.address)),
           let rate = limiter?.message(ident), rate > settings.messageRateLimit {
            logWarning("Message delivery request rate limit exceeded: \(rate) from \(client) for service \(settings.serviceName)")
            error("450 4.7.1 Error: too much mail from \(peer.address)")
            return false
        }
        sender = parsed.address
        verpDelimiters = newVerp
        if !settings.delayOpen && !standalone && !openQueueFile() {
            mailReset()
            return false
        }
        envid = newEnvid
        retFlags = newRet
        encoding = newEncoding
        arrival = now()
        reply("250 2.1.0 Ok")
        return true
    }

    private func keyValue(_ p: Substring) -> (String, Substring?) {
        if let eq = p.firstIndex(of: "=") { return (p[..<eq].uppercased(), p[p.index(after: eq)...]) }
        return (p.uppercased(), nil)
    }

    /// Postfix's smtpd_check_addr: an address that trivial-rewrite cannot
    /// resolve (a malformed domain or literal) is a syntax error.
    private func badAddress(_ address: String) -> Bool {
        !standalone && engine.isUnresolvable(address)
    }

    // MARK: - RCPT

    private func rcptCommand(_ rest: Substring) -> Bool {
        // As Postfix: no HELO check here (MAIL had one).
        guard sender != nil else { error("503 5.5.1 Error: need MAIL command"); return false }
        if bdat != nil { error("503 5.5.1 Error: RCPT after BDAT"); return false }
        let parsed: (address: String, parameters: [Substring])
        switch SmtpdCommand.path(rest, keyword: "TO:", strict: settings.strictEnvelopes) {
        case .failure(.syntax): error("501 5.5.4 Syntax: RCPT TO:<address>"); return false
        case .failure(let problem):
            if problem == .badAddress {
                logWarning("Illegal address syntax from \(client) in RCPT command: \(SmtpdCommand.addressToken(rest, keyword: "TO:"))")
            }
            error("501 5.1.3 Bad recipient address syntax")
            return false
        case .success(let p): parsed = p
        }
        guard !parsed.address.isEmpty, !badAddress(parsed.address) else {
            logWarning("Illegal address syntax from \(client) in RCPT command: \(SmtpdCommand.addressToken(rest, keyword: "TO:"))")
            error("501 5.1.3 Bad recipient address syntax")
            return false
        }
        var notify: Int? = nil
        var orcpt: String? = nil
        for p in parsed.parameters {
            let (key, value) = keyValue(p)
            switch key {
            case "NOTIFY":
                if dsnDisabled { error("501 5.7.1 DSN support is disabled"); return false }
                guard notify == nil, let v = value, let flags = SmtpdCommand.notifyFlags(v) else {
                    if notify == nil, let v = value, let word = SmtpdCommand.unknownNotifyWord(v) {
                        logWarning("unknown DSN NOTIFY command value \"\(word)\" in \"\(v)\"")
                    }
                    error("501 5.5.4 Error: Bad NOTIFY parameter syntax"); return false
                }
                notify = flags
            case "ORCPT":
                if dsnDisabled { error("501 5.7.1 DSN support is disabled"); return false }
                guard orcpt == nil, let v = value, let (type, address) = SmtpdCommand.orcpt(v) else {
                    error("501 5.5.4 Error: Bad ORCPT parameter syntax"); return false
                }
                orcpt = type + ";" + address
            default:
                error("555 5.5.4 Unsupported option: \(p)")
                return false
            }
        }
        if settings.recipientLimit > 0 && recipients.count >= settings.recipientLimit {
            // Up to smtpd_recipient_overshoot_limit excess recipients are not errors.
            rcptOvershoot += 1
            if rcptOvershoot <= settings.recipientOvershootLimit {
                reply("452 4.5.3 Error: too many recipients")
                return true
            }
            error("452 4.5.3 Error: too many recipients")
            return false
        }
        if limitsApply && settings.recipientRateLimit > 0,
           let rate = limiter?.recipient(anvilIdent ?? AnvilClient.ident(service: settings.serviceName, client: peer.address)),
           rate > settings.recipientRateLimit {
            logWarning("Recipient address rate limit exceeded: \(rate) from \(client) for service \(settings.serviceName)")
            error("450 4.7.1 Error: too many recipients from \(peer.address)")
            return false
        }
        var f = facts()
        f.recipient = parsed.address
        if let r = recipientChecks(f, recipient: parsed.address) { error(r); return false }
        guard openQueueFile() else { return false }
        recipients.append(QueueRecipient(address: parsed.address, original: parsed.address, dsnOriginalRecipient: orcpt,
                                         notifyFlags: notify))
        reply("250 2.1.5 Ok")
        return true
    }

    /// Opens the queue file once per transaction and logs `QID: client=`:
    /// at the first accepted RCPT, or at MAIL FROM with
    /// smtpd_delay_open_until_valid_rcpt = no. False after an error reply.
    private func openQueueFile() -> Bool {
        guard queueFile == nil else { return true }
        do { queueFile = try queue.open() } catch {
            logWarning("\(error)")
            self.error("451 4.3.0 Error: queue file write error")
            return false
        }
        var line = "\(queueFile!.queueID): client=\(client)" + saslLogSuffix
        if let s = saslSender { line += ", sasl_sender=\(s)" }
        if let name = xforward["NAME"], let addr = xforward["ADDR"] {
            if let ident = xforward["IDENT"] { line += ", orig_queue_id=\(ident)" }
            line += ", orig_client=\(name)[\(addr)]"
        }
        logInfo(line)
        return true
    }

    /// Client, HELO and sender stages (once per transaction with
    /// smtpd_delay_reject), then relay and recipient stages, then the
    /// unlisted-recipient check.
    private func recipientChecks(_ f: PolicyFacts, recipient: String, cacheEarlyVerdict: Bool = true) -> SmtpReply? {
        if settings.delayReject {
            if cacheEarlyVerdict, let early = earlyVerdict {
                if let r = early.reply { logReject(r, recipient: recipient); return r }
            } else {
                var combined = PolicyOutcome()
                for stage in [PolicyStage.client, .helo, .sender] {
                    let o = policyCheck(stage, facts: f)
                    logEvents(o, recipient: recipient)
                    merge(o.actions)
                    // Warnings and logged events (warn, permit...) come again with every RCPT
                    // (Postfix runs these lists each time).
                    if o.dependsOnRecipients || !o.lines.isEmpty { combined.dependsOnRecipients = true }
                    if let r = o.reply { combined.decision = .reject(r); break }
                }
                // Postfix runs these lists at every RCPT; their verdict is kept for the
                // transaction unless it depends on the recipient count or logged warnings.
                if cacheEarlyVerdict && !combined.dependsOnRecipients { earlyVerdict = combined }
                if let r = combined.reply { logReject(r, recipient: recipient); return r }
            }
        }
        // Both lists run unless one rejects; which goes first is
        // smtpd_relay_before_recipient_restrictions.
        let order: [PolicyStage] = settings.relayBeforeRecipient ? [.relay, .recipient] : [.recipient, .relay]
        for stage in order {
            let o = policyCheck(stage, facts: f)
            if let r = absorb(o, recipient: recipient) {
                if stage == .recipient && settings.relayOrderFromCompatibility {
                    logInfo("using backwards-compatible default setting smtpd_relay_before_recipient_restrictions=no to reject recipient \"\(recipient)\" from client \"\(client)\"")
                }
                return r
            }
        }
        if settings.rejectUnlistedRecipient && !settings.noUnknownRecipientChecks {
            if let r = absorb(unlistedCheck(recipient, sender: false), recipient: recipient) { return r }
        }
        return nil
    }

    // MARK: - DATA and BDAT

    private func dataPreconditions() -> Bool {
        if recipients.isEmpty {
            error(sender == nil ? "503 5.5.1 Error: need RCPT command" : "554 5.5.1 Error: no valid recipients")
            return false
        }
        let o = policyCheck(.data, facts: dataFacts())
        if let r = absorb(o, recipient: recipients.count == 1 ? recipients[0].address : nil) {
            error(r)
            return false
        }
        return true
    }

    private func dataFacts() -> PolicyFacts {
        var f = facts()
        if recipients.count == 1 { f.recipient = recipients[0].address }
        return f
    }

    /// Starts the queue file: envelope, then the Received: header.
    private func startMessage() -> MessageWriter {
        let file = queueFile!
        var flags = settings.cleanupFlags
        if actions.hold { flags.insert(.hold) }
        if actions.discard { flags.insert(.discard) }
        file.begin(flags: flags, sender: sender ?? "", arrival: arrival, attributes: attributes(), recipients: recipients,
                   verp: verpDelimiters)
        let writer = MessageWriter(file: file, lineLimit: settings.lineLimit, sizeLimit: settings.messageSizeLimit)
        for header in actions.prepend { writer.line(Array(header.utf8)) }
        for line in receivedHeader(queueID: file.queueID) { writer.line(line) }
        return writer
    }

    /// Postfix's Received: header lines (made as bytes: they go straight
    /// into the queue file).
    func receivedHeader(queueID: String) -> [[UInt8]] {
        let date = MailDate.format(arrival.0 > 0 ? arrival.0 : now().0)
        var lines: [[UInt8]] = []
        lines.reserveCapacity(4)
        var line: [UInt8] = []
        line.reserveCapacity(128)
        line.appendUTF8("Received: from "); line.appendUTF8(helo ?? peer.name)
        line.appendUTF8(" ("); line.appendUTF8(peer.name); line.appendUTF8(" [")
        line.appendUTF8(peer.rfcAddress); line.appendUTF8("])")
        lines.append(line)
        for security in receivedSecurityLines { lines.append(Array(security.utf8)) }
        line.removeAll(keepingCapacity: true)
        line.appendUTF8("\tby "); line.appendUTF8(settings.myhostname)
        line.appendUTF8(" ("); line.appendUTF8(settings.mailName); line.appendUTF8(") with ")
        line.appendUTF8(receivedProtocol); line.appendUTF8(" id "); line.appendUTF8(queueID)
        if recipients.count == 1 {
            lines.append(line)
            line.removeAll(keepingCapacity: true)
            line.appendUTF8("\tfor <"); line.appendUTF8(SmtpdSession.quoteLocal(recipients[0].address))
            line.appendUTF8(">; "); line.appendUTF8(date)
            lines.append(line)
        } else {
            line.append(UInt8(ascii: ";"))
            lines.append(line)
            lines.append(Array(("\t" + date).utf8))
        }
        return lines
    }

    /// Quotes a local part that needs it (RFC 5321 dot-atom or quoted string).
    static func quoteLocal(_ address: String) -> String {
        guard let at = address.utf8.lastIndex(of: 0x40) else { return address }
        let local = address[..<at]
        // Bytes: a Character search per character was most of the
        // Received: header's cost.
        var special = false
        var previous: UInt8 = 0
        for byte in local.utf8 {
            switch byte {
            case 0x20, 0x22, 0x28, 0x29, 0x2C, 0x3A, 0x3B, 0x3C, 0x3E, 0x40, 0x5B, 0x5C, 0x5D: special = true
            case 0x2E where previous == 0x2E: special = true
            default: break
            }
            if special { break }
            previous = byte
        }
        special = special || local.utf8.first == 0x2E || local.utf8.last == 0x2E
        return special ? "\"" + local.replacingOccurrences("\"", "\\\"") + "\"" + address[at...] : address
    }

    private func attributes() -> [QueueAttribute] {
        var a: [QueueAttribute] = []
        if let id = queueFile?.queueID { a.append(QueueAttribute("log_ident", id)) }
        a.append(QueueAttribute("rewrite_context", localRewriteClient ? "local" : "remote"))
        // As Postfix: the login travels with the message (queue file
        // attributes, which postcat shows and delivery agents may use).
        if let u = saslUsername {
            a.append(QueueAttribute("sasl_method", security.saslMethod ?? "XCLIENT"))
            a.append(QueueAttribute("sasl_username", u))
        }
        if let s = saslSender { a.append(QueueAttribute("sasl_sender", s)) }
        let logName = xforward["NAME"] ?? peer.name
        let logAddr = xforward["ADDR"] ?? peer.address
        let logPort = xforward["PORT"] ?? peer.port
        a.append(QueueAttribute("log_client_name", logName))
        a.append(QueueAttribute("log_client_address", logAddr))
        a.append(QueueAttribute("log_client_port", logPort))
        a.append(QueueAttribute("log_message_origin", "\(logName)[\(logAddr)]"))
        if let h = xforward["HELO"] ?? helo { a.append(QueueAttribute("log_helo_name", h)) }
        a.append(QueueAttribute("log_protocol_name", xforward["PROTO"] ?? proto))
        a.append(QueueAttribute("client_name", peer.name))
        a.append(QueueAttribute("reverse_client_name", peer.reverseName))
        a.append(QueueAttribute("client_address", peer.address))
        a.append(QueueAttribute("client_port", peer.port))
        if !peer.serverAddress.isEmpty { a.append(QueueAttribute("server_address", peer.serverAddress)) }
        if !peer.serverPort.isEmpty { a.append(QueueAttribute("server_port", peer.serverPort)) }
        if let h = helo { a.append(QueueAttribute("helo_name", h)) }
        a.append(QueueAttribute("protocol_name", proto))
        a.append(QueueAttribute("client_address_type", peer.isIPv6 ? "10" : "2"))
        if let e = envid { a.append(QueueAttribute("envelope_id", e)) }
        if let r = retFlags { a.append(QueueAttribute("ret_flags", String(r))) }
        if let e = encoding { a.append(QueueAttribute("encoding", e)) }
        return a
    }

    private func dataCommand(_ rest: Substring) throws(TransportError) -> Bool {
        // Postfix's order: a BDAT transaction (or its error state), the
        // recipients, then the syntax.
        if bdat != nil { error("503 5.5.1 Error: DATA after BDAT"); return false }
        if recipients.isEmpty {
            error(sender == nil ? "503 5.5.1 Error: need RCPT command" : "554 5.5.1 Error: no valid recipients")
            return false
        }
        guard rest.isEmpty else { error("501 5.5.4 Syntax: DATA"); return false }
        guard dataPreconditions() else { return false }
        reply("354 End data with <CR><LF>.<CR><LF>")
        try output.flush()
        let writer = startMessage()
        var framing = DataFraming()
        var bytes = 0
        var bareNewline = false
        do {
            while true {
                let (line, end) = try input.readLineSlice(limit: settings.lineLimit)
                if framing.isEnd(line, end) { break }
                if end == .bareLF && !bareNewline && settings.rejectsBareNewline && !bareNewlineExcluded() {
                    bareNewline = true
                }
                let content = framing.content(line, end)
                bytes += line.count + (end == .truncated ? 0 : 2)
                writer.add(content, continued: end == .truncated, fromClient: true)
            }
        } catch TransportError.timeout {
            stage = "DATA (\(bytes) bytes)"
            throw .timeout
        } catch {
            stage = "DATA (\(bytes) bytes)"
            throw error
        }
        if bareNewline {
            // As Postfix 3.7.11 with smtpd_forbid_bare_newline = reject: the
            // message is read to its end, then refused; the session goes on.
            stage = "END-OF-MESSAGE"
            logInfo("\(queueFile?.queueID ?? "NOQUEUE"): reject: END-OF-MESSAGE from \(client): bare <LF> received;\(context(recipient: recipients.count == 1 ? recipients[0].address : nil))")
            error(bareNewlineReply)
            mailReset()
            return false
        }
        return finishMessage(writer)
    }

    /// The reply to a bare <LF> under smtpd_forbid_bare_newline = reject.
    private var bareNewlineReply: String {
        "\(settings.bareNewlineRejectCode) 5.5.2 \(settings.myhostname) Error: bare <LF> received"
    }

    /// End-of-data restrictions, the cleanup verdict, and the reply.
    private func finishMessage(_ writer: MessageWriter, bytesNote: String = "") -> Bool {
        stage = "END-OF-MESSAGE"
        defer { mailReset() }
        if writer.sizeExceeded {
            logWarning("\(writer.file.queueID): queue file size limit exceeded")
            error("552 5.3.4 Error: message file too big")
            return false
        }
        if let failure = writer.failure {
            logWarning(failure)
            error("451 4.3.0 Error: queue file write error")
            return false
        }
        var endFacts = dataFacts()
        endFacts.size = writer.clientSize   // policy servers see the real size here
        let o = policyCheck(.endOfData, facts: endFacts)
        if let r = absorb(o, recipient: recipients.count == 1 ? recipients[0].address : nil) {
            error(r)
            return false
        }
        guard let file = queueFile else { error("451 4.3.0 Error: queue file write error"); return false }
        let verdict: CleanupReply
        let delegated = CleanupActions(flags: CleanupProtocol.Flags(actions.hold ? [.hold] : []).union(actions.discard ? [.discard] : []),
                                       filter: actions.filter, redirect: actions.redirect, bcc: actions.bcc)
        do { verdict = try writer.finish(actions: delegated) } catch {
            logWarning("\(error)")
            self.error("451 4.3.0 Error: queue file write error")
            return false
        }
        if verdict.isOK {
            reply("250 2.0.0 Ok: \(bytesNote)queued as \(file.queueID)")
            // The error limits count errors "without delivering mail".
            errorCount = 0
            junkCount = 0
            return true
        }
        let status = verdict.status
        if status.contains(.size) { error("552 5.3.4 Error: message file too big"); return false }
        if status.contains(.content) {
            error("550 " + (verdict.reason.isEmpty ? "5.7.1 Message content rejected" : verdict.reason))
            return false
        }
        if status.contains(.hops) { error("554 5.4.0 Error: too many hops"); return false }
        if status.contains(.write) { error("451 4.3.0 Error: queue file write error"); return false }
        error("451 4.3.0 Error: internal error")
        return false
    }

    private func bdatCommand(_ rest: Substring) throws(TransportError) -> Bool {
        // CHUNKING not announced (smtpd_discard_ehlo_keywords): hang up.
        if discardedKeywords.contains("CHUNKING") {
            error("521 5.5.1 Error: command not implemented")
            return false
        }
        guard let (size, last) = SmtpdCommand.bdatArguments(rest) else {
            let shown = String(String(commandLine.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" }).prefix(100))
            logWarning("\(queueFile?.queueID ?? "NOQUEUE"): malformed BDAT command syntax from \(client): \(shown)")
            reply("521 5.5.4 Syntax: BDAT count [LAST]")
            try output.flush()
            finished = true
            return false
        }
        // As Postfix: "BDAT 0" without LAST is refused wherever it comes,
        // and leaves the transaction in the BDAT error state.
        if size == 0 && !last {
            logWarning("\(queueFile?.queueID ?? "NOQUEUE"): null BDAT request from \(client)")
            if bdat == nil { bdat = BdatState() }
            bdat?.writer = nil
            if bdat?.failure == nil { bdat?.failure = SmtpReply(551, "5.7.1", "Null BDAT request") }
            error("551 5.7.1 Null BDAT request")
            return false
        }
        // A chunk after a refused one is read and dropped until the last.
        let earlierError = bdat?.failure != nil
        if bdat == nil {
            var state = BdatState()
            if dataPreconditionsQuiet() { state.writer = startMessage() } else { state.failure = pendingFailure }
            bdat = state
        }
        // A chunk that cannot fit in message_size_limit is read and dropped.
        let sizeSoFar = bdat?.writer.map { $0.clientSize + $0.pendingBytes } ?? 0
        if bdat?.failure == nil && settings.messageSizeLimit > 0 && size > settings.messageSizeLimit - sizeSoFar {
            logWarning("\(queueFile?.queueID ?? "NOQUEUE"): BDAT request from \(client) exceeds message size limit")
            bdat?.writer = nil
            bdat?.failure = SmtpReply(552, "5.3.4", "Chunk exceeds message size limit")
        }
        var bytes = 0
        do {
            try input.readChunk(size) { chunk in
                bytes += chunk.count
                bdat?.writer?.addBytes(chunk)
            }
        } catch {
            stage = "BDAT (\(bytes) bytes)"
            throw error
        }
        if let failure = bdat?.failure {
            if last { mailReset() }
            error(earlierError ? SmtpReply(551, "5.0.0", "Discarded \(size) bytes after earlier error") : failure)
            return false
        }
        let writer = bdat!.writer!
        if !last {
            // The bytes so far, an unfinished last line included.
            reply("250 2.0.0 Ok: \(writer.clientSize + writer.pendingBytes) bytes")
            return true
        }
        writer.endBytes()
        return finishMessage(writer, bytesNote: "\(writer.clientSize) bytes ")
    }

    private var pendingFailure: SmtpReply?

    /// DATA's checks for BDAT: the failure is kept and sent after the chunk.
    private func dataPreconditionsQuiet() -> Bool {
        pendingFailure = nil
        if recipients.isEmpty {
            pendingFailure = sender == nil ? SmtpReply(503, "5.5.1", "Error: need RCPT command") : SmtpReply(554, "5.5.1", "Error: no valid recipients")
            return false
        }
        let o = policyCheck(.data, facts: dataFacts())
        if let r = absorb(o, recipient: recipients.count == 1 ? recipients[0].address : nil) {
            pendingFailure = r
            return false
        }
        return true
    }

    // MARK: - VRFY, ETRN, AUTH, XFORWARD, XCLIENT

    /// VRFY as Postfix's vrfy_cmd: no HELO needed; the address goes through
    /// the recipient checks (with smtpd_delay_reject, the client, HELO and
    /// sender stages first), then 252 with the client's own words.
    private func vrfyCommand(_ rest: Substring) -> Bool {
        if settings.disableVRFY { error("502 5.5.1 VRFY command is disabled"); return false }
        var words = rest.split(whereSeparator: SmtpdCommand.isSpace)
        if settings.smtputf8Enable && !discardedKeywords.contains("SMTPUTF8"),
           words.count > 1, words[words.count - 1].uppercased() == "SMTPUTF8" {
            words.removeLast()
        }
        guard !words.isEmpty else {
            error("501 5.5.4 Syntax: VRFY address\(settings.smtputf8Enable ? " [SMTPUTF8]" : "")"); return false
        }
        let arg = words.joined(separator: " ")
        var text = Substring(arg)
        if text.hasPrefix("<") && text.hasSuffix(">") { text = text.dropFirst().dropLast() }
        guard let address = SmtpdCommand.internalForm(text, strict: false), !address.isEmpty else {
            error("501 5.1.3 Bad recipient address syntax"); return false
        }
        if badAddress(address) {
            logWarning("Illegal address syntax from \(client) in VRFY command: \(arg)")
            error("501 5.1.3 Bad recipient address syntax"); return false
        }
        // RFC 5321 4.5.1: "postmaster" is always accepted.
        if address.lowercased() != "postmaster" {
            var f = facts()
            f.recipient = address
            if let r = recipientChecks(f, recipient: address, cacheEarlyVerdict: false) { error(r); return false }
        }
        reply("252 2.0.0 \(arg)")
        return true
    }

    private func etrnCommand(_ rest: Substring) -> Bool {
        if settings.heloRequired && helo == nil { error("503 Error: send HELO/EHLO first"); return false }
        // As Postfix: the transaction before the syntax.
        if sender != nil { error("503 Error: MAIL transaction in progress"); return false }
        let arg = rest.trimmingSuffix()
        guard !arg.isEmpty, !arg.contains(where: { $0 == " " || $0 == "\t" }) else {
            error("500 Syntax: ETRN domain"); return false
        }
        var domain = Substring(arg)
        if domain.first == "@" || domain.first == "#" { domain = domain.dropFirst() }
        guard FlushProtocol.isValidDestination(String(domain)) else {
            error("501 Error: invalid parameter syntax"); return false
        }
        if standalone {
            logWarning("do not use ETRN in \"sendmail -bs\" mode")
            error("458 Unable to queue messages")
            return false
        }
        var f = facts()
        f.etrnDomain = String(domain)
        if let r = absorb(policyCheck(.etrn, facts: f), recipient: nil) { error(r); return false }
        let flushable = (try? DomainMatchList(parameter: "fast_flush_domains", value: settings.fastFlushDomains,
                                              parentMatchesSubdomains: settings.fastFlushParentMatches)
                            .matches(String(domain))) ?? false
        if flushable {
            let client = FlushClient(socketPath: "public/" + settings.flushServiceName,
                                     serviceLabel: "public/" + settings.flushServiceName, timeout: 3600)
            switch client.sendSite(String(domain)) {
            case .ok:
                reply("250 Queuing started")
                return true
            case .deny:
                break
            case .bad:
                logWarning("bad ETRN \(domain)... request")
                error("458 Unable to queue messages")
                return false
            default:
                if !client.lastError.isEmpty { logWarning(client.lastError) }
                logWarning("unable to talk to fast flush service")
                error("458 Unable to queue messages")
                return false
            }
        }
        logWarning("reject: ETRN \(domain)... from \(client)")
        error("459 <\(domain)>: service unavailable")
        return false
    }


    private func attributeList(_ rest: Substring) -> [(String, String?)]? {
        var out: [(String, String?)] = []
        for word in rest.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            guard let eq = word.firstIndex(of: "=") else { return nil }
            let value = word[word.index(after: eq)...]
            let decoded = SmtpdCommand.xtextDecode(value) ?? String(value)
            out.append((word[..<eq].uppercased(), decoded == "[UNAVAILABLE]" || decoded == "[TEMPUNAVAIL]" ? nil : decoded))
        }
        return out.isEmpty ? nil : out
    }

    /// An XCLIENT/XFORWARD ADDR value: IPv4, IPv6 (with or without the
    /// "IPv6:" prefix), as Postfix's normalize_mailhost_addr accepts.
    private static func validAttributeAddress(_ value: String) -> Bool {
        var a = Substring(value)
        if a.lowercased().hasPrefix("ipv6:") { a = a.dropFirst(5); return NetworkMatchList.addressBytes(String(a))?.count == 16 }
        return NetworkMatchList.addressBytes(String(a)) != nil
    }

    /// An XCLIENT/XFORWARD PORT value: 0..65535.
    private static func validAttributePort(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 5 && value.allSatisfy({ $0.isASCII && $0.isNumber }) && (Int(value) ?? 65536) <= 65535
    }

    private func xforwardCommand(_ rest: Substring) -> Bool {
        // As Postfix: the transaction, then the syntax, then the permission.
        if sender != nil { error("503 5.5.1 Error: MAIL transaction in progress"); return false }
        if rest.allSatisfy({ $0 == " " || $0 == "\t" }) { error("501 5.5.4 Syntax: XFORWARD attribute=value..."); return false }
        guard xforwardAllowed else {
            error("550 5.7.0 Error: insufficient authorization"); return false
        }
        guard let list = attributeList(rest) else { error("501 5.5.4 Syntax: XFORWARD attribute=value..."); return false }
        let known: Set<String> = ["NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"]
        for (name, value) in list {
            guard known.contains(name) else { error("501 5.5.4 Bad XFORWARD attribute name: \(name)"); return false }
            if name == "ADDR", let v = value, !SmtpdSession.validAttributeAddress(v) {
                error("501 5.5.4 Bad ADDR syntax: \(v)"); return false
            }
            if name == "PORT", let v = value, !SmtpdSession.validAttributePort(v) {
                error("501 5.5.4 Bad PORT syntax: \(v)"); return false
            }
            xforward[name] = value
        }
        reply("250 2.0.0 Ok")
        return true
    }

    private func xclientCommand(_ rest: Substring) -> Bool {
        // As Postfix: the transaction, then the syntax, then the permission.
        if sender != nil { error("503 5.5.1 Error: MAIL transaction in progress"); return false }
        if rest.allSatisfy({ $0 == " " || $0 == "\t" }) { error("501 5.5.4 Syntax: XCLIENT attribute=value..."); return false }
        guard authorized(settings.xclientHosts, "smtpd_authorized_xclient_hosts") else {
            error("550 5.7.0 Error: insufficient authorization"); return false
        }
        guard let list = attributeList(rest) else { error("501 5.5.4 Syntax: XCLIENT attribute=value..."); return false }
        let known: Set<String> = ["NAME", "REVERSE_NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN", "DESTADDR", "DESTPORT"]
        for (name, value) in list {
            guard known.contains(name) else { error("501 5.5.4 Bad XCLIENT attribute name: \(name)"); return false }
            if name == "ADDR", let v = value, !SmtpdSession.validAttributeAddress(v) {
                error("501 5.5.4 Bad ADDR syntax: \(v)"); return false
            }
            if name == "PORT", let v = value, !SmtpdSession.validAttributePort(v) {
                error("501 5.5.4 Bad PORT syntax: \(v)"); return false
            }
        }
        for (name, value) in list {
            switch name {
            case "NAME": peer.name = value ?? "unknown"
            case "REVERSE_NAME": peer.reverseName = value ?? "unknown"
            case "ADDR":
                var a = value ?? "unknown"
                if a.lowercased().hasPrefix("ipv6:") { a = String(a.dropFirst(5)) }
                peer.address = a
                peer.isIPv6 = a.contains(":")
            case "PORT": peer.port = value ?? "0"
            case "PROTO": proto = value?.uppercased() ?? "SMTP"
            case "HELO": helo = value
            case "LOGIN": saslUsername = value
            default: break
            }
        }
        mailReset()
        earlyVerdict = nil
        reply("220 \(settings.banner)")
        return false
    }

    // MARK: - Reset

    /// Ends the mail transaction (RSET, HELO, end of DATA, disconnect); an
    /// unfinished queue file is abandoned, and cleanup removes it.
    func mailReset() {
        sender = nil
        saslSender = nil
        verpDelimiters = nil
        recipients.removeAll(keepingCapacity: true)
        queueFile = nil
        declaredSize = 0
        envid = nil
        retFlags = nil
        encoding = nil
        actions = PolicyActions()
        earlyVerdict = nil
        bdat = nil
        rcptOvershoot = 0
    }
}

extension Substring {
    func trimmingSuffix() -> Substring {
        var s = self
        while let last = s.last, last == " " || last == "\t" { s = s.dropLast() }
        return s
    }
}

extension Substring {
    func replacingOccurrences(_ target: Character, _ replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
