// ProxyProtocolTests: proxymap and anvil requests and replies encode and
// decode as Postfix's wire shows them; proxymap's request logic (allow-list,
// folding, caching, failures) against in-memory tables.
import XCTest
import Glibc
@testable import Global
@testable import Tables
@testable import proxymap

final class ProxyProtocolTests: XCTestCase {
    func testLookupRequestWireForm() {
        let list = ProxyProtocol.lookupRequest(table: "hash:/etc/x", flags: [.foldFixed], key: "Foo")
        XCTAssertEqual(list.encoded(), Array("request\0lookup\0table\0hash:/etc/x\0flags\016384\0key\0Foo\0\0".utf8))
    }

    func testRequestsRoundTrip() {
        let requests = [
            ProxyRequest(kind: .open, table: "hash:/a", flags: [.foldFixed]),
            ProxyRequest(kind: .lookup, table: "regexp:/b", flags: [], key: "K"),
            ProxyRequest(kind: .update, table: "btree:/c", flags: [.syncUpdate], key: "k", value: "v w"),
            ProxyRequest(kind: .delete, table: "lmdb:/d", flags: [], key: "k"),
            ProxyRequest(kind: .sequence, table: "hash:/e", flags: [], function: .next),
        ]
        for request in requests {
            XCTAssertEqual(try ProxyRequest.decode(request.encoded()).get(), request)
        }
    }

    func testDecodeErrorsUsePostfixWording() {
        let missing = ProxyRequest.decode(AttributeList([("request", "lookup"), ("table", "hash:/a"), ("flags", "0")]))
        XCTAssertEqual(missing, .failure(.missing("key")))
        XCTAssertEqual(ProxyRequest.DecodeError.missing("key").warning(service: "proxymap"),
                       "missing attribute key in input from proxymap socket")
        let bogus = ProxyRequest.decode(AttributeList([("request", "bogus"), ("table", "x"), ("flags", "0")]))
        XCTAssertEqual(bogus, .failure(.unrecognized("bogus")))
        XCTAssertEqual(ProxyRequest.DecodeError.unrecognized("bogus").warning(service: "proxymap"),
                       "unrecognized request: \"bogus\", ignored")
        XCTAssertEqual(ProxyRequest.decode(AttributeList([("request", "open"), ("table", "x"), ("flags", "z")])),
                       .failure(.missing("flags")))
    }

    func testReplyShapesFollowPostfix() {
        // Observed from Postfix 3.7: a miss still carries an empty value;
        // the end of a sequence an empty key and value.
        XCTAssertEqual(ProxyReply(status: .noKey).encoded(for: .lookup), AttributeList([("status", "1"), ("value", "")]))
        XCTAssertEqual(ProxyReply(status: .noKey).encoded(for: .sequence),
                       AttributeList([("status", "1"), ("key", ""), ("value", "")]))
        XCTAssertEqual(ProxyReply(status: .ok, flags: [.foldFixed, .fixed]).encoded(for: .open),
                       AttributeList([("status", "0"), ("flags", "16400")]))
        XCTAssertEqual(ProxyReply(status: .deny).encoded(for: .update), AttributeList([("status", "4")]))
        XCTAssertEqual(ProxyReply.decode(AttributeList([("status", "0"), ("value", "bar")])),
                       ProxyReply(status: .ok, value: "bar"))
        XCTAssertNil(ProxyReply.decode(AttributeList([("status", "9")])))
        XCTAssertTrue(ProxyProtocol.isGreeting(AttributeList([("protocol", "proxymap_protocol")])))
    }

    func testAnvilRoundTrip() {
        XCTAssertEqual(AnvilProtocol.request(.newtlsReport, ident: "smtp:1.2.3.4").encoded(),
                       Array("request\0newtls_report\0ident\0smtp:1.2.3.4\0\0".utf8))
        let reply = AnvilReply(count: 2, rate: 5)
        XCTAssertEqual(reply.encoded(), AttributeList([("status", "0"), ("count", "2"), ("rate", "5")]))
        XCTAssertEqual(AnvilReply.decode(reply.encoded()), reply)
        XCTAssertEqual(AnvilReply.decode(AttributeList([("status", "4294967295")]))?.status, AnvilProtocol.statusFail)
        XCTAssertEqual(AnvilRequest.decode(AttributeList([("request", "connect")])), .failure(.missing("ident")))
        XCTAssertEqual(AnvilRequest.decode(AttributeList([("request", "x"), ("ident", "i")])), .failure(.unrecognized("x")))
        XCTAssertEqual(AnvilRequest.DecodeError.missing("ident").warning, "missing attribute ident in input from anvil socket")
    }

    // MARK: - proxymap's request logic

    private final class MemoryTable: UpdatableTable {
        let reference: String
        let keyCase: KeyCase
        var data: [String: String]
        var failing = false
        init(_ reference: String, keyCase: KeyCase, _ data: [String: String]) {
            self.reference = reference
            self.keyCase = keyCase
            self.data = data
        }
        func lookup(_ key: String) throws(LookupError) -> String? {
            if failing { throw .temporary("database is down") }
            return data[key]
        }
        func update(_ key: String, _ value: String) throws(LookupError) { data[key] = value }
        func delete(_ key: String) throws(LookupError) -> Bool { data.removeValue(forKey: key) != nil }
        func entries() throws(LookupError) -> [(key: String, value: String)] {
            data.keys.sorted().map { ($0, data[$0]!) }
        }
    }

    private func service(write: Bool = false, opens: UnsafeMutablePointer<Int>? = nil,
                         tables: [String: MemoryTable]) -> (ProxymapService, () -> [String]) {
        var warnings: [String] = []
        let box = WarningBox()
        let svc = ProxymapService(serviceName: write ? "proxywrite" : "proxymap", isWriteService: write,
                                  allowList: "proxy:hash:/a, hash:/direct proxy:regexp:/r\tproxy:mysql:/down proxy:hash:/missing",
                                  opener: { name, _ throws(LookupError) in
                                      opens?.pointee += 1
                                      guard let t = tables[name] else { throw .configuration("open database \(name): No such file or directory") }
                                      return t
                                  }, warn: { box.lines.append($0) })
        _ = warnings
        warnings = []
        return (svc, { box.lines })
    }

    private final class WarningBox { var lines: [String] = [] }

    func testAllowListTakesOnlyProxyEntries() {
        XCTAssertEqual(ProxymapService.approvedTables("proxy:hash:/a, hash:/b\n proxy:regexp:/c"), ["hash:/a", "regexp:/c"])
    }

    func testLookupFoldsByClientFlagsAndTableType() {
        let hash = MemoryTable("hash:/a", keyCase: .foldToLower, ["foo": "bar"])
        let regexp = MemoryTable("regexp:/r", keyCase: .asGiven, ["Foo": "pattern"])
        var opens = 0
        let (svc, _) = service(opens: &opens, tables: ["hash:/a": hash, "regexp:/r": regexp])
        XCTAssertEqual(svc.reply(to: ProxyRequest(kind: .lookup, table: "hash:/a", flags: [.foldFixed], key: "FOO")),
                       ProxyReply(status: .ok, value: "bar"))
        XCTAssertEqual(svc.reply(to: ProxyRequest(kind: .lookup, table: "hash:/a", flags: [], key: "FOO")).status, .noKey)
        XCTAssertEqual(svc.reply(to: ProxyRequest(kind: .lookup, table: "regexp:/r", flags: [.foldFixed], key: "Foo")),
                       ProxyReply(status: .ok, value: "pattern"))
        XCTAssertEqual(opens, 2, "each table is opened once and cached")
        XCTAssertEqual(svc.reply(to: ProxyRequest(kind: .open, table: "regexp:/r", flags: [.foldFixed])),
                       ProxyReply(status: .ok, flags: [.foldFixed, .fixed]))
    }

    func testUnapprovedTableIsRefusedWithPostfixWarnings() {
        let (svc, warnings) = service(tables: [:])
        XCTAssertEqual(svc.reply(to: ProxyRequest(kind: .open, table: "hash:/direct", flags: [])).status, .deny)
        XCTAssertEqual(warnings(), [
            "request for unapproved table: \"hash:/direct\"",
            "to approve this table for read-only access, list proxy:hash:/direct in main.cf:proxy_read_maps",
        ])
    }

    func testUpdatesOnlyOnProxywrite() {
        let hash = MemoryTable("hash:/a", keyCase: .foldToLower, [:])
        let (reader, warnings) = service(tables: ["hash:/a": hash])
        XCTAssertEqual(reader.reply(to: ProxyRequest(kind: .update, table: "hash:/a", flags: [], key: "k", value: "v")).status, .deny)
        XCTAssertEqual(warnings(), ["refusing hash:/a update request on non-proxywrite service"])
        let (writer, _) = service(write: true, tables: ["hash:/a": hash])
        XCTAssertEqual(writer.reply(to: ProxyRequest(kind: .update, table: "hash:/a", flags: [.foldFixed], key: "K", value: "v")).status, .ok)
        XCTAssertEqual(hash.data, ["k": "v"])
        XCTAssertEqual(writer.reply(to: ProxyRequest(kind: .delete, table: "hash:/a", flags: [], key: "k")).status, .ok)
        XCTAssertEqual(writer.reply(to: ProxyRequest(kind: .delete, table: "hash:/a", flags: [], key: "k")).status, .noKey)
    }

    func testFailuresAreRetryNeverNotFound() {
        let down = MemoryTable("mysql:/down", keyCase: .foldToLower, ["x": "y"])
        down.failing = true
        let (svc, warnings) = service(tables: ["mysql:/down": down])
        XCTAssertEqual(svc.reply(to: ProxyRequest(kind: .lookup, table: "mysql:/down", flags: [], key: "x")).status, .retry)
        // A table that cannot be opened: open succeeds, lookups fail temporarily (as Postfix).
        XCTAssertEqual(svc.reply(to: ProxyRequest(kind: .open, table: "hash:/missing", flags: [])).status, .ok)
        XCTAssertEqual(svc.reply(to: ProxyRequest(kind: .lookup, table: "hash:/missing", flags: [], key: "x")).status, .retry)
        XCTAssertTrue(warnings().contains("hash:/missing is unavailable. open database hash:/missing: No such file or directory"))
    }

    func testSequenceWalksTheTable() {
        let hash = MemoryTable("hash:/a", keyCase: .foldToLower, ["a": "1", "b": "2"])
        let (svc, _) = service(tables: ["hash:/a": hash])
        XCTAssertEqual(svc.reply(to: ProxyRequest(kind: .sequence, table: "hash:/a", flags: [], function: .first)),
                       ProxyReply(status: .ok, key: "a", value: "1"))
        XCTAssertEqual(svc.reply(to: ProxyRequest(kind: .sequence, table: "hash:/a", flags: [], function: .next)),
                       ProxyReply(status: .ok, key: "b", value: "2"))
        XCTAssertEqual(svc.reply(to: ProxyRequest(kind: .sequence, table: "hash:/a", flags: [], function: .next)).status, .noKey)
    }

    func testHandleAnswersMalformedRequestsWithBad() {
        let (svc, warnings) = service(tables: [:])
        XCTAssertEqual(svc.handle(AttributeList([("request", "lookup"), ("table", "hash:/a"), ("flags", "0")])),
                       AttributeList([("status", "3"), ("value", "")]))
        XCTAssertEqual(svc.handle(AttributeList([("request", "bogus"), ("table", "hash:/a"), ("flags", "0")])),
                       AttributeList([("status", "3")]))
        XCTAssertEqual(warnings(), ["missing attribute key in input from proxymap socket",
                                    "unrecognized request: \"bogus\", ignored"])
    }

    func testTimeValues() {
        XCTAssertEqual(ProxyTable.seconds("3600s", fallback: 1), 3600)
        XCTAssertEqual(ProxyTable.seconds("2m", fallback: 1), 120)
        XCTAssertEqual(ProxyTable.seconds("bogus", fallback: 7), 7)
    }
}
