"""`sendmail -bs` against Debian's Postfix 3.7 (the oracle).

`sendmail -bs` execs `$daemon_directory/smtpd -S`: SMTP on standard input
and output, the client shown as localhost[127.0.0.1]; run by anyone but
mail_owner (here: root) the message goes through `postdrop -r` into
maildrop (the reply names postdrop's queue ID), pickup logs `uid=0`, and no
access restrictions apply (relaying, access maps, HELO checks, unlisted
recipients), nor pipelining checks; ETRN is refused.

A private Postfix (`postfix -c DIR start`) and a Posthorn instance run with
the same main.cf and the same services (pickup, cleanup, rewrite, proxymap,
postlog; no qmgr, so the message stays in incoming for postcat). The same
dialogs go through Debian's /usr/sbin/sendmail and ours; replies, smtpd's
and pickup's log lines and the queued message (postcat) must agree, with
queue IDs, process IDs and dates normalized.

Only root is tested: a non-root `sendmail -C DIR` needs DIR in
alternate_config_directories of the default /etc/postfix/main.cf, which the
tests must not touch. (As a user other than root and mail_owner the
behaviour is the same as root's: postdrop, no restrictions.)
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from postfix_oracle import PostfixOracle
from posthorn_instance import BIN, PosthornInstance, require_programs, wait_for

ORACLE = Path("/usr/sbin/postfix")
ORACLE_SENDMAIL = "/usr/sbin/sendmail"
POSTCAT = "/usr/sbin/postcat"

MASTER = """pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
rewrite   unix  -       -       n       -       -       trivial-rewrite
proxymap  unix  -       -       n       -       -       proxymap
postlog   unix-dgram n  -       n       -       1       postlogd
"""

TABLES = {"recipient_access": "defer@relay.test DEFER\nrej@example.org REJECT nope\n"}

# Restrictions that would refuse most of what the dialogs send, were they
# applied (they are not in stand-alone mode).
MAIN = """mydestination = $myhostname
mynetworks = 10.0.0.0/8
relay_domains = relay.test
alias_maps =
smtpd_client_restrictions = check_client_access inline:{{127.0.0.1=REJECT}}
smtpd_helo_restrictions = reject_invalid_helo_hostname
smtpd_sender_restrictions = reject_non_fqdn_sender
smtpd_recipient_restrictions = check_recipient_access texthash:{etc}/recipient_access, reject_non_fqdn_recipient
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_data_restrictions = reject_unauth_pipelining
smtpd_etrn_restrictions = reject
smtpd_helo_required = yes
smtpd_forbid_unauth_pipelining = yes
smtpd_client_connection_count_limit = 1
smtpd_error_sleep_time = 0
"""


class Oracle(PostfixOracle):
    def __init__(self):
        super().__init__(files=TABLES, master=MASTER, prefix="posthorn-bs-oracle-")
        with open(self.etc / "main.cf", "a") as f:
            f.write(MAIN.format(etc=self.etc))

    def start(self):
        return super().start(ready="public/pickup")


class Side:
    """One mail system under test: its sendmail, config and log."""

    def __init__(self, name, sendmail, etc: Path, queue: Path, maillog):
        self.name, self.sendmail, self.etc, self.queue, self.maillog = name, sendmail, etc, queue, maillog

    def command(self):
        return [self.sendmail, "-C", str(self.etc), "-bs"]

    def files(self, queue):
        return sorted(p.name for p in (self.queue / queue).rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def sides():
    require_programs("master", "sendmail", "postdrop", "smtpd", "pickup", "cleanup", "trivial-rewrite",
                     "proxymap", "postlogd")
    if not ORACLE.exists():
        pytest.fail("Debian's postfix is not installed", pytrace=False)
    oracle = Oracle()
    ours = PosthornInstance(main_extra=MAIN.replace("{etc}", "{root}/etc").replace("{{", "{").replace("}}", "}"),
                            master=MASTER, files=TABLES, prefix="posthorn-bs-")
    try:
        oracle.start()
        ours.start(wait_for_services=("public/pickup", "public/cleanup"))
        yield (Side("postfix", ORACLE_SENDMAIL, oracle.etc, oracle.queue, oracle.maillog),
               Side("posthorn", str(BIN / "sendmail"), ours.etc, ours.queue, ours.maillog))
    finally:
        oracle.stop()
        ours.stop()


# -- helpers -----------------------------------------------------------------

QID = re.compile(r"\b[0-9A-F]{10,12}\b")


def normalize(text: str) -> str:
    text = QID.sub("QID", text)
    text = re.sub(r"\b\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)", "DATE", text)
    text = re.sub(r"<\d{14}\.QID@", "<STAMP.QID@", text)
    text = re.sub(r"^(message_arrival_time|create_time): .*$", r"\1: TIME", text, flags=re.M)
    # The content offset moves with the width of the arrival time's microseconds.
    text = re.sub(r"^(message_size: +\d+ +)\d+", r"\1OFFSET", text, flags=re.M)
    return text


def log_lines(side: Side, start: int, programs=("smtpd", "pickup", "postdrop")) -> list[str]:
    """The programs' lines, grouped by program in the order of `programs`
    (each program's own lines in log order): pickup takes the maildrop file
    while smtpd is still talking, so the interleaving across programs is a
    race in both implementations, never something to compare."""
    out = []
    for line in side.maillog()[start:].splitlines():
        m = re.match(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ postfix/(\w+)\[\d+\]: (.*)$", line)
        if m and m.group(1) in programs:
            out.append((programs.index(m.group(1)), normalize(f"{m.group(1)}: {m.group(2)}")))
    return [text for _, text in sorted(out, key=lambda pair: pair[0])]


def pipelined(side: Side, data: bytes) -> str:
    p = subprocess.run(side.command(), input=data, capture_output=True, timeout=30)
    return p.stdout.decode(errors="replace")


def interactive(side: Side, commands: list[bytes]) -> list[str]:
    """One send, then one whole reply (up to a `NNN ` line), each time; the
    greeting first."""
    p = subprocess.Popen(side.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def reply():
        lines = []
        while True:
            line = p.stdout.readline().decode(errors="replace")
            lines.append(line)
            if not line or re.match(r"^\d{3} ", line):
                return "".join(lines)

    replies = [reply()]
    for c in commands:
        p.stdin.write(c)
        p.stdin.flush()
        replies.append(reply())
    p.stdin.close()
    p.wait(30)
    return replies


def run_both(sides, action, wait_pattern=r"smtpd\[\d+\]: disconnect from", picked=0):
    """Runs action(side) on both sides; returns per side (result, log lines,
    new incoming files)."""
    results = []
    for side in sides:
        start = len(side.maillog())
        before = set(side.files("incoming"))
        result = action(side)
        assert wait_for(lambda: re.search(wait_pattern, side.maillog()[start:]), 10), side.maillog()[start:]
        if picked:
            assert wait_for(lambda: len(set(side.files("incoming")) - before) >= picked, 10), side.maillog()[start:]
            wait_for(lambda: len(re.findall(r"cleanup\[\d+\]: \w+: message-id", side.maillog()[start:])) >= picked, 5)
        time.sleep(0.3)
        results.append((result, log_lines(side, start), sorted(set(side.files("incoming")) - before)))
    return results


def postcat(side: Side, qid: str) -> str:
    p = subprocess.run([POSTCAT, "-c", str(side.etc), "-q", qid], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return normalize(p.stdout.decode(errors="replace"))


def compare_messages(sides, results):
    texts = [[postcat(side, q) for q in files] for side, (_, _, files) in zip(sides, results)]
    assert "".join(texts[1]).splitlines() == "".join(texts[0]).splitlines()
    return "".join(texts[0])


# -- dialogs -----------------------------------------------------------------

BASIC = (b"EHLO me\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
         b"Subject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n")


def test_basic_pipelined(sides):
    results = run_both(sides, lambda s: pipelined(s, BASIC), wait_pattern=r"pickup\[\d+\]: \w+: uid=0", picked=1)
    (ref, ref_log, ref_files), (got, got_log, got_files) = results
    assert normalize(got) == normalize(ref)
    assert "250 2.0.0 Ok: queued as" in got
    assert got_log == ref_log
    assert got_log == [
        "smtpd: connect from localhost[127.0.0.1]",
        "smtpd: QID: client=localhost[127.0.0.1]",
        "smtpd: disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5",
        "pickup: QID: uid=0 from=<a@example.com>",
    ]
    text = compare_messages(sides, results)
    assert "Received: by mta.example.test (Postfix, from userid 0)" in text
    assert ("Received: from me (localhost [127.0.0.1])\n\tby mta.example.test (Postfix) with ESMTP id QID\n"
            "\tfor <b@example.org>; DATE") in text
    # The reply names the maildrop queue ID, the one in smtpd's Received: header.
    qid = re.search(r"queued as (\w+)", got).group(1)
    assert f"with ESMTP id {qid}" in subprocess.run([POSTCAT, "-c", str(sides[1].etc), "-q", got_files[0]],
                                                    capture_output=True).stdout.decode()


def test_restrictions_do_not_apply(sides):
    """As root: relaying, access maps, non-FQDN addresses, unknown local
    users, the client and HELO checks, ETRN, improper pipelining."""
    data = (b"EHLO bad_helo!\r\nMAIL FROM:<nofqdn>\r\nRCPT TO:<b@example.org>\r\n"
            b"RCPT TO:<rej@example.org>\r\nRCPT TO:<defer@relay.test>\r\nRCPT TO:<nofqdn>\r\n"
            b"RCPT TO:<nosuchuser@mta.example.test>\r\nRCPT TO:<\"a b\"@example.org> NOTIFY=SUCCESS,DELAY\r\n"
            b"RCPT TO:<c@example.org> ORCPT=rfc822;x+2By@example.org NOTIFY=NEVER\r\n"
            b"DATA\r\nSubject: many\r\n\r\nhi\r\n.\r\nQUIT\r\n")
    results = run_both(sides, lambda s: pipelined(s, data), wait_pattern=r"pickup\[\d+\]: \w+: uid=0", picked=1)
    (ref, ref_log, _), (got, got_log, _) = results
    assert normalize(got) == normalize(ref)
    assert got.count("250 2.1.5 Ok") == 7
    assert got_log == ref_log
    assert not any("reject" in line or "pipelining" in line for line in got_log)
    text = compare_messages(sides, results)
    assert "recipient: nosuchuser@mta.example.test" in text


def test_other_commands(sides):
    data = (b"MAIL FROM:<a@example.com>\r\nXCLIENT ADDR=1.2.3.4\r\nHELO x\r\nXFORWARD ADDR=1.2.3.4\r\n"
            b"ETRN\r\nETRN a b\r\nETRN !!\r\nETRN example.org\r\nVRFY nosuchuser@mta.example.test\r\n"
            b"MAIL FROM:<a@example.com> SIZE=999999999\r\nMAIL FROM:<bad\r\nNOOP\r\nFOO\r\n"
            b"RSET\r\nMAIL FROM:<a@example.com>\r\nETRN example.org\r\nRCPT TO:<b@example.org>\r\n"
            b"BDAT 5 LAST\r\nhelloRSET\r\nQUIT\r\n")
    results = run_both(sides, lambda s: pipelined(s, data), wait_pattern=r"pickup\[\d+\]: \w+: uid=0", picked=1)
    (ref, ref_log, _), (got, got_log, _) = results
    assert normalize(got) == normalize(ref)
    assert "458 Unable to queue messages" in got
    assert got_log == ref_log
    assert 'smtpd: warning: do not use ETRN in "sendmail -bs" mode' in got_log
    text = compare_messages(sides, results)
    assert "with SMTP id QID" in text


def test_interactive(sides):
    commands = [b"EHLO client.example\r\n", b"MAIL FROM:<a@example.com>\r\n", b"RCPT TO:<b@example.org>\r\n",
                b"RCPT TO:<c@relay.test>\r\n", b"DATA\r\n", b"Subject: y\r\nTo: b@example.org\r\n\r\nbody\r\n.\r\n",
                b"MAIL FROM:<>\r\n", b"RCPT TO:<d@example.org>\r\n", b"RSET\r\n", b"QUIT\r\n"]
    results = run_both(sides, lambda s: interactive(s, commands), wait_pattern=r"pickup\[\d+\]: \w+: uid=0", picked=1)
    (ref, ref_log, _), (got, got_log, _) = results
    assert [normalize(r) for r in got] == [normalize(r) for r in ref]
    # pickup may log before or after smtpd's later lines: compare per program.
    for program in ("smtpd:", "pickup:"):
        assert [x for x in got_log if x.startswith(program)] == [x for x in ref_log if x.startswith(program)]
    # The abandoned second transaction left nothing behind in maildrop.
    assert got_log.count("smtpd: QID: client=localhost[127.0.0.1]") == 2
    compare_messages(sides, results)
    for side in sides:
        assert wait_for(lambda: not side.files("maildrop"), 5), side.files("maildrop")


def test_lost_connection_in_data(sides):
    data = b"EHLO me\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: x\r\n"
    results = run_both(sides, lambda s: pipelined(s, data))
    (ref, ref_log, _), (got, got_log, _) = results
    assert normalize(got) == normalize(ref)
    assert got_log == ref_log
    assert "smtpd: lost connection after DATA (12 bytes) from localhost[127.0.0.1]" in got_log
    for side in sides:
        assert wait_for(lambda: not side.files("maildrop"), 5), side.files("maildrop")
