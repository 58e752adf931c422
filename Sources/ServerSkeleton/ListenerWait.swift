// ListenerWait: how an idle single-client server process waits for its
// next client. Every idle process of a service (twenty smtpd or cleanup
// processes, say) waits on the same listening sockets; with poll() one new
// connection wakes all of them and all but one go back to sleep, a
// "thundering herd" that costs a few context switches per message. Postfix
// avoids it by serializing accept() behind a lock; Posthorn registers the
// listeners in a per-process epoll set with EPOLLEXCLUSIVE (CPosix), so the
// kernel wakes one waiting process per new connection. master's status
// pipe is watched too (an error or hang-up means master is gone), and the
// max_idle limit still applies.
import Glibc
import CPosix
import Util
import Global

extension ServerRuntime {
    /// This process's epoll set for its listeners, built on first use.
    nonisolated(unsafe) private static var listenerSet: (descriptors: [Int32], epoll: Int32)?

    private func listenerEpoll(_ listeners: [Int32]) -> Int32 {
        if let set = Self.listenerSet, set.descriptors == listeners { return set.epoll }
        let ep = listeners.withUnsafeBufferPointer {
            posthorn_listener_epoll($0.baseAddress, Int32($0.count), hasMaster ? MasterProtocol.statusFD : Int32(-1))
        }
        guard ep >= 0 else { MailLog.fatal("epoll set for listeners: \(SystemError())") }
        Self.listenerSet = (listeners, ep)
        return ep
    }

    /// Waits until one of `listeners` has a client and returns it; exits
    /// when master is gone or the process has been idle for max_idle.
    func waitForClient(_ listeners: [Int32]) -> Int32 {
        let ep = listenerEpoll(listeners)
        let watched: Int32 = hasMaster ? MasterProtocol.statusFD : -1
        while true {
            var timeout: Int32 = -1
            if let left = usage.idleRemaining(at: EventLoop.now()) {
                timeout = Int32(min(left * 1000 + 1, Double(Int32.max)))
            }
            let rc = posthorn_listener_wait(ep, watched, timeout)
            if rc >= 0 { return rc }
            if rc == -2 { exit(0) }
            if rc == -1 && errno != EINTR { MailLog.fatal("epoll_wait: \(SystemError())") }
            if usage.idleExpired(at: EventLoop.now()) { exit(0) }
        }
    }

    /// The listener with a client already waiting, without blocking: nil
    /// when none has. A process that has just finished a client asks this
    /// before it reports itself available, so under load it goes straight
    /// on to the next client and master hears neither "available" nor
    /// "taken" (two status writes and two wake-ups of master fewer per
    /// client). Exits when master is gone (after a reload or stop), as the
    /// status write it skips would have.
    func pendingClient(_ listeners: [Int32]) -> Int32? {
        let ep = listenerEpoll(listeners)
        let rc = posthorn_listener_wait(ep, hasMaster ? MasterProtocol.statusFD : -1, 0)
        if rc == -2 { exit(0) }
        return rc >= 0 ? rc : nil
    }
}
