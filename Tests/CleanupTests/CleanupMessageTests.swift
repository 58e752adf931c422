// Header processing, check actions, canonical/virtual mapping and the
// cleanup protocol encoding, driven as pure functions.
import Testing
@testable import cleanup
import Global
import Tables

@Suite struct CleanupMessageTests {
    func settings(checks: [String: String] = [:]) -> CleanupMessage.Settings {
        var s = CleanupMessage.Settings()
        s.queueID = "ABC123"
        s.myhostname = "mta.example.test"
        s.createTime = 0
        s.arrivalTime = 0
        s.sender = "alice@example.com"
        s.fullName = "Al Ice"
        if !checks.isEmpty {
            s.headerChecks = { (text: String) throws(CleanupTemporaryError) -> String? in
                checks.first { text.hasPrefix($0.key) }?.value
            }
        }
        return s
    }

    func run(_ lines: [String], _ s: CleanupMessage.Settings) -> CleanupMessage {
        var m = CleanupMessage(settings: s, log: CheckLogContext(queueID: "ABC123", sender: "alice@example.com",
                                                                lastRecipient: "bob@example.net"))
        for l in lines { m.add(line: Array(l.utf8)) }
        m.finish()
        return m
    }

    func text(_ m: CleanupMessage) -> [String] { m.output.map { String(decoding: $0, as: UTF8.self) } }

    @Test func addsMissingHeadersAfterExistingOnes() {
        let m = run(["Subject: x", "", "body"], settings())
        let out = text(m)
        #expect(out[0] == "Subject: x")
        #expect(out[1].hasPrefix("Message-Id: <") && out[1].hasSuffix(".ABC123@mta.example.test>"))
        #expect(out[2].hasPrefix("Date: "))
        #expect(out[3] == "From: Al Ice <alice@example.com>")
        #expect(Array(out[4...]) == ["", "body"])
        #expect(m.logLines.count == 1 && m.logLines[0].hasPrefix("ABC123: message-id=<"))
    }

    @Test func keepsGivenMessageIDAndLogsIt() {
        var s = settings()
        s.addMissingHeaders = false
        let m = run(["Message-ID: <m1@example.com>", "", "b"], s)
        #expect(text(m) == ["Message-ID: <m1@example.com>", "", "b"])
        #expect(m.logLines == ["ABC123: message-id=<m1@example.com>"])
    }

    @Test func remoteWithoutMessageIDLogsEmpty() {
        var s = settings()
        s.addMissingHeaders = false
        #expect(run(["Subject: a", "", "b"], s).logLines == ["ABC123: message-id=<>"])
    }

    @Test func continuationLinesStayWithTheirHeader() {
        let m = run(["X-Rep: a", "\tb", "", "x"], settings(checks: ["X-Rep:": "REPLACE X-New: c"]))
        #expect(text(m).prefix(1) == ["X-New: c"])
        // The newline stays: the logger shows it as `?`, as Postfix's does.
        #expect(m.logLines[0] == "ABC123: replace: header X-Rep: a\n\tb from local; from=<alice@example.com> to=<bob@example.net>: X-New: c")
    }

    @Test func checkActions() {
        let m = run(["Subject: s", "X-Drop: 1", "X-Pre: 2", "", "b"],
                    settings(checks: ["Subject:": "WARN careful", "X-Drop:": "IGNORE", "X-Pre:": "PREPEND X-A: y"]))
        let out = text(m)
        #expect(!out.contains("X-Drop: 1"))
        #expect(out[1] == "X-A: y" && out[2] == "X-Pre: 2")
        #expect(m.logLines[0] == "ABC123: warning: header Subject: s from local; from=<alice@example.com> to=<bob@example.net>: careful")
        #expect(m.verdict == .accept)
    }

    @Test func rejectHoldDiscard() {
        #expect(run(["Subject: r", "", "b"], settings(checks: ["Subject:": "REJECT no"])).verdict == .reject("5.7.1 no"))
        #expect(run(["Subject: r", "", "b"], settings(checks: ["Subject:": "REJECT 4.7.0 later"])).verdict == .reject("4.7.0 later"))
        let h = run(["Subject: h", "", "b"], settings(checks: ["Subject:": "HOLD"]))
        #expect(h.hold)
        #expect(h.logLines[0] == "ABC123: hold: header Subject: h from local; from=<alice@example.com> to=<bob@example.net>")
        #expect(run(["Subject: d", "", "b"], settings(checks: ["Subject:": "DISCARD"])).verdict == .discard)
    }

    @Test func dropHeadersAndHopsCounted() {
        // Only Received: counts (Postfix 3.7: Delivered-To: does not).
        let m = run(["Received: a", "Delivered-To: x", "Bcc: e@x", "Return-Path: <r@x>", "Content-Length: 3",
                     "Received: b", "", "b"], settings())
        #expect(text(m).prefix(3) == ["Received: a", "Delivered-To: x", "Received: b"])
        #expect(m.hops == 2)
    }

    @Test func actionParsing() {
        #expect(CheckAction.parse("redirect a@b") == .redirect("a@b"))
        #expect(CheckAction.parse("FILTER smtp:[h]:25") == .filter("smtp:[h]:25"))
        #expect(CheckAction.parse("dunno") == .dunno)
        #expect(CheckAction.parse("BOGUS x") == .unknown("BOGUS x"))
    }

    @Test func fromHeaderQuotesSpecials() {
        #expect(CleanupMessage.fromHeader(sender: "a@b", fullName: "Doe, John") == "\"Doe, John\" <a@b>")
        #expect(CleanupMessage.fromHeader(sender: "a@b", fullName: nil) == "a@b")
    }
}

@Suite struct CleanupAddressMapsTests {
    func table(_ entries: [String: String]) -> AddressLookup {
        return { (key: AddressSearch.Key) throws(CleanupTemporaryError) -> String? in entries[key.text] }
    }

    @Test func canonicalWithDomainResultAndExtension() {
        var maps = CleanupAddressMaps()
        maps.delimiters = "+"
        let t = table(["@old.test": "@new.test", "joe@x.test": "joseph@y.test"])
        #expect(try! maps.canonical("u+e@old.test", tables: [t]) == "u+e@new.test")
        #expect(try! maps.canonical("joe+tag@x.test", tables: [t]) == "joseph+tag@y.test")
        #expect(try! maps.canonical("other@z.test", tables: [t]) == "other@z.test")
    }

    @Test func virtualExpansionRecursesAndStopsOnSelf() {
        let maps = CleanupAddressMaps()
        let t = table(["list@v.test": "a@v.test, b@x.test", "a@v.test": "a@v.test, c@x.test"])
        #expect(try! maps.expand("list@v.test", table: t) == ["a@v.test", "c@x.test", "b@x.test"])
    }

    @Test func virtualLimits() {
        var maps = CleanupAddressMaps()
        maps.expansionLimit = 2
        let t = table(["l@v": "a@x, b@x, c@x"])
        #expect(try! maps.expand("l@v", table: t).count == 2)
        maps = CleanupAddressMaps()
        maps.recursionLimit = 1
        let loop = table(["a@v": "b@v", "b@v": "c@v"])
        #expect(try! maps.expand("a@v", table: loop) == ["b@v"])
    }
}

@Suite struct CleanupProtocolTests {
    @Test func recipientRoundTrip() throws {
        let r = QueueRecipient(address: "a@b", original: "a", dsnOriginalRecipient: "rfc822;a@b", notifyFlags: 6)
        let list = CleanupProtocol.recipientList(r)
        #expect(list["type"] == "recipient")
        #expect(try CleanupProtocol.recipient(from: list) == r)
    }

    @Test func flagsFromReceiveOverrideOptions() {
        let f = CleanupProtocol.Flags.external(receiveOverrideOptions: "no_address_mappings, no_header_body_checks")
        #expect(!f.contains(.mapOK) && !f.contains(.filter) && f.contains(.milter))
    }

    @Test func statusPermanence() {
        #expect(CleanupProtocol.Status.content.isPermanent)
        #expect(CleanupProtocol.Status.size.isPermanent)
        #expect(!CleanupProtocol.Status.write.isPermanent)
        #expect(!CleanupProtocol.Status.deferred.isPermanent)
        #expect(!CleanupProtocol.Status.ok.isPermanent)
    }
}
