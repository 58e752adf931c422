// TriggerServer: the skeleton of wakeup-driven daemons (pickup, qmgr,
// flush), as Postfix's trigger_server. The endpoint is a fifo (read what
// was written) or a UNIX-domain socket (accept, read one request, close);
// the handler gets the bytes.
import Glibc
import Util
import Global

public enum TriggerServer {
    /// Calls `handler` with each trigger's bytes (at most 1024), reporting
    /// `T` while it runs. Each trigger counts against max_use; max_idle
    /// applies only to services without a wakeup timer (`-z` absent), so
    /// a long-lived daemon such as qmgr is not restarted between wakeups.
    public static func run(program: String, handler: @escaping ([UInt8], ServiceContext) -> Void,
                           prepare: ((ServiceContext) -> Void)? = nil) -> Never {
        var runtime = ServerRuntime.start(program: program, prepare: prepare)
        if runtime.options.standalone {
            var buffer = [UInt8](repeating: 0, count: 1024)
            let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            handler(n > 0 ? Array(buffer[0..<n]) : [], runtime.context)
            exit(0)
        }
        let endpoint = MasterProtocol.firstListenFD
        let isFifo = runtime.context.serviceType == "fifo"
        Socket.setNonBlocking(endpoint)
        runtime.report(.available)
        let idleLimit = !runtime.options.wakeup
        while true {
            runtime.waitReadable(endpoint, idleLimit: idleLimit)
            var bytes: [UInt8]
            if isFifo {
                guard let data = readAvailable(endpoint) else { continue }
                bytes = data
            } else {
                guard let client = ServerRuntime.accept(endpoint) else { continue }
                bytes = readRequest(client)
                close(client)
            }
            runtime.report(.taken)
            handler(bytes, runtime.context)
            runtime.usage.served(at: EventLoop.now())
            if runtime.usage.exhausted { exit(0) }
            runtime.report(.available)
        }
    }

    /// The request bytes of one accepted trigger connection. The sender
    /// writes right after it connects: usually the bytes are there
    /// already; otherwise this waits up to a second.
    public static func readRequest(_ client: Int32) -> [UInt8] {
        if let ready = readAvailable(client, flags: Int32(MSG_DONTWAIT)) { return ready }
        var probe = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
        _ = poll(&probe, 1, 1000)
        return readAvailable(client) ?? []
    }

    /// One read of up to 1024 bytes; nil when nothing was there.
    static func readAvailable(_ fd: Int32, flags: Int32 = 0) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes {
                flags == 0 ? read(fd, $0.baseAddress, $0.count) : recv(fd, $0.baseAddress, $0.count, flags)
            }
            if n > 0 { return Array(buffer[0..<n]) }
            if n < 0 && errno == EINTR { continue }
            return nil
        }
    }
}
