// Wakeups: every N seconds master writes the byte "W" to a fifo or unix
// trigger service (starting it if needed, since the byte makes the
// endpoint readable); with `N?` only while the service has processes.
import Glibc
import Util
import Global

extension MasterProcess {
    func scheduleWakeup(_ service: ServiceInstance) {
        let spec = service.spec
        guard spec.wakeup > 0, spec.type == "fifo" || spec.type == "unix" else { return }
        service.wakeupTimer = loop.after(Double(spec.wakeup)) { [unowned self] in
            service.wakeupTimer = nil
            guard self.isCurrent(service), !self.stopping else { return }
            if !spec.wakeupConditional || !service.children.isEmpty {
                Self.sendWakeup(spec)
            }
            self.scheduleWakeup(service)
        }
    }

    /// Writes one wakeup byte without ever blocking master.
    static func sendWakeup(_ spec: ServiceSpec) {
        guard case .local(let type, let path, _) = spec.endpoint else { return }
        var byte = MasterProtocol.wakeupByte
        if type == "fifo" {
            let fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else { MailLog.warning("open \(path): \(SystemError())"); return }
            _ = write(fd, &byte, 1)
            close(fd)
            return
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            if errno != EAGAIN { MailLog.warning("connect to \(path): \(SystemError())") }
            return
        }
        _ = write(fd, &byte, 1)
    }
}
