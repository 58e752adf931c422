// BounceSettings: the parameters the bounce daemon reads, read once per
// process (before the privilege drop, so bounce_template_file is readable
// inside a chroot too).
import Glibc
import Util
import Global
import ServerSkeleton

/// Postfix's notify_classes names that concern the bounce daemon.
struct NotifyClasses: OptionSet, Equatable {
    let rawValue: Int
    static let bounce = NotifyClasses(rawValue: 1 << 0)
    static let doubleBounce = NotifyClasses(rawValue: 1 << 1)
    static let delay = NotifyClasses(rawValue: 1 << 2)

    /// The classes named in `text`; names for other daemons (resource,
    /// software, policy, protocol, data) are accepted and ignored here.
    init(_ text: String) {
        var set: NotifyClasses = []
        for word in text.splitList() {
            switch word.lowercased() {
            case "bounce": set.insert(.bounce)
            case "2bounce": set.insert(.doubleBounce)
            case "delay": set.insert(.delay)
            default: break
            }
        }
        self = set
    }

    init(rawValue: Int) { self.rawValue = rawValue }
}

struct BounceSettings {
    var myhostname = "localhost"
    var myorigin = "localhost"
    var mailName = "Postfix"
    var notifyClasses: NotifyClasses = []
    var bounceNoticeRecipient = "postmaster"
    var doubleBounceNoticeRecipient = "postmaster"
    var delayNoticeRecipient = "postmaster"
    var doubleBounceSender = "double-bounce"
    var bounceSizeLimit = 50000
    var maximalQueueLifetime = 5 * 86400
    var delayWarningTime = 0
    var smtputf8 = true
    var cleanupService = "public/cleanup"
    var ipcTimeout: Int32 = 3600
    var templates = BounceTemplates.builtin
    var directory = QueueDirectory(path: ".")

    init() {}

    init(context: ServiceContext) {
        let config = context.config
        myhostname = config.value("myhostname")
        let origin = config.value("myorigin")
        myorigin = origin.isEmpty ? myhostname : origin
        mailName = config.value("mail_name")
        notifyClasses = NotifyClasses(config.value("notify_classes"))
        bounceNoticeRecipient = config.value("bounce_notice_recipient")
        doubleBounceNoticeRecipient = config.value("2bounce_notice_recipient")
        delayNoticeRecipient = config.value("delay_notice_recipient")
        doubleBounceSender = config.value("double_bounce_sender")
        bounceSizeLimit = context.integer("bounce_size_limit")
        maximalQueueLifetime = context.seconds("maximal_queue_lifetime")
        delayWarningTime = context.seconds("delay_warning_time")
        smtputf8 = context.bool("smtputf8_enable")
        let cleanup = config.value("cleanup_service_name")
        cleanupService = "public/" + (cleanup.isEmpty ? CleanupProtocol.service : cleanup)
        ipcTimeout = Int32(max(1, context.seconds("ipc_timeout")))
        let base = QueueDirectory(config: config)
        directory = QueueDirectory(path: ".", hashedQueues: base.hashedQueues, hashDepth: base.hashDepth,
                                   longQueueIDs: base.longQueueIDs)
        let file = config.value("bounce_template_file")
        if !file.isEmpty {
            do {
                templates = try BounceTemplates.parse(try TextFile.read(file), origin: file)
            } catch {
                MailLog.warning("bounce_template_file \(file): \(error); using the built-in templates")
            }
        }
        for warning in templates.warnings { MailLog.warning(warning) }
    }

    /// `double-bounce@$myorigin`: the sender of postmaster notices.
    var doubleBounceAddress: String {
        doubleBounceSender.contains("@") ? doubleBounceSender : doubleBounceSender + "@" + myorigin
    }

    /// The null sender as reports name it: `MAILER-DAEMON@$myhostname`.
    var mailerDaemon: String { "MAILER-DAEMON@" + myhostname }

    /// Values for `$name` in template texts: the time parameters in each
    /// unit (`$delay_warning_time_hours`), then any main.cf parameter.
    func templateValue(_ name: String, config: MailConfig?) -> String? {
        let units: [(String, Int)] = [("_seconds", 1), ("_minutes", 60), ("_hours", 3600), ("_days", 86400),
                                      ("_weeks", 604800)]
        let times: [String: Int] = ["delay_warning_time": delayWarningTime, "maximal_queue_lifetime": maximalQueueLifetime]
        for (suffix, seconds) in units where name.hasSuffix(suffix) {
            if let value = times[String(name.dropLast(suffix.count))] { return String(value / seconds) }
        }
        if name == "myhostname" { return myhostname }
        if name == "mail_name" { return mailName }
        return config?.value(name)
    }
}
