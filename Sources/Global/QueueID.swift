// QueueID: Postfix queue IDs and the hashed path of a queue file.
// Short form: %05X microseconds + the inode in upper-case hex. Long form
// (enable_long_queue_ids): seconds (base 52, >= 6 chars) + microseconds
// (base 52, 4 chars) + "z" + inode (base 51). Reference §10-§11.
public enum QueueID {
    /// Base-52 alphabet; base 51 uses all but the final "z".
    public static let alphabet: [UInt8] = Array("0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz".utf8)

    /// The short ID for a file named at `microseconds` with inode `inode`.
    public static func short(microseconds: Int, inode: UInt64) -> String {
        hex(UInt64(microseconds), width: 5) + hex(inode, width: 0)
    }

    /// The long ID.
    public static func long(seconds: Int, microseconds: Int, inode: UInt64) -> String {
        encode(UInt64(seconds), base: 52, width: 6) + encode(UInt64(microseconds), base: 52, width: 4)
            + "z" + encode(inode, base: 51, width: 0)
    }

    /// True when `id` is a valid queue file name: 1-255 of [A-Za-z0-9_].
    public static func isValid(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard !bytes.isEmpty, bytes.count <= 255 else { return false }
        return bytes.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A)
            || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }
    }

    /// True when `id` has the long form (a "z" separator at position >= 10).
    public static func isLong(_ id: String) -> Bool { longSeparator(id) != nil }

    private static func longSeparator(_ id: String) -> Int? {
        var z = -1
        for (i, byte) in id.utf8.enumerated() where byte == UInt8(ascii: "z") { z = i }
        return z >= 10 ? z : nil
    }

    /// The parts of a long ID: (seconds, microseconds, inode).
    public static func decodeLong(_ id: String) -> (seconds: Int, microseconds: Int, inode: UInt64)? {
        guard let z = longSeparator(id) else { return nil }
        let bytes = Array(id.utf8)
        guard let sec = decode(bytes[0..<z - 4], base: 52), let usec = decode(bytes[z - 4..<z], base: 52),
              let inode = decode(bytes[(z + 1)...], base: 51) else { return nil }
        return (Int(sec), Int(usec), inode)
    }

    /// The parts of a short ID: (microseconds, inode).
    public static func decodeShort(_ id: String) -> (microseconds: Int, inode: UInt64)? {
        let bytes = Array(id.utf8)
        guard bytes.count > 5, let usec = UInt64(String(decoding: bytes[0..<5], as: UTF8.self), radix: 16),
              let inode = UInt64(String(decoding: bytes[5...], as: UTF8.self), radix: 16) else { return nil }
        return (Int(usec), inode)
    }

    /// The `depth` one-character subdirectory names for `id`: its first
    /// characters (short IDs) or the microseconds as 5 hex digits (long
    /// IDs); "_" where the ID is too short.
    public static func hashDirectories(_ id: String, depth: Int) -> [String] {
        var source = Array(id.utf8)
        if let parts = decodeLong(id) { source = Array(hex(UInt64(parts.microseconds), width: 5).utf8) }
        return (0..<max(0, depth)).map { i in
            i < source.count ? String(decoding: [source[i]], as: UTF8.self) : "_"
        }
    }

    /// The path of `id` in `queue`, relative to the queue directory
    /// ("deferred/2/2A908F78165", "incoming/2A908F78165").
    public static func relativePath(queue: String, id: String, hashedQueues: Set<String>, depth: Int) -> String {
        // A few names (two by default): compared in turn, not hashed.
        let hashed = hashedQueues.count <= 4 ? hashedQueues.contains { $0 == queue } : hashedQueues.contains(queue)
        guard hashed, depth > 0 else { return path(queue, id, hashCharacters: 0) }
        // The short form's hash characters are its first ones; the long
        // form's come from its encoded microseconds (hashDirectories).
        if id.utf8.count >= depth && id.utf8.prefix(depth).allSatisfy({ $0 < 0x80 }) && longSeparator(id) == nil {
            return path(queue, id, hashCharacters: depth)
        }
        return ([queue] + hashDirectories(id, depth: depth) + [id]).joined(separator: "/")
    }

    /// "queue/id", with the first `hashCharacters` (ASCII) characters of
    /// `id` as directories in between ("deferred/2/2A908F78165"): written
    /// into the new string's storage at once (qmgr makes several paths per
    /// message).
    private static func path(_ queue: String, _ id: String, hashCharacters: Int) -> String {
        var queue = queue, id = id
        return queue.withUTF8 { q in
            id.withUTF8 { i in
                String(unsafeUninitializedCapacity: q.count + 2 * hashCharacters + 1 + i.count) { out in
                    var n = 0
                    for b in q { out[n] = b; n += 1 }
                    for k in 0..<hashCharacters { out[n] = 0x2F; out[n + 1] = i[k]; n += 2 }
                    out[n] = 0x2F; n += 1
                    for b in i { out[n] = b; n += 1 }
                    return n
                }
            }
        }
    }

    /// Parses `hash_queue_names` (comma or white space separated).
    public static func hashedQueueNames(_ value: String) -> Set<String> {
        Set(value.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init))
    }

    static func hex(_ value: UInt64, width: Int) -> String {
        let s = String(value, radix: 16, uppercase: true)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    static func encode(_ value: UInt64, base: UInt64, width: Int) -> String {
        var v = value
        var out: [UInt8] = []
        repeat {
            out.append(alphabet[Int(v % base)])
            v /= base
        } while v != 0
        while out.count < width { out.append(UInt8(ascii: "0")) }
        return String(decoding: out.reversed(), as: UTF8.self)
    }

    static func decode<C: Collection>(_ chars: C, base: UInt64) -> UInt64? where C.Element == UInt8 {
        guard !chars.isEmpty else { return nil }
        var value: UInt64 = 0
        for c in chars {
            guard let digit = alphabet.firstIndex(of: c), UInt64(digit) < base else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: base)
            let (a, o2) = m.addingReportingOverflow(UInt64(digit))
            if o1 || o2 { return nil }
            value = a
        }
        return value
    }
}
