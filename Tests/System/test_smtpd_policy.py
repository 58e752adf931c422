"""check_policy_service and the DNS lists, against Debian's Postfix 3.7.

- A tiny policy server (below) answers by the recipient's local part, so one
  dialog walks through the access-table results a policy server can give;
  a private Debian Postfix and a Posthorn instance with the same main.cf
  must send the same replies and log the same smtpd lines (warnings about
  an unreachable second service included), and send the same request
  attributes.
- Timeouts, try_limit, request_limit and unix: endpoints run against
  Posthorn with the same policy server.
- Debian's postgrey, started privately on a loopback port, greylists the
  first attempt (450 4.2.0 ... Greylisted) and accepts after its delay.
- DNS lists: the test re-runs itself in a private mount and network
  namespace (fake_dns.py) where 127.0.0.1:53 is a fake DNS server; Postfix
  and Posthorn answer the same RCPTs with reject_rbl_client,
  reject_rhsbl_*, permit_dnswl_client, rbl_reply_maps and a reply filter.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from postfix_oracle import SMTPD_MASTER, PostfixOracle  # noqa: E402
from posthorn_instance import (BASE_MASTER, BIN, PosthornInstance, can_connect,  # noqa: E402
                               free_port, require_programs, wait_for)
import smtp_client  # noqa: E402
from smtp_client import read_reply as read_reply_lines, smtpd_log_texts  # noqa: E402
from fake_dns import FakeDNS, enter_private_network, run_in_namespace  # noqa: E402

ORACLE = Path("/usr/sbin/postfix")
POSTGREY = Path("/usr/sbin/postgrey")


ACTIONS = {
    "reject": "REJECT go away",
    "deferp": "DEFER_IF_PERMIT 4.2.0 later please",
    "num": "550 5.7.9 numeric",
    "numnodsn": "450 busy",
    "ok": "OK",
    "hold": "HOLD held",
    "warn": "WARN careful",
    "bogus": "BOGUS stuff",
    "prepend": "PREPEND X-Policy: yes",
    "restr": "reject_unauth_destination",
    "defer": "DEFER not now",
    "dunno": "DUNNO",
}


class PolicyServer:
    """Answers by recipient local part: ACTIONS, `sleep` (answers after 3 s),
    `close` (hangs up), `noaction` (answer without action=), else DUNNO.
    Records every request and counts connections."""

    def __init__(self, unix_path: str | None = None):
        self.requests: list[dict] = []
        self.connections = 0
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                outer.connections += 1
                while (attrs := smtp_client.read_policy_request(self.rfile)) is not None:
                    outer.requests.append(attrs)
                    local = attrs.get("recipient", "").split("@")[0]
                    if local == "sleep":
                        time.sleep(3)
                    if local == "close":
                        return
                    if local == "noaction":
                        self.wfile.write(b"foo=bar\n\n")
                        continue
                    self.wfile.write(f"action={ACTIONS.get(local, 'DUNNO')}\n\n".encode())

        self.server, self.port = smtp_client.start_threaded_server(Handler, unix_path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# -- the two servers -----------------------------------------------------------

COMMON_MAIN = """relay_domains = relay.test
relay_transport = discard
default_transport = discard
local_recipient_maps =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_error_sleep_time = 0
smtpd_hard_error_limit = 100
smtpd_policy_service_retry_delay = 1s
"""

OURS_MASTER_EXTRA = """{listen} inet n - n - - smtpd
discard   unix  -       -       n       -       -       discard
proxymap  unix  -       -       n       -       -       proxymap
anvil     unix  -       -       n       -       1       anvil
"""


class OracleServer(PostfixOracle):
    """A private Debian Postfix with smtpd on a loopback port."""

    def __init__(self, main: str, files: dict[str, str] | None = None):
        self.port = free_port()
        super().__init__(main_extra="mydestination =\n" + main, files=files,
                         master=SMTPD_MASTER.format(listen=f"127.0.0.1:{self.port}"),
                         prefix="posthorn-policy-oracle-")

    def start(self):
        super().start(ready=None, port=self.port)


class OurServer:
    def __init__(self, main: str, files: dict[str, str] | None = None):
        self.port = free_port()
        master = BASE_MASTER + OURS_MASTER_EXTRA.format(listen=f"127.0.0.1:{self.port}")
        self.inst = PosthornInstance(main_extra=main, master=master, files=files, prefix="posthorn-policy-")
        self.etc = self.inst.etc
        text = (self.etc / "main.cf").read_text().replace("{etc}", str(self.etc))
        (self.etc / "main.cf").write_text(text)

    def start(self):
        self.inst.start()
        assert wait_for(lambda: can_connect(self.port)), self.inst.logs()

    def maillog(self) -> str:
        return self.inst.maillog()

    def stop(self):
        self.inst.stop()


def read_reply(f) -> str:
    """One reply, its lines joined by newlines; a connection reset is an error here."""
    return "\n".join(read_reply_lines(f, eof_errors=()))


def dialog(port: int, commands: list[str], timeout=60) -> list[str]:
    """One reply per command (the greeting first)."""
    s = socket.create_connection(("127.0.0.1", port), timeout)
    f = s.makefile("rb")
    out = [read_reply(f)]
    for c in commands:
        s.sendall(c.encode() + b"\r\n")
        out.append(read_reply(f))
    s.close()
    return out


QID = re.compile(r"\b[0-9A-F]{8,12}\b")
NOISE = re.compile(r"dict_nis_init|open database /etc/aliases")


def smtpd_lines(log: str, ports: dict[str, str] | None = None) -> list[str]:
    out = []
    for text in smtpd_log_texts(log, noise=NOISE):
        text = QID.sub("QID", text)
        for port, name in (ports or {}).items():
            text = text.replace(port, name)
        out.append(text)
    return out


def wait_disconnects(server, n: int):
    wait_for(lambda: server.maillog().count("disconnect from") >= n, timeout=15)


def logged_dialog(server, commands: list[str]) -> list[str]:
    """dialog(), then waits for the session's "disconnect from" line, so that
    sessions' lines are not interleaved (the next session's smtpd process
    may otherwise log its "connect from" first)."""
    before = server.maillog().count("disconnect from")
    replies = dialog(server.port, commands)
    wait_disconnects(server, before + 1)
    return replies


def start_pair(main: str, files=None):
    require_programs("master", "smtpd", "cleanup", "qmgr", "trivial-rewrite", "discard", "postlogd", "proxymap",
                     "anvil", "postfix")
    if not ORACLE.exists():
        pytest.fail("Debian postfix is not installed", pytrace=False)
    oracle, ours = OracleServer(main, files), OurServer(main, files)
    oracle.start()
    try:
        ours.start()
    except BaseException:
        oracle.stop()
        raise
    for s in (oracle, ours):
        wait_disconnects(s, 1)
    return oracle, ours


# -- 1. policy results: Postfix and Posthorn side by side ---------------------

RCPTS = ["reject", "deferp", "num", "numnodsn", "hold", "warn", "bogus", "prepend", "restr", "defer",
         "noaction", "dunno", "ok"]


def test_policy_results_match_postfix():
    policy = PolicyServer()
    dead = free_port()
    main = COMMON_MAIN + (
        f"smtpd_recipient_restrictions = check_policy_service {{ inet:127.0.0.1:{policy.port}, timeout=5s, "
        f"default_action=DUNNO }}, check_policy_service {{ inet:127.0.0.1:{dead}, try_limit=1 }}\n")
    oracle, ours = start_pair(main)
    try:
        commands = ["EHLO client.example", "MAIL FROM:<alice@example.com> SIZE=100"]
        commands += [f"RCPT TO:<{r}@relay.test>" for r in RCPTS]
        commands += ["QUIT"]
        policy.requests.clear()
        theirs = dialog(oracle.port, commands)
        their_requests = list(policy.requests)
        policy.requests.clear()
        mine = dialog(ours.port, commands)
        my_requests = list(policy.requests)
        assert [QID.sub("QID", r) for r in mine] == [QID.sub("QID", r) for r in theirs]
        assert any("554 5.7.1 <reject@relay.test>: Recipient address rejected: go away" in r for r in mine)
        wait_disconnects(oracle, 2)
        wait_disconnects(ours, 2)
        their_lines = smtpd_lines(oracle.maillog(), {str(oracle.port): "PORT"})
        my_lines = smtpd_lines(ours.maillog(), {str(ours.port): "PORT"})
        assert my_lines == their_lines
        # The same attributes, in the same order, with the same values
        # (except ports and the instance, which are per process).
        assert len(my_requests) == len(their_requests) > 0
        volatile = {"client_port", "server_port", "instance"}
        for a, b in zip(my_requests, their_requests):
            assert list(a) == list(b)
            assert {k: v for k, v in a.items() if k not in volatile} == \
                   {k: v for k, v in b.items() if k not in volatile}
        instances = {r["instance"] for r in my_requests}
        assert len(instances) == 1 and instances != {""}
    finally:
        ours.stop()
        oracle.stop()
        policy.close()


def test_policy_stages_and_unreachable_default_match_postfix():
    """The policy server in the client, HELO, sender and DATA stages (its
    protocol_state and the reply's class), and the default action when
    the only service is down."""
    policy = PolicyServer()
    dead = free_port()
    main = COMMON_MAIN + f"""smtpd_delay_reject = no
smtpd_helo_restrictions = check_policy_service inet:127.0.0.1:{policy.port}
smtpd_sender_restrictions = check_policy_service inet:127.0.0.1:{policy.port}
smtpd_data_restrictions = check_policy_service {{ inet:127.0.0.1:{policy.port}, policy_context=data-stage }}
smtpd_end_of_data_restrictions = check_policy_service inet:127.0.0.1:{policy.port}
smtpd_recipient_restrictions = check_recipient_access inline:{{{{ok@relay.test=OK}}}},
    check_policy_service {{ inet:127.0.0.1:{dead}, try_limit=1 }}, permit
"""
    oracle, ours = start_pair(main)
    try:
        commands = ["EHLO client.example", "MAIL FROM:<s@example.com>", "RCPT TO:<a@relay.test>", "RSET",
                    "MAIL FROM:<s@example.com> SIZE=10", "RCPT TO:<ok@relay.test>", "DATA",
                    "Subject: x\r\n\r\nbody line\r\n..dot\r\n.", "QUIT"]
        results = {}
        for name, server in (("oracle", oracle), ("ours", ours)):
            policy.requests.clear()
            replies = [QID.sub("QID", r) for r in dialog(server.port, commands)]
            results[name] = (replies, [(r["protocol_state"], r["policy_context"], r["size"], r["recipient_count"],
                                        r["recipient"], r["queue_id"] != "") for r in policy.requests])
        assert results["ours"] == results["oracle"]
        assert "451 4.3.5 <a@relay.test>: Recipient address rejected: Server configuration problem" in \
            results["ours"][0][3]
        assert [r[0] for r in results["ours"][1]] == ["EHLO", "MAIL", "MAIL", "DATA", "END-OF-MESSAGE"]
        for s in (oracle, ours):
            wait_disconnects(s, 2)
        assert smtpd_lines(ours.maillog(), {str(ours.port): "PORT", str(dead): "DEAD"}) == \
            smtpd_lines(oracle.maillog(), {str(oracle.port): "PORT", str(dead): "DEAD"})
    finally:
        ours.stop()
        oracle.stop()
        policy.close()


def test_unreachable_unix_endpoints_match_postfix():
    """A unix: service relative to the queue directory, and an absolute one."""
    main = COMMON_MAIN + """smtpd_recipient_restrictions =
    check_policy_service { unix:/nonexistent/policy, try_limit=1, default_action=DUNNO },
    check_policy_service { unix:private/nopolicy, try_limit=1 }
"""
    oracle, ours = start_pair(main)
    try:
        commands = ["EHLO client.example", "MAIL FROM:<s@example.com>", "RCPT TO:<a@relay.test>", "QUIT"]
        assert dialog(ours.port, commands) == dialog(oracle.port, commands)
        for s in (oracle, ours):
            wait_disconnects(s, 2)
        assert smtpd_lines(ours.maillog()) == smtpd_lines(oracle.maillog())
        ours.inst.wait_log(r"warning: problem talking to server private/nopolicy: No such file or directory$")
    finally:
        ours.stop()
        oracle.stop()


# -- 2. Posthorn only: time limits, connection reuse, unix: endpoints ----------

@pytest.fixture()
def ours_with(request):
    made = []

    def make(main: str, files=None):
        require_programs("master", "smtpd", "cleanup", "qmgr", "trivial-rewrite", "discard", "postlogd",
                         "proxymap", "anvil", "postfix")
        s = OurServer(COMMON_MAIN + main, files)
        s.start()
        wait_disconnects(s, 1)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


def test_policy_timeout_uses_default_action(ours_with):
    policy = PolicyServer()
    try:
        ours = ours_with(f"smtpd_recipient_restrictions = check_policy_service {{ inet:127.0.0.1:{policy.port}, "
                         f"timeout=1s, try_limit=1, default_action=DEFER }}\n")
        start = time.monotonic()
        replies = dialog(ours.port, ["EHLO c.example", "MAIL FROM:<s@example.com>", "RCPT TO:<sleep@relay.test>",
                                     "RCPT TO:<ok@relay.test>", "QUIT"])
        elapsed = time.monotonic() - start
        assert replies[3] == "450 4.7.1 <sleep@relay.test>: Recipient address rejected: Access denied"
        # The connection that timed out is not reused: the next request gets a fresh one.
        assert replies[4].startswith("250 ")
        assert 1 <= elapsed < 10
        ours.inst.wait_log(rf"warning: problem talking to server 127\.0\.0\.1:{policy.port}: Connection timed out")
    finally:
        policy.close()


def test_policy_connection_reuse_and_request_limit(ours_with):
    reused, limited = PolicyServer(), PolicyServer()
    try:
        ours = ours_with(
            f"smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:{reused.port}, "
            f"check_policy_service {{ inet:127.0.0.1:{limited.port}, request_limit=2 }}\n")
        commands = ["EHLO c.example", "MAIL FROM:<s@example.com>"] + \
                   [f"RCPT TO:<dunno{i}@relay.test>" for i in range(5)] + ["QUIT"]
        replies = dialog(ours.port, commands)
        assert all(r.startswith("250") for r in replies[1:-1]), replies
        assert len(reused.requests) == 5 and reused.connections == 1
        assert len(limited.requests) == 5 and limited.connections == 3
        assert all(r["recipient_count"] == str(i) for i, r in enumerate(reused.requests))
    finally:
        reused.close()
        limited.close()


def test_policy_server_hangup_and_missing_action(ours_with):
    policy = PolicyServer()
    try:
        ours = ours_with(f"smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:{policy.port}\n")
        replies = dialog(ours.port, ["EHLO c.example", "MAIL FROM:<s@example.com>", "RCPT TO:<close@relay.test>",
                                     "RCPT TO:<noaction@relay.test>", "RCPT TO:<reject@relay.test>", "QUIT"])
        problem = "451 4.3.5 <{}@relay.test>: Recipient address rejected: Server configuration problem"
        assert replies[3] == problem.format("close")
        assert replies[4] == problem.format("noaction")
        assert replies[5] == "554 5.7.1 <reject@relay.test>: Recipient address rejected: go away"
        ours.inst.wait_log(rf"warning: missing attribute action in input from 127\.0\.0\.1:{policy.port}", count=2)
        ours.inst.wait_log(rf"warning: problem talking to server 127\.0\.0\.1:{policy.port}: Application error",
                           count=2)
    finally:
        policy.close()


def test_policy_unix_endpoints(ours_with):
    """An absolute unix: path, and one relative to the queue directory."""
    sockdir = Path(tempfile.mkdtemp(prefix="posthorn-policy-sock-"))
    os.chmod(sockdir, 0o755)
    absolute = PolicyServer(unix_path=str(sockdir / "policy"))
    relative = None
    try:
        ours = ours_with("smtpd_recipient_restrictions = check_policy_service unix:private/policy, "
                         f"check_policy_service unix:{sockdir}/policy\n")
        relative = PolicyServer(unix_path=str(ours.inst.queue / "private" / "policy"))
        replies = dialog(ours.port, ["EHLO c.example", "MAIL FROM:<s@example.com>", "RCPT TO:<reject@relay.test>",
                                     "RCPT TO:<ok@relay.test>", "RCPT TO:<dunno@relay.test>", "QUIT"])
        assert replies[3] == "554 5.7.1 <reject@relay.test>: Recipient address rejected: go away"
        assert replies[4].startswith("250 ") and replies[5].startswith("250 ")
        assert [r["recipient"] for r in relative.requests] == ["reject@relay.test", "ok@relay.test", "dunno@relay.test"]
        assert [r["recipient"] for r in absolute.requests] == ["dunno@relay.test"]
        assert relative.requests[0]["protocol_state"] == "RCPT"
    finally:
        absolute.close()
        if relative:
            relative.close()
        shutil.rmtree(sockdir, ignore_errors=True)


# -- 3. postgrey ----------------------------------------------------------------

def test_postgrey_greylists_then_accepts(ours_with):
    if not POSTGREY.exists():
        pytest.fail("postgrey is not installed (scripts/test.sh installs it)", pytrace=False)
    port = free_port()
    dbdir = Path(tempfile.mkdtemp(prefix="posthorn-postgrey-"))
    shutil.chown(dbdir, user="postgrey")
    pidfile = dbdir / "postgrey.pid"
    proc = subprocess.Popen([str(POSTGREY), f"--inet=127.0.0.1:{port}", f"--dbdir={dbdir}", "--delay=3",
                             f"--pidfile={pidfile}", "--whitelist-clients=/dev/null",
                             "--whitelist-recipients=/dev/null"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: can_connect(port), timeout=20), proc.stderr.read1(10000) if proc.poll() else ""
        ours = ours_with(f"smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:{port}\n")
        commands = ["EHLO client.example", "MAIL FROM:<alice@example.com>", "RCPT TO:<bob@relay.test>", "QUIT"]
        first = dialog(ours.port, commands)
        assert first[3] == ("450 4.2.0 <bob@relay.test>: Recipient address rejected: Greylisted, see "
                            "http://postgrey.schweikert.ch/help/relay.test.html")
        ours.inst.wait_log(r"NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 450 4\.2\.0 <bob@relay\.test>: "
                           r"Recipient address rejected: Greylisted, see http://postgrey\.schweikert\.ch/help/"
                           r"relay\.test\.html; from=<alice@example\.com> to=<bob@relay\.test> proto=ESMTP "
                           r"helo=<client\.example>$")
        early = dialog(ours.port, commands)
        assert early[3].startswith("450 4.2.0 ")
        time.sleep(4)
        later = dialog(ours.port, ["EHLO client.example", "MAIL FROM:<alice@example.com>",
                                   "RCPT TO:<bob@relay.test>", "DATA", "Subject: hi\r\n\r\nbody\r\n.", "QUIT"])
        assert later[3] == "250 2.1.5 Ok", later
        assert later[5].startswith("250 2.0.0 Ok: queued as ")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(dbdir, ignore_errors=True)


# -- 4. DNS block and allow lists (in a private network namespace) --------------

DNS_RECORDS = {
    ("1.0.0.127.zen.example", "A"): ["127.0.0.2"],
    ("1.0.0.127.zen.example", "TXT"): ["Listed, see https://zen.example/lookup?ip=127.0.0.1"],
    ("1.0.0.127.quiet.example", "A"): ["127.0.0.4"],
    ("1.0.0.127.filtered.example", "A"): ["127.0.0.10"],
    ("1.0.0.127.range.example", "A"): ["127.0.0.10"],
    ("1.0.0.127.allow.example", "A"): ["127.0.9.1"],
    ("1.0.0.127.mapped.example", "A"): ["127.0.0.2"],
    ("spam.example.dbl.example", "A"): ["127.0.1.2"],
    ("bad.helo.example.dbl.example", "A"): ["127.0.1.2"],
    ("relay.test.rcpt.example", "A"): ["127.0.1.2"],
    ("localhost.dbl.example", "A"): ["127.0.1.2"],
}

DNS_MAIN = """smtpd_recipient_restrictions =
    check_recipient_access texthash:{etc}/rcpt_switch
smtpd_restriction_classes = rbl_zen rbl_quiet rbl_filtered rbl_range rbl_allow rbl_mapped rbl_mapped2 rbl_tempfail
    rhsbl_sender rhsbl_helo rhsbl_rcpt rhsbl_client rhsbl_reverse
rbl_zen = reject_rbl_client zen.example
rbl_quiet = reject_rbl_client quiet.example
rbl_filtered = reject_rbl_client filtered.example=127.0.0.2
rbl_range = reject_rbl_client range.example=127.0.0.[2..11]
rbl_allow = permit_dnswl_client allow.example=127.0.[0..255].1, reject
rbl_mapped = reject_rbl_client mapped.example
rbl_mapped2 = reject_rbl_client mapped.example=127.0.0.[1..3]
rbl_tempfail = reject_rbl_client servfail.example
rhsbl_sender = reject_rhsbl_sender dbl.example
rhsbl_helo = reject_rhsbl_helo dbl.example
rhsbl_rcpt = reject_rhsbl_recipient rcpt.example
rhsbl_client = reject_rhsbl_client dbl.example
rhsbl_reverse = reject_rhsbl_reverse_client dbl.example
rbl_reply_maps = texthash:{etc}/rbl_reply
"""

DNS_FILES = {
    "rcpt_switch": """zen@relay.test rbl_zen
quiet@relay.test rbl_quiet
filtered@relay.test rbl_filtered
range@relay.test rbl_range
allow@relay.test rbl_allow
mapped@relay.test rbl_mapped
mapped2@relay.test rbl_mapped2
tempfail@relay.test rbl_tempfail
sender@relay.test rhsbl_sender
helo@relay.test rhsbl_helo
rcpt@relay.test rhsbl_rcpt
client@relay.test rhsbl_client
reverse@relay.test rhsbl_reverse
""",
    # Keyed by the restriction's argument as written (with its filter).
    "rbl_reply": "mapped.example 450 4.7.1 Go away, $client_address is on $rbl_domain ($rbl_what, $rbl_class)\n"
                 "mapped.example=127.0.0.[1..3] $rbl_code 5.7.9 Filtered $rbl_domain${rbl_reason?: $rbl_reason}\n",
}

DNS_RCPTS = ["zen", "quiet", "filtered", "range", "allow", "mapped", "mapped2", "tempfail", "sender", "helo", "rcpt",
             "client", "reverse"]


def paired_dns_sessions(main: str, files: dict, records: dict, sessions: list[list[str]]) -> dict:
    """Runs in a namespace child (fake_dns.run_in_namespace): a fake DNS
    serving `records`, Debian's Postfix and ours with the same main.cf and
    files, and the same SMTP sessions against each. Returns, per server,
    the replies (queue IDs masked) and the smtpd log lines, and the number
    of DNS queries asked."""
    enter_private_network()
    dns = FakeDNS(records)
    out = {}
    oracle, ours = OracleServer(main, files), OurServer(main, files)
    try:
        oracle.start()
        ours.start()
        for s in (oracle, ours):
            wait_disconnects(s, 1)
        for name, server in (("oracle", oracle), ("ours", ours)):
            replies = []
            for commands in sessions:
                replies += logged_dialog(server, commands)
            out[name] = {"replies": [QID.sub("QID", r) for r in replies],
                         "log": smtpd_lines(server.maillog(), {str(server.port): "PORT"})}
    finally:
        ours.stop()
        oracle.stop()
        dns.close()
    out["queries"] = len(dns.queries)
    return out


def dns_scenario() -> dict:
    sessions = []
    for helo, sender in (("client.example", "alice@example.com"), ("bad.helo.example", "x@spam.example")):
        sessions.append([f"EHLO {helo}", f"MAIL FROM:<{sender}>"]
                        + [f"RCPT TO:<{r}@relay.test>" for r in DNS_RCPTS] + ["QUIT"])
    return paired_dns_sessions(COMMON_MAIN + DNS_MAIN, DNS_FILES, DNS_RECORDS, sessions)


def test_dns_lists_match_postfix():
    require_programs("master", "smtpd", "postfix")
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.fail("needs root and unshare(1) for a private network namespace", pytrace=False)
    result = run_in_namespace(__file__, "dns")
    assert result["queries"] > 0
    ours, theirs = result["ours"], result["oracle"]
    assert ours["replies"] == theirs["replies"]
    assert ours["log"] == theirs["log"]
    # The reply fail2ban's rbl mode knows.
    zen = [r for r in ours["replies"] if "zen.example" in r]
    assert zen[0] == ("554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.example; "
                      "Listed, see https://zen.example/lookup?ip=127.0.0.1")
    assert any(l.startswith("NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 Service unavailable; "
                            "Client host [127.0.0.1] blocked using zen.example; Listed") for l in ours["log"])


if __name__ == "__main__" and len(sys.argv) >= 3 and sys.argv[1] == "--netns-child":
    scenario = {"dns": dns_scenario}[sys.argv[2]]
    print(json.dumps(scenario()))
