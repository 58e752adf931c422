// MasterProtocol: the contract between master and the services it spawns
// (docs/master.md).
//
// Descriptors in the child: 3 is the status pipe (write end), 4 the first
// listening endpoint, 5 the next, and so on (one per endpoint; an inet
// service on several addresses gets several, announced with `-s N`;
// `pass` services receive client descriptors over connections accepted
// on theirs). The child's arguments: `-c config_dir -n service -t type
// [-u] [-r] [-z] [-s N] [-v]... [-o name=value]... [args...]` — `-u` when
// unpriv is not `n` (drop to mail_owner when root), `-r` when chroot is
// `y` (chroot into queue_directory when root), `-z` when the service has a
// wakeup timer, `-s N` when there are N > 1 listening descriptors, `-v`
// per master -v. The skeleton also accepts `-S` (stand-alone: standard
// input is the one client; no master). The environment has MAIL_CONFIG,
// GENERATION (decimal, bumped at each reload; echoed in status records)
// and the names in import_environment.
//
// Status: master counts a service's idle processes on a shared page
// (MasterStatusPage, handed to each child on the descriptor named in the
// environment variable MASTER_STATUS_PAGE="FD SLOT", with the child's slot
// on it). A child moves its slot and the count itself when it takes a
// client and when it is free again, and writes a fixed-size record to the
// status pipe only when the count reaches zero (its record says `T`,
// taken: the last idle process is busy) or leaves zero (`A`, available):
// "PID GEN S\n" padded to 32 bytes. A record makes master look at the
// count again: it polls the service's listening descriptors while the
// count is zero, and starts another process when a client waits there (up
// to maxproc). Postfix's children write a record at every change, waking
// master twice per client; here master sleeps while some process is idle.
// A process that exits abnormally before it took a client (its slot still
// `fresh`) makes master throttle the service. When master closes the read
// end (reload, stop), the next write fails with EPIPE and the child exits;
// idle children see POLLERR on descriptor 3 and exit at once.
//
// Wakeups: master writes the single byte `W` to a fifo or unix trigger
// service every wakeup interval (`N?`: only while it has processes).
import Glibc

public enum MasterProtocol {
    public static let statusFD: Int32 = 3
    /// This process's ID for status records, asked once (children are
    /// spawned and exec'd, never forked, so it does not change).
    public static let processID = getpid()
    public static let firstListenFD: Int32 = 4
    public static let recordSize = 32
    public static let wakeupByte = UInt8(ascii: "W")
    /// The environment variable naming the status page: "FD SLOT".
    public static let statusPageVariable = "MASTER_STATUS_PAGE"

    public enum Status: UInt8, Sendable {
        case available = 65  // "A"
        case taken = 84      // "T"
    }

    /// One status record.
    public struct Record: Equatable, Sendable {
        public let pid: pid_t
        public let generation: Int
        public let status: Status

        public init(pid: pid_t, generation: Int, status: Status) {
            self.pid = pid
            self.generation = generation
            self.status = status
        }

        public func encoded() -> [UInt8] {
            var bytes = Array("\(pid) \(generation) ".utf8) + [status.rawValue, 0x0A]
            while bytes.count < recordSize { bytes.append(0x20) }
            return Array(bytes.prefix(recordSize))
        }

        public static func decode(_ bytes: ArraySlice<UInt8>) -> Record? {
            guard bytes.count == recordSize else { return nil }
            // Three words separated by spaces and newlines (master reads
            // one record per child per connection: no strings made).
            var words: [Range<Int>] = []
            var i = bytes.startIndex
            while i < bytes.endIndex && words.count < 3 {
                while i < bytes.endIndex && (bytes[i] == 0x20 || bytes[i] == 0x0A) { i += 1 }
                let start = i
                while i < bytes.endIndex && bytes[i] != 0x20 && bytes[i] != 0x0A { i += 1 }
                if i > start { words.append(start..<i) }
            }
            guard words.count == 3, let pid = decimal(bytes[words[0]]), let pid32 = pid_t(exactly: pid),
                  let gen = decimal(bytes[words[1]]), words[2].count == 1,
                  let status = Status(rawValue: bytes[words[2].lowerBound]) else { return nil }
            return Record(pid: pid32, generation: gen, status: status)
        }

        /// An optionally signed decimal number, as Int(_:) reads one.
        private static func decimal(_ bytes: ArraySlice<UInt8>) -> Int? {
            var digits = bytes[...]
            var negative = false
            if let sign = digits.first, sign == 0x2B || sign == 0x2D { negative = sign == 0x2D; digits = digits.dropFirst() }
            guard !digits.isEmpty else { return nil }
            var value = 0
            for d in digits {
                guard d >= 0x30 && d <= 0x39 else { return nil }
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = negative ? m.subtractingReportingOverflow(Int(d - 0x30)) : m.addingReportingOverflow(Int(d - 0x30))
                guard !o1 && !o2 else { return nil }
                value = a
            }
            return value
        }
    }

    /// Writes a status record (one write, atomic on a pipe).
    public static func report(_ status: Status, generation: Int, fd: Int32 = statusFD) {
        let bytes = Record(pid: processID, generation: generation, status: status).encoded()
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }
}
