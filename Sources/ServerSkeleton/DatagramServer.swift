// DatagramServer: the skeleton of unix-dgram services (postlogd): each
// datagram on descriptor 4 goes to the handler; `drained`, when given, runs
// each time no datagram is waiting any more (so a handler may batch its
// output per burst instead of per datagram). The process stays
// available to master; datagrams do not count against max_use, and it
// exits after max_idle quiet seconds (master restarts it when the next
// datagram waits).
import Glibc
import Util
import Global

public enum DatagramServer {
    public static func run(program: String, handler: @escaping ([UInt8], ServiceContext) -> Void,
                           drained: (() -> Void)? = nil,
                           prepare: ((ServiceContext) -> Void)? = nil) -> Never {
        var runtime = ServerRuntime.start(program: program, prepare: prepare)
        let endpoint = runtime.options.standalone ? 0 : MasterProtocol.firstListenFD
        Socket.setNonBlocking(endpoint)
        runtime.report(.available)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            runtime.waitReadable(endpoint, idleLimit: !runtime.options.standalone)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(endpoint, $0.baseAddress, $0.count, 0) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 { break }
                if n == 0 && runtime.options.standalone { drained?(); exit(0) }
                handler(Array(buffer[0..<n]), runtime.context)
                runtime.usage.touch(at: EventLoop.now())
            }
            drained?()
        }
    }
}
