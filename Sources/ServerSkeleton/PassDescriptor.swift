// PassDescriptor: receiving a client descriptor over a UNIX-domain
// connection (SCM_RIGHTS), as `pass` services get theirs.
import Glibc

enum PassDescriptor {
    /// Reads one byte and the descriptor that came with it; nil on failure.
    static func receive(from socketFD: Int32) -> Int32? {
        var byte: UInt8 = 0
        // cmsghdr (len, level, type) followed by one int, aligned to 8.
        let headerSize = MemoryLayout<cmsghdr>.size
        let controlSize = headerSize + 8
        var control = [UInt8](repeating: 0, count: controlSize)
        let received: Int = withUnsafeMutablePointer(to: &byte) { bytePointer in
            var vector = iovec(iov_base: UnsafeMutableRawPointer(bytePointer), iov_len: 1)
            return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                control.withUnsafeMutableBytes { raw in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    message.msg_control = raw.baseAddress
                    message.msg_controllen = raw.count
                    return recvmsg(socketFD, &message, Int32(MSG_CMSG_CLOEXEC))
                }
            }
        }
        guard received > 0 else { return nil }
        return control.withUnsafeBytes { raw -> Int32? in
            let header = raw.load(as: cmsghdr.self)
            guard header.cmsg_level == SOL_SOCKET, header.cmsg_type == Int32(SCM_RIGHTS),
                  header.cmsg_len >= headerSize + 4 else { return nil }
            return raw.load(fromByteOffset: headerSize, as: Int32.self)
        }
    }
}
