// MultiServer: the skeleton of daemons that serve many clients per process
// (trivial-rewrite, proxymap, anvil, scache, tlsmgr), as Postfix's
// multi_server: one event loop, one handler call per request.
import Glibc
import Util
import Global

public enum MultiServer {
    /// `handler` is called whenever a client connection has data (one
    /// request); return false to close it. `disconnect` is called before a
    /// connection is closed (by the client or by a false return). The
    /// process counts accepted clients against max_use (when reached it
    /// stops accepting, reports `T` and exits after the last client),
    /// exits after max_idle seconds without clients, or when master goes away.
    public static func run(program: String, handler: @escaping (Stream, ServiceContext) -> Bool,
                           prepare: ((ServiceContext) -> Void)? = nil, disconnect: ((Stream) -> Void)? = nil) -> Never {
        var runtime = ServerRuntime.start(program: program, prepare: prepare)
        let loop = EventLoop()
        var clients: [Int32: Stream] = [:]
        var accepting = true
        let context = runtime.context

        func drop(_ stream: Stream) {
            loop.unwatch(stream.fd)
            clients[stream.fd] = nil
            disconnect?(stream)
            stream.close()
            runtime.usage.touch(at: EventLoop.now())
        }
        func serve(_ stream: Stream) {
            repeat {
                if !handler(stream, context) { drop(stream); return }
            } while stream.bufferedCount > 0
            _ = try? stream.flush()
        }
        func watch(_ stream: Stream) {
            clients[stream.fd] = stream
            loop.watchReadable(stream.fd) {
                // A hang-up reads as end of file inside the handler, which returns false.
                var probe = pollfd(fd: stream.fd, events: Int16(POLLIN), revents: 0)
                _ = poll(&probe, 1, 0)
                if probe.revents & Int16(POLLIN) == 0 && probe.revents != 0 { drop(stream); return }
                serve(stream)
            }
        }

        if runtime.options.standalone {
            watch(Stream(fd: 0))
            while !clients.isEmpty { loop.runOnce() }
            exit(0)
        }

        let listenFDs = runtime.listenFDs
        for listenFD in listenFDs {
            Socket.setNonBlocking(listenFD)
            loop.watchReadable(listenFD) {
                guard accepting, let fd = ServerRuntime.accept(listenFD) else { return }
                runtime.usage.served(at: EventLoop.now())
                watch(Stream(fd: fd))
                if runtime.usage.exhausted {
                    accepting = false
                    for other in listenFDs { loop.unwatch(other) }
                    runtime.report(.taken)
                }
            }
        }
        loop.watchReadable(MasterProtocol.statusFD) {
            var probe = pollfd(fd: MasterProtocol.statusFD, events: 0, revents: 0)
            _ = poll(&probe, 1, 0)
            if runtime.masterGone(revents: probe.revents) {
                for stream in Array(clients.values) { drop(stream) }
                exit(0)
            }
        }
        runtime.report(.available)
        while true {
            loop.runOnce(maxWait: 1.0)
            if !accepting && clients.isEmpty { exit(0) }
            if clients.isEmpty && runtime.usage.idleExpired(at: EventLoop.now()) { exit(0) }
        }
    }
}
