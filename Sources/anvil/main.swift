// anvil: session count and request rate server, as Postfix 3.7's anvil(8).
// smtpd registers each client connection, message, recipient, new TLS
// session and AUTH under an ident ("service:client"), and anvil answers with
// the concurrent connection count and the rates in the current
// $anvil_rate_time_unit window (see Global/AnvilProtocol.swift). State is in
// memory only. Every $anvil_status_update_time, and on exit, anvil logs the
// peaks as `statistics: max ... for (ident) at TIME` lines; the check runs
// when a request arrives, since the skeleton has no timer callback.
//
// SECURITY: talks to no network peer and no user; runs as $mail_owner,
// chrooted or not. Peers: local processes that reach
// $queue_directory/private/anvil (smtpd, postscreen).
// STANDARDS: none (Postfix-internal protocol).
// CONFIGURATION PARAMETERS: anvil_rate_time_unit, anvil_status_update_time,
// ipc_timeout, max_idle, max_use.
import Glibc
import Util
import Global
import ServerSkeleton

nonisolated(unsafe) var table: AnvilTable?
nonisolated(unsafe) var statusUpdateTime = 600
nonisolated(unsafe) var nextStatusUpdate = 0

func now() -> Int { Int(time(nil)) }

/// Logs the statistics lines when the update time has come (or `force`).
func logStatistics(force: Bool) {
    guard table != nil else { return }
    let t = now()
    guard force || t >= nextStatusUpdate else { return }
    nextStatusUpdate = t + statusUpdateTime
    for line in table!.statisticsLines(format: AnvilTable.formatTime) { MailLog.info(line) }
}

func setUp(_ context: ServiceContext) {
    guard table == nil else { return }
    table = AnvilTable(timeUnit: context.seconds("anvil_rate_time_unit"))
    statusUpdateTime = max(1, context.seconds("anvil_status_update_time"))
    nextStatusUpdate = now() + statusUpdateTime
    atexit { logStatistics(force: true) }
}

/// Reads one request from `stream` and answers it; false closes the connection.
func serveRequest(_ stream: Stream, _ context: ServiceContext) -> Bool {
    setUp(context)
    logStatistics(force: false)
    let list: AttributeList
    do {
        list = try AttributeCodec.read(from: stream)
    } catch {
        if error != .stream(.endOfFile) {
            MailLog.warning("\(error) in input from anvil socket")
        }
        return false
    }
    let reply: AnvilReply
    var keepOpen = true
    switch AnvilRequest.decode(list) {
    case .success(let request):
        reply = table!.handle(request, client: stream.fd, now: now())
    case .failure(let error):
        MailLog.warning(error.warning)
        reply = .failure
        if case .missing = error { keepOpen = false }
    }
    do {
        try AttributeCodec.write(reply.encoded(), to: stream)
    } catch {
        return false
    }
    return keepOpen
}

func clientClosed(_ stream: Stream) {
    table?.clientGone(stream.fd, now: now())
}

MultiServer.run(program: "anvil", handler: serveRequest, prepare: setUp, disconnect: clientClosed)
