// EventLoop: a single-threaded poll(2) loop (Postfix's events.c): callbacks
// for readable descriptors and for timers. Daemons and master run on it;
// nothing here blocks except poll itself.
import Glibc

public final class EventLoop {
    public typealias Handler = () -> Void

    private struct Watch {
        var handler: Handler
    }

    private struct Timer {
        let id: Int
        let deadline: Double
        let handler: Handler
    }

    private var readers: [Int32: Watch] = [:]
    private var timers: [Timer] = []
    private var nextTimerID = 1
    private var stopped = false

    public init() {}

    /// Seconds since an arbitrary point, monotonic.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Calls `handler` whenever `fd` is readable (or has hung up).
    public func watchReadable(_ fd: Int32, _ handler: @escaping Handler) {
        readers[fd] = Watch(handler: handler)
    }

    public func unwatch(_ fd: Int32) {
        readers[fd] = nil
    }

    /// Calls `handler` once after `seconds`; returns an id for `cancelTimer`.
    @discardableResult
    public func after(_ seconds: Double, _ handler: @escaping Handler) -> Int {
        let id = nextTimerID
        nextTimerID += 1
        timers.append(Timer(id: id, deadline: Self.now() + seconds, handler: handler))
        return id
    }

    public func cancelTimer(_ id: Int) {
        timers.removeAll { $0.id == id }
    }

    /// Ends `run()` after the current round.
    public func stop() { stopped = true }

    /// Runs one round: waits at most `maxWait` seconds (or until the next
    /// timer) and dispatches what is ready.
    public func runOnce(maxWait: Double = 1.0) {
        let now = Self.now()
        var wait = maxWait
        if let soonest = timers.map(\.deadline).min() { wait = max(0, min(wait, soonest - now)) }
        var fds = readers.keys.sorted().map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let rc = poll(&fds, nfds_t(fds.count), Int32(wait * 1000))
        if rc > 0 {
            for p in fds where p.revents != 0 {
                readers[p.fd]?.handler()
            }
        }
        let due = Self.now()
        let ready = timers.filter { $0.deadline <= due }
        timers.removeAll { $0.deadline <= due }
        for timer in ready.sorted(by: { $0.deadline < $1.deadline }) { timer.handler() }
    }

    /// Runs until `stop()`.
    public func run() {
        stopped = false
        while !stopped { runOnce() }
    }
}
