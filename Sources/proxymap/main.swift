// proxymap: the lookup table proxy server, as Postfix 3.7's proxymap(8).
// One program serves two master.cf services: `proxymap` (read-only, tables
// listed in $proxy_read_maps) and `proxywrite` (read-write, tables listed in
// $proxy_write_maps), told apart by the service name. Requests are open,
// lookup, update, delete and sequence (see Global/ProxyProtocol.swift and
// docs/internal-protocol.md). Tables are opened on first use and kept open
// for the life of the process, shared by every client; there is no close.
//
// SECURITY: not a trusted daemon: runs as $mail_owner, chrooted or not; it
// opens only approved tables and must not serve sensitive lookups (uid,
// mailbox file or command). Peers: any local process that can reach
// $queue_directory/private/proxymap or proxywrite.
// STANDARDS: none (Postfix-internal protocol).
// CONFIGURATION PARAMETERS: proxy_read_maps, proxy_write_maps,
// proxywrite_service_name, ipc_timeout, max_idle, max_use, and whatever the
// opened tables read.
import Util
import Global
import Tables
import ServerSkeleton

nonisolated(unsafe) var service: ProxymapService?

/// The service for this process, built on first use.
func proxymapService(_ context: ServiceContext) -> ProxymapService {
    if let service { return service }
    let writeName = context.config.value("proxywrite_service_name")
    let isWrite = context.serviceName == (writeName.isEmpty ? ProxyProtocol.writeService : writeName)
    let config = context.config
    let created = ProxymapService(
        serviceName: context.serviceName, isWriteService: isWrite,
        allowList: config.value(isWrite ? "proxy_write_maps" : "proxy_read_maps"),
        opener: { table, writable throws(LookupError) in
            if writable, let ref = TableReference.parse(table), IndexedTableFile.creatableTypes.contains(ref.type) {
                return try IndexedTableFile.open(type: ref.type, name: ref.name, config: config, writable: true, create: true)
            }
            return try TableOpener.open(table, context: TableContext(config: config, writable: writable))
        },
        warn: { MailLog.warning($0) })
    service = created
    return created
}

/// Reads one request from `stream` and answers it; false closes the connection.
func serveRequest(_ stream: Stream, _ context: ServiceContext) -> Bool {
    let server = proxymapService(context)
    let request: AttributeList
    do {
        request = try AttributeCodec.read(from: stream)
    } catch {
        if error != .stream(.endOfFile) {
            MailLog.warning("\(error) in input from \(context.serviceName) socket")
        }
        return false
    }
    do {
        try AttributeCodec.write(server.handle(request), to: stream)
    } catch {
        return false
    }
    return true
}

func prepareService(_ context: ServiceContext) {
    _ = proxymapService(context)
}

MultiServer.run(program: "proxymap", handler: serveRequest, prepare: prepareService)
