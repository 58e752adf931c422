// postcat: show the contents of queue files, as Postfix 3.7's postcat(1):
// `postcat [-bdehoqv] [-c config_dir] [-s offset] [files...]` and
// `postcat -q id...`. Output is Debian's postcat's byte for byte: section
// banners, record labels, `-o` offsets, `-d` type codes, `-v` text labels,
// and the same warnings and fatal errors for malformed files.
//
// SECURITY: runs with the invoking user's privileges; reading the queue
// (-q) needs the mail_owner's or root's.
// STANDARDS: postcat(1).
// CONFIGURATION PARAMETERS: config_directory (or -c, or MAIL_CONFIG),
// queue_directory, hash_queue_names, hash_queue_depth.
import Glibc
import Util
import Global

Diagnostics.programName = CommandLine.arguments.first ?? "postcat"
let out = StandardOutput()

struct Flags {
    var body = false, header = false, envelope = false
    var offsets = false, decimal = false, verbose = false, queue = false
    var startOffset: Int?
    var configDirectory: String?
}

@MainActor func usage() -> Never {
    let p = Diagnostics.programName
    Diagnostics.fatal("usage: \(p) [-b (body text)] [-c config_dir] [-d (decimal record type)] [-e (envelope records)] [-h (header text)] [-q (access queue)] [-v] [file(s)...]")
}

// getopt("bc:dehoqrs:v"), with glibc's messages.
var flags = Flags()
var operands: [String] = []
var args = Array(CommandLine.arguments.dropFirst())
var index = 0
parsing: while index < args.count {
    let arg = args[index]
    if arg == "--" { index += 1; break }
    guard arg.hasPrefix("-"), arg.count > 1 else { break }
    var chars = Array(arg.dropFirst())
    var k = 0
    while k < chars.count {
        let c = chars[k]
        k += 1
        switch c {
        case "b": flags.body = true
        case "d": flags.decimal = true
        case "e": flags.envelope = true
        case "h": flags.header = true
        case "o": flags.offsets = true
        case "q": flags.queue = true
        case "r": break
        case "v": flags.verbose = true
        case "c", "s":
            var value: String
            if k < chars.count {
                value = String(chars[k...])
            } else if index + 1 < args.count {
                index += 1
                value = args[index]
            } else {
                Diagnostics.write("\(Diagnostics.programName): option requires an argument -- '\(c)'\n")
                usage()
            }
            k = chars.count
            if c == "c" {
                flags.configDirectory = value
            } else {
                guard let n = Int(value), n >= 0 else { Diagnostics.fatal("invalid offset argument: \(value)") }
                flags.startOffset = n
            }
            chars = []
        default:
            Diagnostics.write("\(Diagnostics.programName): invalid option -- '\(c)'\n")
            usage()
        }
    }
    index += 1
}
operands = Array(args[index...])
if !flags.body && !flags.header && !flags.envelope {
    flags.body = true; flags.header = true; flags.envelope = true
}

let config = MailConfig.loadOrExit(option: flags.configDirectory, programName: "postcat")

/// asctime(localtime(t)), with its newline.
func asctimeText(_ value: Int) -> String {
    var t = time_t(value)
    var tmv = tm()
    guard localtime_r(&t, &tmv) != nil else { return "\n" }
    var buffer = [CChar](repeating: 0, count: 64)
    guard asctime_r(&tmv, &buffer) != nil else { return "\n" }
    return String(cString: buffer)
}

/// atol(): leading white space, optional sign, digits.
func atol(_ bytes: [UInt8]) -> Int {
    var i = 0
    while i < bytes.count && (bytes[i] == 0x20 || (bytes[i] >= 0x09 && bytes[i] <= 0x0D)) { i += 1 }
    var negative = false
    if i < bytes.count && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) {
        negative = bytes[i] == UInt8(ascii: "-"); i += 1
    }
    var n = 0
    while i < bytes.count && bytes[i] >= 0x30 && bytes[i] <= 0x39 {
        n = n &* 10 &+ Int(bytes[i] - 0x30); i += 1
    }
    return negative ? -n : n
}

/// A header line start: a name of printable ASCII other than ":", optional
/// blanks, then ":"; or a continuation (leading blank).
func looksLikeHeader(_ bytes: [UInt8]) -> Bool {
    guard let first = bytes.first else { return false }
    if first == 0x20 || first == 0x09 { return true }
    var i = 0
    while i < bytes.count && bytes[i] > 0x20 && bytes[i] < 0x7F && bytes[i] != UInt8(ascii: ":") { i += 1 }
    guard i > 0 else { return false }
    while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
    return i < bytes.count && bytes[i] == UInt8(ascii: ":")
}

final class Printer {
    var buffer: [UInt8] = []
    func put(_ s: String) { buffer.append(contentsOf: s.utf8) }
    func put(_ b: [UInt8]) { buffer.append(contentsOf: b) }
    func flush() {
        if buffer.isEmpty { return }
        var offset = 0
        out.flush()
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 { if errno == EINTR { continue }; break }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
let printer = Printer()

@MainActor func fatal(_ text: String) -> Never {
    printer.flush()
    Diagnostics.fatal(text)
}

@MainActor func warn(_ text: String) {
    printer.flush()
    Diagnostics.warning(text)
}

let envelopeStartTypes = Array("MCTcFILSDRO/WVA>K<ion".utf8)

@MainActor func show(bytes: [UInt8], label: String) {
    enum Segment { case envelope, content, extracted }
    var position = flags.startOffset ?? 0
    if flags.startOffset == nil {
        guard let first = bytes.first else { return }
        if !envelopeStartTypes.contains(first) {
            warn("\(label): input is not a valid queue file")
            return
        }
    }
    if flags.envelope && (flags.startOffset ?? 0) == 0 { printer.put("*** ENVELOPE RECORDS \(label) ***\n") }
    var segment = Segment.envelope
    var sizeSeen = false
    var size: QueueSizeRecord?
    var hHeader = true, bHeader = true, prevContinued = false, hLineHeader = true, skippedBody = false

    func prefix(_ offset: Int, _ type: UInt8) {
        if flags.offsets { printer.put(pad(offset, 9) + " ") }
        if flags.decimal { printer.put(pad(Int(type), 3) + " ") }
    }

    while true {
        let recordOffset = position
        var record: QueueRecord
        // Read one record, following pointer records and skipping padding.
        while true {
            var reader = QueueRecordReader(bytes: bytes, offset: position)
            let next: QueueRecord?
            do { next = try reader.next() } catch {
                warn("\(label): \(error.description)")
                fatal("record read error")
            }
            guard let r = next else { printer.flush(); return }
            position = reader.offset
            if r.type == QueueRecordType.padding.rawValue {
                if flags.verbose { record = r; break }
                continue
            }
            if r.type == QueueRecordType.pointer.rawValue && flags.verbose { record = r; break }
            if r.type == QueueRecordType.pointer.rawValue {
                let text = String(decoding: r.payload, as: UTF8.self)
                let trimmed = text.drop(while: { $0 == " " })
                guard !trimmed.isEmpty, let target = Int(trimmed), target >= 0 else {
                    warn("\(label): malformed pointer record value: \(text)")
                    fatal("record read error")
                }
                if target > 0 { position = target }
                continue
            }
            record = r
            break
        }
        let type = record.type
        let payload = record.payload
        let isText = type == QueueRecordType.normal.rawValue
            || (segment == .content && type == QueueRecordType.continued.rawValue)

        switch type {
        case QueueRecordType.message.rawValue:
            if segment == .content { warn("\(label): out-of-order message content marker") }
            if flags.envelope {
                prefix(recordOffset, type)
                printer.put("*** MESSAGE CONTENTS \(label) ***\n")
            }
            segment = .content
            hHeader = true; bHeader = true; prevContinued = false
            if !flags.header && !flags.body, let s = size, s.dataOffset + s.contentSize > recordOffset {
                position = s.dataOffset + s.contentSize
            }
            continue
        case QueueRecordType.extracted.rawValue:
            if segment != .content { warn("\(label): out-of-order extracted segment marker") }
            guard flags.envelope else { printer.flush(); return }
            if flags.envelope {
                prefix(recordOffset, type)
                printer.put("*** HEADER EXTRACTED \(label) ***\n")
            }
            segment = .extracted
            continue
        case QueueRecordType.end.rawValue:
            if segment == .content { warn("\(label): out-of-order message end marker") }
            if flags.envelope {
                prefix(recordOffset, type)
                printer.put("*** MESSAGE FILE END \(label) ***\n")
            }
            printer.flush()
            return
        default: break
        }

        if isText && segment == .content {
            if !prevContinued || flags.offsets || flags.verbose {
                if hHeader && !looksLikeHeader(payload) { hHeader = false }
                hLineHeader = hHeader
            }
            if bHeader && !looksLikeHeader(payload) { bHeader = false }
            prevContinued = type == QueueRecordType.continued.rawValue
            let wanted = (flags.header && hLineHeader) || (flags.body && !bHeader)
            if wanted { printText(recordOffset, type, payload) }
            if !hLineHeader && !flags.body && !skippedBody {
                // Headers done and no body wanted: stop, or skip to the
                // extracted segment when the envelope is wanted too.
                guard flags.envelope else { printer.flush(); return }
                skippedBody = true
                if let s = size { position = s.dataOffset + s.contentSize }
            }
            continue
        }
        let printIt = segment == .content ? ((flags.header && hHeader) || (flags.body && !bHeader)) : flags.envelope
        if !printIt && type != QueueRecordType.size.rawValue {
            if type == QueueRecordType.pointer.rawValue { followPointer(payload) }
            continue
        }
        if isText { printText(recordOffset, type, payload); continue }

        let name = QueueRecordType.label(forByte: type, inContent: segment == .content)
        if type == QueueRecordType.size.rawValue {
            if printIt {
                prefix(recordOffset, type)
                printer.put(name + ": "); printer.put(cString(payload)); printer.put("\n")
            }
            if sizeSeen {
                warn("file contains multiple size records")
            } else {
                sizeSeen = true
                let fields = leadingNumbers(payload)
                size = fields.count >= 2 ? QueueSizeRecord(contentSize: fields[0], dataOffset: fields[1]) : nil
                if fields.count < 3 || fields[0] <= 0 || fields[1] <= 0 {
                    warn("invalid size record: \(String(decoding: cString(payload), as: UTF8.self))")
                }
                if !flags.envelope {
                    guard let s = size, s.dataOffset >= 0 else { fatal("seek error: \(SystemError(EINVAL))") }
                    // Only content wanted: jump to it, as Postfix's postcat does.
                    position = s.dataOffset
                    segment = .content
                    hHeader = true; bHeader = true; prevContinued = false
                }
            }
            continue
        }
        prefix(recordOffset, type)
        switch QueueRecordType(rawValue: type) {
        case .time?, .warningTime?:
            printer.put(name + ": " + asctimeText(atol(cString(payload))))
        case .attribute?:
            let payload = cString(payload)
            guard let eq = payload.firstIndex(of: UInt8(ascii: "=")) else {
                warn("\(label): malformed attribute: missing '=' after attribute name: \(String(decoding: payload, as: UTF8.self))")
                continue
            }
            if eq == 0 {
                warn("\(label): malformed attribute: missing attribute name: \(String(decoding: payload, as: UTF8.self))")
                continue
            }
            let attrName = String(decoding: payload[..<eq], as: UTF8.self)
            if attrName == "create_time" {
                printer.put("create_time: " + asctimeText(atol(Array(payload[(eq + 1)...]))))
            } else {
                printer.put(name + ": "); printer.put(payload); printer.put("\n")
            }
        default:
            printer.put(name + ": "); printer.put(cString(payload)); printer.put("\n")
        }
        if type == QueueRecordType.pointer.rawValue { followPointer(payload) }
    }

    /// -v shows pointer records, then follows them.
    func followPointer(_ payload: [UInt8]) {
        let text = String(decoding: payload, as: UTF8.self)
        let trimmed = text.drop(while: { $0 == " " })
        guard !trimmed.isEmpty, let target = Int(trimmed), target >= 0 else {
            warn("\(label): malformed pointer record value: \(text)")
            fatal("bad pointer record, or input is not seekable")
        }
        if target > 0 { position = target }
    }

    func printText(_ offset: Int, _ type: UInt8, _ payload: [UInt8]) {
        prefix(offset, type)
        if flags.verbose {
            printer.put(QueueRecordType.label(forByte: type, inContent: true) + ": ")
        }
        printer.put(payload)
        if type == QueueRecordType.normal.rawValue || flags.offsets || flags.verbose { printer.put("\n") }
    }
}

/// The payload up to its first NUL (Postfix prints these with %s).
func cString(_ bytes: [UInt8]) -> [UInt8] {
    guard let nul = bytes.firstIndex(of: 0) else { return bytes }
    return Array(bytes[..<nul])
}

/// The numbers sscanf("%ld %ld ...") would convert before the first mismatch.
func leadingNumbers(_ bytes: [UInt8]) -> [Int] {
    var result: [Int] = []
    for part in String(decoding: cString(bytes), as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" }) {
        guard let n = Int(part) else { break }
        result.append(n)
    }
    return result
}

func pad(_ value: Int, _ width: Int) -> String {
    let s = String(value)
    return s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}

func readAll(fd: Int32) -> [UInt8]? {
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { return result }
        result.append(contentsOf: chunk[0..<n])
    }
}

if flags.queue {
    let dir = QueueDirectory(config: config)
    for id in operands {
        var found = false
        for queue in QueueDirectory.postcatSearchOrder where QueueID.isValid(id) {
            let rel = dir.relativePath(queue: queue, id: id)
            let fd = open(dir.path + "/" + rel, O_RDONLY | O_CLOEXEC)
            if fd < 0 { continue }
            let bytes = readAll(fd: fd) ?? []
            close(fd)
            show(bytes: bytes, label: rel)
            found = true
            break
        }
        if !found { fatal("open queue file \(id): \(SystemError(ENOENT))") }
    }
} else if operands.isEmpty {
    show(bytes: readAll(fd: 0) ?? [], label: "stdin")
} else {
    for path in operands {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { fatal("open \(path): \(SystemError())") }
        let bytes = readAll(fd: fd) ?? []
        close(fd)
        show(bytes: bytes, label: path)
    }
}
printer.flush()
exit(0)
