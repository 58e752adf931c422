// NAME
//   discard - Posthorn's discard mail delivery agent (Postfix discard(8))
// SUMMARY
//   discard [generic Postfix daemon options]
// DESCRIPTION
//   Takes delivery requests from qmgr over private/<service> (the
//   DeliveryRequest protocol, Sources/Global/DeliveryRequest.swift) and
//   reports every recipient as delivered without delivering anything:
//   each is marked done in the queue file and logged as
//   `to=<r>, relay=none, ..., dsn=2.0.0, status=sent (NEXTHOP)` where
//   NEXTHOP is the discard transport's next-hop text (the recipient domain
//   when none was given). qmgr may keep the connection for the next
//   request (the final reply offers it: SingleServer.runRequests).
// SECURITY
//   Not security sensitive: talks only to qmgr, touches only the queue
//   file named in the request. Runs as $mail_owner (unpriv service).
// CONFIGURATION PARAMETERS
//   queue_directory, hash_queue_names, hash_queue_depth,
//   enable_long_queue_ids, ipc_timeout; the generic daemon parameters.
import Glibc
import Util
import Global
import ServerSkeleton

/// The queue layout and ipc_timeout, read from the configuration once
/// per process (not per request).
nonisolated(unsafe) var queueDirectory: QueueDirectory?
nonisolated(unsafe) var ipcTimeout: Int32?

SingleServer.runRequests(program: "discard", handler: { stream, context, _ in
    let timeout = ipcTimeout ?? Int32(max(1, context.seconds("ipc_timeout")))
    ipcTimeout = timeout
    stream.timeout = timeout
    let directory = queueDirectory ?? QueueDirectory(config: context.config)
    queueDirectory = directory
    let request: DeliveryRequest
    do {
        request = try DeliveryRequest.decode(try AttributeCodec.read(from: stream))
    } catch {
        MailLog.warning("malformed delivery request from qmgr: \(error)")
        return .close
    }
    let recorder = DeliveryOutcomeRecorder(request: request, directory: directory)
    for r in request.recipients {
        var text = request.nexthop
        if text.isEmpty, let at = r.address.lastIndex(of: "@") { text = String(r.address[r.address.index(after: at)...]) }
        let reply = recorder.record(r, status: .sent, dsn: "2.0.0", text: text)
        // Sent together with the final reply: qmgr wakes once per
        // request, not once per recipient.
        AttributeCodec.buffer(reply.encoded(), to: stream)
    }
    do { try AttributeCodec.write(DeliveryReply.final(status: 0, keep: true), to: stream) } catch { return .close }
    return .keep
})
