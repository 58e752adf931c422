// ServiceInstance: one service of the running configuration: its
// listening descriptors, its status pipe, its processes and whether it is
// throttled. A reload replaces every instance; the processes of the old
// ones finish their client and exit when they find the status pipe closed.
import Glibc
import Util
import Global

final class ChildProcess {
    let pid: pid_t
    /// Its slot on the service's status page.
    let slot: Int

    init(pid: pid_t, slot: Int) {
        self.pid = pid
        self.slot = slot
    }
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
    /// Idle count and process slots shared with the children.
    let page: MasterStatusPage
    private var freeSlots: [Int] = []
    private var nextSlot = 0

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
        guard let page = MasterStatusPage.create() else { throw SystemError() }
        self.page = page
    }

    /// Idle processes, as the children keep count on the status page.
    var availableCount: Int { max(page.idle, 0) }

    /// A free slot for a new process, nil when all are in use.
    func takeSlot() -> Int? {
        if let slot = freeSlots.popLast() { return slot }
        guard nextSlot < MasterStatusPage.slotCount else { return nil }
        defer { nextSlot += 1 }
        return nextSlot
    }

    func releaseSlot(_ slot: Int) {
        page.setSlot(slot, .free)
        freeSlots.append(slot)
    }

    var atProcessLimit: Bool { spec.maxProcesses > 0 && children.count >= spec.maxProcesses }
}
