// CleanupAddressMaps: canonical(5) and virtual(5) address mapping as
// cleanup does it: canonical_maps / sender_canonical_maps /
// recipient_canonical_maps replace one address (search order from
// AddressSearch.virtualKeys, `@domain` results keep the user part,
// unmatched extensions propagate); virtual_alias_maps expand one address
// into a list, recursively up to $virtual_alias_recursion_limit levels and
// $virtual_alias_expansion_limit results; an address that maps to itself
// stops there. Pure: tables come in as lookup closures.
import Tables

/// Looks up one search key; nil when not found.
typealias AddressLookup = (AddressSearch.Key) throws(CleanupTemporaryError) -> String?

struct CleanupAddressMaps {
    var delimiters = ""
    /// True when the domain is local ($myorigin, $mydestination, interfaces).
    var domainIsLocal: (String) -> Bool = { _ in false }
    var recursionLimit = 1000
    var expansionLimit = 1000

    /// The first answer for `address` in `lookup`, with the key it matched.
    func find(_ address: String, in lookup: AddressLookup) throws(CleanupTemporaryError) -> (key: String, value: String)? {
        let domain = address.lastIndex(of: "@").map { String(address[address.index(after: $0)...]) }
        let local = domain.map { domainIsLocal($0.lowercased()) } ?? true
        for key in AddressSearch.virtualKeys(address, delimiters: delimiters, domainIsLocal: local) {
            if let value = try lookup(key) { return (key.text, value) }
        }
        return nil
    }

    /// Applies the result of a lookup to `address`: `@domain` keeps the
    /// user part; an extension that the matched key did not contain is
    /// added to the result's local part.
    func applyResult(_ value: String, key: String, to address: String) -> String {
        let (user, ext, delimiter, _) = AddressSearch.split(address, delimiters: delimiters)
        var result = value
        if result.hasPrefix("@") {
            let local = ext.map { "\(user)\(delimiter!)\($0)" } ?? user
            return local + result
        }
        if let ext, let delimiter, !key.contains(String(delimiter) + ext) {
            if let at = result.lastIndex(of: "@") {
                result = String(result[..<at]) + String(delimiter) + ext + String(result[at...])
            } else {
                result += String(delimiter) + ext
            }
        }
        return result
    }

    /// canonical mapping of one address through each table list in order.
    func canonical(_ address: String, tables: [AddressLookup]) throws(CleanupTemporaryError) -> String {
        var current = address
        for table in tables {
            if let hit = try find(current, in: table) {
                let first = hit.value.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }).first.map(String.init) ?? current
                current = applyResult(first, key: hit.key, to: current)
            }
        }
        return current
    }

    /// virtual alias expansion of one address.
    func expand(_ address: String, table: AddressLookup) throws(CleanupTemporaryError) -> [String] {
        var out: [String] = []
        try expand(address, table: table, depth: 0, into: &out)
        return out
    }

    private func expand(_ address: String, table: AddressLookup, depth: Int, into out: inout [String]) throws(CleanupTemporaryError) {
        if out.count >= expansionLimit { return }
        guard depth < recursionLimit, let hit = try find(address, in: table) else {
            if !out.contains(address) { out.append(address) }
            return
        }
        let targets = hit.value.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }).map(String.init)
        for target in targets {
            if out.count >= expansionLimit { return }
            let mapped = applyResult(target, key: hit.key, to: address)
            if mapped.lowercased() == address.lowercased() {
                if !out.contains(mapped) { out.append(mapped) }
            } else {
                try expand(mapped, table: table, depth: depth + 1, into: &out)
            }
        }
    }
}

extension CleanupAddressMaps {
    /// Address masquerading (masquerade_domains): the first entry that is
    /// the address's domain or a parent of it decides: a plain entry
    /// replaces a subdomain with itself, `!entry` keeps the address as it
    /// is; an address whose domain equals an entry stays. Local parts that
    /// `isException` accepts (masquerade_exceptions) are never changed.
    static func masquerade(_ address: String, domains: [String], isException: (String) -> Bool) -> String {
        guard let at = address.lastIndex(of: "@") else { return address }
        let local = String(address[..<at])
        let domain = String(address[address.index(after: at)...])
        guard !domains.isEmpty, !isException(local) else { return address }
        let lowered = domain.asciiLowercased()
        for entry in domains {
            var masq = Substring(entry)
            var truncate = true
            while masq.first == "!" { masq = masq.dropFirst(); truncate.toggle() }
            let m = masq.asciiLowercasedSubstring()
            guard !m.isEmpty else { continue }
            if m == lowered { return address }
            if lowered.hasSuffix("." + m) {
                return truncate ? local + "@" + String(masq) : address
            }
        }
        return address
    }
}

extension Substring {
    func asciiLowercasedSubstring() -> String { String(self).asciiLowercased() }
}

import Util
