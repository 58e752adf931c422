// SingleServer: the skeleton of daemons that serve one client at a time
// per process (smtpd, smtp, cleanup, local, ...), as Postfix's
// single_server. master starts more processes when every one is busy.
// Request-loop services (delivery agents, cleanup) may serve several
// requests over one connection when their client keeps it open (see
// `runRequests` and docs/internal-protocol.md, "Kept connections").
import Glibc
import Util
import Global

/// What a request-loop handler says about its connection after a request.
public enum ConnectionUse: Sendable {
    /// The request was answered in full: the client may send another.
    case keep
    /// Close the connection (an error, or the client is done).
    case close
}

public enum SingleServer {
    /// Runs the service: accepts a client on the endpoint master handed
    /// over (descriptor 4), reports `T`, calls `handler`, closes the
    /// connection (the handler must not close it), reports `A` (unless
    /// another client is already waiting: then it serves that one still
    /// counted busy), and exits
    /// after max_use clients, after max_idle idle seconds, or when master
    /// goes away. `pass` services receive the client's descriptor over the
    /// accepted connection. With `-S` standard input is the one client.
    public static func run(program: String, handler: @escaping (Stream, ServiceContext) -> Void,
                           prepare: ((ServiceContext) -> Void)? = nil) -> Never {
        runRequests(program: program, handler: { stream, context, _ in
            handler(stream, context)
            return .close
        }, prepare: prepare)
    }

    /// As `run`, for services whose clients may keep a connection for
    /// more requests: after `handler` answers `.keep`, the process waits
    /// (still busy for master) up to twice ipc_idle for the next request
    /// on the same connection, and calls `handler` again with `reused`
    /// true; end of file or the wait running out closes the connection.
    /// max_use counts connections, as Postfix's does for the services its
    /// clients keep connections to (trivial-rewrite, proxymap).
    public static func runRequests(program: String,
                                   handler: @escaping (Stream, ServiceContext, _ reused: Bool) -> ConnectionUse,
                                   prepare: ((ServiceContext) -> Void)? = nil) -> Never {
        var runtime = ServerRuntime.start(program: program, prepare: prepare)
        if runtime.options.standalone {
            let stream = Stream(fd: 0)
            _ = handler(stream, runtime.context, false)
            try? stream.flush()
            exit(0)
        }
        let keepWait = 2 * max(1, runtime.context.seconds("ipc_idle"))
        let listenFDs = runtime.listenFDs
        for fd in listenFDs { Socket.setNonBlocking(fd) }
        let passing = runtime.context.serviceType == "pass"
        runtime.report(.available)
        // A client accepted right after the previous one, while master
        // still counts this process busy.
        var next: Int32? = nil
        while true {
            let stillBusy = next != nil
            var client: Int32
            if let pending = next {
                client = pending
                next = nil
            } else {
                let listenFD = runtime.waitForClient(listenFDs)
                guard let accepted = ServerRuntime.accept(listenFD) else { continue }
                client = accepted
            }
            if passing {
                let carrier = client
                Socket.setNonBlocking(carrier, false)
                guard let passed = PassDescriptor.receive(from: carrier) else {
                    close(carrier)
                    MailLog.warning("\(runtime.context.serviceName): no descriptor received on pass connection")
                    if stillBusy { runtime.report(.available) }
                    continue
                }
                close(carrier)
                client = passed
            }
            if !stillBusy { runtime.report(.taken) }
            let stream = Stream(fd: client)
            var reused = false
            while handler(stream, runtime.context, reused) == .keep {
                do { try stream.flush() } catch { break }
                guard runtime.waitForNextRequest(on: stream, seconds: keepWait) else { break }
                runtime.usage.touch(at: EventLoop.now())
                reused = true
            }
            try? stream.flush()
            stream.close()
            runtime.usage.served(at: EventLoop.now())
            if runtime.usage.exhausted { exit(0) }
            if let listenFD = runtime.pendingClient(listenFDs) { next = ServerRuntime.accept(listenFD) }
            if next == nil { runtime.report(.available) }
        }
    }
}
