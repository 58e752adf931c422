// AddressSearchTests: Postfix's lookup orders for virtual, access, domain
// and network keys, and domain match lists.
import XCTest
@testable import Tables

final class AddressSearchTests: XCTestCase {
    func testVirtualOrderWithExtensionForLocalAndRemoteDomains() {
        XCTAssertEqual(AddressSearch.virtualKeys("user+foo@example.com", delimiters: "+", domainIsLocal: true).map(\.description),
                       ["user+foo@example.com", "user@example.com", "user+foo (partial)", "user (partial)", "@example.com (partial)"])
        XCTAssertEqual(AddressSearch.virtualKeys("user@example.com", delimiters: "+", domainIsLocal: false).map(\.description),
                       ["user@example.com", "@example.com (partial)"])
        XCTAssertEqual(AddressSearch.virtualKeys("user-foo@x", delimiters: "+-", domainIsLocal: false).map(\.text),
                       ["user-foo@x", "user@x", "@x"])
        XCTAssertEqual(AddressSearch.virtualKeys("owner-list@x", delimiters: "-", domainIsLocal: false).map(\.text),
                       ["owner-list@x", "@x"])
    }

    func testAccessOrder() {
        XCTAssertEqual(AddressSearch.accessKeys("user+foo@a.example.com", delimiters: "+", parentMatchesSubdomains: true).map(\.text),
                       ["user+foo@a.example.com", "user@a.example.com", "a.example.com", "example.com", "com", "user+foo@", "user@"])
        XCTAssertEqual(AddressSearch.accessKeys("user@a.example.com", delimiters: "+", parentMatchesSubdomains: false).map(\.text),
                       ["user@a.example.com", "a.example.com", ".example.com", ".com", "user@"])
    }

    func testNetworkKeys() {
        XCTAssertEqual(AddressSearch.networkKeys("192.168.1.2"), ["192.168.1.2", "192.168.1", "192.168", "192"])
        XCTAssertEqual(AddressSearch.networkKeys("2001:db8::1"), ["2001:db8::1", "2001:db8", "2001"])
    }

    func testDomainMatchList() throws {
        // With parent matching (Postfix's default for relay_domains) a name
        // matches its subdomains and a ".domain" pattern matches nothing.
        let list = try DomainMatchList(parameter: "relay_domains", value: "example.com, !bad.example.org .example.org, inline:{ t.example=x }",
                                       parentMatchesSubdomains: true)
        XCTAssertTrue(try list.matches("example.com"))
        XCTAssertTrue(try list.matches("Sub.Example.COM"))
        XCTAssertFalse(try list.matches("bad.example.org"))
        XCTAssertFalse(try list.matches("good.example.org"))
        XCTAssertTrue(try list.matches("a.t.example"))
        XCTAssertFalse(try list.matches("other.net"))
        // Without it, only ".domain" patterns reach subdomains.
        let strict = try DomainMatchList(parameter: "x", value: "example.com, !bad.example.org, .example.org", parentMatchesSubdomains: false)
        XCTAssertFalse(try strict.matches("sub.example.com"))
        XCTAssertTrue(try strict.matches("good.example.org"))
        XCTAssertFalse(try strict.matches("bad.example.org"))
        XCTAssertFalse(try strict.matches("example.org"))
    }

    func testTableListStopsOnFailureAndSkipsPatternTablesForPartialKeys() throws {
        // Each key goes to every table before the next key is tried.
        let list = try TableList(parameter: "virtual_alias_maps", value: "inline:{ @example.com=catchall }, static:other")
        XCTAssertEqual(try list.find(keys: AddressSearch.virtualKeys("a@example.com", delimiters: "+", domainIsLocal: false))?.value, "other")
        let partial = try TableList(parameter: "virtual_alias_maps", value: "inline:{ @example.com=catchall }")
        XCTAssertEqual(try partial.find(keys: AddressSearch.virtualKeys("a@example.com", delimiters: "+", domainIsLocal: false))?.key, "@example.com")
        let failing = try TableList(parameter: "virtual_alias_maps", value: "fail:down, inline:{ a@x=y }")
        XCTAssertThrowsError(try failing.find("a@x"))
    }
}
