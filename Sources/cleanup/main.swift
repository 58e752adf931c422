// cleanup: canonicalizes and enqueues one message per client connection,
// as Postfix 3.7's cleanup(8). Clients (pickup, smtpd, bounce, local
// forwarding) speak Global/CleanupProtocol.swift: cleanup creates the queue
// file in `incoming` and sends its ID, reads the envelope and content,
// rewrites addresses through trivial-rewrite (local or remote context),
// applies canonical_maps / sender_canonical_maps / recipient_canonical_maps,
// virtual_alias_maps expansion (recursion and expansion limits), removes
// duplicate recipients, runs header_checks, mime_header_checks and
// body_checks (IGNORE, REJECT, WARN, INFO, HOLD, DISCARD, REDIRECT, FILTER,
// BCC, PREPEND, REPLACE, DUNNO, OK, PASS), adds missing Message-Id, Date
// and From headers for local submissions (or with always_add_missing_headers),
// drops Bcc headers of local submissions, enforces header_size_limit,
// message_size_limit and hopcount_limit, adds always_bcc, sender_bcc_maps
// and recipient_bcc_maps recipients, records content_filter and FILTER
// for qmgr, writes the file with QueueFileWriter (fsync, then rename) and
// only then tells the client; HOLD moves the file to `hold`. Afterwards it
// wakes qmgr (public/$queue_service_name, "W", never blocking).
//
// Log lines (Postfix's format): `QID: message-id=<...>`,
// `QID: resent-message-id=<...>`, and per check action
// `QID: ACTION: header|body TEXT from ORIGIN; from=<s> [to=<r>] ...: TEXT`.
//
// SECURITY: runs as $mail_owner (master.cf unpriv), talks only to local
// clients on private/cleanup and to trivial-rewrite; message content is
// untrusted and handled as bytes. Tables are opened before privileges are
// dropped; a table that cannot be opened is fatal.
// STANDARDS: RFC 5322 (header syntax, Message-ID, Date, From).
// CONFIGURATION PARAMETERS: header_checks, mime_header_checks, body_checks,
// canonical_maps, sender_canonical_maps, recipient_canonical_maps,
// canonical_classes, sender_canonical_classes, recipient_canonical_classes,
// virtual_alias_maps, virtual_alias_recursion_limit,
// virtual_alias_expansion_limit, always_bcc, sender_bcc_maps,
// recipient_bcc_maps, always_add_missing_headers,
// undisclosed_recipients_header, header_size_limit, message_size_limit,
// hopcount_limit, line_length_limit, content_filter, recipient_delimiter,
// myhostname, myorigin, mydestination, queue_directory, hash_queue_names,
// hash_queue_depth, enable_long_queue_ids, queue_service_name,
// rewrite_service_name, ipc_timeout, max_idle, max_use.
// LIMITS (not yet): masquerade_domains, header address rewriting
// (To: user -> user@$myorigin), MIME structure (nested_header_checks),
// Milters, delay_warning_time (W record), bouncing rejected local mail.
import Glibc
import Util
import Global
import Tables
import ServerSkeleton

nonisolated(unsafe) var settings: CleanupSettings?
nonisolated(unsafe) var rewriter: RewriteClient?

func setUp(_ context: ServiceContext) {
    guard settings == nil else { return }
    do {
        settings = try CleanupSettings(config: context.config)
    } catch {
        MailLog.fatal("\(error)")
    }
    rewriter = RewriteClient(config: context.config)
}

func serve(_ stream: Stream, _ context: ServiceContext) {
    setUp(context)
    stream.timeout = 3600
    CleanupSession(settings: settings!, rewriter: rewriter!, stream: stream).run()
}

SingleServer.run(program: "cleanup", handler: serve, prepare: setUp)
