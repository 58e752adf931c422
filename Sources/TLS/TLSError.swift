// TLSError: what can go wrong in the TLS layer, and the OpenSSL error
// queue turned into Postfix's "TLS library problem" warnings.
import COpenSSL

public enum TLSError: Error, Equatable {
    /// Bad certificate, key or parameter: the text to log as a warning.
    case configuration(String)
    /// The handshake failed; `code` is the SSL_accept result Postfix logs.
    case handshake(code: Int32, lostConnection: Bool)
    case timeout
    /// The peer closed the connection (or it broke).
    case closed
}

public enum TLSLibrary {
    /// Loads OpenSSL (libssl.so.3) unless it is loaded: nil, or why it
    /// cannot be loaded. The executables do not link OpenSSL (see the
    /// COpenSSL shim): call this before anything else in this library
    /// that calls OpenSSL; an OpenSSL call after a failed load aborts.
    public static func loadError() -> String? {
        posthorn_openssl_load_error().map { String(cString: $0) }
    }

    /// Initializes OpenSSL once per process (it loads openssl.cnf, as
    /// Postfix's tls_library_init does).
    public static func initialize() {
        _ = OPENSSL_init_ssl(0, nil)
    }

    /// Drains OpenSSL's error queue into Postfix's warning texts:
    /// `TLS library problem: error:CODE:LIB::REASON:FILE:LINE:[DATA:]`.
    /// Nothing when OpenSSL was never loaded.
    public static func drainErrors() -> [String] {
        guard posthorn_openssl_loaded() != 0 else { return [] }
        var out: [String] = []
        while true {
            var file: UnsafePointer<CChar>? = nil
            var line: Int32 = 0
            var function: UnsafePointer<CChar>? = nil
            var data: UnsafePointer<CChar>? = nil
            var flags: Int32 = 0
            let code = ERR_get_error_all(&file, &line, &function, &data, &flags)
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            let text = String(cString: buffer)
            let fileText = file.map { String(cString: $0) } ?? ""
            let dataText = (flags & posthorn_err_txt_string() != 0) ? data.map { String(cString: $0) } ?? "" : ""
            out.append("TLS library problem: \(text):\(fileText):\(line):" + (dataText.isEmpty ? "" : dataText + ":"))
        }
        return out
    }

    public static func clearErrors() {
        if posthorn_openssl_loaded() != 0 { ERR_clear_error() }
    }
}
