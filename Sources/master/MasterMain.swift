// master: the Posthorn resident process manager (Postfix's master(8)).
// Reads master.cf, creates every service's endpoint (TCP listeners, UNIX
// sockets, fifos), starts the service programs on demand from
// $daemon_directory with posix_spawn, up to each service's process limit,
// sends wakeups, replaces processes that exit, throttles services that fail
// at start-up, rereads its configuration on SIGHUP and stops on SIGTERM.
// The master/child contract is in Global/MasterProtocol.swift and
// docs/master.md.
//
// Usage: master [-c config_dir] [-d] [-t] [-v] [-w]
//   -d  stay in the foreground (do not detach)
//   -t  exit 0 when no master is running, 1 when one is
//   -v  verbose logging (passed on to the services)
//   -w  detach, but wait until the daemon has started (exit 1 if it failed)
//
// SECURITY: runs as root on a real system and starts services as
// $mail_owner (unless unpriv = n), optionally chrooted; opens privileged
// ports before that. Started by another user it runs every service as
// that user and logs "warning: running without root privileges: all
// services run as UID N". Talks only to its children (status pipes) and
// to the endpoints it creates.
//
// CONFIGURATION PARAMETERS: queue_directory, daemon_directory,
// default_process_limit, service_throttle_time, inet_interfaces,
// inet_protocols, import_environment, mail_owner, syslog_name,
// syslog_facility, maillog_file.
import Glibc
import Util
import Global

@main
enum MasterMain {
    static let version = "3.7.11"
    static let usage = "usage: master [-c config_dir] [-d] [-t] [-v] [-w]"

    static func main() {
        Diagnostics.programName = "master"
        MailLog.setTag("postfix/master")
        var options = Array(CommandLine.arguments.dropFirst())
        var configOption: String? = nil
        var foreground = false, testOnly = false, waitStarted = false
        var verbose = 0
        while let word = options.first, word.hasPrefix("-"), word.count > 1 {
            options.removeFirst()
            var letters = Substring(word.dropFirst())
            while let flag = letters.first {
                letters = letters.dropFirst()
                switch flag {
                case "c":
                    if !letters.isEmpty { configOption = String(letters); letters = "" }
                    else if let next = options.first { configOption = next; options.removeFirst() }
                    else { MailLog.fatal(usage) }
                case "d": foreground = true
                case "t": testOnly = true
                case "v": verbose += 1
                case "w": waitStarted = true
                case "D", "s", "e": break
                default: MailLog.fatal(usage)
                }
            }
        }
        guard options.isEmpty else { MailLog.fatal(usage) }
        MailLog.verbose = verbose
        let directory = MailConfig.directory(option: configOption)
        var config: MailConfig
        do {
            config = try MailConfig.load(directory: directory, programName: "master")
        } catch {
            MailLog.fatal(error.postfixText)
        }
        let queue = config.value("queue_directory")
        if testOnly { exit(PidFile.isLocked(queueDirectory: queue) ? 1 : 0) }

        MailLog.alsoStandardError = isatty(2) != 0
        MailLog.configure(program: "master", config: config)
        if !foreground { Detach.start(waitStarted: waitStarted, queueDirectory: queue) }

        guard chdir(queue) == 0 else { MailLog.fatal("chdir(\"\(queue)\"): \(SystemError())") }
        QueueLayout.prepare(queueDirectory: queue, config: config)
        let pidLock = PidFile.lock(queueDirectory: queue)
        _ = pidLock

        let masterFile: MasterConfigFile
        let specs: [ServiceSpec]
        do {
            masterFile = try MasterConfigFile.load(path: directory + "/master.cf")
            specs = try ServiceTable.build(master: masterFile, config: config, verbose: verbose)
        } catch {
            MailLog.fatal(error.postfixText)
        }
        let master = MasterProcess(configDirectory: directory, config: config, verbose: verbose)
        master.installSignals()
        var pool: [String: [Int32]] = [:]
        master.startServices(specs, pool: &pool, fatalErrors: true)
        // Logged once the endpoints exist, so the line reaches postlogd.
        if geteuid() != 0 {
            MailLog.warning("running without root privileges: all services run as UID \(geteuid())")
        }
        MailLog.info("daemon started -- version \(version), configuration \(directory)")
        MailLog.alsoStandardError = false
        if Detach.isDetachedChild { Detach.closeStandardStreams() }
        master.run()
    }
}
