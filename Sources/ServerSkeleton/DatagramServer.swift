// DatagramServer: the skeleton of unix-dgram services (postlogd): each
// datagram on descriptor 4 goes to the handler; `drained`, when given, runs
// each time no datagram is waiting any more (so a handler may batch its
// output per burst instead of per datagram). The process stays
// available to master; datagrams do not count against max_use, and it
// exits after max_idle quiet seconds (master restarts it when the next
// datagram waits). Under load it wakes at most every 0.3 ms, so that
// postlogd reads and writes several log lines per wake-up, taking up to
// 16 datagrams per system call (recvmmsg).
import Glibc
import Util
import Global
import CPosix

public enum DatagramServer {
    /// Seconds between two wake-ups, at least (see `run`): the kernel
    /// queues the datagrams meanwhile; Linux holds only
    /// net.unix.max_dgram_qlen (10 by default) before senders wait, so the
    /// pause is kept short: with 1 ms, senders blocked on the full queue
    /// twice as often as without a pause; with 0.3 ms, no more often.
    public static let minimumWakeInterval = 0.0003

    public static func run(program: String, handler: @escaping ([UInt8], ServiceContext) -> Void,
                           drained: (() -> Void)? = nil,
                           prepare: ((ServiceContext) -> Void)? = nil) -> Never {
        var runtime = ServerRuntime.start(program: program, prepare: prepare)
        let endpoint = runtime.options.standalone ? 0 : MasterProtocol.firstListenFD
        Socket.setNonBlocking(endpoint)
        runtime.report(.available)
        // One 64 KiB slot per datagram of a batch (the kernel writes only
        // the bytes received: the untouched pages are never made resident).
        let slot = 65536, batch = 16
        var buffer = [UInt8](unsafeUninitializedCapacity: slot * batch) { _, n in n = slot * batch }
        var lengths = [Int32](repeating: 0, count: batch)
        var lastWake = 0.0
        while true {
            // At most one wake-up per `minimumWakeInterval`: under load the
            // datagrams of a fraction of a millisecond are read in one burst instead
            // of one wake-up (and one write) each; a quiet server answers
            // at once.
            let sinceLast = EventLoop.now() - lastWake
            if sinceLast < minimumWakeInterval && !runtime.options.standalone {
                usleep(useconds_t((minimumWakeInterval - sinceLast) * 1e6))
            }
            runtime.waitReadable(endpoint, idleLimit: !runtime.options.standalone)
            lastWake = EventLoop.now()
            while true {
                let count = buffer.withUnsafeMutableBufferPointer { b in
                    lengths.withUnsafeMutableBufferPointer { l in
                        posthorn_recv_datagrams(endpoint, b.baseAddress, Int32(slot), Int32(batch), l.baseAddress)
                    }
                }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                for i in 0..<Int(count) {
                    let n = Int(lengths[i])
                    if n == 0 && runtime.options.standalone { drained?(); exit(0) }
                    handler(Array(buffer[(i * slot)..<(i * slot + n)]), runtime.context)
                }
                runtime.usage.touch(at: EventLoop.now())
                if count < batch { break }
            }
            drained?()
        }
    }
}
