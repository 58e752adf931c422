import XCTest
import Util
@testable import TLS

final class TLSProtocolListTests: XCTestCase {
    func testPostfixDefaultAllowsTLSv1AndUp() {
        let p = TLSProtocolList(">=TLSv1")!
        XCTAssertEqual(p.allowed, ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"])
        XCTAssertEqual(p.openSSLBounds.min, 0x0301)
        XCTAssertEqual(p.openSSLBounds.max, 0)
    }

    func testExclusionsAndIncludes() {
        XCTAssertEqual(TLSProtocolList("!SSLv2, !SSLv3, !TLSv1, !TLSv1.1")!.allowed, ["TLSv1.2", "TLSv1.3"])
        XCTAssertEqual(TLSProtocolList("TLSv1.2:TLSv1.3")!.allowed, ["TLSv1.2", "TLSv1.3"])
        XCTAssertEqual(TLSProtocolList("<=TLSv1.2 >=TLSv1.2")!.allowed, ["TLSv1.2"])
        XCTAssertEqual(TLSProtocolList("<=TLSv1.2 >=TLSv1.2")!.openSSLBounds.max, 0x0303)
        XCTAssertNil(TLSProtocolList("TLSv9"))
    }

    func testHoleBecomesOption() {
        let p = TLSProtocolList(">=TLSv1.1 !TLSv1.2")!
        XCTAssertEqual(p.openSSLBounds.min, 0x0302)
        XCTAssertNotEqual(p.openSSLBounds.options, 0)
    }
}

final class TLSSummaryTests: XCTestCase {
    func testTLS13LogTextAndReceivedLines() {
        let s = TLSSessionSummary(protocolName: "TLSv1.3", cipherName: "TLS_AES_256_GCM_SHA384", cipherBits: 256, algorithmBits: 256,
                                  keyExchange: "X25519", serverSignature: "RSA-PSS (2048 bits)", serverDigest: "SHA256")
        XCTAssertEqual(s.logText, "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256")
        XCTAssertEqual(s.receivedLines(certificateLine: "(No client certificate requested)"),
                       ["\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                        "\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)",
                        "\t(No client certificate requested)"])
    }

    func testClientSignatureGoesOnItsOwnLine() {
        let s = TLSSessionSummary(protocolName: "TLSv1.3", cipherName: "TLS_AES_256_GCM_SHA384", cipherBits: 256, algorithmBits: 256,
                                  keyExchange: "X25519", serverSignature: "RSA-PSS (2048 bits)", serverDigest: "SHA256",
                                  clientSignature: "ECDSA (prime256v1)", clientDigest: "SHA256")
        XCTAssertEqual(s.logText, "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature"
                       + " RSA-PSS (2048 bits) server-digest SHA256 client-signature ECDSA (prime256v1) client-digest SHA256")
        XCTAssertEqual(s.receivedLines(certificateLine: "(Client CN \"c\", Issuer \"CA\" (verified OK))"),
                       ["\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                        "\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256",
                        "\t client-signature ECDSA (prime256v1) client-digest SHA256)",
                        "\t(Client CN \"c\", Issuer \"CA\" (verified OK))"])
    }

    func testFingerprintsAreColonSeparatedUppercaseHex() {
        XCTAssertEqual(TLSPeerCertificate.hexPairs([0x0a, 0xff, 0x10] as [UInt8]), "0A:FF:10")
        XCTAssertEqual(TLSPeerCertificate.hexPairs([] as [UInt8]), "")
    }

    func testVerificationFailureTexts() {
        var c = TLSPeerCertificate(trusted: false, subjectCN: "c", issuerCN: "i", fingerprint: "", publicKeyFingerprint: "")
        c.failureCode = 18
        c.failureDepth = 0
        XCTAssertEqual(c.verificationFailure(client: "h[1.2.3.4]"), "certificate verification failed for h[1.2.3.4]: self-signed certificate")
        c.failureCode = 20
        c.failureIssuer = "/CN=Other CA"
        XCTAssertEqual(c.verificationFailure(client: "h[1.2.3.4]"),
                       "certificate verification failed for h[1.2.3.4]: untrusted issuer /CN=Other CA")
        c.failureCode = 10
        c.failureDepth = 1
        XCTAssertEqual(c.verificationFailure(client: "h[1.2.3.4]"), "CA certificate verification failed for h[1.2.3.4]: certificate has expired")
        c.trusted = true
        XCTAssertNil(c.verificationFailure(client: "h[1.2.3.4]"))
    }

    func testTLS12HasNoDetails() {
        let s = TLSSessionSummary(protocolName: "TLSv1.2", cipherName: "ECDHE-RSA-AES256-GCM-SHA384", cipherBits: 256, algorithmBits: 256)
        XCTAssertEqual(s.logText, "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)")
        XCTAssertEqual(s.receivedLines(certificateLine: "")[0], "\t(using TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits))")
    }

    func testCipherListAppendsExclusions() {
        var s = TLSServerSettings()
        s.cipherLists = ["medium": "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH"]
        s.excludeCiphers = ["aNULL", "RC4"]
        XCTAssertEqual(s.cipherList, "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH:!aNULL:!RC4")
        s.cipherGrade = "bogus"
        XCTAssertNil(s.cipherList)
    }

    func testTicketKeyEncoding() {
        let k = TLSManagerClient.TicketKey(name: Array(repeating: 1, count: 16), hmac: Array(repeating: 2, count: 32),
                                           aes: Array(repeating: 3, count: 32), expires: 9)
        XCTAssertEqual(TLSManagerClient.TicketKey(encoded: k.encoded, expires: 9), k)
        XCTAssertNil(TLSManagerClient.TicketKey(encoded: "AAAA", expires: 9))
    }
}

final class Base64Tests: XCTestCase {
    func testRoundTrip() {
        for text in ["", "f", "fo", "foo", "foob", "fooba", "foobar", "\0alice\0secret"] {
            let e = Base64.encode(Array(text.utf8))
            XCTAssertEqual(Base64.decode(e), Array(text.utf8))
        }
        XCTAssertEqual(Base64.encode(Array("foobar".utf8)), "Zm9vYmFy")
        XCTAssertEqual(Base64.encode(Array("fo".utf8)), "Zm8=")
    }

    func testRejectsBadInput() {
        XCTAssertNil(Base64.decode("!!!"))
        XCTAssertNil(Base64.decode("Zm9"))
        XCTAssertNil(Base64.decode("Zm 9v"))
        XCTAssertNil(Base64.decode("=AAA"))
    }
}
