// trivial-rewrite: address rewriting and resolving, as Postfix 3.7's
// trivial-rewrite(8). cleanup asks it to rewrite addresses to canonical
// form (`rewrite`, local or remote context, see AddressRewriter); qmgr,
// smtpd and cleanup ask it where an address goes (`resolve`, and `verify`
// with the address_verify_* settings: see AddressResolver and
// TransportSelection). The protocol is Global/RewriteProtocol.swift;
// answers are cached (ResolveCache).
//
// SECURITY: talks to no network peer and no user; runs as $mail_owner
// (master.cf unpriv), chrooted or not. Peers: local processes that reach
// $queue_directory/private/$rewrite_service_name. Tables are opened before
// privileges are dropped; a table that cannot be opened is fatal.
// STANDARDS: RFC 822 and RFC 5322 address syntax (local parts, quoting,
// domain literals), RFC 1123 host names.
// CONFIGURATION PARAMETERS: myorigin, mydomain, myhostname, mydestination,
// inet_interfaces, proxy_interfaces, inet_protocols,
// remote_header_rewrite_domain, append_at_myorigin, append_dot_mydomain,
// swap_bangpath, allow_percent_hack, empty_address_recipient,
// resolve_null_domain, resolve_numeric_domain, show_user_unknown_table_name,
// virtual_alias_domains, virtual_mailbox_domains, relay_domains,
// parent_domain_matches_subdomains, local_transport, virtual_transport,
// relay_transport, default_transport, relayhost, transport_maps,
// sender_dependent_relayhost_maps, sender_dependent_default_transport_maps,
// empty_address_relayhost_maps_lookup_key,
// empty_address_default_transport_maps_lookup_key, recipient_delimiter,
// the address_verify_* counterparts, ipc_timeout, max_idle, max_use.
import Glibc
import Util
import Global
import Tables
import ServerSkeleton

nonisolated(unsafe) var rewriteSettings = RewriteSettings()
nonisolated(unsafe) var resolver: AddressResolver?
nonisolated(unsafe) var cache = ResolveCache()

func setUp(_ context: ServiceContext) {
    guard resolver == nil else { return }
    rewriteSettings = RewriteSettings(config: context.config)
    do {
        resolver = AddressResolver(settings: try ResolveSettings(config: context.config))
    } catch {
        MailLog.fatal("\(error)")
    }
}

/// Reads one request from `stream` and answers it; false closes the connection.
func serveRequest(_ stream: Stream, _ context: ServiceContext) -> Bool {
    setUp(context)
    let list: AttributeList
    do {
        list = try AttributeCodec.read(from: stream)
    } catch {
        if error != .stream(.endOfFile) { MailLog.warning("\(error) in input from rewrite socket") }
        return false
    }
    let reply: AttributeList
    switch RewriteRequest.decode(list) {
    case .success(.rewrite(let rule, let address)):
        reply = RewriteReply(address: AddressRewriter.rewrite(address, rule: rule, settings: rewriteSettings)).encoded()
    case .success(.resolve(let verify, let sender, let address)):
        reply = cache.answer(verify: verify, sender: sender, address: address) {
            resolver!.resolve(sender: sender, address: address, verify: verify)
        }.encoded()
    case .failure(let error):
        MailLog.warning(error.warning)
        return false
    }
    do {
        try AttributeCodec.write(reply, to: stream)
    } catch {
        return false
    }
    return true
}

MultiServer.run(program: "trivial-rewrite", handler: serveRequest, prepare: setUp)
