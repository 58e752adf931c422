// ParameterEvaluation: the points where Postfix's postconf expands values
// while reading the configuration, and stops on a `$` syntax error or a
// reference loop: first the parameters every program evaluates at start
// ("dictionary mail_dict: macro processing error"), then
// compatibility_level, then every built-in parameter set in main.cf.
import Util
import Global

enum ParameterEvaluation {
    /// Evaluated while the configuration is read, before anything else.
    static let early = ["myhostname", "mydomain", "inet_interfaces", "inet_protocols", "mynetworks_style",
                        "smtpd_restriction_classes"]

    static func evaluateEarly(_ config: MailConfig) {
        for name in early {
            if let error = failure(name, config) {
                Diagnostics.warning("\(error)")
                Diagnostics.fatal("dictionary mail_dict: macro processing error")
            }
        }
        if let error = failure("compatibility_level", config) {
            Diagnostics.warning("\(error)")
            Diagnostics.fatal("macro processing error")
        }
    }

    /// Expands every built-in parameter that main.cf (or -o) sets.
    static func evaluateAll(_ config: MailConfig) {
        var names = Set(config.main.values.keys)
        names.formUnion(config.overrides.keys)
        for name in names.sorted() {
            guard let spec = ParameterRegistry.spec(named: name), spec.kind != .raw,
                  !ParameterCatalog.unscanned.contains(name) else { continue }
            if let error = failure(name, config) {
                Diagnostics.warning("\(error)")
                Diagnostics.fatal("macro processing error")
            }
        }
    }

    private static func failure(_ name: String, _ config: MailConfig) -> ExpansionError? {
        guard let raw = config.rawValue(name) else { return nil }
        do {
            _ = try config.expand(raw)
            return nil
        } catch {
            return error
        }
    }
}
