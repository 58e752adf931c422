// Global/HeaderAddressParser: tokens, grouping into addresses, Postfix's
// output spacing, and hostile input. Expected texts come from Postfix
// 3.7.11 rewriting the same headers (cleanup, local context).
import Testing
@testable import cleanup
import Global

@Suite struct HeaderAddressParserTests {
    func addresses(_ text: String) -> [String] { HeaderAddressParser.parse(text).addresses }
    func roundTrip(_ text: String) -> String {
        String(decoding: HeaderAddressParser.parse(text).text(), as: UTF8.self)
    }

    @Test func tokenKinds() {
        let (t, cut) = HeaderAddressParser.tokens(of: Array("\"a b\" (c (d)) <x@[1.2.3.4]>;".utf8))
        #expect(!cut)
        #expect(t.map(\.kind) == [.quoted, .comment, .special, .atom, .special, .domainLiteral, .special, .special])
        #expect(t[0].text == Array("a b".utf8))
        #expect(t[1].text == Array("(c (d))".utf8))
        #expect(t[5].text == Array("1.2.3.4".utf8))
    }

    @Test func addressForms() {
        #expect(addresses("Al (the boss) <al>") == ["al"])
        #expect(addresses("bob, Carol <carol>, (comment) dave (Dave D)") == ["bob", "carol", "dave"])
        #expect(addresses("grp: e, f;, \"quoted user\"@host") == ["e", "f", "quoted user@host"])
        #expect(addresses("a b c") == ["a", "b", "c"])
        #expect(addresses("a.b. c@d") == ["a.b.c@d"])
        #expect(addresses("<>") == [])
        #expect(addresses("undisclosed-recipients:;") == [])
        #expect(addresses("\"Smith, J\" <j@x.test>, root@y") == ["j@x.test", "root@y"])
    }

    /// cleanup's fast path for a header holding one plain address must see
    /// exactly the address the parser sees, or decline.
    @Test func plainAddressAgreesWithTheParser() {
        let plain = ["bench@example.com", "<sink@example.org>", "  <a.b+c@x-y.example>\t", "u_1!#$%&'*/=?^`{|}~-@d",
                     " root@localhost ", "x@y"]
        for value in plain {
            let found = CleanupMessage.plainAddress(Array(value.utf8)[...])
            let list = HeaderAddressParser.parse(value)
            #expect(found != nil, "\(value)")
            #expect(list.addressIndices.count == 1, "\(value)")
            if case .address(let tokens) = list.items[list.addressIndices[0]] {
                #expect(HeaderAddressParser.externalForm(tokens) == found, "\(value)")
            } else {
                Issue.record("no address in \(value)")
            }
        }
        let other = ["", "<>", "a", "@x", "a@", "a@@b", "a@b@c", ".a@b", "a.@b", "a..b@c", "a@.b", "a@b.", "a@b..c",
                     "<a@b", "a@b>", "a b@c", "Al <al@x>", "a@b, c@d", "\"q\"@x", "a@[1.2.3.4]", "a@b (c)",
                     "a@b\n\tc", "grp: a@b;", "jos\u{e9}@x", "a\\b@c", "a;b@c", "<<a@b>>"]
        for value in other {
            #expect(CleanupMessage.plainAddress(Array(value.utf8)[...]) == nil, "\(value)")
        }
    }

    @Test func postfixSpacing() {
        #expect(roundTrip("Al   (the boss)<al@x>") == "Al (the boss) <al@x>")
        #expect(roundTrip("(comment) dave (Dave D)") == "dave (comment) (Dave D)")
        #expect(roundTrip("<user@host> (c1) (c2)") == "<user@host>(c1) (c2)")
        #expect(roundTrip("grp: e, f;, \"quoted user\"@host") == "grp: e, f;, \"quoted user\"@host")
        #expect(roundTrip("\"a\\\"b\" <x>") == "\"a\\\"b\" <x>")
        #expect(roundTrip("<>") == "<>")
        #expect(roundTrip("a b") == "a, b")
    }

    @Test func quoting() {
        #expect(HeaderAddressParser.quoteInternal("quoted user@host") == "\"quoted user\"@host")
        #expect(HeaderAddressParser.quoteInternal("@route") == "\"\"@route")
        #expect(HeaderAddressParser.quoteInternal("a.b@c") == "a.b@c")
        #expect(HeaderAddressParser.quoteInternal("a..b@c") == "\"a..b\"@c")
        #expect(HeaderAddressParser.internalForm(external: "\"a b\"@c") == "a b@c")
    }

    /// The shortcut for plain addresses gives what the tokenizer gives.
    @Test func plainAddressesNeedNoTokens() {
        for text in ["user@example.com", "a.b.c@d", "@", "", "x", "\u{7F}@x", "üser@höst", "a b@c", "a\tb@c",
                     "a(c)@d", "[1.2.3.4]", "a\\b@c", "\"q\"@x", "a,b", "a<b>", "a;b:c", "a\u{1}b@c"] {
            let tokenized = HeaderAddressParser.internalForm(HeaderAddressParser.tokens(of: Array(text.utf8), limit: 0).tokens)
            #expect(HeaderAddressParser.internalForm(external: text) == tokenized, "\(text)")
        }
    }

    @Test func hostileInputNeverCrashes() {
        let cases = ["\"unterminated", "(unbalanced ((", "[literal", "<<<<", ">>>>", "<a@b", "a@b>", ";;;:::", ":",
                     "\\", "\"\\", "(\\", "@", ",,,,", "<>>", "a:b:c;d;e", String(repeating: "(", count: 10000)]
        for c in cases {
            let list = HeaderAddressParser.parse(c)
            _ = list.text(oneAddressPerLine: true)
            _ = list.addresses
        }
        #expect(HeaderAddressParser.parse("(a(b)").items == [.token(HeaderAddressToken(.comment, "(a(b))"))])
    }

    @Test func tokenLimit() {
        let huge = Array(repeating: "a@b", count: 50000).joined(separator: ", ")
        let list = HeaderAddressParser.parse(huge, limit: 10240)
        #expect(list.truncated)
        #expect(list.addresses.count <= 10240 / 4 + 1)
        #expect(!HeaderAddressParser.parse("a@b, c@d", limit: 10240).truncated)
    }

    @Test func foldingAsPostfix() {
        let text = "To: " + "bob@example.test,\nCarol <carol@example.test>,\ndave@example.test (comment) (Dave D),\n"
            + "grp: e@example.test,\nf@example.test;,\n\"quoted user\"@host"
        let lines = CleanupMessage.fold(Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) }
        #expect(lines == ["To: bob@example.test, Carol <carol@example.test>,",
                          "\tdave@example.test (comment) (Dave D), grp: e@example.test,",
                          "\tf@example.test;, \"quoted user\"@host"])
    }
}
