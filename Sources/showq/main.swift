// NAME
//   showq - Posthorn's queue listing service (Postfix showq(8))
// SUMMARY
//   showq [generic Postfix daemon options]
// DESCRIPTION
//   Serves public/showq: for each client, streams the queue listing (the
//   incoming, active, deferred, hold and maildrop queues; sender, size,
//   arrival time, the recipients not yet done and their delay reasons
//   from defer/) in the protocol of Global/QueueListing.swift, one attr0
//   list per message, then an empty list. postqueue -p/-j and mailq format
//   it.
// SECURITY
//   Reads the queue for unprivileged local users; reveals what mailq
//   reveals. Runs as $mail_owner, optionally chrooted.
// CONFIGURATION PARAMETERS
//   queue_directory, hash_queue_names, hash_queue_depth, ipc_timeout.
import Glibc
import Util
import Global
import ServerSkeleton

SingleServer.run(program: "showq", handler: { stream, context in
    stream.timeout = Int32(max(1, context.seconds("ipc_timeout")))
    let base = QueueDirectory(config: context.config)
    let directory = QueueDirectory(path: ".", hashedQueues: base.hashedQueues, hashDepth: base.hashDepth,
                                   longQueueIDs: base.longQueueIDs)
    for entry in QueueListingBuilder.entries(directory) {
        stream.write(entry.encoded().encoded())
        if (try? stream.flush()) == nil { return }
    }
    try? AttributeCodec.write(AttributeList(), to: stream)
})
