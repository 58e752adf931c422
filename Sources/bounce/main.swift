// NAME
//   bounce - Posthorn's delivery status report daemon (Postfix bounce(8))
// SUMMARY
//   bounce [generic Postfix daemon options]
// DESCRIPTION
//   One program behind three master.cf services, bounce, defer and trace;
//   the service name is the queue subdirectory of its per-message
//   logfiles. Each connection carries one request (Global/BounceProtocol):
//   append (one recipient's status to the logfile), flush (a non-delivery
//   notification from the logfile, which is then removed), warn (a delay
//   notification; the logfile stays), trace (a delivery status
//   notification for NOTIFY=SUCCESS recipients), verp (as flush) and one
//   (a notice about one recipient given in the request). Notifications
//   are RFC 3464 multipart/report messages submitted through cleanup from
//   the null sender (postmaster copies from double-bounce@$myorigin) and
//   logged `QID: sender non-delivery notification: NEWQID` (sender or
//   postmaster; non-delivery, delay, or delivery status). A notice about a
//   postmaster notice is discarded with a warning. The reply is status=0,
//   or -1 when cleanup could not take the notice (the client keeps the
//   message and asks again later).
// STANDARDS
//   RFC 3464 (delivery status notifications), RFC 3462 (multipart/report),
//   RFC 3461 (NOTIFY, RET, ENVID, ORCPT), RFC 3834 (Auto-Submitted).
// SECURITY
//   Not security sensitive: serves qmgr and delivery agents on private/
//   sockets, reads queue files and logfiles, writes only logfiles. Runs as
//   $mail_owner, optionally chrooted (bounce_template_file is read first).
// CONFIGURATION PARAMETERS
//   bounce_notice_recipient, 2bounce_notice_recipient,
//   delay_notice_recipient, notify_classes (bounce, 2bounce, delay),
//   double_bounce_sender, bounce_size_limit, bounce_template_file,
//   delay_warning_time, maximal_queue_lifetime, myhostname, myorigin,
//   mail_name, smtputf8_enable, cleanup_service_name, ipc_timeout,
//   queue_directory, hash_queue_names, hash_queue_depth.
import Glibc
import Util
import Global
import ServerSkeleton

nonisolated(unsafe) var settings: BounceSettings?

func setUp(_ context: ServiceContext) {
    guard settings == nil else { return }
    settings = BounceSettings(context: context)
}

func serve(_ stream: Stream, _ context: ServiceContext) {
    setUp(context)
    guard let settings else { return }
    stream.timeout = settings.ipcTimeout
    let list: AttributeList
    do { list = try AttributeCodec.read(from: stream) } catch {
        MailLog.warning("\(context.serviceName): malformed request: \(error)")
        return
    }
    let status = BounceService(settings: settings, config: context.config, service: context.serviceName).handle(list)
    try? AttributeCodec.write(BounceProtocol.reply(status), to: stream)
}

SingleServer.run(program: "bounce", handler: serve, prepare: setUp)
