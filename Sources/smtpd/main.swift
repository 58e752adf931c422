// smtpd: the SMTP server, as Postfix 3.7's smtpd(8): receives mail from
// the network (RFC 5321 ESMTP with PIPELINING, SIZE, VRFY, ETRN,
// ENHANCEDSTATUSCODES, 8BITMIME, DSN, SMTPUTF8 and CHUNKING), applies the
// smtpd_*_restrictions through SmtpdPolicy, and hands each accepted message
// to cleanup, answering `250 2.0.0 Ok: queued as ID` only after cleanup has
// the file on disk. One client per process (SingleServer), as Postfix.
// STARTTLS and wrapper-mode TLS through the TLS library (OpenSSL), AUTH
// through a Dovecot auth server (SASL library); see SmtpdSecurity.swift.
//
// SECURITY: Internet-facing and untrusting: runs as $mail_owner (optionally
// chrooted); every input buffer is bounded (line_length_limit for
// commands, a fixed read buffer, message_size_limit for content);
// end-of-data is only <CR><LF>.<CR><LF> (no SMTP smuggling); bare <LF> is
// accepted as a line end or refused (smtpd_forbid_bare_newline = yes);
// XCLIENT/XFORWARD only from the authorized hosts. Reads the TLS private
// keys once, while still privileged, before the first client; plaintext
// pipelined behind STARTTLS is discarded; AUTH only after TLS when
// smtpd_tls_auth_only. Peers: cleanup (public/cleanup), trivial-rewrite
// (private/rewrite), anvil (private/anvil), tlsmgr (private/tlsmgr),
// the Dovecot auth server ($smtpd_sasl_path), proxymap for proxy: tables,
// policy servers (check_policy_service), the DNS servers of resolv.conf
// (DNS lists, through Sources/DNS).
// Stand-alone (`smtpd -S`, exec'd by `sendmail -bs`): one client on
// standard input/output, shown as localhost[127.0.0.1]; run by anyone but
// $mail_owner, messages go through postdrop (SmtpdPostdropQueue) and the
// restrictions are off. No privileges are dropped (no -u), as Postfix's.
// STANDARDS: RFC 5321, 1869, 1870, 2920, 3030, 3461, 3463, 1985, 6531,
// 3207 (STARTTLS), 4954 (AUTH), 8314 (implicit TLS), 3848.
// CONFIGURATION PARAMETERS: smtpd_banner, myhostname, mail_name,
// smtpd_timeout, line_length_limit, message_size_limit,
// smtpd_recipient_limit, smtpd_soft_error_limit, smtpd_hard_error_limit,
// smtpd_error_sleep_time, smtpd_helo_required, smtpd_delay_reject,
// strict_rfc821_envelopes, disable_vrfy_command,
// smtpd_discard_ehlo_keywords, smtpd_forbid_bare_newline,
// smtpd_forbid_bare_newline_exclusions, smtpd_forbid_unauth_pipelining,
// smtpd_reject_unlisted_recipient, smtpd_reject_unlisted_sender,
// smtpd_authorized_xforward_hosts, smtpd_authorized_xclient_hosts,
// fast_flush_domains, smtpd_client_connection_count_limit,
// smtpd_client_connection_rate_limit, smtpd_client_message_rate_limit,
// smtpd_client_recipient_rate_limit, smtpd_client_event_limit_exceptions,
// receive_override_options, smtpd_peername_lookup, the smtpd_*_restrictions and everything
// SmtpdPolicy.PolicySettings reads.
import Glibc
import Util
import Global
import Tables
import ServerSkeleton
import SmtpdPolicy

/// Per-process state, built once before the first client.
final class SmtpdProcess {
    let settings: SmtpdSettings
    let engine: RestrictionEngine
    let queue: SmtpdQueue
    let limiter: SmtpdRateLimiter?
    let security: SmtpdSecurityServices
    /// Stand-alone mode (`-S`, `sendmail -bs`) by a user other than
    /// $mail_owner: the client is standard input/output, messages go
    /// through postdrop, and no access restrictions, unlisted-address
    /// checks, anvil limits or pipelining checks apply (postconf(5): mail
    /// relaying and other access controls are off in this mode). Run as
    /// $mail_owner, `-S` only changes where the client is.
    let standaloneUser: Bool
    let standaloneIO: Bool

    init(context: ServiceContext) {
        settings = SmtpdSettings(context: context)
        security = SmtpdSecurityServices(context: context)
        engine = RestrictionEngine(settings: PolicySettings(config: context.config),
                                   environment: SystemPolicyEnvironment(config: context.config),
                                   tableContext: TableContext(config: context.config))
        standaloneIO = context.standalone
        standaloneUser = context.standalone && !SmtpdProcess.isMailOwner(context.config)
        if standaloneUser {
            queue = PostdropQueue(config: context.config)
            limiter = nil
        } else {
            queue = CleanupQueue(config: context.config, idle: context.seconds("ipc_idle"),
                                 ttl: context.seconds("ipc_ttl"))
            limiter = AnvilRateLimiter(config: context.config)
        }
    }

    /// True when the real user is $mail_owner (Postfix compares the uid).
    static func isMailOwner(_ config: MailConfig) -> Bool {
        guard let entry = getpwnam(config.value("mail_owner")) else { return false }
        return getuid() == entry.pointee.pw_uid
    }

    func serve(_ stream: Util.Stream) {
        var proxyFailed = false
        var peer: SmtpdPeer
        if standaloneIO {
            peer = SmtpdPeer.standalone()
        } else if !settings.upstreamProxy.isEmpty {
            switch SmtpdProxyHeader.receive(fd: stream.fd, timeout: settings.upstreamProxyTimeout,
                                            ipv4: settings.ipv4Enabled, ipv6: settings.ipv6Enabled) {
            case .proxied(let client, let clientPort, let server, let serverPort, _):
                peer = SmtpdPeer.proxied(client: client, clientPort: clientPort, server: server, serverPort: serverPort,
                                         resolveName: settings.peernameLookup)
            case .local:
                peer = SmtpdPeer.lookup(fd: stream.fd, resolveName: settings.peernameLookup)
            case .error(let reason):
                MailLog.warning("haproxy read: " + reason)
                proxyFailed = true
                peer = SmtpdPeer.lookup(fd: stream.fd, resolveName: settings.peernameLookup)
            }
        } else {
            peer = SmtpdPeer.lookup(fd: stream.fd, resolveName: settings.peernameLookup)
        }
        peer.portLogging = settings.clientPortLogging
        let state = security.session()
        state.fd = stream.fd
        let transport = standaloneIO ? SocketTransport(input: 0, output: 1) : SocketTransport(fd: stream.fd)
        let session = SmtpdSession(settings: settings, engine: engine, queue: queue, limiter: limiter, peer: peer,
                                   transport: transport, security: state)
        session.standalone = standaloneUser
        session.proxyFailed = proxyFailed
        session.run()
        if !state.abandoned { state.connection?.shutdown() }
        // A session that ends while the client is still sending (a hang-up
        // after a protocol error, TLS or not) must not reset the connection: the kernel
        // answers unread input at close with a RST, which can destroy the
        // last reply before the client reads it.
        if !standaloneIO && !session.endedByQuit { SmtpdLinger.drain(fd: stream.fd) }
    }
}

nonisolated(unsafe) var process: SmtpdProcess?

SingleServer.run(program: "smtpd", handler: { stream, context in
    if process == nil { process = SmtpdProcess(context: context) }
    process!.serve(stream)
}, prepare: { context in
    process = SmtpdProcess(context: context)
})
