"""check_*_{a,mx,ns}_access against Debian's Postfix 3.7, with a fake DNS.

The test re-runs itself in a private mount and network namespace
(fake_dns.py) where 127.0.0.1:53 is a fake DNS server with MX, NS and A
records; a private Postfix and a Posthorn instance with the same main.cf
answer the same sessions, and must send the same replies and log the same
smtpd lines (warnings about DNS and host lookup failures, and the refusal of
OK, included). Restrictions are picked per recipient through restriction
classes: check_{sender,helo,client,reverse_client_hostname,recipient}_
{mx,ns,a}_access over MX hosts (by name, parent domains, then addresses and
networks), a domain without MX (its own server), a null MX, NS records of a
parent domain, address literals, SERVFAIL, NXDOMAIN, an MX host without
address, a DUNNO entry that stops the search, and OK (not allowed).
permit_mx_backup runs in the same sessions: this host (127.0.0.1, an
address of inet_interfaces = loopback-only) as backup MX, as primary MX, not
an MX, MX hosts without addresses, SERVFAIL, a null MX, a relay domain, and
permit_mx_backup_networks holding some primaries and not others.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_dns import run_in_namespace  # noqa: E402
from posthorn_instance import require_programs  # noqa: E402
from test_smtpd_policy import COMMON_MAIN, paired_dns_sessions  # noqa: E402

RECORDS = {
    ("mx.example", "MX"): ["10 mx1.mx.example", "20 mx2.bad.example"],
    ("mx1.mx.example", "A"): ["192.0.2.10"],
    ("mx2.bad.example", "A"): ["192.0.2.11"],
    ("nomx.example", "A"): ["192.0.2.20"],
    ("nullmx.example", "MX"): ["0 ."],
    ("ns.example", "NS"): ["ns1.dns.example"],
    ("ns1.dns.example", "A"): ["198.51.100.53"],
    ("sub.ns.example", "A"): ["192.0.2.30"],
    ("lame.example", "MX"): ["10 nohost.lame.example"],
    ("okmx.example", "MX"): ["10 good.example"],
    ("good.example", "A"): ["192.0.2.40"],
    ("dunno.example", "MX"): ["10 mx.dunno.example"],
    ("mx.dunno.example", "A"): ["192.0.2.66"],
    ("localhost", "MX"): ["10 mx2.bad.example"],
    ("localhost", "NS"): ["ns1.dns.example"],
    ("backup.example", "MX"): ["10 primary.other.example", "20 self.example"],
    ("primary.other.example", "A"): ["192.0.2.50"],
    ("self.example", "A"): ["127.0.0.1"],
    ("primary.example", "MX"): ["10 self.example", "20 primary.other.example"],
    ("nobackup.example", "MX"): ["10 primary.other.example"],
    ("lamebackup.example", "MX"): ["10 nohost.lamebackup.example", "20 self.example"],
    ("outside.example", "MX"): ["10 far.other.example", "20 self.example"],
    ("far.other.example", "A"): ["198.51.100.7"],
}

MAIN = """relay_domains = relay.test, mx.example, nomx.example, ns.example, sub.ns.example
smtpd_recipient_restrictions =
    check_recipient_access texthash:{etc}/rcpt_switch
smtpd_restriction_classes = s_mx s_ns s_a h_mx h_ns h_a c_mx c_ns c_a r_mx r_ns r_a rc_mx mxb
s_mx = check_sender_mx_access texthash:{etc}/servers
s_ns = check_sender_ns_access texthash:{etc}/servers
s_a = check_sender_a_access texthash:{etc}/servers
h_mx = check_helo_mx_access texthash:{etc}/servers
h_ns = check_helo_ns_access texthash:{etc}/servers
h_a = check_helo_a_access texthash:{etc}/servers
c_mx = check_client_mx_access texthash:{etc}/servers
c_ns = check_client_ns_access texthash:{etc}/servers
c_a = check_client_a_access texthash:{etc}/servers
r_mx = check_recipient_mx_access texthash:{etc}/servers
r_ns = check_recipient_ns_access texthash:{etc}/servers
r_a = check_recipient_a_access texthash:{etc}/servers
rc_mx = check_reverse_client_hostname_mx_access texthash:{etc}/servers
mxb = permit_mx_backup, reject
permit_mx_backup_networks = 192.0.2.48/30
"""

FILES = {
    "rcpt_switch": """s_mx@relay.test s_mx
s_ns@relay.test s_ns
s_a@relay.test s_a
h_mx@relay.test h_mx
h_ns@relay.test h_ns
h_a@relay.test h_a
c_mx@relay.test c_mx
c_ns@relay.test c_ns
c_a@relay.test c_a
rc_mx@relay.test rc_mx
mx.example r_mx
nomx.example r_a
sub.ns.example r_ns
mxrelay@relay.test mxb
backup.example mxb
primary.example mxb
nobackup.example mxb
lamebackup.example mxb
outside.example mxb
servfail.example mxb
nullmx.example mxb
""",
    "servers": """mx2.bad.example REJECT bad mail exchanger
192.0.2.20 REJECT listed address
198.51.100 REJECT listed name server network
good.example OK
mx.dunno.example DUNNO
192.0.2.66 554 5.7.9 listed literal
127.0.0.1 REJECT loopback
""",
}

SENDER_RCPTS = ["s_mx", "s_ns", "s_a", "h_mx", "h_ns", "h_a"]

# (HELO name, sender domain): each session sends the SENDER_RCPTS.
SESSIONS = [
    ("mx.example", "mx.example"),
    ("nomx.example", "nomx.example"),
    ("nullmx.example", "nullmx.example"),
    ("servfail.example", "servfail.example"),
    ("sub.ns.example", "sub.ns.example"),
    ("nxdomain.example", "nxdomain.example"),
    ("lame.example", "lame.example"),
    ("okmx.example", "okmx.example"),
    ("dunno.example", "dunno.example"),
    ("[192.0.2.66]", "[192.0.2.66]"),
    ("192.0.2.66", "[IPv6:::1]"),
]

MX_BACKUP_DOMAINS = ["backup.example", "primary.example", "nobackup.example", "lamebackup.example",
                     "outside.example", "servfail.example", "nullmx.example"]


def scenario() -> dict:
    """Runs in the namespace child: both servers, the same dialogs."""
    sessions = []
    for helo, domain in SESSIONS:
        sessions.append([f"EHLO {helo}", f"MAIL FROM:<x@{domain}>"]
                        + [f"RCPT TO:<{r}@relay.test>" for r in SENDER_RCPTS] + ["QUIT"])
    sessions.append(["EHLO client.example", "MAIL FROM:<x@example.org>"]
                    + [f"RCPT TO:<{r}@relay.test>" for r in ("c_mx", "c_ns", "c_a", "rc_mx")]
                    + [f"RCPT TO:<y@{d}>" for d in ("mx.example", "nomx.example", "sub.ns.example")] + ["QUIT"])
    sessions.append(["EHLO client.example", "MAIL FROM:<x@example.org>", "RCPT TO:<mxrelay@relay.test>"]
                    + [f"RCPT TO:<y@{d}>" for d in MX_BACKUP_DOMAINS] + ["QUIT"])
    main = COMMON_MAIN.replace("relay_domains = relay.test\n", "") + MAIN
    return paired_dns_sessions(main, FILES, RECORDS, sessions)


def test_server_access_checks_match_postfix():
    require_programs("master", "smtpd", "postfix")
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.fail("needs root and unshare(1) for a private network namespace", pytrace=False)
    result = run_in_namespace(__file__, "dns")
    assert result["queries"] > 0
    ours, theirs = result["ours"], result["oracle"]
    for o, t in zip(ours["replies"], theirs["replies"]):
        assert o == t
    assert ours["replies"] == theirs["replies"]
    assert ours["log"] == theirs["log"]
    # The checks did answer (not a run where nothing was looked up).
    assert "554 5.7.1 <x@mx.example>: Sender address rejected: bad mail exchanger" in ours["replies"]
    assert "554 5.7.1 <x@sub.ns.example>: Sender address rejected: listed name server network" in ours["replies"]
    assert "451 4.3.5 Server configuration error" in ours["replies"]
    assert "250 2.1.5 Ok" in ours["replies"][-len(MX_BACKUP_DOMAINS) - 2:]


if __name__ == "__main__" and len(sys.argv) >= 3 and sys.argv[1] == "--netns-child":
    print(json.dumps({"dns": scenario}[sys.argv[2]]()))
