// ScriptLog: the messages of Postfix's postfix-script, tagged
// `$syslog_name/postfix-script`: to the mail log always, and to standard
// error as `postfix/postfix-script: ...` only when that is a terminal
// (as Postfix's postlog does).
import Glibc
import Util
import Global

enum ScriptLog {
    static let onTerminal = isatty(2) != 0
    nonisolated(unsafe) static var scriptTag = "postfix/postfix-script"
    nonisolated(unsafe) static var commandTag = "postfix"

    static func configure(_ config: MailConfig) {
        MailLog.configure(program: "postfix-script", config: config)
        MailLog.fileWhenPostlogDown = true
        MailLog.alsoStandardError = onTerminal
        scriptTag = MailLog.tag
    }

    static func log(_ severity: MailLog.Severity, _ text: String, tag: String? = nil) {
        let saved = Diagnostics.programName
        let savedTag = MailLog.tag
        let useTag = tag ?? scriptTag
        Diagnostics.programName = useTag
        MailLog.setTag(useTag)
        MailLog.log(severity, text)
        MailLog.setTag(savedTag)
        Diagnostics.programName = saved
    }

    static func info(_ text: String) { log(.info, text) }
    static func warning(_ text: String) { log(.warning, text) }

    /// `fatal: TEXT` and exit 1, as postfix-script.
    static func fatal(_ text: String, status: Int32 = 1) -> Never {
        log(.fatal, text)
        exit(status)
    }

    /// A fatal error of the postfix command itself (tag `postfix`), which
    /// Postfix prints on a terminal and logs, e.g. `chdir(DIR): ...`.
    static func commandFatal(_ text: String) -> Never {
        log(.fatal, text, tag: commandTag)
        exit(1)
    }
}
