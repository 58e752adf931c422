// ResolveCache: recent resolve and verify answers, keyed by request kind,
// sender and address, so a burst of recipients in one domain costs one set
// of table lookups. Postfix 3.7 has no parameter for its size; Posthorn
// keeps about 1000 answers (two generations, Global/TwoGenerationCache).
// Answers after a failed lookup are not kept.
import Global

struct ResolveCache {
    private var entries = TwoGenerationCache<String, ResolveReply>(limit: 1000)

    static func key(verify: Bool, sender: String, address: String) -> String {
        (verify ? "v" : "r") + "\0" + sender + "\0" + address
    }

    mutating func answer(verify: Bool, sender: String, address: String, compute: () -> ResolveReply) -> ResolveReply {
        let key = Self.key(verify: verify, sender: sender, address: address)
        if let hit = entries[key] { return hit }
        let reply = compute()
        if !reply.flags.contains(.fail) { entries[key] = reply }
        return reply
    }

    var count: Int { entries.count }
}
