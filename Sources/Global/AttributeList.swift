// AttributeList: the named-attribute requests and replies that Posthorn's
// programs exchange over UNIX-domain sockets, in Postfix's "attr0" wire
// form: each attribute is `name NUL value NUL`, and a lone NUL ends the
// list. Decoding is strict: names are checked, sizes bounded, and a
// request missing a required attribute is an error. See
// docs/internal-protocol.md.
import Util

public struct AttributeList: Equatable, Sendable, CustomStringConvertible {
    public private(set) var pairs: [(name: String, value: String)]

    public init(_ pairs: [(String, String)] = []) {
        self.pairs = pairs.map { (name: $0.0, value: $0.1) }
    }

    public static func == (a: AttributeList, b: AttributeList) -> Bool {
        a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public mutating func reserveCapacity(_ count: Int) {
        pairs.reserveCapacity(count)
    }

    public mutating func append(_ name: String, _ value: String) {
        pairs.append((name, value))
    }

    public mutating func append(_ name: String, _ value: Int) {
        pairs.append((name, String(value)))
    }

    /// The first value named `name`.
    public subscript(_ name: String) -> String? {
        pairs.first { $0.name == name }?.value
    }

    /// The value named `name` as an integer.
    public func int(_ name: String) -> Int? {
        self[name].flatMap { Int($0) }
    }

    /// The value named `name`, or a protocol error naming what is missing.
    public func require(_ name: String) throws(AttributeError) -> String {
        guard let v = self[name] else { throw .missing(name) }
        return v
    }

    public func requireInt(_ name: String) throws(AttributeError) -> Int {
        guard let text = self[name] else { throw .missing(name) }
        guard let v = Int(text) else { throw .malformed(name, text) }
        return v
    }

    /// "name=value, ..." for logs.
    public var description: String {
        pairs.map { "\($0.name)=\($0.value)" }.joined(separator: ", ")
    }

    /// The wire form.
    public func encoded() -> [UInt8] {
        var size = 1
        for (name, value) in pairs { size += name.utf8.count + value.utf8.count + 2 }
        var out: [UInt8] = []
        out.reserveCapacity(size)
        for (name, value) in pairs {
            out.appendUTF8(name); out.append(0)
            out.appendUTF8(value); out.append(0)
        }
        out.append(0)
        return out
    }
}

/// Where a request's attributes go as they are named: an `AttributeList`
/// (tests, logs) or straight into the wire form (`AttributeWireWriter`),
/// so that each request's fields are listed once.
public protocol AttributeSink {
    mutating func append(_ name: String, _ value: String)
    mutating func append(_ name: String, _ value: Int)
}

extension AttributeList: AttributeSink {}

/// The wire form written as attributes are named: no list of strings in
/// between (qmgr sends one request per delivery).
public struct AttributeWireWriter: AttributeSink {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    public mutating func append(_ name: String, _ value: String) {
        bytes.appendUTF8(name); bytes.append(0)
        bytes.appendUTF8(value); bytes.append(0)
    }

    public mutating func append(_ name: String, _ value: Int) {
        bytes.appendUTF8(name); bytes.append(0)
        bytes.appendDecimal(value); bytes.append(0)
    }

    /// The list's bytes with its terminating NUL.
    public mutating func finish() -> [UInt8] {
        bytes.append(0)
        return bytes
    }
}

public enum AttributeError: Error, Equatable, Sendable, CustomStringConvertible {
    case missing(String)
    case malformed(String, String)
    case badName(String)
    case tooLarge
    case tooMany
    case stream(StreamError)

    public var description: String {
        switch self {
        case .missing(let n): return "missing attribute: \(n)"
        case .malformed(let n, let v): return "malformed attribute: \(n)=\(v)"
        case .badName(let n): return "bad attribute name: \"\(n)\""
        case .tooLarge: return "attribute too large"
        case .tooMany: return "too many attributes"
        case .stream(let e): return "\(e)"
        }
    }
}

public enum AttributeCodec {
    /// Longest name or value accepted, in bytes.
    public static let valueLimit = 1 << 20
    /// Most attributes in one list.
    public static let countLimit = 1024

    /// Reads one list from `stream`.
    public static func read(from stream: Stream) throws(AttributeError) -> AttributeList {
        var list = AttributeList()
        list.reserveCapacity(8)
        while true {
            // Strings are made from the stream's buffer in place (names and
            // short values are small strings: no allocation at all).
            var name: String
            do { name = try stream.readString(until: 0, limit: 256) } catch {
                throw error == .lineTooLong ? .tooLarge : .stream(error)
            }
            if name.isEmpty { return list }
            guard name.withUTF8({ $0.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D } }) else {
                throw .badName(name)
            }
            let value: String
            do { value = try stream.readString(until: 0, limit: valueLimit) } catch {
                throw error == .lineTooLong ? .tooLarge : .stream(error)
            }
            list.append(name, value)
            if list.pairs.count > countLimit { throw .tooMany }
        }
    }

    /// Writes and flushes one list.
    public static func write(_ list: AttributeList, to stream: Stream) throws(AttributeError) {
        stream.write(list.encoded())
        do { try stream.flush() } catch { throw .stream(error) }
    }

    /// Writes and flushes a list already in wire form (`AttributeWireWriter`).
    public static func write(wire: [UInt8], to stream: Stream) throws(AttributeError) {
        stream.write(wire)
        do { try stream.flush() } catch { throw .stream(error) }
    }

    /// Queues `list` in the stream's buffer without sending it: several
    /// replies then go out with one write (and wake the reader once).
    public static func buffer(_ list: AttributeList, to stream: Stream) {
        stream.write(list.encoded())
    }
}
