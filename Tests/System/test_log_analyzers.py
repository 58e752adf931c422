"""fail2ban and pflogsumm read Posthorn's smtpd log as they read Postfix's.

One Posthorn instance (smtpd, cleanup, qmgr, discard, error, bounce, pickup)
runs in a private network namespace with a fake DNS server (fake_dns.py), so
a DNS block list can answer. The test provokes, and counts, the smtpd lines
the analyzers care about:

- rejects: relay access denied, unknown user (virtual mailbox table), HELO
  not fully qualified, DNSBL (reject_rbl_client);
- improper command pipelining, too many errors, lost connection after EHLO;
- accepted mail: two messages over SMTP, two submitted with sendmail, all
  delivered to discard, and one sendmail message bounced by the error
  transport (whose notification is delivered to discard as well).

Then Debian's fail2ban-regex with /etc/fail2ban/filter.d/postfix.conf must
match exactly the provoked lines in each mode (normal, rbl, errors, ddos,
aggressive), always with HOST 127.0.0.1, and pflogsumm must count received,
delivered, bounced and rejected exactly as the test did.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from posthorn_instance import (BASE_MASTER, PosthornInstance, can_connect, free_port,  # noqa: E402
                               require_programs, wait_for)
from fake_dns import FakeDNS, enter_private_network, run_in_namespace  # noqa: E402

FAIL2BAN_REGEX = shutil.which("fail2ban-regex") or "/usr/bin/fail2ban-regex"
FILTER = "/etc/fail2ban/filter.d/postfix.conf"
PFLOGSUMM = "/usr/sbin/pflogsumm"

MAIN = """mynetworks = 10.0.0.0/8
relay_domains = relay.test
relay_transport = discard
virtual_mailbox_domains = vmbox.test
virtual_mailbox_maps = texthash:{root}/etc/vmailbox
virtual_transport = discard
default_transport = discard
transport_maps = texthash:{root}/etc/transport
local_recipient_maps =
smtpd_helo_restrictions = reject_non_fqdn_helo_hostname
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access texthash:{root}/etc/rcpt_access
smtpd_restriction_classes = dnsbl
dnsbl = reject_rbl_client zen.example
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 2
smtpd_hard_error_limit = 3
"""

MASTER = BASE_MASTER + """{listen} inet n - n - - smtpd
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
proxymap  unix  -       -       n       -       -       proxymap
anvil     unix  -       -       n       -       1       anvil
"""

FILES = {
    "vmailbox": "known@vmbox.test x\n",
    "transport": "bounce.test error:5.1.1 mailbox unavailable\n",
    "rcpt_access": "listed@relay.test dnsbl\n",
}

DNS = {("1.0.0.127.zen.example", "A"): ["127.0.0.2"],
       ("1.0.0.127.zen.example", "TXT"): ["listed for the test"]}

PROGRAMS = ("master", "smtpd", "cleanup", "qmgr", "trivial-rewrite", "discard", "error", "bounce", "pickup",
            "postdrop", "sendmail", "postlogd", "proxymap", "anvil", "postfix")


class Client:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), 30)
        self.f = self.sock.makefile("rb")
        self.greeting = self.reply()

    def reply(self) -> str:
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                return "\n".join(lines + ["<EOF>"])
            lines.append(line.decode().rstrip("\r\n"))
            if line[3:4] != b"-":
                return "\n".join(lines)

    def cmd(self, text: str) -> str:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def close(self):
        # The file object holds the socket open too.
        self.f.close()
        self.sock.close()


def provoke(port: int, inst: PosthornInstance) -> dict:
    """Every dialog; returns what the test expects in the log."""
    expect = {"rejects": 0, "smtp_received": 0}

    def session(helo: str, rcpts: list[tuple[str, str]], data: bool = False):
        c = Client(port)
        assert c.cmd(f"EHLO {helo}").startswith("250")
        assert c.cmd("MAIL FROM:<sender@relay.test>").startswith("250")
        accepted = 0
        for rcpt, code in rcpts:
            r = c.cmd(f"RCPT TO:<{rcpt}>")
            assert r.startswith(code), (rcpt, r)
            if code.startswith("5") or code.startswith("4"):
                expect["rejects"] += 1
            else:
                accepted += 1
        if data:
            assert c.cmd("DATA").startswith("354")
            assert c.cmd("Subject: test\r\n\r\nhello\r\n.").startswith("250 2.0.0 Ok: queued as")
            expect["smtp_received"] += 1
        assert c.cmd("QUIT").startswith("221")
        c.close()

    # Rejects (each in its own transaction: no queue file is opened).
    session("client.example", [("someone@elsewhere.test", "554 5.7.1 <someone@elsewhere.test>: Relay access denied")])
    session("client.example", [("unknown@vmbox.test", "550 5.1.1 <unknown@vmbox.test>: Recipient address rejected: "
                                                     "User unknown in virtual mailbox table")])
    session("localhelo", [("a@relay.test", "504 5.5.2 <localhelo>: Helo command rejected: need fully-qualified hostname")])
    session("client.example", [("listed@relay.test", "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked "
                                                    "using zen.example; listed for the test")])
    # Accepted mail over SMTP.
    session("client.example", [("a@relay.test", "250")], data=True)
    session("client.example", [("known@vmbox.test", "250")], data=True)
    # Improper pipelining: a command behind EHLO in one write (EHLO must
    # end a pipelined group; deterministic, unlike talking before the
    # greeting, which races with the banner).
    s = socket.create_connection(("127.0.0.1", port), 30)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"EHLO early.example\r\nQUIT\r\n")
    try:
        while f.readline():
            pass
    except ConnectionResetError:
        pass
    f.close()
    s.close()
    # Too many errors.
    c = Client(port)
    for _ in range(3):
        r = c.cmd("BOGUS")
    assert c.reply().startswith("421 4.7.0") or "421" in r
    c.close()
    # Lost connection after EHLO.
    c = Client(port)
    c.cmd("EHLO client.example")
    c.close()
    # Mail from sendmail: two delivered, one bounced (its notice is delivered).
    for rcpt in ("x@relay.test", "y@relay.test", "nobody@bounce.test"):
        r = inst.sendmail(["-f", "sender@relay.test", rcpt], f"Subject: via sendmail\n\nto {rcpt}\n")
        assert r.returncode == 0, r.stderr
    expect["sendmail_received"] = 3
    # Wait until every message (and the bounce notice) is delivered.
    inst.wait_log(r"status=bounced", timeout=30)
    inst.wait_log(r"postfix/discard\[\d+\]: \w+: to=<sender@relay\.test>.*status=sent", timeout=30)
    inst.wait_log(r"postfix/discard\[\d+\]: \w+: to=<.*status=sent", count=5, timeout=30)
    inst.wait_log(r"lost connection after EHLO from", timeout=10)
    wait_for(inst.queue_empty, timeout=20)
    time.sleep(1)
    return expect


def scenario() -> dict:
    enter_private_network()
    dns = FakeDNS(DNS)
    port = free_port()
    inst = PosthornInstance(main_extra=MAIN, master=MASTER.format(listen=f"127.0.0.1:{port}"), files=FILES,
                            prefix="posthorn-analyzers-")
    try:
        inst.start()
        assert wait_for(lambda: can_connect(port)), inst.logs()
        wait_for(lambda: inst.maillog().count("disconnect from") >= 1, timeout=10)
        try:
            expect = provoke(port, inst)
        except BaseException:
            sys.stderr.write(inst.logs())
            raise
        expect["log"] = inst.maillog()
        return expect
    finally:
        inst.stop()
        dns.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    require_programs(*PROGRAMS)
    for tool in (FAIL2BAN_REGEX, PFLOGSUMM, FILTER):
        if not Path(tool).exists():
            pytest.fail(f"{tool} is missing (scripts/test.sh installs fail2ban and pflogsumm)", pytrace=False)
    if not shutil.which("unshare"):
        pytest.fail("unshare(1) is needed for the private network namespace", pytrace=False)
    result = run_in_namespace(__file__, "analyzers")
    log = tmp_path_factory.mktemp("analyzers") / "maillog"
    log.write_text(result["log"])
    return result, log


SMTPD = re.compile(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ postfix/smtpd\[\d+\]: (.*)$")


def smtpd_texts(log: str) -> list[str]:
    return [m.group(1) for line in log.splitlines() if (m := SMTPD.match(line))]


def fail2ban(log: Path, mode: str) -> list[str]:
    out = subprocess.run([FAIL2BAN_REGEX, "--print-all-matched", "--raw", str(log), f"{FILTER}[mode={mode}]"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    m = re.search(r"^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed", out.stdout, re.M)
    assert m, out.stdout
    matched = [l[3:].strip() for l in out.stdout.splitlines() if l.startswith("|  ") and "postfix/" in l]
    assert len(matched) == int(m.group(3)), out.stdout
    return matched


def provoked(log: str) -> dict[str, list[str]]:
    texts = smtpd_texts(log)
    rejects = [t for t in texts if t.startswith("NOQUEUE: reject: RCPT from localhost[127.0.0.1]: ")]
    pipelining = [t for t in texts if t.startswith("improper command pipelining after EHLO from localhost[127.0.0.1]: ")]
    errors = [t for t in texts if t == "too many errors after UNKNOWN from localhost[127.0.0.1]"]
    # The provoked one after EHLO, and the start-up probes' (the test's
    # wait for the port) after CONNECT.
    lost = [t for t in texts if re.fullmatch(r"lost connection after (EHLO|CONNECT) from localhost\[127\.0\.0\.1\]", t)]
    rbl = [t for t in rejects if "blocked using zen.example" in t]
    return {"rejects": rejects, "pipelining": pipelining, "errors": errors, "lost": lost, "rbl": rbl}


def test_provoked_lines_are_in_the_log(run):
    result, log = run
    p = provoked(result["log"])
    assert len(p["rejects"]) == result["rejects"] == 4
    assert len(p["pipelining"]) == 1 and len(p["errors"]) == 1 and len(p["rbl"]) == 1
    assert p["lost"].count("lost connection after EHLO from localhost[127.0.0.1]") == 1
    assert p["rbl"][0].startswith("NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 Service unavailable; "
                                  "Client host [127.0.0.1] blocked using zen.example; listed for the test; "
                                  "from=<sender@relay.test> to=<listed@relay.test> proto=ESMTP helo=<client.example>")


@pytest.mark.parametrize("mode", ["normal", "more", "rbl", "errors", "ddos", "aggressive"])
def test_fail2ban_matches_every_provoked_line(run, mode):
    result, log = run
    p = provoked(result["log"])
    normal = p["rejects"] + p["pipelining"] + p["errors"]
    expected = {"normal": normal, "more": normal, "rbl": p["rbl"], "errors": p["errors"], "ddos": p["lost"],
                "aggressive": normal + p["lost"]}[mode]
    matched = fail2ban(log, mode)
    texts = sorted(SMTPD.match(l).group(1) for l in matched)
    assert texts == sorted(expected)
    # And each was found for the right host.
    ips = subprocess.run([FAIL2BAN_REGEX, "-o", "ip", str(log), f"{FILTER}[mode={mode}]"], capture_output=True,
                         text=True, timeout=120).stdout.split()
    assert ips == ["127.0.0.1"] * len(expected)


def pflogsumm_totals(log: Path) -> dict[str, int]:
    out = subprocess.run([PFLOGSUMM, "--detail", "0", str(log)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    totals = {}
    for m in re.finditer(r"^\s*(\d+)\s+(received|delivered|forwarded|deferred|bounced|rejected|reject warnings|held"
                         r"|discarded)\b", out.stdout, re.M):
        totals.setdefault(m.group(2), int(m.group(1)))
    return totals


def test_pflogsumm_counts(run):
    result, log = run
    totals = pflogsumm_totals(log)
    received = result["smtp_received"] + result["sendmail_received"]
    # Two SMTP messages, two sendmail messages, and the bounce notice.
    delivered = result["smtp_received"] + 2 + 1
    assert totals["received"] == received == 5
    assert totals["delivered"] == delivered == 5
    assert totals["bounced"] == 1
    assert totals["rejected"] == result["rejects"] == 4
    assert totals["deferred"] == 0


if __name__ == "__main__" and len(sys.argv) >= 3 and sys.argv[1] == "--netns-child":
    import json
    print(json.dumps(scenario()))
