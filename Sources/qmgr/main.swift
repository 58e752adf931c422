// NAME
//   qmgr - Posthorn's queue manager (Postfix qmgr(8))
// SUMMARY
//   qmgr [generic Postfix daemon options]
// DESCRIPTION
//   Waits for triggers on public/qmgr (I: scan incoming, D: scan deferred,
//   A: ignore deferred time stamps and defer_transports in the next scan,
//   F: forget dead transports and destinations, W: master's wakeup = scan incoming) and
//   scans deferred every $queue_run_delay. Ready files (mode u+rwx) move
//   into active while it holds fewer than qmgr_message_active_limit
//   messages and qmgr_message_recipient_limit recipients; each entry is
//   logged `QID: from=<s>, size=N, nrcpt=N (queue active)`. Recipients
//   still `R` are read in slices (at most what the recipient budget allows,
//   never fewer than qmgr_message_recipient_minimum; the next slice when
//   default_recipient_refill_limit fit or default_recipient_refill_delay
//   passed), resolved by trivial-rewrite (or routed by the `L` content
//   filter record), grouped per transport and destination (the next hop;
//   the recipient when <transport>_destination_recipient_limit is 1) and
//   sent as delivery requests (Global/DeliveryRequest.swift) to
//   private/<transport>, at most <transport>_destination_recipient_limit
//   recipients each. QmgrScheduler.swift picks what starts: at most the
//   transport's master.cf maxproc (default_process_limit) at once, per
//   destination a window from initial_destination_concurrency up to
//   <transport>_destination_concurrency_limit moved by the positive and
//   negative feedback parameters (QmgrWindow.swift), rate delays, round
//   robin between messages. A destination whose failed cohorts reach
//   _destination_concurrency_failed_cohort_limit is dead for
//   minimal_backoff_time (its recipients deferred "delivery temporarily
//   suspended: ..."); a transport whose agent cannot be reached is dead
//   for transport_retry_time ("mail transport unavailable"); `F` revives
//   both. The agents mark done
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
//   unless the deferred scan was forced with `A` (postqueue -f), the scan
//   follows an `F` (the flush service: ETRN, postqueue -s), or the file
//   has the group-read bit (flush send_file: postqueue -i; cleared here).
//   When a message stays deferred, each deferred recipient's domain is
//   added to the fast flush logs (Global/FlushClient, only when
//   fast_flush_domains is set). Files in
//   active at start-up (a killed qmgr) go back to incoming. An agent whose
//   final reply offers `keep=1` gets the next request of its transport on
//   the same connection, kept at most ipc_idle unused and ipc_ttl in all
//   (QmgrAgentPool.swift).
// SECURITY
//   Not security sensitive: reads one-byte triggers from local users, talks
//   to trivial-rewrite, the bounce daemon and delivery agents only. Runs as $mail_owner,
//   optionally chrooted (all paths are relative to the queue directory).
// CONFIGURATION PARAMETERS
//   queue_run_delay, minimal_backoff_time, maximal_backoff_time,
//   maximal_queue_lifetime, bounce_queue_lifetime,
//   initial_destination_concurrency, default_destination_concurrency_limit,
//   default_destination_recipient_limit,
//   default_destination_concurrency_positive_feedback,
//   default_destination_concurrency_negative_feedback,
//   default_destination_concurrency_failed_cohort_limit,
//   default_destination_rate_delay, default_transport_rate_delay (and
//   their <transport>_ overrides), default_process_limit,
//   transport_retry_time, qmgr_message_active_limit,
//   qmgr_message_recipient_limit, qmgr_message_recipient_minimum,
//   default_recipient_refill_limit, default_recipient_refill_delay,
//   qmgr_ipc_timeout, defer_transports,
//   default_filter_nexthop, rewrite_service_name, bounce_service_name,
//   flush_service_name, fast_flush_domains,
//   defer_service_name, trace_service_name, hash_queue_names,
//   hash_queue_depth.
import Glibc
import Util
import Global
import ServerSkeleton

/// master.cf maxproc per unix service, read before the chroot.
enum QmgrMasterLimits {
    nonisolated(unsafe) static var processLimits: [String: Int] = [:]
}

TriggerServer.run(program: "qmgr", handler: { bytes, context in
    let config = context.config
    let deferTransports = Set(config.value("defer_transports").split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" })
        .map(String.init))
    var settings = QmgrSettings(
        queueRunDelay: max(1, context.seconds("queue_run_delay")),
        minimalBackoff: context.seconds("minimal_backoff_time"),
        maximalBackoff: context.seconds("maximal_backoff_time"),
        maximalLifetime: context.seconds("maximal_queue_lifetime"),
        bounceLifetime: context.seconds("bounce_queue_lifetime"),
        activeLimit: max(1, context.integer("qmgr_message_active_limit")),
        ipcTimeout: context.seconds("qmgr_ipc_timeout"),
        deferTransports: deferTransports,
        defaultFilterNexthop: config.value("default_filter_nexthop"),
        config: config)
    settings.recipientLimit = max(1, context.integer("qmgr_message_recipient_limit"))
    settings.recipientMinimum = max(1, context.integer("qmgr_message_recipient_minimum"))
    settings.refillLimit = max(1, context.integer("default_recipient_refill_limit"))
    settings.refillDelay = Double(max(1, context.seconds("default_recipient_refill_delay")))
    settings.processLimits = QmgrMasterLimits.processLimits
    settings.ipcIdle = max(1, context.seconds("ipc_idle"))
    settings.ipcTTL = max(1, context.seconds("ipc_ttl"))
    let base = QueueDirectory(config: config)
    let directory = QueueDirectory(path: ".", hashedQueues: base.hashedQueues, hashDepth: base.hashDepth,
                                   longQueueIDs: base.longQueueIDs)
    let service = config.value("rewrite_service_name")
    let rewrite = RewriteClient(socketPath: "private/" + (service.isEmpty ? RewriteProtocol.service : service),
                                timeout: Int32(max(1, context.seconds("qmgr_ipc_timeout"))))
    let manager = QueueManager(settings: settings, directory: directory, rewrite: rewrite,
                               triggerFD: MasterProtocol.firstListenFD, triggerIsFifo: context.serviceType == "fifo",
                               hasMaster: fcntl(MasterProtocol.statusFD, F_GETFD) >= 0)
    // Every delivery passes through this process: a log line never makes
    // it wait for postlogd (Global's MailLogBacklog).
    MailLog.deferWhenBusy = true
    manager.run(first: bytes)
}, prepare: { context in
    // master.cf is outside the queue directory (and any chroot): read the
    // transports' process limits now.
    if let master = try? MasterConfigFile.load(path: context.config.configDirectory + "/master.cf") {
        QmgrMasterLimits.processLimits = QmgrTransportPolicy.processLimits(
            master: master, defaultLimit: max(1, context.integer("default_process_limit")))
    }
    let base = QueueDirectory(config: context.config)
    QueueManager.recover(QueueDirectory(path: ".", hashedQueues: base.hashedQueues, hashDepth: base.hashDepth,
                                        longQueueIDs: base.longQueueIDs))
})
