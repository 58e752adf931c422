// cleanup: canonicalizes and enqueues one message per client connection,
// as Postfix 3.7's cleanup(8), or several when the client keeps the
// connection (smtpd: `request=next` after a reply that offered `keep=1`,
// which cleanup offers when its master.cf maxproc is 0; CleanupProtocol,
// "Kept connections"). Clients (pickup, smtpd, bounce, local
// forwarding) speak Global/CleanupProtocol.swift: cleanup creates the queue
// file in `incoming` and sends its ID, reads the envelope and content,
// rewrites addresses through trivial-rewrite (local or remote context),
// applies canonical_maps / sender_canonical_maps / recipient_canonical_maps
// and masquerade_domains (per class), virtual_alias_maps expansion
// (recursion and expansion limits), removes duplicate recipients, follows
// the MIME structure to run header_checks, mime_header_checks,
// nested_header_checks and body_checks (IGNORE, REJECT, WARN, INFO, HOLD,
// DISCARD, REDIRECT, FILTER, BCC, PREPEND, REPLACE, STRIP, DUNNO, OK, PASS),
// rewrites the addresses of sender and recipient headers (local context,
// or remote with remote_header_rewrite_domain), adds missing
// (Resent-)Message-Id, Date and From headers when headers are rewritten
// (or with always_add_missing_headers), drops $message_drop_headers,
// enforces header_size_limit,
// message_size_limit and hopcount_limit, adds always_bcc, sender_bcc_maps
// and recipient_bcc_maps recipients, records content_filter and FILTER
// for qmgr, writes the delay-warning time (W = arrival +
// delay_warning_time), writes the file with QueueFileWriter (fsync, then
// rename) and only then tells the client; HOLD commits the file into
// `hold`. The client's own actions (smtpd access maps: HOLD, DISCARD,
// FILTER, REDIRECT, BCC) come with the end of the message. Then it wakes
// qmgr (public/$queue_service_name, "W", never blocking; one connection
// kept open for the process's life) and answers the client. A message
// rejected for a client with the bounce flag (pickup) is returned to its
// sender: bounce/QID gets every recipient, `QID: to=<r>, relay=none, ...,
// status=bounced (reason)` is logged, the bounce service
// (private/$bounce_service_name) sends the notice, the file is removed and
// the client told "ok" (or, when the notice fails, "try again").
//
// Log lines (Postfix's format): `QID: message-id=<...>`,
// `QID: resent-message-id=<...>`, and per check action
// `QID: ACTION: header|body TEXT from ORIGIN; from=<s> [to=<r>] ...: TEXT`.
//
// SECURITY: runs as $mail_owner (master.cf unpriv), talks only to local
// clients on private/cleanup, to trivial-rewrite and to the bounce service; message content is
// untrusted and handled as bytes. Tables are opened before privileges are
// dropped; a table that cannot be opened is fatal.
// STANDARDS: RFC 5322 (header syntax, address lists, Message-ID, Date,
// From), RFC 2045/2046 (MIME structure).
// CONFIGURATION PARAMETERS: header_checks, mime_header_checks,
// nested_header_checks, body_checks, body_checks_size_limit,
// disable_mime_input_processing, mime_nesting_limit,
// mime_boundary_length_limit, masquerade_domains, masquerade_exceptions,
// masquerade_classes, remote_header_rewrite_domain, message_drop_headers,
// header_address_token_limit,
// canonical_maps, sender_canonical_maps, recipient_canonical_maps,
// canonical_classes, sender_canonical_classes, recipient_canonical_classes,
// virtual_alias_maps, virtual_alias_recursion_limit,
// virtual_alias_expansion_limit, always_bcc, sender_bcc_maps,
// recipient_bcc_maps, always_add_missing_headers,
// undisclosed_recipients_header, header_size_limit, message_size_limit,
// hopcount_limit, line_length_limit, content_filter, recipient_delimiter,
// myhostname, myorigin, mydestination, queue_directory, hash_queue_names,
// hash_queue_depth, enable_long_queue_ids, queue_service_name,
// rewrite_service_name, ipc_timeout, max_idle, max_use, delay_warning_time,
// bounce_service_name.
// LIMITS (not yet): Milters, strict_8bitmime and friends.
import Glibc
import Util
import Global
import Tables
import ServerSkeleton

nonisolated(unsafe) var settings: CleanupSettings?
nonisolated(unsafe) var rewriter: RewriteClient?
/// Replies offer the connection for another message (`keep=1`).
nonisolated(unsafe) var offersKeep = false

func setUp(_ context: ServiceContext) {
    guard settings == nil else { return }
    do {
        settings = try CleanupSettings(config: context.config)
    } catch {
        MailLog.fatal("\(error)")
    }
    rewriter = RewriteClient(config: context.config)
    offersKeep = unlimitedProcesses(context)
}

/// True when master.cf runs this service without a process limit
/// (maxproc 0, as Postfix's stock master.cf has it for cleanup): only then
/// can a connection kept by an idle smtpd never keep another client
/// (pickup, another smtpd) waiting for a cleanup process. Read before
/// privileges are dropped (master.cf is outside any chroot).
func unlimitedProcesses(_ context: ServiceContext) -> Bool {
    guard let master = try? MasterConfigFile.load(path: context.config.configDirectory + "/master.cf") else {
        return false
    }
    return master.entries.contains {
        $0.service == context.serviceName && $0.type == "unix" && $0.processLimitField == "0"
    }
}

func serve(_ stream: Stream, _ context: ServiceContext, _ reused: Bool) -> ConnectionUse {
    setUp(context)
    stream.timeout = 3600
    if reused {
        // A kept connection: the client asks for the next message first.
        guard let request = try? AttributeCodec.read(from: stream),
              request[CleanupProtocol.Attribute.request] == "next" else { return .close }
    }
    return CleanupSession(settings: settings!, rewriter: rewriter!, stream: stream).run(offerKeep: offersKeep)
        ? .keep : .close
}

SingleServer.runRequests(program: "cleanup", handler: serve, prepare: setUp)
