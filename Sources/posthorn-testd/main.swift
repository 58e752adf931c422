// posthorn-testd: a tiny service on the SingleServer skeleton for the
// system tests of master. Each request is one line:
//   NAME        reply `pid=PID service=SERVICE arg=VALUE` where VALUE is the
//               value in force of parameter NAME (main.cf or -o); an empty
//               line leaves arg empty
//   crash       exit abnormally (abort) without replying
//   sleep N     sleep N seconds (at most 60), then reply as above
//   quit        end the session
// The session continues until the client closes or sends `quit`.
// With the argument `trigger` it runs on the TriggerServer skeleton
// instead and logs `trigger BYTES` (non-printable bytes as "?") for each
// wakeup or trigger it receives.
// With `multi` it runs on the MultiServer skeleton (each line is one
// request, answered as above; `quit` closes), with `dgram` on the
// DatagramServer skeleton, logging `datagram TEXT` per datagram.
// An argument `crash-on-start` makes the process exit with status 1 before
// it reports ready (to test master's throttling).
//
// SECURITY: test program only; runs as master's services do.
// CONFIGURATION PARAMETERS: whatever a request names; max_use, max_idle.
import Glibc
import Util
import Global
import ServerSkeleton

func crashOnStart(_ context: ServiceContext) {
    if context.arguments.contains("crash-on-start") {
        MailLog.fatal("crash-on-start requested")
    }
}

if CommandLine.arguments.contains("trigger") {
    TriggerServer.run(program: "posthorn-testd", handler: { bytes, _ in
        MailLog.info("trigger " + String(decoding: bytes, as: UTF8.self))
    }, prepare: crashOnStart)
}

/// The reply to one request line.
func answer(_ request: String, _ context: ServiceContext) -> String {
    let value = request.isEmpty ? "" : context.config.value(request)
    return "pid=\(getpid()) service=\(context.serviceName) arg=\(value)\n"
}

if CommandLine.arguments.contains("multi") {
    MultiServer.run(program: "posthorn-testd", handler: { stream, context in
        guard let line = try? stream.readLine(limit: 4096) else { return false }
        let request = String(decoding: line, as: UTF8.self)
        if request == "quit" { return false }
        stream.write(answer(request, context))
        return (try? stream.flush()) != nil
    }, prepare: crashOnStart)
}

if CommandLine.arguments.contains("dgram") {
    DatagramServer.run(program: "posthorn-testd", handler: { bytes, _ in
        MailLog.info("datagram " + String(decoding: bytes, as: UTF8.self))
    }, prepare: crashOnStart)
}

SingleServer.run(program: "posthorn-testd", handler: { stream, context in
    while true {
        guard let line = try? stream.readLine(limit: 4096) else { return }
        let request = String(decoding: line, as: UTF8.self)
        let words = request.split(separator: " ")
        var parameter = request
        if words.first == "crash" {
            abort()
        } else if words.first == "quit" {
            return
        } else if words.first == "sleep" {
            let seconds = min(60, UInt32(words.count > 1 ? words[1] : "1") ?? 1)
            sleep(seconds)
            parameter = words.count > 2 ? String(words[2]) : ""
        }
        stream.write(answer(parameter, context))
        do { try stream.flush() } catch { return }
    }
}, prepare: crashOnStart)
