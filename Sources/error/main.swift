// NAME
//   error - Posthorn's error/retry mail delivery agent (Postfix error(8))
// SUMMARY
//   error [generic Postfix daemon options]
// DESCRIPTION
//   Takes delivery requests from qmgr over private/<service> (the
//   DeliveryRequest protocol, Sources/Global/DeliveryRequest.swift). The
//   request's next hop is the reason, optionally led by an RFC 3463 code:
//   `error:5.7.1 go away`. Under the service name `error` every recipient
//   is bounced (default code 5.0.0): marked done, appended to bounce/QID,
//   logged `status=bounced (REASON)`. Under the service name `retry` every
//   recipient is deferred (default 4.0.0; the class digit is always 4):
//   appended to defer/QID, logged `status=deferred (REASON)`. Both log
//   `relay=none`. An empty reason reads "unknown reason" / as Postfix's
//   error transport default. qmgr may keep the connection for the next
//   request (the final reply offers it: SingleServer.runRequests).
// SECURITY
//   Not security sensitive: talks only to qmgr, touches only the queue
//   file and logfiles named in the request. Runs as $mail_owner.
// CONFIGURATION PARAMETERS
//   queue_directory, hash_queue_names, hash_queue_depth,
//   enable_long_queue_ids, ipc_timeout; the generic daemon parameters.
import Glibc
import Util
import Global
import ServerSkeleton

SingleServer.runRequests(program: "error", handler: { stream, context, _ in
    stream.timeout = Int32(max(1, context.seconds("ipc_timeout")))
    let directory = QueueDirectory(config: context.config)
    let retry = context.serviceName == "retry"
    let request: DeliveryRequest
    do {
        request = try DeliveryRequest.decode(try AttributeCodec.read(from: stream))
    } catch {
        MailLog.warning("malformed delivery request from qmgr: \(error)")
        return .close
    }
    let reason = DeliveryReason.split(request.nexthop, defaultCode: retry ? "4.0.0" : "5.0.0",
                                      forcedClass: retry ? "4" : "5")
    let text = reason.text.isEmpty ? "unknown reason" : reason.text
    let recorder = DeliveryOutcomeRecorder(request: request, directory: directory)
    for r in request.recipients {
        let reply = recorder.record(r, status: retry ? .deferred : .bounced, dsn: reason.dsn, text: text)
        do { try AttributeCodec.write(reply.encoded(), to: stream) } catch { return .close }
    }
    do { try AttributeCodec.write(DeliveryReply.final(status: 0, keep: true), to: stream) } catch { return .close }
    return .keep
})
