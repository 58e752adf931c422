// EventLoop: a single-threaded event loop (Postfix's events.c): callbacks
// for readable descriptors and for timers. Daemons and master run on it;
// nothing here blocks except the wait itself. Descriptors are kept in an
// epoll set (level-triggered), so a round costs the same with two hundred
// child status pipes as with one; a caller must unwatch a descriptor
// before it closes it (as every caller does). Descriptors epoll refuses
// (regular files) count as always readable, as poll(2) reports them.
import Glibc
import CPosix

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
    /// Watched descriptors epoll does not take: ready in every round.
    private var alwaysReady: Set<Int32> = []
    private var timers: [Timer] = []
    private var nextTimerID = 1
    private var stopped = false
    private let epoll: Int32

    public init() {
        epoll = posthorn_epoll_create()
        if epoll < 0 {
            Diagnostics.write("\(Diagnostics.programName): fatal: epoll_create1: \(SystemError())\n")
            exit(1)
        }
    }

    deinit { close(epoll) }

    /// Seconds since an arbitrary point, monotonic.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Calls `handler` whenever `fd` is readable (or has hung up).
    public func watchReadable(_ fd: Int32, _ handler: @escaping Handler) {
        if readers[fd] == nil && posthorn_epoll_watch(epoll, fd) != 0 { alwaysReady.insert(fd) }
        readers[fd] = Watch(handler: handler)
    }

    public func unwatch(_ fd: Int32) {
        guard readers.removeValue(forKey: fd) != nil else { return }
        if alwaysReady.remove(fd) == nil { _ = posthorn_epoll_unwatch(epoll, fd) }
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
        if !alwaysReady.isEmpty { wait = 0 }
        var readyFDs = [Int32](repeating: -1, count: 64)
        let n = readyFDs.withUnsafeMutableBufferPointer {
            posthorn_epoll_ready(epoll, $0.baseAddress, Int32($0.count), Int32(wait * 1000))
        }
        var fired = n > 0 ? Array(readyFDs[0..<Int(n)]) : []
        fired += alwaysReady.sorted()
        // A handler may unwatch (and close) another descriptor of this
        // round: only what is still watched is called.
        for fd in fired {
            readers[fd]?.handler()
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
