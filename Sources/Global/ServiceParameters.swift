// ServiceParameters: parameters that master.cf service names define, as
// Postfix derives them: a delivery service named NAME (command smtp, lmtp,
// local, virtual, pipe or error) gets NAME_destination_concurrency_limit and
// the other per-transport scheduler settings; pipe and spawn services get
// NAME_time_limit.

public enum ServiceParameters {
    /// Commands whose services get the per-transport scheduler parameters.
    public static let deliveryCommands: Set<String> = ["smtp", "lmtp", "local", "virtual", "pipe", "error"]
    /// Commands whose services get NAME_time_limit.
    public static let timeLimitCommands: Set<String> = ["pipe", "spawn"]

    /// Suffix and default value of each per-transport parameter.
    public static let transportSuffixes: [(suffix: String, defaultValue: String)] = [
        ("delivery_slot_cost", "$default_delivery_slot_cost"),
        ("delivery_slot_discount", "$default_delivery_slot_discount"),
        ("delivery_slot_loan", "$default_delivery_slot_loan"),
        ("destination_concurrency_failed_cohort_limit", "$default_destination_concurrency_failed_cohort_limit"),
        ("destination_concurrency_limit", "$default_destination_concurrency_limit"),
        ("destination_concurrency_negative_feedback", "$default_destination_concurrency_negative_feedback"),
        ("destination_concurrency_positive_feedback", "$default_destination_concurrency_positive_feedback"),
        ("destination_rate_delay", "$default_destination_rate_delay"),
        ("destination_recipient_limit", "$default_destination_recipient_limit"),
        ("extra_recipient_limit", "$default_extra_recipient_limit"),
        ("initial_destination_concurrency", "$initial_destination_concurrency"),
        ("minimum_delivery_slots", "$default_minimum_delivery_slots"),
        ("recipient_limit", "$default_recipient_limit"),
        ("recipient_refill_delay", "$default_recipient_refill_delay"),
        ("recipient_refill_limit", "$default_recipient_refill_limit"),
        ("transport_rate_delay", "$default_transport_rate_delay"),
    ]

    /// True when `name` has the form of a service-defined parameter
    /// (NAME_ followed by a per-transport suffix or time_limit): only such
    /// names are worth reading master.cf for.
    public static func mayBeServiceDefined(_ name: String) -> Bool {
        if name.hasSuffix("_time_limit") { return true }
        return transportSuffixes.contains { name.count > $0.suffix.count + 1 && name.hasSuffix("_" + $0.suffix) }
    }

    /// Every service-defined parameter with its default, for the given
    /// master.cf entries. Built-in names are never redefined.
    public static func defaults(for entries: [MasterEntry]) -> [String: String] {
        var result: [String: String] = [:]
        for entry in entries {
            let name = entry.service
            if deliveryCommands.contains(entry.command) {
                for (suffix, value) in transportSuffixes { result["\(name)_\(suffix)"] = value }
            }
            if timeLimitCommands.contains(entry.command) {
                result["\(name)_time_limit"] = "$command_time_limit"
            }
        }
        for key in Array(result.keys) where ParameterRegistry.isKnown(key) {
            result[key] = nil
        }
        return result
    }
}
