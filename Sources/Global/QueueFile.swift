// QueueFile: the one audited helper that writes queue files, by Postfix's
// completion protocol (reference queue-file-format.md §10). A new file in
// incoming/ is preferably a spare one (SpareQueueFiles: the file of a
// delivered message, renamed to its new queue ID with mode 0600 and
// overwritten; the old tail is cut before commit). Else, where the
// kernel allows, the file is first made unnamed (O_TMPFILE) in the queue
// directory and linked under its queue ID at once, which readers cannot
// tell from the protocol below and which leaves nothing behind when the
// writer dies before the link. Otherwise: create
// `<queue>/<usec>.<pid>` with O_EXCL and mode 0600; the queue ID comes from
// that moment's microseconds and the file's inode; rename it at once (no
// replace) to the name that encodes the inode (hashed per
// hash_queue_names), where it stays mode 0600 - "being written", skipped by
// every reader - while the records go in: the size record `C` first with
// zeros, rewritten in place at the end; then fchmod 0700 (the "complete"
// mark readers require); fsync. As Postfix, no separate directory fsync:
// the file's name was made before its content, and on the journaling file
// systems a queue lives on (ext4, XFS, btrfs) fsync of the file commits the
// journal that holds the name too. The caller may tell a client "queued"
// only after `commit()`. A writer killed at any moment
// leaves either nothing or a 0600 file under a queue ID, never a
// half-written file that looks complete and never a lingering temp name.
// Also: reading a queue file into a model, and marking a recipient done in
// place.
import Glibc
import CPosix
import Util

/// Why a queue file could not be written or read.
public enum QueueFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case system(String, Int32)
    case record(QueueRecordError)
    /// A structural problem (Postfix would move the file to corrupt/).
    case corrupt(String)

    public var description: String {
        switch self {
        case .system(let what, let code): return "\(what): \(SystemError(code))"
        case .record(let e): return e.description
        case .corrupt(let text): return text
        }
    }
}

/// Writes one new queue file. Records are buffered and written in large
/// chunks; the file carries the "complete" mode only once `commit()` has
/// made it durable.
public final class QueueFileWriter {
    public let directory: QueueDirectory
    public let queue: String
    /// The queue ID, known as soon as the file exists (for Received: and
    /// Message-Id headers).
    public let id: String
    /// "incoming/59FDFF7E1D9" (hashed where configured).
    public let relativePath: String
    public let arrivalSeconds: Int
    public let arrivalMicroseconds: Int

    private var fd: Int32
    /// Where the file is now (under its queue ID from the start).
    private var currentPath: String
    private var pending: [UInt8] = []
    private var written = 0
    private var sizeRecordOffset: Int?
    private var messageEnd: Int?
    private var extractedStart: Int?
    private var recipientCount = 0
    private var notifyUnion = 0
    private var finished = false
    /// Bytes of a reused (spare) file's old content beyond what this
    /// writer has written: cut off before the size record is final.
    private var staleSize = 0

    /// False once linking an unnamed (O_TMPFILE) file failed here (no
    /// /proc in a chroot, a file system without O_TMPFILE): then the
    /// temporary-name protocol below is used.
    nonisolated(unsafe) private static var unnamedFilesWork = true

    /// Creates the embryo file in `queue` (mode 0600) under its queue ID.
    public init(directory: QueueDirectory, queue: String) throws(QueueFileError) {
        self.directory = directory
        self.queue = queue
        if queue == "incoming", let spare = SpareFileTaker.take(directory: directory, queue: queue) {
            (fd, id, relativePath, staleSize, arrivalSeconds, arrivalMicroseconds) = spare
            currentPath = directory.path + "/" + spare.relative
            return
        }
        if Self.unnamedFilesWork, let made = Self.createUnnamed(directory: directory, queue: queue) {
            (fd, id, relativePath, arrivalSeconds, arrivalMicroseconds) = made
            currentPath = directory.path + "/" + made.relative
            return
        }
        var tv = timeval()
        var fd: Int32 = -1
        var temp = ""
        for _ in 0..<100 {
            gettimeofday(&tv, nil)
            temp = directory.path + "/" + queue + "/" + String(tv.tv_usec) + "." + String(getpid())
            fd = open(temp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw .system("create file \(temp)", errno) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd); unlink(temp)
            throw .system("fstat \(temp)", e)
        }
        let inode = UInt64(st.st_ino)
        let id = directory.queueID(at: tv, inode: inode)
        let relative = directory.relativePath(queue: queue, id: id)
        let final = directory.path + "/" + relative
        do {
            try directory.createParents(of: relative)
        } catch {
            close(fd); unlink(temp)
            throw .system("create directory for \(final)", error.code)
        }
        if Self.renameNoReplace(temp, final) != 0 {
            let e = errno
            close(fd); unlink(temp)
            throw .system("rename \(temp) to \(final)", e)
        }
        self.fd = fd
        self.currentPath = final
        self.arrivalSeconds = Int(tv.tv_sec)
        self.arrivalMicroseconds = Int(tv.tv_usec)
        self.id = id
        self.relativePath = relative
    }

    /// The file made unnamed (O_TMPFILE) in the queue directory, its ID
    /// taken from the inode, then given its name with one linkat(): one
    /// directory update instead of create + rename, and a writer killed
    /// before the link leaves nothing behind. nil when that is not possible
    /// here (the caller falls back to a temporary name).
    private static func createUnnamed(directory: QueueDirectory, queue: String)
        -> (fd: Int32, id: String, relative: String, seconds: Int, microseconds: Int)? {
        var tv = timeval()
        gettimeofday(&tv, nil)
        let fd = posthorn_open_tmpfile(directory.path + "/" + queue, 0o600)
        guard fd >= 0 else { unnamedFilesWork = false; return nil }
        var st = stat()
        guard fstat(fd, &st) == 0 else { close(fd); return nil }
        let inode = UInt64(st.st_ino)
        let id = directory.queueID(at: tv, inode: inode)
        let relative = directory.relativePath(queue: queue, id: id)
        guard (try? directory.createParents(of: relative)) != nil,
              linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, directory.path + "/" + relative, AT_SYMLINK_FOLLOW) == 0
        else {
            if errno != EEXIST { unnamedFilesWork = false }
            close(fd)
            return nil
        }
        return (fd, id, relative, Int(tv.tv_sec), Int(tv.tv_usec))
    }

    deinit { if !finished { abort() } }

    /// Offset the next record will have.
    public var offset: Int { written + pending.count }

    /// Appends a record; returns its offset. `C` is written with zeros and
    /// filled in by `commit()`; `M`, `X` and `R` are counted for it.
    @discardableResult
    public func append(_ type: QueueRecordType, _ payload: [UInt8] = []) throws(QueueFileError) -> Int {
        try append(typeByte: type.rawValue, payload)
    }

    @discardableResult
    public func append(_ type: QueueRecordType, _ text: String) throws(QueueFileError) -> Int {
        if type == .size { return try append(typeByte: type.rawValue, []) }
        // The text goes straight into the buffer (no array of its own).
        let at = noteRecord(type.rawValue)
        pending.append(type.rawValue)
        QueueRecordLength.append(text.utf8.count, to: &pending)
        pending.appendUTF8(text)
        if pending.count >= 65536 { try flush() }
        return at
    }

    /// Appends an `A` record `name=value`.
    @discardableResult
    public func appendAttribute(_ name: String, _ value: String) throws(QueueFileError) -> Int {
        let at = noteRecord(QueueRecordType.attribute.rawValue)
        pending.append(QueueRecordType.attribute.rawValue)
        QueueRecordLength.append(name.utf8.count + 1 + value.utf8.count, to: &pending)
        pending.appendUTF8(name)
        pending.append(0x3D)
        pending.appendUTF8(value)
        if pending.count >= 65536 { try flush() }
        return at
    }

    @discardableResult
    public func append(typeByte: UInt8, _ payload: [UInt8]) throws(QueueFileError) -> Int {
        let at = noteRecord(typeByte)
        pending.append(typeByte)
        if typeByte == QueueRecordType.size.rawValue {
            let data = QueueSizeRecord().payload
            QueueRecordLength.append(data.count, to: &pending)
            pending.append(contentsOf: data)
        } else {
            QueueRecordLength.append(payload.count, to: &pending)
            pending.append(contentsOf: payload)
        }
        if pending.count >= 65536 { try flush() }
        return at
    }

    /// The offset of the record of type `typeByte` about to be appended;
    /// notes where `C`, `M` and `X` are and counts `R`, for `C`.
    private func noteRecord(_ typeByte: UInt8) -> Int {
        precondition(!finished, "append after commit")
        let at = offset
        switch QueueRecordType(rawValue: typeByte) {
        case .size?: sizeRecordOffset = at
        case .message?: messageEnd = at + 2
        case .extracted?: extractedStart = at
        case .recipient?: recipientCount += 1
        default: break
        }
        return at
    }

    /// Appends a message line as `L` chunks and a final `N`.
    public func appendLine(_ line: [UInt8], lineLimit: Int = 2048) throws(QueueFileError) {
        if line.count <= lineLimit {
            try append(typeByte: QueueRecordType.normal.rawValue, line)
            return
        }
        var rest = line[...]
        while rest.count > lineLimit {
            try append(typeByte: QueueRecordType.continued.rawValue, Array(rest.prefix(lineLimit)))
            rest = rest.dropFirst(lineLimit)
        }
        try append(typeByte: QueueRecordType.normal.rawValue, Array(rest))
    }

    /// Appends a recipient group: `[A notify_flags] [A dsn_orig_rcpt] O R`.
    /// Returns the offset of the `R` record.
    @discardableResult
    public func appendRecipient(_ recipient: QueueRecipient) throws(QueueFileError) -> Int {
        if let flags = recipient.notifyFlags {
            notifyUnion |= flags
            try appendAttribute("notify_flags", String(flags))
        }
        if let orcpt = recipient.dsnOriginalRecipient { try appendAttribute("dsn_orig_rcpt", orcpt) }
        if let original = recipient.original { try append(.originalRecipient, original) }
        return try append(.recipient, recipient.address)
    }

    private func flush() throws(QueueFileError) {
        var done = 0
        while done < pending.count {
            let n = pending.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .system("write queue file \(currentPath)", errno)
            }
            done += n
        }
        written += pending.count
        pending.removeAll(keepingCapacity: true)
    }

    /// Writes out what is buffered and rewrites `C` in place (content size
    /// from the end of `M` to `X`, data offset, recipient count, qmgr
    /// flags, content length), leaving the file mode 0600 ("being
    /// written"): readers that do not check the mode (the bounce daemon
    /// returning a message cleanup rejected) can read it; qmgr cannot.
    public func writeOut(recipientCount: Int? = nil, qmgrFlags: Int? = nil, smtputf8: Int = 0) throws(QueueFileError) {
        precondition(!finished, "write after commit")
        try flush()
        if staleSize > written {
            if ftruncate(fd, off_t(written)) != 0 { throw QueueFileError.system("truncate \(currentPath)", errno) }
            staleSize = 0
        }
        if let at = sizeRecordOffset {
            guard let m = messageEnd, let x = extractedStart, x >= m else {
                throw QueueFileError.corrupt("queue file without message content and extracted markers")
            }
            let size = QueueSizeRecord(contentSize: x - m, dataOffset: m,
                                       recipientCount: recipientCount ?? self.recipientCount,
                                       qmgrFlags: qmgrFlags ?? (notifyUnion << 1),
                                       contentLength: x - m, smtputf8: smtputf8)
            let payload = size.payload
            let start = at + 1 + QueueRecordLength.encode(payload.count).count
            let n = payload.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(start)) }
            if n != payload.count { throw QueueFileError.system("rewrite size record \(currentPath)", errno) }
        }
    }

    /// The file's path now (under its queue ID).
    public var path: String { currentPath }

    /// Finishes the file: `writeOut()`, then moves it to `destination` when
    /// that is another queue (hold), sets mode 0700 | `extraMode` and
    /// fsyncs the file. `recipientCount`/`qmgrFlags`/`smtputf8`
    /// override the computed values when given.
    public func commit(extraMode: mode_t = 0, recipientCount: Int? = nil, qmgrFlags: Int? = nil,
                       smtputf8: Int = 0, destination: String? = nil) throws(QueueFileError) {
        precondition(!finished, "commit twice")
        do {
            try writeOut(recipientCount: recipientCount, qmgrFlags: qmgrFlags, smtputf8: smtputf8)
            if let destination, destination != queue {
                let relative = directory.relativePath(queue: destination, id: id)
                try directory.createParents(of: relative)
                let target = directory.path + "/" + relative
                if Self.renameNoReplace(currentPath, target) != 0 {
                    throw QueueFileError.system("rename \(currentPath) to \(target)", errno)
                }
                Self.syncDirectory(AtomicFile.directoryName(currentPath))
                currentPath = target
            }
            if fchmod(fd, 0o700 | extraMode) != 0 { throw QueueFileError.system("fchmod \(currentPath)", errno) }
            if fsync(fd) != 0 { throw QueueFileError.system("fsync \(currentPath)", errno) }
            finished = true
            if close(fd) != 0 { fd = -1; throw QueueFileError.system("close \(currentPath)", errno) }
            fd = -1
        } catch let error as QueueFileError {
            abort()
            throw error
        } catch {
            abort()
            throw .corrupt("\(error)")
        }
    }

    /// Removes the unfinished file.
    public func abort() {
        guard !finished else { return }
        finished = true
        if fd >= 0 { close(fd); fd = -1 }
        unlink(currentPath)
    }

    private typealias Renameat2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    nonisolated(unsafe) private static let renameat2Function: Renameat2? = {
        // RTLD_DEFAULT: glibc declares renameat2 only under _GNU_SOURCE.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: Renameat2.self)
    }()

    /// rename() that fails with EEXIST instead of replacing an existing
    /// file: renameat2(RENAME_NOREPLACE), else link() + unlink().
    static func renameNoReplace(_ from: String, _ to: String) -> Int32 {
        if let f = renameat2Function {
            let rc = f(AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */)
            if rc == 0 || (errno != EINVAL && errno != ENOSYS) { return rc }
        }
        guard link(from, to) == 0 else { return -1 }
        _ = unlink(from)
        return 0
    }

    static func syncDirectory(_ path: String) {
        let dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }
}

/// A recipient and its DSN attributes.
public struct QueueRecipient: Sendable, Equatable {
    public enum State: Sendable, Equatable { case pending, done, canceled }
    public var address: String
    public var original: String?
    /// `type;address` (ORCPT).
    public var dsnOriginalRecipient: String?
    public var notifyFlags: Int?
    public var state: State
    /// Offset of the `R`/`D`/`/` record (0 when not read from a file).
    public var offset: Int

    public init(address: String, original: String? = nil, dsnOriginalRecipient: String? = nil,
                notifyFlags: Int? = nil, state: State = .pending, offset: Int = 0) {
        self.address = address
        self.original = original
        self.dsnOriginalRecipient = dsnOriginalRecipient
        self.notifyFlags = notifyFlags
        self.state = state
        self.offset = offset
    }
}

/// A queue file read into memory.
public struct QueueMessage: Sendable, Equatable {
    public var size: QueueSizeRecord?
    public var arrivalSeconds: Int?
    public var arrivalMicroseconds: Int?
    public var createTime: Int?
    public var warningTime: Int?
    public var sender: String?
    public var fullName: String?
    public var contentFilter: String?
    public var redirect: String?
    public var verpDelimiters: String?
    /// Named attributes other than create_time and the recipient ones, in order.
    public var attributes: [QueueAttribute] = []
    public var recipients: [QueueRecipient] = []
    /// `N` and `L` records of the content segment.
    public var content: [QueueRecord] = []
    /// Offsets of the first content byte and of the `X` record.
    public var dataOffset = 0
    public var extractedOffset = 0
    public var extractedAttributes: [QueueAttribute] = []
    public var extractedRecipients: [QueueRecipient] = []
    public var extractedContentFilter: String?
    public var extractedRedirect: String?

    public init() {}

    /// The message lines (each `L…N` chain joined), without terminators.
    public var lines: [[UInt8]] {
        var out: [[UInt8]] = []
        var current: [UInt8] = []
        for record in content {
            current.append(contentsOf: record.payload)
            if record.type == QueueRecordType.normal.rawValue {
                out.append(current)
                current = []
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// The value of the first named attribute `name`.
    public func attribute(_ name: String) -> String? {
        attributes.first { $0.name == name }?.value
    }
}

public struct QueueAttribute: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }

    /// Splits `name=value` at the first "="; nil without one.
    public init?(payload: [UInt8]) {
        guard let eq = payload.firstIndex(of: UInt8(ascii: "=")), eq > 0 else { return nil }
        self.name = String(decoding: payload[..<eq], as: UTF8.self)
        self.value = String(decoding: payload[(eq + 1)...], as: UTF8.self)
    }

    /// The same from text (no byte copy: cleanup splits every envelope
    /// attribute smtpd sends this way).
    public init?(text: String) {
        var text = text
        guard let (name, value) = text.withUTF8({ u -> (String, String)? in
            guard let eq = u.firstIndex(of: UInt8(ascii: "=")), eq > 0 else { return nil }
            return (String(decoding: UnsafeBufferPointer(rebasing: u[..<eq]), as: UTF8.self),
                    String(decoding: UnsafeBufferPointer(rebasing: u[(eq + 1)...]), as: UTF8.self))
        }) else { return nil }
        self.name = name
        self.value = value
    }
}

public enum QueueFile {
    /// Reads and strictly checks the queue file at `path`.
    /// `envelopeOnly`: the content is not kept (qmgr): where the size
    /// record says the `X` record starts, parsing jumps there; when that
    /// is not so, or the file does not parse that way, it is read whole.
    public static func read(path: String, lengthLimit: Int? = nil,
                            attributeLimit: Int = 100, envelopeOnly: Bool = false) throws(QueueFileError) -> QueueMessage {
        let bytes: [UInt8]
        do { bytes = try TextFile.readBytes(path) } catch { throw .system("open \(path)", error.code) }
        if envelopeOnly, let message = try? parse(bytes, lengthLimit: lengthLimit, attributeLimit: attributeLimit,
                                                  skipContent: true) {
            return message
        }
        return try parse(bytes, lengthLimit: lengthLimit, attributeLimit: attributeLimit)
    }

    /// A decimal number between optional spaces (a `p` record's payload),
    /// read from the bytes; nil when it is anything else.
    static func decimal(_ payload: [UInt8]) -> Int? {
        var i = 0, end = payload.count
        while i < end && payload[i] == 0x20 { i += 1 }
        while end > i && payload[end - 1] == 0x20 { end -= 1 }
        guard i < end, end - i <= 18 else { return i < end ? Int(String(decoding: payload[i..<end], as: UTF8.self)) : nil }
        var value = 0
        for b in payload[i..<end] {
            guard b >= 0x30 && b <= 0x39 else { return Int(String(decoding: payload[i..<end], as: UTF8.self)) }
            value = value * 10 + Int(b - 0x30)
        }
        return value
    }

    /// Parses a whole queue file: segment rules of §2, `p` followed, `w`
    /// skipped, exactly one `S` at most, `E` required. `skipContent`: see
    /// `read(path:envelopeOnly:)`.
    public static func parse(_ bytes: [UInt8], lengthLimit: Int? = nil,
                             attributeLimit: Int = 100, skipContent: Bool = false) throws(QueueFileError) -> QueueMessage {
        var reader = QueueRecordReader(bytes: bytes, lengthLimit: lengthLimit)
        var message = QueueMessage()
        var segment = QueueSegment.envelope
        var pendingNotify: Int?
        var pendingOrcpt: String?
        var pendingOriginal: String?
        var attributeCount = 0
        var jumps = 0
        while true {
            let next: (type: UInt8, offset: Int, payload: Range<Int>)?
            do { next = try reader.nextRange() } catch { throw .record(error) }
            guard let (type, offset, range) = next else { throw .corrupt("message rejected: missing end record") }
            guard segment.allows(type) else {
                throw .corrupt("unexpected record type \(type) in \(segment) segment at offset \(offset)")
            }
            let kind = QueueRecordType(rawValue: type)!
            // Payloads are read where they lie in `bytes`: only the records
            // kept as bytes (content) are copied, the rest become text.
            var text: String { Self.text(bytes, range) }
            var payload: [UInt8] { Array(bytes[range]) }
            switch kind {
            case .pointer:
                guard let target = Self.decimal(payload) else {
                    throw .corrupt("malformed pointer record value: \(text)")
                }
                if target != 0 {
                    jumps += 1
                    guard jumps < 10000, target < bytes.count else { throw .corrupt("bad pointer record \(target)") }
                    reader.offset = target
                }
                continue
            case .padding:
                continue
            default: break
            }
            switch segment {
            case .envelope, .extracted:
                let extracted = segment == .extracted
                switch kind {
                case .size:
                    guard !extracted, offset == 0, let size = QueueSizeRecord(payload: payload) else {
                        throw .corrupt("invalid size record: \(text)")
                    }
                    message.size = size
                case .time:
                    if let (seconds, microseconds) = bytes.withUnsafeBufferPointer({
                        Self.arrivalTime(UnsafeBufferPointer(rebasing: $0[range]))
                    }) {
                        message.arrivalSeconds = seconds
                        message.arrivalMicroseconds = microseconds
                    } else {
                        let parts = text.split(separator: " ")
                        message.arrivalSeconds = parts.first.flatMap { Int($0) }
                        message.arrivalMicroseconds = parts.count > 1 ? Int(parts[1]) : nil
                    }
                case .warningTime:
                    message.warningTime = Int(text.trimmingCharacters(in: " "))
                case .fullName: message.fullName = text
                case .sender:
                    if message.sender != nil { throw .corrupt("message rejected: multiple sender records") }
                    message.sender = text
                case .contentFilter, .contentInspector:
                    if extracted { message.extractedContentFilter = text } else { message.contentFilter = text }
                case .redirect:
                    if extracted { message.extractedRedirect = text } else { message.redirect = text }
                case .verp: message.verpDelimiters = text
                case .originalRecipient: pendingOriginal = text
                case .recipient, .done, .canceled:
                    let state: QueueRecipient.State = kind == .recipient ? .pending : (kind == .done ? .done : .canceled)
                    let r = QueueRecipient(address: text, original: pendingOriginal, dsnOriginalRecipient: pendingOrcpt,
                                           notifyFlags: pendingNotify, state: state, offset: offset)
                    if extracted { message.extractedRecipients.append(r) } else { message.recipients.append(r) }
                    pendingNotify = nil; pendingOrcpt = nil; pendingOriginal = nil
                case .attribute:
                    guard let eq = bytes[range].firstIndex(of: UInt8(ascii: "=")), eq > range.lowerBound else {
                        throw .corrupt("malformed attribute: \(text)")
                    }
                    let name = range.lowerBound..<eq, value = (eq + 1)..<range.upperBound
                    // Per-recipient DSN attributes do not count towards the
                    // limit (a message may have any number of recipients).
                    if Self.bytes(bytes, name, equal: "notify_flags") {
                        pendingNotify = Int(Self.text(bytes, value))
                    } else if Self.bytes(bytes, name, equal: "dsn_orig_rcpt") {
                        pendingOrcpt = Self.text(bytes, value)
                    } else {
                        attributeCount += 1
                        if attributeCount > attributeLimit { throw .corrupt("message rejected: too many attributes") }
                        if Self.bytes(bytes, name, equal: "create_time") {
                            message.createTime = Int(Self.text(bytes, value))
                        } else {
                            let attr = QueueAttribute(Self.text(bytes, name), Self.text(bytes, value))
                            if extracted {
                                message.extractedAttributes.append(attr)
                            } else {
                                if message.attributes.isEmpty { message.attributes.reserveCapacity(24) }
                                message.attributes.append(attr)
                            }
                        }
                    }
                case .message:
                    segment = .content
                    message.dataOffset = reader.offset
                    if skipContent, let size = message.size, size.dataOffset == reader.offset {
                        let x = size.dataOffset + size.contentSize
                        // An empty `X` record must be there, else read on.
                        if x >= reader.offset, x + 1 < bytes.count, bytes[x] == QueueRecordType.extracted.rawValue,
                           bytes[x + 1] == 0 {
                            reader.offset = x
                        }
                    }
                case .end:
                    return message
                default:
                    break  // K, I, legacy r/e/P, pseudo types: kept nowhere
                }
            case .content:
                if kind == .extracted {
                    segment = .extracted
                    message.extractedOffset = offset
                } else {
                    message.content.append(QueueRecord(typeByte: type, payload: payload, offset: offset))
                }
            }
        }
    }

    /// `bytes[range]` as text (invalid UTF-8 repaired, as everywhere).
    @inline(__always)
    static func text(_ bytes: [UInt8], _ range: Range<Int>) -> String {
        bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self) }
    }

    /// Whether `bytes[range]` spells `name` (ASCII).
    @inline(__always)
    static func bytes(_ bytes: [UInt8], _ range: Range<Int>, equal name: StaticString) -> Bool {
        guard range.count == name.utf8CodeUnitCount else { return false }
        let p = name.utf8Start
        var i = 0
        for b in bytes[range] {
            guard b == p[i] else { return false }
            i += 1
        }
        return true
    }

    /// A `T` record's "seconds microseconds" when it is exactly two runs
    /// of at most 18 digits around one space (as every writer makes it);
    /// nil for anything else, which the general path reads.
    static func arrivalTime(_ bytes: UnsafeBufferPointer<UInt8>) -> (Int, Int)? {
        var values = (0, 0), digits = 0, field = 0
        for b in bytes {
            if b == 0x20 {
                guard field == 0, digits > 0 else { return nil }
                field = 1; digits = 0
                continue
            }
            guard b >= 0x30 && b <= 0x39, digits < 18 else { return nil }
            digits += 1
            if field == 0 { values.0 = values.0 * 10 + Int(b - 0x30) } else { values.1 = values.1 * 10 + Int(b - 0x30) }
        }
        return field == 1 && digits > 0 ? values : nil
    }

    /// The same for text (cleanup's `arrival_time` attribute, written
    /// the same way by smtpd and pickup).
    public static func arrivalTime(text: String) -> (Int, Int)? {
        var text = text
        return text.withUTF8 { arrivalTime($0) }
    }

    /// Marks the recipient whose `R` record is at `offset` as done: writes
    /// `D` over the type byte (§6). Not fsynced, as Postfix's agents: the
    /// byte is visible to every process at once, and should a power loss
    /// undo it, the recipient is delivered again (a duplicate, never a
    /// loss); the file is removed once every recipient is done anyway.
    public static func markDone(fd: Int32, offset: Int, as type: QueueRecordType = .done) throws(QueueFileError) {
        var byte: UInt8 = 0
        guard pread(fd, &byte, 1, off_t(offset)) == 1 else { throw .system("read type byte at \(offset)", errno) }
        guard byte == QueueRecordType.recipient.rawValue else {
            throw .corrupt("no recipient record at offset \(offset) (type \(byte))")
        }
        var newType = type.rawValue
        guard pwrite(fd, &newType, 1, off_t(offset)) == 1 else { throw .system("write type byte at \(offset)", errno) }
    }

    /// Opens `path` and marks the recipient at `offset` done.
    public static func markDone(path: String, offset: Int) throws(QueueFileError) {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .system("open \(path)", errno) }
        defer { close(fd) }
        try markDone(fd: fd, offset: offset)
    }

    /// Writes a complete queue file for `message` into `queue` (envelope,
    /// content lines, extracted recipients) and returns its ID and path.
    public static func write(_ message: QueueMessage, lines: [[UInt8]], directory: QueueDirectory,
                             queue: String = "incoming") throws(QueueFileError) -> (id: String, path: String) {
        let w = try QueueFileWriter(directory: directory, queue: queue)
        try w.append(.size)
        let sec = message.arrivalSeconds ?? w.arrivalSeconds
        let usec = message.arrivalMicroseconds ?? w.arrivalMicroseconds
        try w.append(.time, "\(sec) \(usec)")
        try w.append(.attribute, "create_time=\(message.createTime ?? w.arrivalSeconds)")
        if let f = message.contentFilter { try w.append(.contentFilter, f) }
        for a in message.attributes { try w.append(.attribute, a.name + "=" + a.value) }
        if let f = message.fullName { try w.append(.fullName, f) }
        try w.append(.sender, message.sender ?? "")
        if let r = message.redirect { try w.append(.redirect, r) }
        if let v = message.verpDelimiters { try w.append(.verp, v) }
        if let t = message.warningTime { try w.append(.warningTime, QueueSizeRecord.pad15(t)) }
        for r in message.recipients { try w.appendRecipient(r) }
        try w.append(.message)
        for line in lines { try w.appendLine(line) }
        try w.append(.extracted)
        for a in message.extractedAttributes { try w.append(.attribute, a.name + "=" + a.value) }
        for r in message.extractedRecipients { try w.appendRecipient(r) }
        try w.append(.end)
        try w.commit()
        return (w.id, directory.path + "/" + w.relativePath)
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
