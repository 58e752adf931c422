// ProxymapService: the request logic of proxymap and proxywrite, apart
// from I/O: checks each table against the allow-list, opens it once and
// keeps it for the life of the process, folds keys as the client's flags
// ask, and turns table answers and failures into status codes. Warnings
// go through `warn`, in Postfix's words.
import Util
import Global
import Tables

final class ProxymapService {
    /// Opens a table: `type:name`, writable or not.
    typealias Opener = (_ table: String, _ writable: Bool) throws(LookupError) -> LookupTable

    /// The master.cf service name, used in warnings ("... from proxymap socket").
    let serviceName: String
    /// True for the read-write service.
    let isWriteService: Bool
    /// Approved `type:name` tables (without their `proxy:` prefix).
    let approved: Set<String>
    private let opener: Opener
    private let warn: (String) -> Void

    private enum OpenTable {
        case table(LookupTable)
        /// The table could not be opened; lookups fail temporarily.
        case unavailable(String)
    }

    private var tables: [String: OpenTable] = [:]
    /// Per table: the entries of the sequence in progress and the next index.
    private var sequences: [String: (entries: [(key: String, value: String)], next: Int)] = [:]

    init(serviceName: String, isWriteService: Bool, allowList: String,
         opener: @escaping Opener, warn: @escaping (String) -> Void) {
        self.serviceName = serviceName
        self.isWriteService = isWriteService
        self.approved = ProxymapService.approvedTables(allowList)
        self.opener = opener
        self.warn = warn
    }

    /// The tables a `proxy_read_maps` or `proxy_write_maps` value approves:
    /// the references that begin with `proxy:`, without it; the others
    /// are ignored, as Postfix ignores them. `{ ... }` groups stay whole
    /// (`proxy:inline:{ a=1, b=2 }`).
    static func approvedTables(_ value: String) -> Set<String> {
        var result: Set<String> = []
        for word in value.splitListGrouped() {
            if word.hasPrefix("proxy:") { result.insert(String(word.dropFirst(6))) }
        }
        return result
    }

    /// The parameter whose list this service obeys.
    var allowListParameter: String { isWriteService ? "proxy_write_maps" : "proxy_read_maps" }

    /// Answers one request list.
    func handle(_ list: AttributeList) -> AttributeList {
        let request: ProxyRequest
        switch ProxyRequest.decode(list) {
        case .success(let r): request = r
        case .failure(let error):
            warn(error.warning(service: serviceName))
            return ProxyReply(status: .bad).encoded(for: list[ProxyProtocol.Attribute.request].flatMap(ProxyProtocol.Request.init(rawValue:)))
        }
        return reply(to: request).encoded(for: request.kind)
    }

    /// Answers one decoded request.
    func reply(to request: ProxyRequest) -> ProxyReply {
        if (request.kind == .update || request.kind == .delete) && !isWriteService {
            warn("refusing \(request.table) \(request.kind.rawValue) request on non-\(ProxyProtocol.writeService) service")
            return ProxyReply(status: .deny)
        }
        guard approved.contains(request.table) else {
            warn("request for unapproved table: \"\(request.table)\"")
            warn("to approve this table for \(isWriteService ? "read-write" : "read-only") access, list proxy:\(request.table) in main.cf:\(allowListParameter)")
            return ProxyReply(status: .deny)
        }
        let open = table(request.table)
        switch request.kind {
        case .open:
            var flags = request.flags.intersection(ProxyProtocol.DictFlags.requestMask)
            switch open {
            case .table(let t): flags.insert(t.isPatternTable ? .pattern : .fixed)
            case .unavailable: flags.insert(.pattern)
            }
            return ProxyReply(status: .ok, flags: flags)
        case .lookup:
            guard case .table(let t) = open else { return ProxyReply(status: .retry) }
            do {
                if let value = try t.lookup(fold(request.key ?? "", request.flags, t)) {
                    return ProxyReply(status: .ok, value: value)
                }
                return ProxyReply(status: .noKey)
            } catch {
                return failure(error, request)
            }
        case .update, .delete:
            guard case .table(let t) = open else { return ProxyReply(status: .retry) }
            guard let updatable = t as? UpdatableTable else {
                warn("\(request.table): \(request.kind.rawValue) operation is not supported")
                return ProxyReply(status: .bad)
            }
            let key = fold(request.key ?? "", request.flags, t)
            do {
                if request.kind == .update {
                    try updatable.update(key, request.value ?? "")
                    return ProxyReply(status: .ok)
                }
                return ProxyReply(status: try updatable.delete(key) ? .ok : .noKey)
            } catch {
                return failure(error, request)
            }
        case .sequence:
            guard case .table(let t) = open else { return ProxyReply(status: .retry) }
            if request.function == .first || sequences[request.table] == nil {
                guard let updatable = t as? UpdatableTable else {
                    warn("\(request.table): sequence operation is not supported")
                    return ProxyReply(status: .bad)
                }
                do {
                    sequences[request.table] = (try updatable.entries(), 0)
                } catch {
                    return failure(error, request)
                }
            }
            guard let state = sequences[request.table], state.next < state.entries.count else {
                sequences[request.table] = nil
                return ProxyReply(status: .noKey)
            }
            let entry = state.entries[state.next]
            sequences[request.table]?.next += 1
            return ProxyReply(status: .ok, key: entry.key, value: entry.value)
        }
    }

    private func failure(_ error: LookupError, _ request: ProxyRequest) -> ProxyReply {
        switch error {
        case .temporary(let text):
            warn("\(request.table) \(request.kind.rawValue) error for \"\(request.key ?? "")\": \(text)")
            return ProxyReply(status: .retry)
        case .configuration(let text):
            warn("\(request.table) \(request.kind.rawValue) error: \(text)")
            return ProxyReply(status: .config)
        }
    }

    /// The key as the table should see it: lower-cased when the client
    /// asks for folding and the table type folds.
    func fold(_ key: String, _ flags: ProxyProtocol.DictFlags, _ table: LookupTable) -> String {
        guard table.keyCase == .foldToLower, !flags.isDisjoint(with: [.foldFixed, .foldMultiple]) else { return key }
        return key.asciiLowercased()
    }

    /// The cached table, opening it on first use.
    private func table(_ name: String) -> OpenTable {
        if let cached = tables[name] { return cached }
        let result: OpenTable
        do {
            result = .table(try opener(name, isWriteService))
        } catch {
            warn("\(name) is unavailable. \(error.description)")
            result = .unavailable(error.description)
        }
        tables[name] = result
        return result
    }
}
