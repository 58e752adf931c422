// CleanupClient: how pickup, smtpd, bounce and forwarding hand a message to
// cleanup (CleanupProtocol): connect to public/$cleanup_service_name (public, as Postfix), read
// the queue ID, send flags, envelope, content records and extracted
// recipients, and read the verdict. Wakeups for qmgr and pickup are in
// Trigger.swift. A client that asks for it (smtpd: `keeping`) keeps its
// connection when cleanup offers to (CleanupProtocol, "Kept
// connections") and starts its next message on it: one kept connection
// per process, used again within ipc_idle and for at most ipc_ttl.
import Glibc
import Util

public enum CleanupClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// cleanup could not be reached or broke off: try again later.
    case unavailable(String)

    public var description: String {
        switch self { case .unavailable(let text): return text }
    }
}

/// cleanup's verdict on one message.
public struct CleanupReply: Sendable, Equatable {
    public var status: CleanupProtocol.Status
    public var reason: String
    public init(status: CleanupProtocol.Status, reason: String) {
        self.status = status
        self.reason = reason
    }
    public var isOK: Bool { status.isEmpty }
}

/// One message's conversation with cleanup.
public final class CleanupClient {
    public let queueID: String
    private let stream: Stream
    private var unflushed = 0
    /// Set for a client that keeps its connection when cleanup offers it.
    private let keeping: KeepLimits?
    private let socketPath: String
    /// When the connection was made (ipc_ttl counts from here).
    private let opened: Double
    /// The connection went back to `kept`: deinit must not close it.
    private var parked = false

    /// How long a kept connection may wait unused (ipc_idle) and live (ipc_ttl).
    public struct KeepLimits: Sendable {
        public var idle: Double
        public var life: Double
        public init(idle: Double, life: Double) {
            self.idle = idle
            self.life = life
        }
    }

    /// The process's kept connection.
    private struct Kept {
        let socketPath: String
        let stream: Stream
        let opened: Double
        let idleSince: Double
    }
    nonisolated(unsafe) private static var kept: Kept?

    /// Connects and reads the queue ID.
    public convenience init(socketPath: String, timeout: Int32 = 3600) throws(CleanupClientError) {
        try self.init(socketPath: socketPath, timeout: timeout, keeping: nil)
    }

    private init(socketPath: String, timeout: Int32, keeping: KeepLimits?) throws(CleanupClientError) {
        Socket.ignoreBrokenPipe()
        let fd: Int32
        do { fd = try Socket.connectUnix(socketPath) } catch {
            throw .unavailable("connect to \(socketPath): \(error)")
        }
        let stream = Stream(fd: fd, timeout: timeout)
        let greeting: AttributeList
        do { greeting = try AttributeCodec.read(from: stream) } catch {
            stream.close()
            throw .unavailable("cleanup: \(socketPath): \(error)")
        }
        guard let id = greeting[CleanupProtocol.Attribute.queueID], !id.isEmpty else {
            stream.close()
            throw .unavailable("cleanup: " + (greeting[CleanupProtocol.Attribute.reason] ?? "no queue ID"))
        }
        self.stream = stream
        self.queueID = id
        self.keeping = keeping
        self.socketPath = socketPath
        self.opened = EventLoop.now()
    }

    private init(kept: Kept, queueID: String, keeping: KeepLimits) {
        stream = kept.stream
        self.queueID = queueID
        self.keeping = keeping
        socketPath = kept.socketPath
        opened = kept.opened
    }

    /// A client for the next message on the process's kept connection to
    /// `socketPath` when it is still within `limits` and cleanup answers
    /// it; otherwise on a new connection. Either way the connection is
    /// kept again when cleanup offers it at the end of the message.
    public static func keeping(socketPath: String, timeout: Int32, limits: KeepLimits) throws(CleanupClientError)
        -> CleanupClient {
        if let k = kept {
            kept = nil
            let now = EventLoop.now()
            if k.socketPath == socketPath && now - k.idleSince < limits.idle && now - k.opened < limits.life {
                k.stream.timeout = timeout
                k.stream.write(CleanupProtocol.nextMessage.encoded())
                if (try? k.stream.flush()) != nil, let greeting = try? AttributeCodec.read(from: k.stream) {
                    if let id = greeting[CleanupProtocol.Attribute.queueID], !id.isEmpty {
                        return CleanupClient(kept: k, queueID: id, keeping: limits)
                    }
                    // cleanup answered, without a queue file: its problem, as
                    // on a new connection.
                    k.stream.close()
                    throw .unavailable("cleanup: " + (greeting[CleanupProtocol.Attribute.reason] ?? "no queue ID"))
                }
                // No answer: the kept connection ended meanwhile (cleanup's
                // wait ran out, or it exited). Nothing was sent for a
                // message yet: a new connection takes over.
            }
            k.stream.close()
        }
        return try CleanupClient(socketPath: socketPath, timeout: timeout, keeping: limits)
    }

    /// The client for the instance `config` describes.
    public convenience init(config: MailConfig) throws(CleanupClientError) {
        let endpoint = Self.endpoint(config: config)
        try self.init(socketPath: endpoint.socketPath, timeout: endpoint.timeout)
    }

    /// Where the instance `config` describes has its cleanup service, and
    /// the IPC timeout: computed once by clients that open many files.
    public static func endpoint(config: MailConfig) -> (socketPath: String, timeout: Int32) {
        let name = config.value("cleanup_service_name")
        let seconds = Int32(config.value("ipc_timeout").prefix { $0.isNumber }) ?? 3600
        return (config.value("queue_directory") + "/public/" + (name.isEmpty ? CleanupProtocol.service : name),
                max(1, seconds))
    }

    deinit { if !parked { stream.close() } }

    /// Sends the flags, the envelope and the envelope recipients.
    public func begin(flags: CleanupProtocol.Flags, sender: String, fullName: String? = nil,
                      arrival: (Int, Int)? = nil, attributes: [QueueAttribute] = [],
                      recipients: [QueueRecipient], verp: String? = nil) {
        stream.write(AttributeList([(CleanupProtocol.Attribute.flags, String(flags.rawValue))]).encoded())
        CleanupProtocol.writeEnvelope(to: stream, sender: sender, fullName: fullName, arrival: arrival,
                                      attributes: attributes, verp: verp)
        for r in recipients { stream.write(CleanupProtocol.recipientList(r).encoded()) }
        stream.write(CleanupProtocol.marker(.content).encoded())
    }

    /// Sends one content record (`N` = a line or its end, `L` = a chunk
    /// continued by the next record).
    public func writeRecord(continued: Bool, _ payload: [UInt8]) throws(CleanupClientError) {
        try writeRecord(continued: continued, payload[...])
    }

    public func writeRecord(continued: Bool, _ payload: ArraySlice<UInt8>) throws(CleanupClientError) {
        let type = continued ? QueueRecordType.continued : QueueRecordType.normal
        stream.write(byte: type.rawValue)
        QueueRecordLength.forEachByte(payload.count) { stream.write(byte: $0) }
        stream.write(payload)
        unflushed += payload.count + 6
        if unflushed >= 65536 {
            unflushed = 0
            do { try stream.flush() } catch { throw .unavailable("cleanup: write: \(error)") }
        }
    }

    /// Sends one whole line.
    public func writeLine(_ line: [UInt8]) throws(CleanupClientError) {
        try writeRecord(continued: false, line)
    }

    /// Ends the content, sends the extracted recipients and the client's
    /// actions (smtpd access maps), and reads the verdict.
    public func finish(extracted: [QueueRecipient] = [], actions: CleanupActions = CleanupActions())
        throws(CleanupClientError) -> CleanupReply {
        stream.write([QueueRecordType.extracted.rawValue, 0])
        for r in extracted { stream.write(CleanupProtocol.recipientList(r).encoded()) }
        stream.write(CleanupProtocol.endList(actions).encoded())
        do {
            try stream.flush()
            let reply = try AttributeCodec.read(from: stream)
            let status = try reply.requireInt(CleanupProtocol.Attribute.status)
            if let keeping, reply[CleanupProtocol.Attribute.keep] == "1", stream.bufferedCount == 0 {
                let now = EventLoop.now()
                if now - opened < keeping.life {
                    CleanupClient.kept?.stream.close()
                    CleanupClient.kept = Kept(socketPath: socketPath, stream: stream, opened: opened, idleSince: now)
                    parked = true
                }
            }
            return CleanupReply(status: CleanupProtocol.Status(rawValue: status),
                                reason: reply[CleanupProtocol.Attribute.reason] ?? "")
        } catch {
            throw .unavailable("cleanup: \(queueID): \(error)")
        }
    }
}

/// One-byte wakeups to trigger services (qmgr, pickup, flush): a fifo gets
/// a non-blocking write, a UNIX-domain socket a connect and a write. A
/// service that is not there is not an error for the sender.
