// CleanupMime: the MIME structure of a message as cleanup needs it to pick
// the right checks, as Postfix 3.7's MIME processor does (observed on
// Debian's 3.7.11): where each header block is (the primary headers, the
// headers of a multipart body part, the headers of an attached
// message/* message) and where the body text and the boundary lines are.
// Only multipart containers nest on a stack (boundaries compared on their
// first $mime_boundary_length_limit bytes); a multipart Content-Type met
// with more than $mime_nesting_limit + 1 containers open is a nesting
// error and its part is plain body. message/rfc822 attachments add no
// depth (as Postfix). With disable_mime_input_processing everything after
// the primary headers is body.

/// Where a header block is.
enum MimeHeaderContext: Equatable {
    /// The message's own headers.
    case primary
    /// The headers of a multipart body part.
    case multipart
    /// The headers of an attached message (message/rfc822 and friends).
    case nested
}

/// What a Content-Type header says, as far as MIME structure goes.
struct MimeContentType: Equatable {
    var type: String
    var subtype: String
    var boundary: [UInt8]?

    /// Parses the value of a Content-Type header (text after the colon).
    static func parse(_ value: [UInt8]) -> MimeContentType {
        // type "/" subtype *(";" attribute "=" value)
        var i = 0
        let n = value.count
        func skipSpace() {
            while i < n {
                if value[i] == 0x20 || value[i] == 0x09 || value[i] == 0x0A || value[i] == 0x0D { i += 1; continue }
                if value[i] == UInt8(ascii: "(") {  // comment
                    var depth = 0
                    while i < n {
                        if value[i] == UInt8(ascii: "\\") { i += 2; continue }
                        if value[i] == UInt8(ascii: "(") { depth += 1 }
                        if value[i] == UInt8(ascii: ")") { depth -= 1 }
                        i += 1
                        if depth == 0 { break }
                    }
                    continue
                }
                break
            }
        }
        func isTokenByte(_ b: UInt8) -> Bool {
            b > 0x20 && b < 0x7F && !"()<>@,;:\\\"/[]?=".utf8.contains(b)
        }
        func token() -> [UInt8] {
            let start = i
            while i < n && isTokenByte(value[i]) { i += 1 }
            return Array(value[start..<i])
        }
        func lower(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self).asciiLowercasedCompat() }
        skipSpace()
        let type = lower(token())
        skipSpace()
        var subtype = ""
        if i < n && value[i] == UInt8(ascii: "/") {
            i += 1
            skipSpace()
            subtype = lower(token())
        }
        var boundary: [UInt8]?
        while i < n {
            // Find the next ";".
            while i < n && value[i] != UInt8(ascii: ";") {
                if value[i] == UInt8(ascii: "\"") {
                    i += 1
                    while i < n && value[i] != UInt8(ascii: "\"") { if value[i] == UInt8(ascii: "\\") { i += 1 }; i += 1 }
                }
                i += 1
            }
            guard i < n else { break }
            i += 1
            skipSpace()
            let name = lower(token())
            skipSpace()
            guard i < n, value[i] == UInt8(ascii: "=") else { continue }
            i += 1
            skipSpace()
            var v: [UInt8] = []
            if i < n && value[i] == UInt8(ascii: "\"") {
                i += 1
                while i < n && value[i] != UInt8(ascii: "\"") {
                    if value[i] == UInt8(ascii: "\\") && i + 1 < n { i += 1 }
                    v.append(value[i])
                    i += 1
                }
                if i < n { i += 1 }
            } else {
                v = token()
            }
            if name == "boundary" && !v.isEmpty { boundary = v }
        }
        return MimeContentType(type: type, subtype: subtype, boundary: boundary)
    }
}

/// The MIME state of a message being read: header block or body, the open
/// multipart containers, and the Content-Type of the current header block.
struct CleanupMime {
    enum State: Equatable {
        case headers(MimeHeaderContext)
        case body
    }

    var enabled = true
    var nestingLimit = 100
    var boundaryLengthLimit = 2048

    private(set) var state: State = .headers(.primary)
    /// Open multipart containers, innermost last: the significant bytes of
    /// each boundary, and whether it is multipart/digest.
    private var stack: [(boundary: [UInt8], digest: Bool)] = []
    /// The Content-Type of the header block being read (nil = default).
    private var blockType: MimeContentType?
    /// The default content type of the current block is message/rfc822
    /// (a part of multipart/digest).
    private var blockDefaultsToMessage = false

    /// A Content-Type header in the current header block. Returns true
    /// when it exceeds the nesting limit (a MIME error).
    mutating func contentType(_ value: [UInt8]) -> Bool {
        guard enabled else { return false }
        var type = MimeContentType.parse(value)
        var nestingError = false
        if type.type == "multipart" {
            if type.boundary == nil {
                type.type = "text"  // no boundary: a plain body
            } else if stack.count > nestingLimit + 1 {
                nestingError = true
                type.type = "text"
            }
        }
        blockType = type
        return nestingError
    }

    /// The header block ended: the body follows, or the headers of an
    /// attached message.
    mutating func endOfHeaders() {
        guard enabled else { state = .body; return }
        let type = blockType ?? (blockDefaultsToMessage ? MimeContentType(type: "message", subtype: "rfc822") : nil)
        blockType = nil
        blockDefaultsToMessage = false
        guard let type else { state = .body; return }
        if type.type == "multipart", let b = type.boundary {
            stack.append((Array(b.prefix(max(1, boundaryLengthLimit))), type.subtype == "digest"))
            state = .body
        } else if type.type == "message" && type.subtype != "partial" && type.subtype != "external-body" {
            state = .headers(.nested)
        } else {
            state = .body
        }
    }

    /// A body line: when it is a boundary of an open container, the
    /// containers inside it close, and a part delimiter starts a header
    /// block. Returns true for boundary lines.
    @discardableResult
    mutating func bodyLine(_ line: [UInt8]) -> Bool {
        guard enabled, !stack.isEmpty, line.count >= 2, line[0] == UInt8(ascii: "-"), line[1] == UInt8(ascii: "-") else {
            return false
        }
        var k = stack.count - 1
        while k >= 0 {
            let b = stack[k].boundary
            if line.count >= 2 + b.count && line[2..<(2 + b.count)].elementsEqual(b) {
                let rest = line.dropFirst(2 + b.count)
                let closing = rest.count >= 2 && rest[rest.startIndex] == UInt8(ascii: "-")
                    && rest[rest.startIndex + 1] == UInt8(ascii: "-")
                let digest = stack[k].digest
                stack.removeSubrange((k + 1)...)
                if closing {
                    stack.removeLast()
                    state = .body
                } else {
                    state = .headers(.multipart)
                    blockType = nil
                    blockDefaultsToMessage = digest
                }
                return true
            }
            k -= 1
        }
        return false
    }
}

extension String {
    func asciiLowercasedCompat() -> String {
        String(decoding: utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
    }
}
