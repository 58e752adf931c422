// MasterStatusLink: a service process's side of master's status protocol
// (MasterProtocol, MasterStatusPage). The process keeps its slot and the
// service's idle count on the shared page up to date itself and writes a
// status record only when the count reaches zero (it was the last idle
// process: master must be ready to start another) or leaves zero. Without
// a page (an older master) every change is written, as Postfix's children
// do. When master is gone (EPIPE on the pipe) the process exits quietly.
import Glibc
import Global

public enum MasterStatusLink {
    nonisolated(unsafe) private static var enabled = false
    nonisolated(unsafe) private static var page: MasterStatusPage?
    nonisolated(unsafe) private static var slot = 0
    /// master counts a new process idle.
    nonisolated(unsafe) private static var idle = true
    /// The two records a process may send, made once (pid and generation
    /// do not change).
    nonisolated(unsafe) private static var records: [MasterProtocol.Status: [UInt8]] = [:]
    nonisolated(unsafe) private static var generation = 0

    /// Called once by ServerRuntime when master started this process.
    static func connect(generation: Int) {
        enabled = true
        self.generation = generation
        guard let text = getenv(MasterProtocol.statusPageVariable) else { return }
        let words = String(cString: text).split(separator: " ")
        guard words.count == 2, let fd = Int32(words[0]), let slot = Int(words[1]),
              slot >= 0 && slot < MasterStatusPage.slotCount,
              let page = MasterStatusPage.attach(fd: fd) else { return }
        self.page = page
        self.slot = slot
    }

    /// This process is now idle (`available`) or serving (`taken`).
    public static func report(_ status: MasterProtocol.Status) {
        guard enabled else { return }
        let nowIdle = status == .available
        if let page {
            guard nowIdle != idle else { return }
            idle = nowIdle
            page.setSlot(slot, nowIdle ? .idle : .busy)
            let before = page.addIdle(nowIdle ? 1 : -1)
            // Only a change to or from "none idle" concerns master (a
            // count below zero, after a process was killed mid-update,
            // is reported as if it were zero).
            guard before <= (nowIdle ? 0 : 1) else { return }
        }
        write(status)
    }

    private static func write(_ status: MasterProtocol.Status) {
        let bytes: [UInt8]
        if let cached = records[status] {
            bytes = cached
        } else {
            bytes = MasterProtocol.Record(pid: MasterProtocol.processID, generation: generation, status: status).encoded()
            records[status] = bytes
        }
        while true {
            let n = bytes.withUnsafeBytes { Glibc.write(MasterProtocol.statusFD, $0.baseAddress, $0.count) }
            if n == bytes.count { return }
            if n < 0 && errno == EINTR { continue }
            exit(0)
        }
    }
}
