// Stop: on SIGTERM (also SIGINT, SIGQUIT) master logs, stops listening,
// sends SIGTERM to every process it started, waits for them (up to five
// seconds, then SIGKILL) and exits.
import Glibc
import Util
import Global

extension MasterProcess {
    func stop(signal number: Int32) -> Never {
        MailLog.info("terminating on signal \(number)")
        stopping = true
        var pids = Array(retiredChildren.keys)
        for service in services {
            for fd in service.listenFDs { close(fd) }
            close(service.statusRead)
            close(service.statusWrite)
            pids += service.children.keys
        }
        for pid in pids { kill(pid, SIGTERM) }
        var remaining = Set(pids)
        let deadline = EventLoop.now() + 5
        while !remaining.isEmpty && EventLoop.now() < deadline {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 { remaining.remove(pid); continue }
            if pid < 0 && errno == ECHILD { break }
            usleep(20_000)
        }
        for pid in remaining {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        exit(0)
    }
}
