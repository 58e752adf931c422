// SmtpdRestrictions: the names smtpd_*_restrictions lists may contain, and
// how many arguments each takes (a table, a domain, a seconds count).

public enum SmtpdRestrictions {
    /// The parameters whose values are restriction lists.
    public static let listParameters: [String] = [
        "smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
        "smtpd_recipient_restrictions", "smtpd_relay_restrictions", "smtpd_data_restrictions",
        "smtpd_end_of_data_restrictions", "smtpd_etrn_restrictions",
    ]

    /// Restrictions that stand alone.
    public static let simple: Set<String> = [
        "permit", "reject", "defer", "defer_if_permit", "defer_if_reject", "warn_if_reject",
        "reject_unauth_pipelining", "permit_mynetworks", "permit_sasl_authenticated",
        "permit_tls_all_clientcerts", "permit_tls_clientcerts", "permit_auth_destination",
        "permit_mx_backup", "permit_naked_ip_address", "permit_inet_interfaces",
        "reject_unauth_destination", "defer_unauth_destination", "reject_unlisted_recipient",
        "reject_unlisted_sender", "reject_unknown_client_hostname", "reject_unknown_reverse_client_hostname",
        "reject_unknown_client", "reject_unknown_helo_hostname", "reject_unknown_hostname",
        "reject_invalid_helo_hostname", "reject_invalid_hostname", "reject_non_fqdn_helo_hostname",
        "reject_non_fqdn_hostname", "reject_non_fqdn_sender", "reject_non_fqdn_recipient",
        "reject_unknown_sender_domain", "reject_unknown_recipient_domain", "reject_unverified_sender",
        "reject_unverified_recipient", "reject_multi_recipient_bounce", "reject_sender_login_mismatch",
        "reject_authenticated_sender_login_mismatch", "reject_known_sender_login_mismatch",
        "reject_unauthenticated_sender_login_mismatch", "reject_plaintext_session", "reject_maps_rbl",
        "check_relay_domains", "permit_auth_destination", "reject_unauth_pipelining", "check_recipient_maps",
        "reject_unknown_address", "permit_sasl_authenticated", "reject_unlisted_recipient",
    ]

    /// Restrictions followed by one argument, and whether it is a table.
    public static let withArgument: [String: Bool] = [
        "check_client_access": true, "check_reverse_client_hostname_access": true,
        "check_client_a_access": true, "check_client_mx_access": true, "check_client_ns_access": true,
        "check_reverse_client_hostname_a_access": true, "check_reverse_client_hostname_mx_access": true,
        "check_reverse_client_hostname_ns_access": true, "check_helo_access": true,
        "check_helo_a_access": true, "check_helo_mx_access": true, "check_helo_ns_access": true,
        "check_sender_access": true, "check_sender_a_access": true, "check_sender_mx_access": true,
        "check_sender_ns_access": true, "check_recipient_access": true, "check_recipient_a_access": true,
        "check_recipient_mx_access": true, "check_recipient_ns_access": true, "check_ccert_access": true,
        "check_sasl_access": true, "check_etrn_access": true,
        "check_policy_service": false, "reject_rbl_client": false, "reject_rhsbl_client": false,
        "reject_rhsbl_sender": false, "reject_rhsbl_recipient": false, "reject_rhsbl_helo": false,
        "reject_rhsbl_reverse_client": false, "reject_rbl": false, "reject_rhsbl": false,
        "permit_dnswl_client": false, "permit_rhswl_client": false, "sleep": false,
    ]
}
