// Detach: without -d master runs itself again with posix_spawn in a new
// session (a Swift process is never forked) and the launcher exits; with
// -w the launcher first waits until the daemon holds the pid-file lock.
import Glibc
import Util
import Global

enum Detach {
    static let marker = "POSTHORN_MASTER_DETACHED"

    static var isDetachedChild: Bool { getenv(marker) != nil }

    /// Never returns in the launcher.
    static func start(waitStarted: Bool, queueDirectory: String) {
        var arguments = CommandLine.arguments
        arguments.insert("-d", at: 1)
        var environment: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            environment.append(String(cString: entry))
            cursor += 1
        }
        environment.append("\(marker)=1")
        let path = executablePath()
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(path: path, arguments: arguments, environment: environment, newSession: true)
        } catch {
            MailLog.fatal("spawn \(path): \(error)")
        }
        guard waitStarted else { exit(0) }
        for _ in 0..<600 {
            if PidFile.isLocked(queueDirectory: queueDirectory) { exit(0) }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { exit(1) }
            usleep(50_000)
        }
        exit(1)
    }

    static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? String(cString: buffer) : CommandLine.arguments[0]
    }

    /// The daemon keeps no terminal: stdio goes to /dev/null.
    static func closeStandardStreams() {
        let fd = open("/dev/null", O_RDWR)
        guard fd >= 0 else { return }
        for target: Int32 in 0...2 { dup2(fd, target) }
        if fd > 2 { close(fd) }
    }
}
