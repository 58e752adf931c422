// NAME
//   flush - Posthorn's fast flush service (Postfix flush(8))
// SUMMARY
//   flush [generic Postfix daemon options]
// DESCRIPTION
//   Keeps, per destination in $fast_flush_domains, a logfile of the queue
//   IDs of mail deferred for it (queue directory `flush`, one "QID\n" per
//   line; FlushLogFile.swift) and serves public/flush with the requests
//   of Global/FlushProtocol.swift: add (qmgr, when it defers a recipient),
//   send_site (ETRN, postqueue -s: the logged messages still deferred move
//   to incoming and qmgr is woken up, told first to forget dead
//   destinations and defer_transports), send_file (postqueue -i), rfrsh
//   (and master's wakeup: logfiles unread for $fast_flush_refresh_time are
//   sent, empty ones unchanged for $fast_flush_purge_time removed) and
//   purge (refresh of every logfile).
// SECURITY
//   Not security sensitive: it moves queue files between two queues and
//   writes logfiles whose names are reduced to letters, digits and "_".
//   Clients are local (public/flush): anyone may ask for a flush. Runs as
//   $mail_owner, optionally chrooted.
// CONFIGURATION PARAMETERS
//   fast_flush_domains, fast_flush_refresh_time, fast_flush_purge_time,
//   parent_domain_matches_subdomains, queue_service_name, ipc_timeout,
//   queue_directory, hash_queue_names, hash_queue_depth.
import Glibc
import Util
import Global
import Tables
import ServerSkeleton

nonisolated(unsafe) var service: FlushService?

SingleServer.run(program: "flush", handler: { stream, context in
    stream.timeout = Int32(max(1, context.seconds("ipc_timeout")))
    service?.serve(stream)
}, prepare: { context in
    let config = context.config
    let base = QueueDirectory(config: config)
    let directory = QueueDirectory(path: ".", hashedQueues: base.hashedQueues, hashDepth: base.hashDepth,
                                   longQueueIDs: base.longQueueIDs)
    let qmgr = config.value("queue_service_name")
    let parents = Set(config.value("parent_domain_matches_subdomains").splitList())
    var domains: DomainMatchList?
    do {
        domains = try DomainMatchList(parameter: "fast_flush_domains", value: config.value("fast_flush_domains"),
                                      parentMatchesSubdomains: parents.contains("fast_flush_domains"))
    } catch {
        MailLog.warning("fast_flush_domains: \(error)")
    }
    service = FlushService(log: FlushLogFile(directory: directory, qmgrPath: "public/" + (qmgr.isEmpty ? "qmgr" : qmgr)),
                           domains: domains, refreshTime: context.seconds("fast_flush_refresh_time"),
                           purgeTime: context.seconds("fast_flush_purge_time"))
})
