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
recipient_bcc_maps placement, MIME nesting errors, hostile input; local
mail that cleanup rejects (header REJECT, MIME error, hopcount) is returned
to the sender by a non-delivery notice with the same log lines and report
fields as Postfix's, and the maildrop file is removed; the delay warning
(`W` record from delay_warning_time) ends in one "Delayed Mail" notice.

Environment: POSTHORN_BIN (default <repo>/.build/debug); needs root and
Debian's postfix package (the oracle; a missing oracle FAILS the test).
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import cool_down
from postfix_oracle import POSTCAT, PostfixOracle, postcat
from posthorn_instance import BASE_MASTER, PosthornInstance, require_programs, wait_for

POSTFIX = Path("/usr/sbin/postfix")
SENDMAIL = Path("/usr/sbin/sendmail")

CHECKS = {
    "header_checks": r"""/^Subject: reject-me/ REJECT
/^Subject: reject-why/ REJECT 5.7.9 custom reason here
/^Subject: strip-me/ STRIP stripped
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


# Both mail systems run the same services.
MASTER = """pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Oracle(PostfixOracle):
    """A private Debian Postfix: pickup, cleanup, trivial-rewrite, postlog;
    started (without waiting for its services) when made."""

    timeout = 60

    def __init__(self):
        super().__init__(main_extra="mydestination =\n" + FEATURES.format(etc="{etc}"), master=MASTER, files=CHECKS,
                         prefix="posthorn-cleanup-oracle-")
        self.conf = self.etc
        cool_down(self.etc)
        self.env = dict(os.environ, MAIL_CONFIG=str(self.etc))
        self.start(ready=None)

    def sendmail(self, args, text: str):
        return subprocess.run([str(SENDMAIL), "-C", str(self.etc), *args], input=text.encode(), env=self.env,
                              capture_output=True, timeout=30)


def complete_files(queue: Path) -> set[str]:
    incoming = queue / "incoming"
    # Complete files only: a queue ID name (not a temporary name) and mode 0700.
    return {p.name for p in incoming.rglob("*")
            if re.fullmatch(r"[0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}z[0-9A-Za-z]+", p.name)
            and p.is_file() and (p.stat().st_mode & 0o700) == 0o700}


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
    require_programs("master", "postlogd", "trivial-rewrite", "cleanup", "pickup", "postdrop", "sendmail", "bounce")
    for p in (POSTFIX, POSTCAT, SENDMAIL):
        if not p.is_file():
            pytest.fail(f"oracle program missing: {p}", pytrace=False)
    ours = PosthornInstance(main_extra=FEATURES.format(etc="{root}/etc"), master=MASTER, files=CHECKS,
                            prefix="posthorn-cleanup-")
    oracle = Oracle()
    try:
        ours.start(wait_for_services=("public/cleanup", "public/pickup", "private/bounce"))
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


def nested_mime(depth: int = 4) -> str:
    m = "Subject: deep\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b0\n\n"
    for d in range(1, depth + 1):
        m += f"--b{d - 1}\nContent-Type: multipart/mixed; boundary=b{d}\n\n"
    return m + f"--b{depth}\nContent-Type: text/plain\n\nleaf\n" + "".join(f"--b{d}--\n" for d in range(depth, -1, -1))


ID = r"[0-9A-F]{6,}"


def returned(kind: str, pair, args, message: str):
    """Submits to one side; waits for cleanup's reject and the bounce
    daemon's notice. Returns (cleanup log lines, notice as email message)."""
    ours, oracle = pair
    read = ours.maillog if kind == "ours" else oracle.maillog
    queue = ours.queue if kind == "ours" else oracle.queue
    conf = ours.etc if kind == "ours" else oracle.conf
    before = set(re.findall(rf"postfix/pickup\[\d+\]: ({ID}): uid=", read()))
    r = ours.sendmail(args, message) if kind == "ours" else oracle.sendmail(args, message)
    assert r.returncode == 0, (kind, r.stderr.decode())
    qid = wait_for(lambda: next((q for q in re.findall(rf"postfix/pickup\[\d+\]: ({ID}): uid=", read())
                                  if q not in before), None), timeout=20)
    assert qid, f"{kind}: no pickup line\n" + read()
    m = wait_for(lambda: re.search(rf"postfix/bounce\[\d+\]: {qid}: sender non-delivery notification: ({ID})$",
                                   read(), re.M), timeout=20)
    assert m, f"{kind}: no notice\n" + read()
    new = m.group(1)
    assert wait_for(lambda: new in complete_files(queue), timeout=10), read()
    assert wait_for(lambda: not any((queue / "maildrop").iterdir()), timeout=10), f"{kind}: maildrop file kept"
    assert not any(p.is_file() for p in (queue / "bounce").rglob("*")), f"{kind}: bounce logfile kept"
    assert qid not in complete_files(queue) and not list(queue.rglob(qid)), f"{kind}: rejected file kept"
    log = [re.sub(r"delay=[\d.]+, delays=[\d./]+", "delay=D, delays=D", l)
           for l in cleanup_log(read(), qid) if "unable to look up public/qmgr" not in l]
    log = [re.sub(r"<\d{14}\.QID@", "<STAMP.QID@", l) for l in log]
    r = subprocess.run([str(POSTCAT), "-c", str(conf), "-q", new], capture_output=True, timeout=20,
                       env={**os.environ, "TZ": "UTC"})
    lines = r.stdout.split(b"\n")
    start = next(i for i, l in enumerate(lines) if l.startswith(b"*** MESSAGE CONTENTS"))
    end = next(i for i, l in enumerate(lines) if l.startswith(b"*** HEADER EXTRACTED"))
    body = b"\n".join(lines[start + 1:end]) + b"\n"
    return log, email.message_from_bytes(body, policy=email.policy.compat32), qid


def notice_shape(msg, qid: str) -> list:
    """What must agree between the two notices: subject, per-recipient
    DSN fields, how much of the message came back and its header names."""
    assert msg.get_content_type() == "multipart/report"
    parts = msg.get_payload()
    status = parts[1].get_payload()
    original = parts[2]
    payload = original.get_payload()
    if isinstance(payload, list):
        names = list(payload[0].keys())
        body = payload[0].get_payload()
    else:
        names = [l.split(":")[0] for l in payload.splitlines() if l and l[0] not in " \t"]
        body = None
    per_rcpt = [[(k, v) for k, v in r.items()] for r in status[1:]]
    return [msg["Subject"], msg["From"].split("@")[0], [l for l in parts[0].get_payload().splitlines()
                                                         if l.startswith("<")],
            [(k, v.replace(qid, "QID")) for k, v in status[0].items() if k != "Arrival-Date"],
            per_rcpt, original["Content-Description"], original.get_content_type(), names, body]


@pytest.mark.parametrize("case", ["reject", "reject-why", "mime", "hops"])
def test_rejected_local_mail_is_returned(pair, case):
    args = ["-f", "alice@example.com", "bob@example.net", "carol@example.net"]
    message = {
        "reject": "Subject: reject-me now\nTo: bob@example.net\n\nbody line\n",
        "reject-why": "Subject: reject-why\n\nbody\n",
        "mime": nested_mime(),
        "hops": "".join(f"Received: from h{i}\n" for i in range(50)) + "Subject: hops\n\nbody\n",
    }[case]
    (their_log, theirs, their_qid) = returned("oracle", pair, args, message)
    (our_log, ours, our_qid) = returned("ours", pair, args, message)
    assert our_log == their_log, "\n".join(["posthorn:", *our_log, "postfix:", *their_log])
    assert notice_shape(ours, our_qid) == notice_shape(theirs, their_qid), ours.as_string() + "\n----\n" + theirs.as_string()


def test_delay_warning_record_and_notice():
    """delay_warning_time = 1s (Postfix accepts seconds): cleanup writes
    W = arrival + 1; qmgr, finding the message deferred (defer_transports)
    past that time, has one "Delayed Mail" notice sent, and W becomes -1."""
    require_programs("master", "qmgr", "cleanup", "pickup", "bounce", "discard")
    master = BASE_MASTER + """bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
discard   unix  -       -       n       -       -       discard
"""
    inst = PosthornInstance(main_extra="delay_warning_time = 1s\ndefault_transport = discard\n"
                            "defer_transports = discard\nminimal_backoff_time = 1s\nmaximal_backoff_time = 1s\n",
                            master=master, prefix="posthorn-cleanup-delay-")
    try:
        inst.start(wait_for_services=("public/qmgr", "public/cleanup", "public/pickup", "private/bounce"))
        r = inst.sendmail(["-f", "carol@example.com", "slow@example.net"], "Subject: slow\n\nbody text\n")
        assert r.returncode == 0, r.stderr.decode()
        qid = inst.wait_log(rf"postfix/pickup\[\d+\]: ({ID}): uid=")[0].group(1)
        m = inst.wait_log(rf"postfix/bounce\[\d+\]: {qid}: sender delay notification: ({ID})$", timeout=20)[0]
        new = m.group(1)
        # The original's W record is -1 now (warn once); it was arrival + 1.
        listing = lambda q, *f: subprocess.run([str(POSTCAT), "-c", str(inst.etc), *f, "-q", q],  # noqa: E731
                                               capture_output=True, timeout=20, env={**os.environ, "TZ": "UTC"}
                                               ).stdout.decode(errors="replace")
        assert wait_for(lambda: "warning_message_time: Wed Dec 31 23:59:59 1969" in listing(qid, "-e"), timeout=10)
        assert wait_for(lambda: "*** MESSAGE CONTENTS" in listing(new), timeout=10), inst.logs()
        text = listing(new)
        notice = email.message_from_string(text[text.index("*** MESSAGE CONTENTS"):].split("\n", 1)[1]
                                           .split("*** HEADER EXTRACTED")[0], policy=email.policy.compat32)
        assert notice["Subject"] == "Delayed Mail (still being retried)"
        assert notice["To"] == "carol@example.com"
        passes = len(re.findall(rf"{qid}: to=<slow@example.net>", inst.maillog()))
        inst.wait_log(rf"{qid}: to=<slow@example.net>", count=passes + 2, timeout=15)
        assert len(re.findall(rf"{qid}: sender delay notification", inst.maillog())) == 1
        # The notice itself (null sender) carries no W record.
        assert "warning_message_time" not in listing(new, "-e")
    finally:
        inst.stop()


def test_delay_warning_record_position(pair):
    """W sits right before the first recipient group, as Postfix writes it."""
    ours, _ = pair
    qid, text = None, ""
    # A private instance is not needed: check the writer's order on one file.
    inst = PosthornInstance(main_extra="delay_warning_time = 4h\n", master="""pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
rewrite   unix  -       -       n       -       -       trivial-rewrite
postlog   unix-dgram n  -       n       -       1       postlogd
""", prefix="posthorn-cleanup-w-")
    try:
        inst.start(wait_for_services=("public/cleanup", "public/pickup"))
        r = inst.sendmail(["-f", "w@example.com", "r@example.net"], "Subject: w\n\nb\n")
        assert r.returncode == 0
        new = wait_for(lambda: complete_files(inst.queue), timeout=20)
        qid = new.pop()
        text = postcat(inst.etc, qid)
    finally:
        inst.stop()
    lines = text.splitlines()
    i = next(i for i, l in enumerate(lines) if l.startswith("warning_message_time:"))
    assert lines[i - 1].startswith("sender: w@example.com") and lines[i + 1].startswith("named_attribute: dsn_orig_rcpt")
    arrival = next(l for l in lines if l.startswith("message_arrival_time:")).split(": ", 1)[1]
    warn = lines[i].split(": ", 1)[1]
    t = lambda s: time.mktime(time.strptime(s, "%a %b %d %H:%M:%S %Y"))  # noqa: E731
    assert t(warn) - t(arrival) == 4 * 3600


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
