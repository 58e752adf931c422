// SmtpdFuzz: the libFuzzer entry point for smtpd's input handling. The
// fuzzer's bytes are one client's stream (the first byte picks how the
// transport splits it into reads, so buffer boundaries move around); the
// harness drives the real SmtpdInput (bounded line and chunk reads),
// SmtpdCommand (verbs, MAIL/RCPT paths, ESMTP parameters, xtext, NOTIFY,
// ORCPT, BDAT arguments) and DataFraming (end of data, dot-stuffing) as
// SmtpdSession does, and checks invariants that must hold for any input:
// lines are bounded and hold no LF, end-of-data only ever follows
// <CR><LF>.<CR><LF>, nothing reads past the input. Also fuzzes the DNS
// reply parser with the same bytes. Built and run by scripts/fuzz-smtpd.sh.

/// The client's bytes, handed out `step` bytes per read.
final class MemoryTransport: SmtpdTransport {
    let data: [UInt8]
    let step: Int
    private(set) var offset = 0

    init(_ data: [UInt8], step: Int) {
        self.data = data
        self.step = max(1, step)
    }

    func receive(_ buffer: UnsafeMutableRawBufferPointer, timeout: Int32) throws(TransportError) -> Int {
        let n = min(buffer.count, step, data.count - offset)
        for i in 0..<n { buffer[i] = data[offset + i] }
        offset += n
        return n
    }

    func send(_ bytes: UnsafeRawBufferPointer, timeout: Int32) throws(TransportError) {}
    func inputPending() -> Bool { offset < data.count }
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant broken: \(message())") }
}

func drive(_ raw: [UInt8]) {
    guard let first = raw.first else { return }
    let stream = Array(raw.dropFirst())
    let transport = MemoryTransport(stream, step: Int(first % 64) + 1)
    let lineLimit = Int(first >> 6) * 40 + 20        // 20...140: long lines get cut often
    let input = SmtpdInput(transport: transport, timeout: 1, capacity: 8192)
    func consumed() -> Int { transport.offset - input.buffered }
    do {
        var commands = 0
        while commands < 1000 {
            commands += 1
            var (bytes, end) = try input.readLine(limit: lineLimit)
            check(bytes.count <= lineLimit, "line over the limit")
            check(!bytes.contains(0x0A), "LF inside a line")
            while end == .truncated { (bytes, end) = try input.readLine(limit: lineLimit) }
            let line = String(decoding: bytes, as: UTF8.self)
            _ = SmtpdCommand.escaped(bytes)
            let (verb, rest) = SmtpdCommand.split(line)
            _ = SmtpdCommand.looksLikeHeader(verb)
            switch verb {
            case "MAIL", "RCPT":
                let keyword = verb == "MAIL" ? "FROM:" : "TO:"
                for strict in [false, true] {
                    if case .success(let p) = SmtpdCommand.path(rest, keyword: keyword, strict: strict) {
                        check(!p.address.contains("\r") && !p.address.contains("\n"), "CR or LF in an address")
                        for parameter in p.parameters {
                            let value = parameter.split(separator: "=", maxSplits: 1).dropFirst().first ?? ""
                            _ = SmtpdCommand.xtextDecode(value)
                            _ = SmtpdCommand.notifyFlags(value)
                            _ = SmtpdCommand.orcpt(value)
                        }
                    }
                }
            case "DATA":
                var framing = DataFraming()
                var lines = 0
                while true {
                    let (l, e) = try input.readLine(limit: lineLimit)
                    check(l.count <= lineLimit && !l.contains(0x0A), "DATA line")
                    if framing.isEnd(l, e) {
                        // Only <LF>.<CR><LF> ends the data (the LF ending a CR LF line
                        // or the DATA command's own line).
                        let c = consumed()
                        check(c >= 4, "end of data too early")
                        check(Array(stream[(c - 4)..<c]) == [0x0A, 0x2E, 0x0D, 0x0A], "end of data without <LF>.<CR><LF>")
                        if lines > 0 { check(stream[c - 5] == 0x0D, "end of data after a bare LF") }
                        break
                    }
                    let content = framing.content(l, e)
                    check(content.count <= l.count, "content grew")
                    lines += 1
                }
            case "BDAT":
                guard let (size, _) = SmtpdCommand.bdatArguments(rest) else { return }
                check(size >= 0, "negative BDAT size")
                var got = 0
                let before = consumed()
                try input.readChunk(size) { chunk in got += chunk.count }
                check(got == size && consumed() == before + size, "BDAT chunk size")
            default:
                break
            }
            check(consumed() <= stream.count, "read past the input")
        }
    } catch {
        // End of input (or a timeout that cannot happen here).
    }
    _ = DNSMessage.parse(raw)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSmtpd(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    drive(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
