// ServiceInstance: one service of the running configuration: its
// listening descriptors, its status pipe, its processes and whether it is
// throttled. A reload replaces every instance; the processes of the old
// ones finish their client and exit when they find the status pipe closed.
import Glibc
import Util
import Global

final class ChildProcess {
    let pid: pid_t
    /// Idle and waiting for a client (a new process counts as available).
    var available = true
    /// Clients taken so far (status `T` records).
    var useCount = 0

    init(pid: pid_t) { self.pid = pid }
}

final class ServiceInstance {
    let spec: ServiceSpec
    let listenFDs: [Int32]
    /// Read end (master) and write end (children, descriptor 3).
    let statusRead: Int32
    let statusWrite: Int32
    let generation: Int
    var children: [pid_t: ChildProcess] = [:]
    var throttled = false
    /// Whether master polls the listening descriptors (to spawn on demand).
    var listening = false
    var limitTimer: Int?
    var lastLimitWarning = -Double.infinity
    var wakeupTimer: Int?
    var throttleTimer: Int?
    var pendingStatus: [UInt8] = []

    init(spec: ServiceSpec, listenFDs: [Int32], generation: Int) throws(SystemError) {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw SystemError() }
        for fd in pipeFDs { Socket.setCloseOnExec(fd) }
        Socket.setNonBlocking(pipeFDs[0])
        self.spec = spec
        self.listenFDs = listenFDs
        self.statusRead = pipeFDs[0]
        self.statusWrite = pipeFDs[1]
        self.generation = generation
    }

    var availableCount: Int { children.values.reduce(0) { $0 + ($1.available ? 1 : 0) } }

    var atProcessLimit: Bool { spec.maxProcesses > 0 && children.count >= spec.maxProcesses }
}
