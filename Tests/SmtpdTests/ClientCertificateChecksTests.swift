// ClientCertificateChecksTests: permit_tls_clientcerts,
// permit_tls_all_clientcerts and check_ccert_access on facts, and the
// certificate attributes policy servers get.
import XCTest
import Global
import Tables
@testable import SmtpdPolicy

final class ClientCertificateChecksTests: XCTestCase {
    func engine(relay: String = "", ask: Bool = true, _ list: String) -> RestrictionEngine {
        var s = PolicySettings()
        s.lists[.relay] = list
        s.clientCerts.relayClientcerts = relay
        s.clientCerts.askCcert = ask
        return RestrictionEngine(settings: s, environment: FakeEnvironment())
    }

    func facts(_ cert: PolicyClientCertificate?, tls: Bool = true) -> PolicyFacts {
        var f = PolicyFacts(clientName: "localhost", reverseClientName: "localhost", clientAddress: "127.0.0.1")
        f.recipient = "x@elsewhere.test"
        f.tlsActive = tls
        f.clientCertificate = cert
        return f
    }

    let verified = PolicyClientCertificate(subjectCN: "Client One", issuerCN: "CA", trusted: true, fingerprint: "AA:01", publicKeyFingerprint: "BB:01")
    let unverified = PolicyClientCertificate(subjectCN: "self", issuerCN: "self", trusted: false, fingerprint: "AA:02", publicKeyFingerprint: "BB:02")

    func testPermitAllNeedsAVerifiedCertificateOrAListedOne() {
        let e = engine(relay: "inline:{AA:02=yes}", "permit_tls_all_clientcerts, reject")
        XCTAssertEqual(e.check(.relay, facts: facts(verified)).decision, .permit)
        XCTAssertEqual(e.check(.relay, facts: facts(unverified)).decision, .permit)   // listed by fingerprint
        var other = unverified
        other.fingerprint = "AA:03"
        XCTAssertNotEqual(e.check(.relay, facts: facts(other)).decision, .permit)
        XCTAssertNotEqual(e.check(.relay, facts: facts(nil)).decision, .permit)
    }

    func testPermitClientcertsLooksUpBothFingerprints() {
        let e = engine(relay: "inline:{AA:09=yes, BB:02=yes}", "permit_tls_clientcerts, reject")
        XCTAssertNotEqual(e.check(.relay, facts: facts(verified)).decision, .permit)
        XCTAssertEqual(e.check(.relay, facts: facts(unverified)).decision, .permit)
        XCTAssertNotEqual(e.check(.relay, facts: facts(unverified, tls: false)).decision, .permit)
    }

    func testCcertAccessTriesTheKeyAfterADunno() {
        let e = engine("check_ccert_access inline:{{AA:01=REJECT no, One}, AA:02=DUNNO, {BB:02=550 5.7.0 by key}}")
        XCTAssertEqual(e.check(.relay, facts: facts(verified)).reply?.description,
                       "554 5.7.1 <Client One>: Client certificate rejected: no, One")
        XCTAssertEqual(e.check(.relay, facts: facts(unverified)).reply?.description, "550 5.7.0 <self>: Client certificate rejected: by key")
        XCTAssertEqual(e.check(.relay, facts: facts(nil)).decision, .dunno)
        XCTAssertEqual(e.check(.relay, facts: facts(nil)).warnings, [])
    }

    func testCcertAccessWarnsWhenCertificatesAreNotAskedFor() {
        let e = engine(ask: false, "check_ccert_access inline:{AA:01=OK}")
        XCTAssertEqual(e.check(.relay, facts: facts(nil)).warnings, ["check_ccert_access is requested, but \"smtpd_tls_ask_ccert = no\""])
    }

    func testSearchOrder() throws {
        XCTAssertEqual(try RestrictionEngine.ccertSearch("hash:/x").get().order, [false, true])
        let s = try? RestrictionEngine.ccertSearch("{ hash:/x, { search_order = pubkey_fingerprint } }").get()
        XCTAssertEqual(s?.table, "hash:/x")
        XCTAssertEqual(s?.order, [true])
        let e = engine("check_ccert_access {inline:{AA:01=REJECT},{search_order=bogus}}")
        let o = e.check(.relay, facts: facts(verified))
        XCTAssertEqual(o.reply?.description, "451 4.3.5 Server configuration error")
        XCTAssertEqual(o.warnings, ["unknown search type 'bogus' in '{inline:{AA:01=REJECT},{search_order=bogus}}'",
                                    "See earlier parsing error messages for '{inline:{AA:01=REJECT},{search_order=bogus}}"])
        let byKey = engine("check_ccert_access {inline:{{AA:01=REJECT cert}, {BB:01=REJECT key}}, {search_order=pubkey_fingerprint}}")
        XCTAssertEqual(byKey.check(.relay, facts: facts(verified)).reply?.description,
                       "554 5.7.1 <Client One>: Client certificate rejected: key")
    }

    func testPolicyAttributes() {
        let a = Dictionary(uniqueKeysWithValues: RestrictionEngine.policyAttributes(facts(verified), policyContext: ""))
        XCTAssertEqual(a["ccert_subject"], "Client+20One")
        XCTAssertEqual(a["ccert_issuer"], "CA")
        XCTAssertEqual(a["ccert_fingerprint"], "AA:01")
        XCTAssertEqual(a["ccert_pubkey_fingerprint"], "BB:01")
        let u = Dictionary(uniqueKeysWithValues: RestrictionEngine.policyAttributes(facts(unverified), policyContext: ""))
        XCTAssertEqual(u["ccert_subject"], "")
        XCTAssertEqual(u["ccert_fingerprint"], "AA:02")
    }
}
