"""cleanup against Debian's Postfix 3.7 (differential): the same messages go
through `sendmail -> pickup -> cleanup` of a private Posthorn instance and of
a private Debian Postfix instance with the same main.cf features (no qmgr in
either master.cf, so the queue files stay in `incoming`), and what Debian's
postcat prints for both must agree after queue IDs, dates and our own
Received: line are normalized; so must cleanup's log lines.

Covered: header address rewriting (local context, append_at_myorigin,
canonical_maps, masquerade_domains with `!` and masquerade_exceptions,
folding), message_drop_headers, Resent-* headers and the missing headers
they change, header_size_limit, header_checks / mime_header_checks /
nested_header_checks / body_checks by MIME structure, actions (STRIP, PASS,
REDIRECT, FILTER, BCC, unknown), always_bcc / sender_bcc_maps /
recipient_bcc_maps placement, MIME nesting errors, hostile input.

Environment: POSTHORN_BIN (default <repo>/.build/debug); needs root and
Debian's postfix package (the oracle; a missing oracle FAILS the test).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from posthorn_instance import PosthornInstance, require_programs, wait_for

POSTFIX = Path("/usr/sbin/postfix")
POSTCAT = Path("/usr/sbin/postcat")
SENDMAIL = Path("/usr/sbin/sendmail")

CHECKS = {
    "header_checks": r"""/^Subject: strip-me/ STRIP stripped
/^Subject: pass-me/ PASS
/^Subject: redirect-me/ REDIRECT red@example.net
/^Subject: filter-me/ FILTER smtp:[10.0.0.1]:25
/^Subject: bcc-me/ BCC hb@example.net
/^Subject: bogus-me/ BOGUS whatever
/^Subject: class/ WARN primary
/^X-/ WARN primary
""",
    "mime_header_checks": "/^(Content|MIME|X-)/ WARN mime\n",
    "nested_header_checks": "/^/ WARN nested\n",
    "body_checks": "/^(--|part|inner|preamble|epilogue|limit)/ WARN body\n",
}

# {etc} is the instance's configuration directory.
FEATURES = """canonical_maps = inline:{{ {{@old.test = @new.test}} }}
masquerade_domains = !keep.example.test, example.test
masquerade_exceptions = root
header_checks = regexp:{etc}/header_checks
mime_header_checks = regexp:{etc}/mime_header_checks
nested_header_checks = regexp:{etc}/nested_header_checks
body_checks = regexp:{etc}/body_checks
header_size_limit = 1000
body_checks_size_limit = 300
mime_nesting_limit = 2
always_bcc = ab@example.net
sender_bcc_maps = inline:{{ {{bccsender@example.com = sb@example.net}} }}
recipient_bcc_maps = inline:{{ {{r1@example.com = rb@example.net}} }}
undisclosed_recipients_header = To: undisclosed-recipients:;
"""


class Oracle:
    """A private Debian Postfix: pickup, cleanup, trivial-rewrite, postlog."""

    def __init__(self):
        self.top = Path(tempfile.mkdtemp(prefix="posthorn-cleanup-oracle-", dir="/tmp"))
        self.top.chmod(0o755)
        self.conf, self.queue, data = self.top / "conf", self.top / "queue", self.top / "data"
        for d in (self.conf, self.queue, data):
            d.mkdir()
        shutil.chown(data, "postfix")
        for name, text in CHECKS.items():
            (self.conf / name).write_text(text)
        (self.conf / "main.cf").write_text(f"""compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
maillog_file = {self.top}/maillog
maillog_file_prefixes = {self.top}
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mta.example.test
mydomain = example.test
mydestination =
""" + FEATURES.format(etc=self.conf))
        (self.conf / "master.cf").write_text("""pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
rewrite   unix  -       -       n       -       -       trivial-rewrite
postlog   unix-dgram n  -       n       -       1       postlogd
""")
        past = time.time() - 60
        for f in self.conf.iterdir():
            os.utime(f, (past, past))
        self.env = dict(os.environ, MAIL_CONFIG=str(self.conf))
        subprocess.run([str(POSTFIX), "-c", str(self.conf), "start"], check=True, env=self.env,
                       capture_output=True, timeout=60)

    def sendmail(self, args, text: str):
        return subprocess.run([str(SENDMAIL), "-C", str(self.conf), *args], input=text.encode(), env=self.env,
                              capture_output=True, timeout=30)

    def maillog(self) -> str:
        p = self.top / "maillog"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self):
        subprocess.run([str(POSTFIX), "-c", str(self.conf), "stop"], env=self.env, capture_output=True, timeout=60)
        shutil.rmtree(self.top, ignore_errors=True)


def complete_files(queue: Path) -> set[str]:
    incoming = queue / "incoming"
    # Complete files only: a queue ID name (not a temporary name) and mode 0700.
    return {p.name for p in incoming.rglob("*")
            if re.fullmatch(r"[0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}z[0-9A-Za-z]+", p.name)
            and p.is_file() and (p.stat().st_mode & 0o700) == 0o700}


def postcat(conf: Path, qid: str) -> str:
    r = subprocess.run([str(POSTCAT), "-c", str(conf), "-q", qid], capture_output=True, timeout=20,
                       env={**os.environ, "TZ": "UTC"})
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode(errors="replace")


def normalize(text: str, qid: str) -> list[str]:
    """postcat output without times, sizes, IDs and the Received: line."""
    out = []
    for line in text.replace(qid, "QID").splitlines():
        if line.startswith(("message_size:", "message_arrival_time:", "create_time:", "*** ", "named_attribute: log_ident")):
            continue
        line = re.sub(r"<\d{14}\.QID@", "<STAMP.QID@", line)
        line = re.sub(r"\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)", "DATE", line)
        out.append(line)
    # Received: by ... (Postfix, from userid N) and its id line.
    return [l for l in out if not l.startswith(("Received: by mta.example.test", "\tid QID;"))]


def cleanup_log(log: str, qid: str) -> list[str]:
    lines = []
    for line in log.splitlines():
        m = re.search(r"postfix/cleanup\[\d+\]: (.*)$", line)
        if m and qid in m.group(1):
            lines.append(m.group(1).replace(qid, "QID"))
        elif m and m.group(1).startswith("warning: unknown command") or (m and "bad " in m.group(1)):
            lines.append(m.group(1))
    return [re.sub(r"<\d{14}\.QID@", "<STAMP.QID@", l) for l in lines]


@pytest.fixture(scope="module")
def pair():
    require_programs("master", "postlogd", "trivial-rewrite", "cleanup", "pickup", "postdrop", "sendmail")
    for p in (POSTFIX, POSTCAT, SENDMAIL):
        if not p.is_file():
            pytest.fail(f"oracle program missing: {p}", pytrace=False)
    master = """pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
rewrite   unix  -       -       n       -       -       trivial-rewrite
postlog   unix-dgram n  -       n       -       1       postlogd
"""
    ours = PosthornInstance(main_extra=FEATURES.format(etc="{root}/etc"), master=master, files=CHECKS,
                            prefix="posthorn-cleanup-")
    oracle = Oracle()
    try:
        ours.start(wait_for_services=("public/cleanup", "public/pickup"))
        yield ours, oracle
    finally:
        ours.stop()
        oracle.stop()


def submit_both(pair, args, message: str) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    """Submits to both; returns ((our postcat, our log), (oracle postcat, oracle log)), normalized."""
    ours, oracle = pair
    results = []
    for kind in ("ours", "oracle"):
        queue = ours.queue if kind == "ours" else oracle.queue
        conf = ours.etc if kind == "ours" else oracle.conf
        before = complete_files(queue)
        r = ours.sendmail(args, message) if kind == "ours" else oracle.sendmail(args, message)
        assert r.returncode == 0, (kind, r.stderr.decode())
        new = wait_for(lambda: complete_files(queue) - before, timeout=20)
        assert new, f"{kind}: no queue file\n" + (ours.logs() if kind == "ours" else oracle.maillog())
        qid = new.pop()
        text = postcat(Path(conf), qid)
        results.append([normalize(text, qid), qid])
    # Log lines are written asynchronously: the oracle's first, until they
    # stop coming; then ours, until there are as many or they stop coming.
    def settle(read, qid, want=0):
        last, stable, deadline = None, 0, time.monotonic() + 15
        while time.monotonic() < deadline:
            lines = cleanup_log(read(), qid)
            stable = stable + 1 if lines == last else 0
            if stable >= 2 and len(lines) >= want:
                break
            last = lines
            time.sleep(0.3)
        return last
    results[1][1] = settle(oracle.maillog, results[1][1])
    results[0][1] = settle(ours.maillog, results[0][1], want=len(results[1][1]))
    return tuple(results[0]), tuple(results[1])


def assert_same(pair, args, message: str, compare_log=True):
    (ours, our_log), (theirs, their_log) = submit_both(pair, args, message)
    assert ours == theirs, "\n".join(["posthorn:", *ours, "postfix:", *theirs])
    if compare_log:
        assert our_log == their_log, "\n".join(["posthorn:", *our_log, "postfix:", *their_log])


SENDER = ["-F", "Al Ice", "-f", "alice@sub.example.test"]


def test_header_address_rewriting(pair):
    assert_same(pair, SENDER + ["rcpt@example.net"],
                "From: Al (the boss) <al>\nTo: bob, Carol <carol>, (comment) dave (Dave D), grp: e, f;,"
                " \"quoted user\"@host\nCc: x@old.test, \"Smith, J\" <j@sub.example.test>, root@sub.example.test,"
                " k@a.keep.example.test\nReply-To: <>\nSender: bob@host\nErrors-To: err\nReturn-Receipt-To: rr\n"
                "Subject: rewrite\nBcc: hidden@example.net\nReturn-Path: <x@y>\nContent-Length: 5\n\nbody\n")


def test_long_address_lists_fold(pair):
    assert_same(pair, SENDER + ["rcpt@example.net"],
                "To: user1@aaaaaaaaaaaaaaaaaaaa.example.com, user2@bbbbbbbbbbbbbbbbbbbbbbb.example.com, user3,"
                " user4@ccccccccccccccccccccccccccccccccccccccccc.example.com, u5\nCc: a b c\n"
                "To: undisclosed-recipients:;\nSubject: fold\n\nb\n")


def test_resent_headers(pair):
    assert_same(pair, SENDER + ["rcpt@example.net"],
                "Resent-From: x@sub.example.test\nFrom: a@sub.example.test\nTo: t@sub.example.test\nSubject: r\n\nb\n")
    assert_same(pair, SENDER + ["rcpt@example.net"], "Resent-Sender: y\nSubject: nothing\n\nb\n")


def test_header_size_limit(pair):
    assert_same(pair, SENDER + ["rcpt@example.net"],
                "Subject: long\nX-Long: " + "y" * 1500 + "\nX-Long2: " + "a" * 300 + "\n " + "b" * 300 + "\n "
                + "c" * 600 + "\n dd\nX-After: 1\n\nb\n")


MIME = """Subject: class mime
MIME-Version: 1.0
Content-Type: multipart/mixed;
\tboundary="OUTER"
X-Primary: p

preamble line
--OUTER
Content-Type: text/plain
X-Part-Header: ph

part one body
--OUTER
Content-Type: message/rfc822
Content-Disposition: attachment

Received: from nested
From: nested@example.com
Subject: nested subject
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=INNER

--INNER
Content-Type: text/plain
X-Inner: i

inner text
--INNER--
inner epilogue
--OUTER--
epilogue line
"""


def test_checks_follow_mime_structure(pair):
    assert_same(pair, SENDER + ["rcpt@example.net"], MIME)


def test_body_checks_size_limit(pair):
    assert_same(pair, SENDER + ["rcpt@example.net"],
                "Subject: limit\n\n" + ("x" * 50 + "\n") * 5 + "limit1\n\n" + ("x" * 50 + "\n") * 5 + "limit2\n")


@pytest.mark.parametrize("subject", ["strip-me", "pass-me", "redirect-me", "filter-me", "bcc-me", "bogus-me"])
def test_actions(pair, subject):
    assert_same(pair, SENDER + ["rcpt@example.net"], f"Subject: {subject}\nX-After: 1\n\nline\n")


def test_bcc_recipients_placement(pair):
    assert_same(pair, ["-F", "B", "-f", "bccsender@example.com", "r1@example.com", "r2@example.com"],
                "Subject: bcc-me\n\nb\n")


def test_mime_nesting_error_is_logged(pair):
    ours, oracle = pair
    depth = 4
    m = "Subject: deep\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b0\n\n"
    for d in range(1, depth + 1):
        m += f"--b{d - 1}\nContent-Type: multipart/mixed; boundary=b{d}\n\n"
    m += f"--b{depth}\nContent-Type: text/plain\n\nleaf\n" + "".join(f"--b{d}--\n" for d in range(depth, -1, -1))
    r = ours.sendmail(["-f", "alice@example.com", "bob@example.net"], m)
    assert r.returncode == 0
    # Postfix bounces the message (dsn=5.6.0); Posthorn logs the same reject
    # and, without a bounce client in cleanup yet, leaves it in maildrop.
    found = ours.wait_log(r"postfix/cleanup\[\d+\]: [0-9A-F]+: reject: mime-error MIME nesting exceeds safety limit: "
                          r"Content-Type: multipart/mixed; boundary=b4 from local; from=<alice@example\.com> "
                          r"to=<bob@example\.net>$")
    assert found
    maildrop = ours.queue / "maildrop"
    assert wait_for(lambda: len(list(maildrop.iterdir())) == 1)
    for f in maildrop.iterdir():
        f.unlink()


def test_hostile_content_is_queued(pair):
    ours, _ = pair
    before = complete_files(ours.queue)
    text = ("X-H: " + "z" * 300 + "\n\t") * 40 + "\nContent-Type: multipart/mixed; boundary=\"\n\n"
    text += "To: " + ", ".join(["(c) <a@b>"] * 4000) + "\n"
    text += "To: \"unbalanced <x@y\nCc: (((((\nFrom: <<<>>>@@@\n"
    text += "Content-Type: message/rfc822\n\n" + "Content-Type: message/rfc822\n\n" * 3000 + "x" * 10000 + "\n"
    r = ours.sendmail(["-f", "alice@example.com", "bob@example.net"], text, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert wait_for(lambda: complete_files(ours.queue) - before, timeout=30), ours.logs()
    assert "panic" not in ours.logs() and "fatal" not in ours.maillog()
