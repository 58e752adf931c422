// NAME
//   qmgr - Posthorn's queue manager (Postfix qmgr(8))
// SUMMARY
//   qmgr [generic Postfix daemon options]
// DESCRIPTION
//   Waits for triggers on public/qmgr (I: scan incoming, D: scan deferred,
//   A: ignore deferred time stamps and defer_transports in the next scan,
//   F: forget dead destinations, W: master's wakeup = scan incoming) and
//   scans deferred every $queue_run_delay. Ready files (mode u+rwx) move
//   into active and are read; each entry is logged
//   `QID: from=<s>, size=N, nrcpt=N (queue active)`. Recipients still `R`
//   are resolved by trivial-rewrite (or routed by the `L` content filter
//   record), grouped per transport and next hop, and sent as delivery
//   requests (Global/DeliveryRequest.swift) to private/<transport>, at most
//   <transport>_destination_recipient_limit recipients each, with
//   per-destination concurrency starting at initial_destination_concurrency
//   up to <transport>_destination_concurrency_limit. The agents mark done
//   what they delivered or bounced. When a message's last request ends:
//   every recipient done -> file removed (`QID: removed`); otherwise, if
//   maximal_queue_lifetime (bounce_queue_lifetime for the null sender) has
//   passed or the file is force-expired (g+x) -> `status=expired, returned
//   to sender`, the rest go to bounce/QID and are marked done. Then, when
//   bounce/QID or trace/QID exists, the bounce daemon is asked for the
//   non-delivery (flush on private/bounce) or delivery status (trace on
//   private/trace) report (QmgrNotices.swift); only when it answers 0
//   (the notice is queued, and the daemon removed the logfile) may the
//   file go: all recipients done -> removed; otherwise -> deferred, with
//   mtime = now + backoff (age clamped to
//   minimal_backoff_time..maximal_backoff_time), after a delay warning
//   (warn on private/defer) when the W record's time has passed, which is
//   then rewritten as -1 (warn once). A report that could not be sent is
//   asked for again on the next pass; the recipients stay done.
//   defer_transports recipients are deferred ("deferred transport")
//   unless the deferred scan was forced with `A` (postqueue -f). Files in
//   active at start-up (a killed qmgr) go back to incoming.
// SECURITY
//   Not security sensitive: reads one-byte triggers from local users, talks
//   to trivial-rewrite, the bounce daemon and delivery agents only. Runs as $mail_owner,
//   optionally chrooted (all paths are relative to the queue directory).
// CONFIGURATION PARAMETERS
//   queue_run_delay, minimal_backoff_time, maximal_backoff_time,
//   maximal_queue_lifetime, bounce_queue_lifetime,
//   initial_destination_concurrency, default_destination_concurrency_limit,
//   default_destination_recipient_limit, transport_* overrides,
//   qmgr_message_active_limit, qmgr_ipc_timeout, defer_transports,
//   default_filter_nexthop, rewrite_service_name, bounce_service_name,
//   defer_service_name, trace_service_name, hash_queue_names,
//   hash_queue_depth.
import Glibc
import Util
import Global
import ServerSkeleton

TriggerServer.run(program: "qmgr", handler: { bytes, context in
    let config = context.config
    let deferTransports = Set(config.value("defer_transports").split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" })
        .map(String.init))
    let settings = QmgrSettings(
        queueRunDelay: max(1, context.seconds("queue_run_delay")),
        minimalBackoff: context.seconds("minimal_backoff_time"),
        maximalBackoff: context.seconds("maximal_backoff_time"),
        maximalLifetime: context.seconds("maximal_queue_lifetime"),
        bounceLifetime: context.seconds("bounce_queue_lifetime"),
        initialConcurrency: context.integer("initial_destination_concurrency"),
        defaultConcurrencyLimit: context.integer("default_destination_concurrency_limit"),
        defaultRecipientLimit: context.integer("default_destination_recipient_limit"),
        activeLimit: max(1, Int(config.value("qmgr_message_active_limit")) ?? 20000),
        ipcTimeout: context.seconds("qmgr_ipc_timeout"),
        deferTransports: deferTransports,
        defaultFilterNexthop: config.value("default_filter_nexthop"),
        config: config)
    let base = QueueDirectory(config: config)
    let directory = QueueDirectory(path: ".", hashedQueues: base.hashedQueues, hashDepth: base.hashDepth,
                                   longQueueIDs: base.longQueueIDs)
    let service = config.value("rewrite_service_name")
    let rewrite = RewriteClient(socketPath: "private/" + (service.isEmpty ? RewriteProtocol.service : service),
                                timeout: Int32(max(1, context.seconds("qmgr_ipc_timeout"))))
    let manager = QueueManager(settings: settings, directory: directory, rewrite: rewrite,
                               triggerFD: MasterProtocol.firstListenFD, triggerIsFifo: context.serviceType == "fifo",
                               hasMaster: fcntl(MasterProtocol.statusFD, F_GETFD) >= 0)
    manager.run(first: bytes)
}, prepare: { context in
    let base = QueueDirectory(config: context.config)
    QueueManager.recover(QueueDirectory(path: ".", hashedQueues: base.hashedQueues, hashDepth: base.hashDepth,
                                        longQueueIDs: base.longQueueIDs))
})
