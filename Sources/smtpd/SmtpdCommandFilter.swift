// SmtpdCommandFilter: smtpd_command_filter, a table that rewrites a client's
// command line before smtpd parses it (to repair broken clients). As in
// Postfix: the key is the line without leading blanks, a match replaces the
// whole line and is logged ("C: replacing command "OLD" with "NEW"", each
// cut at 100 bytes), an empty result is an empty command.
import Util
import Global
import Tables

struct SmtpdCommandFilter {
    let table: LookupTable

    /// The filter main.cf names, or nil (none, or it cannot be opened: logged).
    static func open(config c: MailConfig, tableContext: TableContext) -> SmtpdCommandFilter? {
        let reference = c.value("smtpd_command_filter").trimmingPostfixSpace()
        guard !reference.isEmpty else { return nil }
        do { return SmtpdCommandFilter(table: try TableOpener.open(reference, context: tableContext)) } catch {
            MailLog.warning("smtpd_command_filter: \(reference): \(error)")
            return nil
        }
    }

    /// The replacement for `line`, or nil to keep it. `warn` logs.
    func replacement(for line: [UInt8], client: String, log: (String) -> Void, warn: (String) -> Void) -> [UInt8]? {
        let start = line.firstIndex { $0 != 0x20 && $0 != 0x09 } ?? line.endIndex
        let key = String(decoding: line[start...], as: UTF8.self)
        let found: String?
        do { found = try table.find(key) } catch {
            warn("\(table.reference) lookup error for \"\(SmtpdCommandFilter.cut(Array(key.utf8)))\"")
            return nil
        }
        guard let value = found else { return nil }
        let new = Array(value.utf8)
        log("\(client): replacing command \"\(SmtpdCommandFilter.cut(line))\" with \"\(SmtpdCommandFilter.cut(new))\"")
        return new
    }

    private static func cut(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix(100), as: UTF8.self)
    }
}
