// FlushTrigger: `postfix flush` as Postfix's `postqueue -f`: ask qmgr
// (public/qmgr) to flush the deferred queue ignoring time stamps and the
// dead-site cache and to scan the incoming queue, then wake up pickup.
// A mail system that cannot be reached ends with postqueue's message and
// EX_UNAVAILABLE (69).
import Glibc
import Util
import Global

enum FlushTrigger {
    /// qmgr(8) requests: F (forget dead sites), A (ignore time stamps),
    /// D (scan deferred), I (scan incoming).
    static let qmgrRequest: [UInt8] = Array("FADI".utf8)

    static func run(config: MailConfig) -> Never {
        let queue = config.value("queue_directory")
        let qmgr = queue + "/public/" + config.value("queue_service_name")
        let pickup = queue + "/public/" + config.value("pickup_service_name")
        guard Trigger.send(qmgrRequest, to: qmgr) else {
            // On a terminal as postqueue prints it ("postqueue: fatal: ..."),
            // in the log as postfix/postqueue.
            let text = "Cannot flush mail queue - mail system is down"
            if ScriptLog.onTerminal { Diagnostics.write("postqueue: fatal: \(text)\n") }
            MailLog.alsoStandardError = false
            ScriptLog.log(.fatal, text, tag: config.value("syslog_name") + "/postqueue")
            exit(69)
        }
        Trigger.wakeup(pickup)
        exit(0)
    }
}
