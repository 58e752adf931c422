// TLSConnection: one TLS session over a connected socket, server side.
// The socket is switched to non-blocking mode and every OpenSSL call that
// wants to read or write waits with poll() for at most `timeout` seconds,
// so a stalled client cannot hold the process longer than a plaintext one.
import Glibc
import COpenSSL

public final class TLSConnection {
    let ssl: OpaquePointer
    public let fd: Int32
    public var timeout: Int32
    private var closed = false

    init(ssl: OpaquePointer, fd: Int32, timeout: Int32) {
        self.ssl = ssl
        self.fd = fd
        self.timeout = timeout
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        SSL_set_fd(ssl, fd)
    }

    deinit {
        SSL_free(ssl)
    }

    private func wait(_ events: Int32) throws(TLSError) {
        var p = pollfd(fd: fd, events: Int16(events), revents: 0)
        while true {
            let rc = poll(&p, 1, timeout > 0 ? timeout * 1000 : -1)
            if rc > 0 { return }
            if rc == 0 { throw .timeout }
            if errno != EINTR { throw .closed }
        }
    }

    /// Runs an OpenSSL call until it stops wanting I/O. Returns its result
    /// (> 0) or throws; `eof` is what a clean close turns into.
    private func retry(_ call: () -> Int32, handshake: Bool = false) throws(TLSError) -> Int32 {
        while true {
            let rc = call()
            if rc > 0 { return rc }
            let err = SSL_get_error(ssl, rc)
            if err == posthorn_ssl_error_want_read() { try wait(POLLIN); continue }
            if err == posthorn_ssl_error_want_write() { try wait(POLLOUT); continue }
            if handshake {
                let lost = err == posthorn_ssl_error_syscall() || err == posthorn_ssl_error_zero_return()
                throw .handshake(code: rc, lostConnection: lost && ERR_peek_error() == 0)
            }
            throw .closed
        }
    }

    func handshake() throws(TLSError) {
        let ssl = self.ssl
        _ = try retry({ SSL_accept(ssl) }, handshake: true)
    }

    /// Reads at most `buffer.count` bytes; 0 means the peer closed.
    public func read(_ buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> Int {
        guard !closed, buffer.count > 0 else { return 0 }
        let ssl = self.ssl
        do {
            return Int(try retry({ SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count)) }))
        } catch TLSError.timeout {
            throw .timeout
        } catch {
            closed = true
            return 0
        }
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(TLSError) {
        var offset = 0
        let ssl = self.ssl
        while offset < bytes.count {
            let base = bytes.baseAddress! + offset
            let count = Int32(clamping: bytes.count - offset)
            offset += Int(try retry({ SSL_write(ssl, base, count) }))
        }
    }

    /// True when application data is waiting (never blocks): records that
    /// carry no data (tickets, alerts, a close_notify) do not count.
    public var inputPending: Bool {
        if closed { return false }
        if SSL_pending(ssl) > 0 { return true }
        var byte: UInt8 = 0
        guard recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) > 0 else { return false }
        let n = SSL_peek(ssl, &byte, 1)
        if n <= 0 { TLSLibrary.clearErrors() }
        return n > 0
    }

    /// Sends close_notify (without waiting for the peer's).
    public func shutdown() {
        guard !closed else { return }
        closed = true
        _ = SSL_shutdown(ssl)
        TLSLibrary.clearErrors()
    }

    /// The client's certificate (nil: none), fingerprints in `digest`.
    public func peerCertificate(digest: String, client: String) -> TLSPeerCertificate? {
        TLSPeerCertificate(ssl: ssl, digest: digest, client: client)
    }

    /// Protocol, cipher and handshake details.
    public var summary: TLSSessionSummary { TLSSessionSummary(ssl: ssl) }
    /// True when the client resumed an earlier session (no new PKI work).
    public var sessionReused: Bool { SSL_session_reused(ssl) != 0 }
}
