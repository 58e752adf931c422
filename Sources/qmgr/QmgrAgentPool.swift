// QmgrAgentPool: delivery-agent connections qmgr keeps between requests.
// An agent whose final reply offers `keep=1` (SingleServer.runRequests)
// takes the next request of its transport over the same connection: no
// connect, no accept, and the agent process stays busy instead of
// counting another use. A kept connection is dropped after ipc_idle
// seconds unused or ipc_ttl seconds of life (Postfix's limits for the
// connections its clients keep to trivial-rewrite and proxymap), or as
// soon as the agent closes its end (qmgr watches kept descriptors).
import Glibc
import Util

/// One kept connection.
struct KeptAgent {
    let stream: Stream
    /// When the connection was made (ipc_ttl counts from here).
    let opened: Double
    /// When its last request ended (ipc_idle counts from here).
    let idleSince: Double
}

struct QmgrAgentPool {
    /// ipc_idle and ipc_ttl, in seconds.
    let idleLimit: Double
    let lifeLimit: Double
    private var kept: [String: [KeptAgent]] = [:]

    init(idleLimit: Double, lifeLimit: Double) {
        self.idleLimit = idleLimit
        self.lifeLimit = lifeLimit
    }

    /// A kept connection to `transport`'s agents still within its limits,
    /// or nil (expired ones are closed on the way).
    mutating func take(_ transport: String, now: Double) -> (stream: Stream, opened: Double)? {
        while var list = kept[transport], let agent = list.popLast() {
            kept[transport] = list.isEmpty ? nil : list
            if expired(agent, now: now) {
                agent.stream.close()
                continue
            }
            return (agent.stream, agent.opened)
        }
        return nil
    }

    /// Keeps `stream` for the next request to `transport` (closed instead
    /// when its life is over).
    mutating func put(_ transport: String, stream: Stream, opened: Double, now: Double) {
        guard now - opened < lifeLimit else {
            stream.close()
            return
        }
        kept[transport, default: []].append(KeptAgent(stream: stream, opened: opened, idleSince: now))
    }

    /// The kept descriptors, for qmgr's poll: an agent writes nothing on a
    /// kept connection, so readiness means it closed (or misbehaved).
    var descriptors: [Int32] { kept.values.flatMap { $0.map(\.stream.fd) } }

    /// Closes and forgets the kept connection on `fd`.
    mutating func drop(fd: Int32) {
        for (transport, list) in kept {
            guard let i = list.firstIndex(where: { $0.stream.fd == fd }) else { continue }
            var rest = list
            rest.remove(at: i).stream.close()
            kept[transport] = rest.isEmpty ? nil : rest
            return
        }
    }

    /// Closes the connections past ipc_idle or ipc_ttl.
    mutating func expire(now: Double) {
        for (transport, list) in kept where list.contains(where: { expired($0, now: now) }) {
            var rest: [KeptAgent] = []
            for agent in list {
                if expired(agent, now: now) { agent.stream.close() } else { rest.append(agent) }
            }
            kept[transport] = rest.isEmpty ? nil : rest
        }
    }

    /// When the next kept connection reaches a limit (nil: none kept).
    var nextExpiry: Double? {
        kept.values.lazy.flatMap { $0 }.map { min($0.idleSince + idleLimit, $0.opened + lifeLimit) }.min()
    }

    var count: Int { kept.values.reduce(0) { $0 + $1.count } }

    private func expired(_ agent: KeptAgent, now: Double) -> Bool {
        now - agent.idleSince >= idleLimit || now - agent.opened >= lifeLimit
    }
}
