// MasterStatusPage: the memory page master shares with the processes of
// one service, so that a process can tell whether it was the last idle one
// without telling master each time (docs/master.md, "Status page").
//
// Layout: a 32-bit count of idle processes at offset 0, then one state byte
// per process slot (master gives each process a slot when it spawns it).
// master counts a new process idle (slot `fresh`); the process moves its
// slot to `busy` and the count down when it takes a client, to `idle` and
// the count up when it is free again, and writes a status record to master
// only when the count leaves or reaches zero. When a process ends, master
// takes it off the count if its slot says it was idle, and frees the slot.
import Glibc
import CPosix

public final class MasterStatusPage: @unchecked Sendable {
    public enum Slot: UInt8, Sendable {
        case free = 0
        /// Spawned, has not taken a client yet (counted idle).
        case fresh = 1
        case busy = 2
        /// Served a client and waits for the next (counted idle).
        case idle = 3

        public var countedIdle: Bool { self == .fresh || self == .idle }
    }

    /// Process slots per service; a service at this many live processes
    /// gets no more (as if at its process limit).
    public static let slotCount = 65536
    static let slotsOffset = 64
    static let size = slotsOffset + slotCount

    public let fd: Int32
    private let base: UnsafeMutableRawPointer

    private init(fd: Int32, base: UnsafeMutableRawPointer) {
        self.fd = fd
        self.base = base
    }

    /// master: a new zero-filled page (no idle process, every slot free).
    public static func create() -> MasterStatusPage? {
        let fd = posthorn_status_page_create(UInt(size))
        guard fd >= 0 else { return nil }
        guard let base = posthorn_map_shared(fd, UInt(size)) else {
            close(fd)
            return nil
        }
        return MasterStatusPage(fd: fd, base: base)
    }

    /// A service process: the page master handed over on `fd`.
    public static func attach(fd: Int32) -> MasterStatusPage? {
        guard let base = posthorn_map_shared(fd, UInt(size)) else { return nil }
        return MasterStatusPage(fd: fd, base: base)
    }

    /// master, when the service is retired (reload): unmaps the page and
    /// closes its descriptor (the children keep their own mappings).
    public func release() {
        munmap(base, Self.size)
        close(fd)
    }

    private var counter: UnsafeMutablePointer<Int32> { base.assumingMemoryBound(to: Int32.self) }

    /// Idle processes now.
    public var idle: Int { Int(posthorn_atomic_load(counter)) }

    /// Adds `delta` to the idle count; returns the count before.
    @discardableResult
    public func addIdle(_ delta: Int32) -> Int { Int(posthorn_atomic_add(counter, delta)) }

    /// master, when the service has no process left (nobody else writes
    /// the count then): sets it to zero, undoing any drift left by a
    /// process killed between its slot and its count update.
    public func resetIdle() { posthorn_atomic_store(counter, 0) }

    public func slot(_ index: Int) -> Slot {
        precondition(index >= 0 && index < Self.slotCount)
        let byte = posthorn_atomic_load_byte((base + Self.slotsOffset + index).assumingMemoryBound(to: UInt8.self))
        return Slot(rawValue: byte) ?? .free
    }

    public func setSlot(_ index: Int, _ state: Slot) {
        precondition(index >= 0 && index < Self.slotCount)
        posthorn_atomic_store_byte((base + Self.slotsOffset + index).assumingMemoryBound(to: UInt8.self), state.rawValue)
    }
}
