"""smtpd against Debian's Postfix 3.7 (the oracle).

A private Postfix (`postfix -c DIR start`, loopback port) and a Posthorn
instance run with the same main.cf settings and equivalent master.cf
services (smtpd, cleanup, qmgr, rewrite, discard, proxymap, anvil, postlog).
Each dialog is a list of raw client sends; after each send one reply is read.
Replies (code, enhanced code, text) and smtpd's log lines must be the same,
with queue IDs and process IDs normalized. A few checks run against Posthorn
only, where it deliberately differs (SMTP smuggling defences).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from postfix_oracle import SMTPD_MASTER, PostfixOracle
from posthorn_instance import BASE_MASTER, BIN, PosthornInstance, can_connect, free_port, require_programs, wait_for
from smtp_client import read_reply, smtpd_log_texts

ORACLE = Path("/usr/sbin/postfix")


TABLES = {
    "helo_access": """badhelo.test REJECT
texthelo.test REJECT go away
numhelo.test 550 5.7.2 num text
classhelo.test rejectclass
warnhelo.test WARN careful
holdhelo.test HOLD
""",
    "sender_access": """s@reject.test REJECT
t@reject.test 451 4.7.9 try later
""",
    "recipient_access": """defer@relay.test DEFER
ok@relay.test OK
""",
    "vmailbox": "known@vmbox.test x\n",
}

MAIN = """mynetworks = 10.0.0.0/8
relay_domains = relay.test
virtual_mailbox_domains = vmbox.test
virtual_mailbox_maps = texthash:{etc}/vmailbox
virtual_transport = discard
relay_transport = discard
default_transport = discard
local_recipient_maps =
smtpd_helo_restrictions = check_helo_access texthash:{etc}/helo_access
smtpd_sender_restrictions = check_sender_access texthash:{etc}/sender_access
smtpd_recipient_restrictions = check_recipient_access texthash:{etc}/recipient_access, reject_non_fqdn_recipient
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_restriction_classes = rejectclass
rejectclass = reject
message_size_limit = 20000
smtpd_error_sleep_time = 0
smtpd_hard_error_limit = 30
# Posthorn's default is yes (issue 6 point 6, docs/compatibility.md); these
# dialogs compare with Postfix 3.7's stock behaviour, so both say no.
smtpd_forbid_unauth_pipelining = no
"""


class Oracle(PostfixOracle):
    """A private Debian Postfix on a loopback port."""

    def __init__(self, port: int):
        self.port = port
        super().__init__(main_extra="mydestination =\n", files=TABLES, prefix="posthorn-smtpd-oracle-")
        with open(self.etc / "main.cf", "a") as f:
            f.write(MAIN.replace("{etc}", str(self.etc)))
        (self.etc / "master.cf").write_text(SMTPD_MASTER.format(listen=f"127.0.0.1:{port}"))


class Ours:
    def __init__(self, port: int):
        self.port = port
        master = BASE_MASTER + f"""127.0.0.1:{port} inet n - n - - smtpd
discard   unix  -       -       n       -       -       discard
proxymap  unix  -       -       n       -       -       proxymap
anvil     unix  -       -       n       -       1       anvil
"""
        self.inst = PosthornInstance(main_extra=MAIN, master=master, files=TABLES, prefix="posthorn-smtpd-")
        # The table paths name our etc directory.
        main = (self.inst.etc / "main.cf").read_text().replace("{etc}", str(self.inst.etc))
        (self.inst.etc / "main.cf").write_text(main)

    def start(self):
        self.inst.start()

    def maillog(self) -> str:
        return self.inst.maillog()

    def stop(self):
        self.inst.stop()


@pytest.fixture(scope="module")
def servers():
    require_programs("master", "smtpd", "cleanup", "qmgr", "trivial-rewrite", "discard", "postlogd", "proxymap",
                     "anvil", "postfix")
    if not ORACLE.exists():
        pytest.fail("Debian postfix is not installed", pytrace=False)
    oracle = Oracle(free_port())
    ours = Ours(free_port())
    oracle.start()
    try:
        ours.start()
        for s in (oracle, ours):
            assert wait_for(lambda: can_connect(s.port)), f"no smtpd on {s.port}\n{s.maillog()}"
        # Let both finish the probe connections' log lines.
        for s in (oracle, ours):
            wait_for(lambda: s.maillog().count("disconnect from") >= 1, timeout=5)
        yield oracle, ours
    finally:
        ours.stop()
        oracle.stop()


QID = re.compile(r"\b[0-9A-F]{8,12}\b")


def normalize_reply(lines: list[str]) -> list[str]:
    return [QID.sub("QID", line) for line in lines]


def converse(port: int, steps: list[bytes], replies_per_step: list[int] | None = None) -> list[list[str]]:
    s = socket.create_connection(("127.0.0.1", port), 10)
    f = s.makefile("rb")
    out = [normalize_reply(read_reply(f))]
    for i, data in enumerate(steps):
        try:
            s.sendall(data)
        except OSError as e:
            out.append([f"<send failed: {e.__class__.__name__}>"])
            break
        n = replies_per_step[i] if replies_per_step else 1
        for _ in range(n):
            r = normalize_reply(read_reply(f))
            out.append(r)
            if r[-1] == "<EOF>":
                break
        if out[-1][-1] == "<EOF>":
            break
    s.close()
    return out


def smtpd_lines(log: str) -> list[str]:
    return [QID.sub("QID", text) for text in smtpd_log_texts(log)]


def run_both(servers, steps, replies_per_step=None):
    """Runs one dialog on both servers; returns (oracle, ours) replies and new log lines."""
    results = []
    for server in servers:
        before = server.maillog().count("disconnect from")
        start = len(smtpd_lines(server.maillog()))
        replies = converse(server.port, steps, replies_per_step)
        assert wait_for(lambda: server.maillog().count("disconnect from") > before, timeout=10), server.maillog()[-3000:]
        time.sleep(0.05)
        results.append((replies, smtpd_lines(server.maillog())[start:]))
    return results


def b(*commands: str) -> list[bytes]:
    return [(c + "\r\n").encode() for c in commands]


DIALOGS = {
    "basic_delivery": b("EHLO client.example", "MAIL FROM:<a@b.test>", "RCPT TO:<someone@relay.test>", "DATA")
    + [b"Subject: test\r\n\r\nhello\r\n..dot-stuffed\r\n.\r\n"] + b("QUIT"),
    "helo_form": b("HELO client.example", "MAIL FROM:<a@b.test>", "RCPT TO:<x@relay.test>", "RSET", "QUIT"),
    "relay_denied": b("EHLO client.example", "MAIL FROM:<a@b.test>", "RCPT TO:<x@elsewhere.test>", "QUIT"),
    "unknown_recipient": b("EHLO client.example", "MAIL FROM:<a@b.test>", "RCPT TO:<nobody@vmbox.test>",
                           "RCPT TO:<known@vmbox.test>", "RSET", "QUIT"),
    "helo_access_reject": b("EHLO badhelo.test", "MAIL FROM:<a@b.test>", "RCPT TO:<x@relay.test>", "QUIT"),
    "helo_access_text": b("EHLO texthelo.test", "MAIL FROM:<a@b.test>", "RCPT TO:<x@relay.test>", "QUIT"),
    "helo_access_numeric": b("EHLO numhelo.test", "MAIL FROM:<a@b.test>", "RCPT TO:<x@relay.test>", "QUIT"),
    "helo_access_class": b("EHLO classhelo.test", "MAIL FROM:<a@b.test>", "RCPT TO:<x@relay.test>", "QUIT"),
    "helo_access_warn": b("EHLO warnhelo.test", "MAIL FROM:<a@b.test>", "RCPT TO:<x@relay.test>", "RSET", "QUIT"),
    "sender_access": b("EHLO client.example", "MAIL FROM:<s@reject.test>", "RCPT TO:<x@relay.test>", "RSET",
                       "MAIL FROM:<t@reject.test>", "RCPT TO:<x@relay.test>", "QUIT"),
    "recipient_access": b("EHLO client.example", "MAIL FROM:<a@b.test>", "RCPT TO:<defer@relay.test>",
                          "RCPT TO:<ok@relay.test>", "RCPT TO:<x>", "RSET", "QUIT"),
    "syntax_errors": b("HELO", "EHLO", "MAIL", "MAIL FROM:", "MAIL FROM:<a b@c>", "MAIL FROM:<a@b",
                       "RCPT TO:<x@relay.test>", "DATA", "MAIL FROM:<a@b.test> SIZE=abc",
                       "MAIL FROM:<a@b.test> FOO=bar", "MAIL FROM:<a@b.test> BODY=foo",
                       "MAIL FROM:<a@b.test> RET=FULL RET=HDRS", "MAIL FROM:<a@b.test> ENVID=a ENVID=b",
                       "MAIL FROM:<a@b.test> RET=HDRS ENVID=x+2Bz BODY=8BITMIME SMTPUTF8",
                       "MAIL FROM:<a@b.test>", "RCPT TO:<>", "RCPT", "RCPT TO:<x@relay.test> NOTIFY=NEVER,SUCCESS",
                       "RCPT TO:<x@relay.test> ORCPT=foo", "RCPT TO:<x@relay.test> FOO=bar",
                       "RCPT TO:<x@relay.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x+2By@relay.test",
                       "RSET x", "NOOP x", "RSET", "QUIT"),
    "other_commands": b("EHLO client.example", "VRFY", "VRFY someone@relay.test", "ETRN", "ETRN relay.test",
                        "EXPN x", "HELP", "FOO", "", "STARTTLS", "AUTH PLAIN", "XCLIENT ADDR=1.2.3.4",
                        "XFORWARD ADDR=1.2.3.4", "MAIL FROM:<a@b.test>", "ETRN x.test", "QUIT"),
    "size_limit": b("EHLO client.example", "MAIL FROM:<a@b.test> SIZE=99999999", "MAIL FROM:<a@b.test>", "RSET",
                    "MAIL FROM:<a@b.test> SIZE=100", "RCPT TO:<x@relay.test>", "DATA")
    + [b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 25 + b".\r\n"] + b("QUIT"),
    "bdat": b("EHLO client.example", "MAIL FROM:<a@b.test>", "RCPT TO:<x@relay.test>")
    + [b"BDAT 21\r\nSubject: c\r\n\r\nhello\r\n", b"BDAT 0 LAST\r\n"] + b("MAIL FROM:<a@b.test>", "RCPT TO:<x@relay.test>")
    + [b"BDAT 9 LAST\r\nSubject:\r\n"] + b("QUIT"),
    "bdat_syntax": b("EHLO client.example", "BDAT x"),
    "bare_lf": b("EHLO client.example", "MAIL FROM:<a@b.test>", "RCPT TO:<x@relay.test>", "DATA")
    + [b"Subject: lf\r\n\r\nbare\nlf\r\n.\r\n"] + b("QUIT"),
    "non_smtp": b("EHLO client.example", "Subject: hello"),
    "lost_after_rcpt": b("EHLO client.example", "MAIL FROM:<a@b.test>", "RCPT TO:<x@relay.test>"),
    "long_command": b("EHLO client.example", "MAIL FROM:<a@b.test> " + "X" * 3000, "QUIT"),
    "no_valid_recipients": b("EHLO client.example", "MAIL FROM:<a@b.test>", "RCPT TO:<x@elsewhere.test>", "DATA",
                             "QUIT"),
    "too_many_errors": b(*(["FOO"] * 31)),
}


@pytest.mark.parametrize("name", sorted(DIALOGS))
def test_dialog_matches_postfix(servers, name):
    (oracle_replies, oracle_log), (our_replies, our_log) = run_both(servers, DIALOGS[name])
    assert our_replies == oracle_replies, f"{name}: replies differ\nours:   {our_replies}\noracle: {oracle_replies}"
    assert our_log == oracle_log, f"{name}: log lines differ\nours:\n" + "\n".join(our_log) + "\noracle:\n" + "\n".join(oracle_log)


def test_pipelining_logged_as_postfix(servers):
    """EHLO pipelined with MAIL: the replies come in order and both log improper pipelining."""
    steps = [b"EHLO early.example\r\nMAIL FROM:<a@b.test>\r\n", b"QUIT\r\n"]
    (oracle_replies, oracle_log), (our_replies, our_log) = run_both(servers, steps, [2, 1])
    assert our_replies == oracle_replies
    assert our_log == oracle_log
    assert any("improper command pipelining after EHLO" in line for line in our_log)


def test_pipelined_transaction_accepted(servers):
    """A PIPELINING client's MAIL, RCPT, RCPT and DATA in one write."""
    steps = [b"EHLO client.example\r\n", b"MAIL FROM:<a@b.test>\r\nRCPT TO:<x@relay.test>\r\nRCPT TO:<y@elsewhere.test>\r\nDATA\r\n",
             b"Subject: p\r\n\r\nbody\r\n.\r\n", b"QUIT\r\n"]
    (oracle_replies, oracle_log), (our_replies, our_log) = run_both(servers, steps, [1, 4, 1, 1])
    assert our_replies == oracle_replies
    assert our_log == oracle_log


def test_smtplib_delivers(servers):
    import smtplib
    _, ours = servers
    with smtplib.SMTP("127.0.0.1", ours.port, timeout=10) as client:
        client.ehlo("client.example")
        refused = client.sendmail("a@b.test", ["x@relay.test", "known@vmbox.test"],
                                  "Subject: smtplib\r\n\r\nline\r\n.leading dot\r\n")
        assert refused == {}
    ours_log = ours.maillog()
    assert re.search(r"postfix/smtpd\[\d+\]: [0-9A-F]+: client=localhost\[127\.0\.0\.1\]", ours_log)


def test_smuggled_end_of_data_is_content(servers):
    """<LF>.<LF> and <LF>.<CR><LF> never end DATA (Posthorn only: Postfix 3.7 with
    smtpd_forbid_bare_newline=no accepts the first)."""
    _, ours = servers
    s = socket.create_connection(("127.0.0.1", ours.port), 10)
    f = s.makefile("rb")
    read_reply(f)
    for cmd in (b"EHLO client.example\r\n", b"MAIL FROM:<a@b.test>\r\n", b"RCPT TO:<x@relay.test>\r\n", b"DATA\r\n"):
        s.sendall(cmd)
        read_reply(f)
    s.sendall(b"Subject: smuggle\r\n\r\nbody\n.\nMAIL FROM:<evil@b.test>\r\nx\r\n.\r\nRCPT TO:<y@relay.test>\r\n.\r\n")
    first = read_reply(f)
    assert first[0].startswith("250 2.0.0 Ok: queued as"), first
    # What followed the real end of data is read as commands.
    assert read_reply(f) == ["503 5.5.1 Error: need MAIL command"]
    # "." is refused as a non-SMTP command by the default
    # smtpd_forbidden_commands (regexp /^[^A-Z]/), as Postfix does
    # (smtp_dialogs/pipelining/injection-after-rcpt-reject.dlg).
    assert read_reply(f) == ["221 2.7.0 Error: I can break rules, too. Goodbye."]
    s.close()
