// DovecotAuthClient: the client side of Dovecot's authentication protocol
// (version 1), as an MTA speaks it to Dovecot's auth "client" socket:
//
//   C: VERSION 1 1 / CPID pid
//   S: VERSION 1 2 / MECH name props... / SPID / CUID / COOKIE / DONE
//   C: AUTH id mech service=smtp nologin lip= rip= [secured] [resp=base64]
//   S: OK id user=... | CONT id base64 | FAIL id [reason=...] [user=...] [temp]
//   C: CONT id base64
//
// Fields are TAB-separated, lines end in LF. One connection serves every
// session of the process; it is made again when it breaks. Replies to
// other request ids (left over from an aborted exchange) are skipped.
import Glibc
import Util

public final class DovecotAuthClient {
    /// "private/auth" (relative to the queue directory), a path, or
    /// "inet:host:port".
    public let endpoint: String
    public let timeout: Int32
    public let service: String
    private var stream: Stream?
    public private(set) var mechanisms: [SASLMechanism] = []
    private var nextID: UInt32 = 0
    private var currentID: UInt32 = 0

    public init(endpoint: String, service: String = "smtp", timeout: Int32 = 30) {
        self.endpoint = endpoint
        self.service = service
        self.timeout = timeout
    }

    /// Connects and reads the handshake (when not connected yet).
    public func connect() throws(SASLError) {
        if stream != nil { return }
        let fd: Int32
        do {
            if endpoint.hasPrefix("inet:") {
                let target = endpoint.dropFirst(5)
                guard let colon = target.lastIndex(of: ":"), let port = UInt16(target[target.index(after: colon)...]) else {
                    throw SASLError.configuration("invalid auth server address: \(endpoint)")
                }
                var host = String(target[..<colon])
                if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                fd = try Socket.connectTCP(host: host == "localhost" ? "127.0.0.1" : host, port: port)
            } else {
                fd = try Socket.connectUnix(endpoint.hasPrefix("unix:") ? String(endpoint.dropFirst(5)) : endpoint)
            }
        } catch let e as SASLError {
            throw e
        } catch {
            throw .unavailable("Connect to \(endpoint) failed: \(error)")
        }
        let s = Stream(fd: fd, timeout: timeout)
        s.write("VERSION\t1\t1\nCPID\t\(getpid())\n")
        var mechs: [SASLMechanism] = []
        do {
            try s.flush()
            while true {
                let line = String(decoding: try s.readLine(limit: 8192), as: UTF8.self)
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                switch fields.first ?? "" {
                case "VERSION":
                    guard fields.count >= 2, fields[1] == "1" else {
                        s.close()
                        throw SASLError.unavailable("authentication server protocol version \(fields.dropFirst().joined(separator: "."))")
                    }
                case "MECH":
                    if fields.count >= 2 { mechs.append(SASLMechanism(name: fields[1].uppercased(), properties: Set(fields.dropFirst(2)))) }
                case "DONE":
                    mechanisms = mechs
                    stream = s
                    return
                default: continue
                }
            }
        } catch let e as SASLError {
            throw e
        } catch {
            s.close()
            throw .unavailable("Connection lost to authentication server")
        }
    }

    public func disconnect() {
        stream?.close()
        stream = nil
    }

    /// Client and server addresses for the request (lip/rip, lport/rport).
    public struct Peer: Sendable {
        public var localAddress = ""
        public var localPort = ""
        public var remoteAddress = ""
        public var remotePort = ""
        public var secured = false
        public init() {}
    }

    /// Starts an exchange. `initialResponse` is base64 (already checked),
    /// "" for an empty one, nil for none.
    public func start(mechanism: String, initialResponse: String?, peer: Peer) throws(SASLError) -> SASLStep {
        try connect()
        nextID &+= 1
        if nextID == 0 { nextID = 1 }
        currentID = nextID
        var line = "AUTH\t\(currentID)\t\(mechanism)\tservice=\(service)\tnologin"
        if !peer.localAddress.isEmpty { line += "\tlip=\(peer.localAddress)" }
        if !peer.remoteAddress.isEmpty { line += "\trip=\(peer.remoteAddress)" }
        if !peer.localPort.isEmpty { line += "\tlport=\(peer.localPort)" }
        if !peer.remotePort.isEmpty { line += "\trport=\(peer.remotePort)" }
        if peer.secured { line += "\tsecured" }
        if let r = initialResponse { line += "\tresp=\(r)" }
        return try exchange(line + "\n")
    }

    /// Sends the client's (base64) response to the last challenge.
    public func proceed(response: String) throws(SASLError) -> SASLStep {
        try exchange("CONT\t\(currentID)\t\(response)\n")
    }

    private func exchange(_ request: String) throws(SASLError) -> SASLStep {
        guard let s = stream else { throw .unavailable("Connection lost to authentication server") }
        do {
            s.write(request)
            try s.flush()
            while true {
                let line = String(decoding: try s.readLine(limit: 65536), as: UTF8.self)
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                guard fields.count >= 2, UInt32(fields[1]) == currentID else { continue }
                var params: [String: String] = [:]
                var flags: Set<String> = []
                for f in fields.dropFirst(2) {
                    if let eq = f.firstIndex(of: "=") { params[String(f[..<eq])] = String(f[f.index(after: eq)...]) } else { flags.insert(f) }
                }
                switch fields[0] {
                case "OK":
                    guard let user = params["user"] else {
                        return .failure(reason: "Internal authentication server error", username: nil, temporary: true)
                    }
                    return .success(username: user)
                case "CONT":
                    return .challenge(fields.count >= 3 ? fields[2] : "")
                case "FAIL":
                    return .failure(reason: params["reason"], username: params["user"],
                                    temporary: flags.contains("temp") || params["code"] == "temp_fail")
                default:
                    continue
                }
            }
        } catch {
            disconnect()
            throw .unavailable("Connection lost to authentication server")
        }
    }
}
