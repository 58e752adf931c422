"""cleanup in the remote-client context, against Debian's Postfix 3.7.

The same SMTP transactions go to Posthorn's smtpd and to Debian Postfix's
smtpd, each instance with the same main.cf and no qmgr (so the queue files
stay in `incoming`); Debian's postcat output of the two files must agree
once queue IDs, times, client ports and sizes are normalized.

Covered, per main.cf variant:
- `remote`: local_header_rewrite_clients empty and remote_header_rewrite_domain
  empty: a remote client's headers are not rewritten and no missing headers
  are added (rewrite_context=remote);
- `remote-domain`: remote_header_rewrite_domain set: header addresses are
  qualified with it and missing Message-Id/Date/From headers are added;
- `local-client`: local_header_rewrite_clients = permit_inet_interfaces (the
  loopback client counts as local: local context, $myorigin);
- the Received: header smtpd writes (one recipient and several), the envelope
  records and their order (attributes before and after the sender);
- smtpd access-map actions carried to cleanup: HOLD (hold queue), DISCARD
  (no file, no cleanup log line), FILTER (content_filter record), REDIRECT
  (redirect_to record), BCC (an extracted recipient).

Environment: POSTHORN_BIN (default <repo>/.build/debug); needs root and
Debian's postfix package (a missing oracle FAILS the test).
"""

from __future__ import annotations

import re
import smtplib
import time
from pathlib import Path

import pytest

from conftest import cool_down
from postfix_oracle import POSTCAT, PostfixOracle, postcat
from posthorn_instance import PosthornInstance, can_connect, free_port, require_programs, wait_for

POSTFIX = Path("/usr/sbin/postfix")

ACCESS = """hold@example.net HOLD held by test
discard@example.net DISCARD dropped by test
filter@example.net FILTER smtp:[10.1.1.1]:25
redirect@example.net REDIRECT other@example.org
bcc@example.net BCC copy@example.org
"""

COMMON = """mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = check_recipient_access texthash:{etc}/access, permit_mynetworks, reject
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
"""

VARIANTS = {
    "remote": "local_header_rewrite_clients =\nremote_header_rewrite_domain =\n",
    "remote-domain": "local_header_rewrite_clients =\nremote_header_rewrite_domain = remote.example\n",
    "local-client": "local_header_rewrite_clients = permit_inet_interfaces\n",
}

MASTER = """{port} inet n - n - - smtpd
cleanup   unix  n       -       n       -       0       cleanup
rewrite   unix  -       -       n       -       -       trivial-rewrite
anvil     unix  -       -       n       -       1       anvil
proxymap  unix  -       -       n       -       -       proxymap
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Oracle(PostfixOracle):
    """A private Debian Postfix: smtpd, cleanup, trivial-rewrite, postlog."""

    timeout = 60

    def __init__(self, main_extra: str, port: int):
        self.port = port
        super().__init__(main_extra="mydestination =\nalias_maps =\nalias_database =\n" + main_extra,
                         master=MASTER.format(port=f"127.0.0.1:{port}"), files={"access": ACCESS},
                         prefix="posthorn-cleanup-remote-oracle-")
        cool_down(self.etc)

    def start(self):
        super().start(ready=None)


class Ours:
    def __init__(self, main_extra: str, port: int):
        self.port = port
        self.inst = PosthornInstance(main_extra=main_extra.replace("{etc}", "{root}/etc"),
                                     master=MASTER.format(port=f"127.0.0.1:{port}"), files={"access": ACCESS},
                                     prefix="posthorn-cleanup-remote-")
        self.etc, self.queue = self.inst.etc, self.inst.queue

    def start(self):
        self.inst.start(wait_for_services=("public/cleanup",))

    def maillog(self) -> str:
        return self.inst.maillog()

    def stop(self):
        self.inst.stop()


@pytest.fixture(scope="module", params=list(VARIANTS))
def pair(request):
    require_programs("master", "smtpd", "cleanup", "trivial-rewrite", "anvil", "proxymap", "postlogd", "postfix")
    for p in (POSTFIX, POSTCAT):
        if not p.is_file():
            pytest.fail(f"oracle program missing: {p}", pytrace=False)
    main = COMMON + VARIANTS[request.param]
    oracle, ours = Oracle(main, free_port()), Ours(main, free_port())
    oracle.start()
    try:
        ours.start()
        for s in (oracle, ours):
            assert wait_for(lambda: can_connect(s.port), timeout=15), f"no smtpd on {s.port}\n{s.maillog()}"
        yield request.param, ours, oracle
    finally:
        ours.stop()
        oracle.stop()


QUEUE_ID = r"[0-9A-F]{6,}"


def queue_files(queue: Path, name: str) -> set[str]:
    d = queue / name
    return {p.name for p in d.rglob("*") if re.fullmatch(QUEUE_ID, p.name) and p.is_file()
            and (p.stat().st_mode & 0o700) == 0o700}


def normalize(text: str, qid: str) -> list[str]:
    out = []
    for line in text.replace(qid, "QID").splitlines():
        if line.startswith(("message_arrival_time:", "create_time:")):
            continue
        if line.startswith("message_size:"):
            # Sizes and offsets follow the queue ID's length; the recipient
            # count and qmgr flags must agree.
            f = line.split()
            line = f"message_size: rcpts={f[3]} flags={f[4]}"
        line = re.sub(r"(client_port|log_client_port|server_port)=\d+", r"\1=PORT", line)
        line = re.sub(r"<\d{14}\.QID@", "<STAMP.QID@", line)
        line = re.sub(r"\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)", "DATE", line)
        out.append(line)
    return out


def cleanup_lines(log: str, qid: str) -> list[str]:
    return [re.sub(r"<\d{14}\.QID@", "<STAMP.QID@", m.group(1).replace(qid, "QID"))
            for m in re.finditer(rf"postfix/cleanup\[\d+\]: ({re.escape(qid)}: .*)$", log, re.M)]


def send(port: int, sender: str, recipients: list[str], message: str):
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=20) as s:
        s.sendmail(sender, recipients, message.encode())


def submit_both(pair, sender, recipients, message, queue="incoming"):
    """Returns (ours, theirs) as (normalized postcat, cleanup log lines)."""
    _, ours, oracle = pair
    results = []
    for side in (oracle, ours):
        before = queue_files(side.queue, queue) if queue else set()
        logged = set(re.findall(rf"smtpd\[\d+\]: ({QUEUE_ID}): client=", side.maillog()))
        send(side.port, sender, recipients, message)
        qid = wait_for(lambda: next((q for q in re.findall(rf"smtpd\[\d+\]: ({QUEUE_ID}): client=", side.maillog())
                                     if q not in logged), None), timeout=15)
        assert qid, side.maillog()
        if queue is None:
            time.sleep(1)
            results.append((None, qid, side))
            continue
        new = wait_for(lambda: queue_files(side.queue, queue) - before, timeout=15)
        assert new == {qid}, (new, qid, side.maillog())
        results.append((normalize(postcat(side.etc, qid), qid), qid, side))
    out = []
    for text, qid, side in results:
        # cleanup's lines come asynchronously: wait until they stop changing.
        last, stable = None, 0
        for _ in range(30):
            lines = cleanup_lines(side.maillog(), qid)
            stable = stable + 1 if lines == last else 0
            if stable >= 2:
                break
            last = lines
            time.sleep(0.2)
        out.append((text, last, qid))
    return out[1], out[0]


def assert_same(pair, sender, recipients, message, queue="incoming"):
    (ours, our_log, _), (theirs, their_log, _) = submit_both(pair, sender, recipients, message, queue)
    assert ours == theirs, "\n".join([f"variant {pair[0]}", "posthorn:", *(ours or []), "postfix:", *(theirs or [])])
    assert our_log == their_log, "\n".join(["posthorn:", *our_log, "postfix:", *their_log])


def test_addresses_and_missing_headers(pair):
    assert_same(pair, "alice@example.com", ["rcpt@example.net"],
                "From: Al <al>\nTo: bob, carol@sub, \"Q u\"@h\nCc: dave@example.test\nReply-To: x\n"
                "Subject: remote\n\nbody\n")


def test_no_headers_at_all(pair):
    assert_same(pair, "alice@example.com", ["rcpt@example.net"], "just a body line\n")


def test_received_header_several_recipients(pair):
    assert_same(pair, "alice@example.com", ["r1@example.net", "r2@example.net"],
                "Subject: two\nMessage-ID: <m2@example.com>\n\nb\n")


def test_null_sender(pair):
    assert_same(pair, "", ["rcpt@example.net"], "Subject: null\nFrom: MAILER-DAEMON\n\nb\n")


@pytest.mark.parametrize("recipient", ["filter@example.net", "redirect@example.net", "bcc@example.net"])
def test_access_actions(pair, recipient):
    assert_same(pair, "alice@example.com", [recipient, "x@example.net"], f"Subject: {recipient}\n\nb\n")


def test_hold_action(pair):
    assert_same(pair, "alice@example.com", ["hold@example.net"], "Subject: hold\n\nb\n", queue="hold")


def test_discard_action(pair):
    (_, our_log, our_qid), (_, their_log, their_qid) = submit_both(
        pair, "alice@example.com", ["discard@example.net"], "Subject: discard\n\nb\n", queue=None)
    _, ours, oracle = pair
    assert our_log == their_log == []
    for side, qid in ((ours, our_qid), (oracle, their_qid)):
        assert not list(side.queue.rglob(qid)), f"{qid} kept"
