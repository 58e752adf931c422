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

import os
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from posthorn_instance import PosthornInstance, require_programs, wait_for

POSTFIX = Path("/usr/sbin/postfix")
POSTCAT = Path("/usr/sbin/postcat")

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


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Oracle:
    """A private Debian Postfix: smtpd, cleanup, trivial-rewrite, postlog."""

    def __init__(self, main_extra: str, port: int):
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="posthorn-cleanup-remote-oracle-", dir="/tmp"))
        self.root.chmod(0o755)
        self.etc, self.queue, data = self.root / "etc", self.root / "queue", self.root / "data"
        for d in (self.etc, self.queue, data):
            d.mkdir()
        shutil.chown(data, "postfix")
        (self.etc / "access").write_text(ACCESS)
        (self.etc / "main.cf").write_text(f"""compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
maillog_file = {self.root}/maillog
maillog_file_prefixes = {self.root}
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mta.example.test
mydomain = example.test
mydestination =
alias_maps =
alias_database =
""" + main_extra.replace("{etc}", str(self.etc)))
        (self.etc / "master.cf").write_text(MASTER.format(port=f"127.0.0.1:{port}"))
        past = time.time() - 60
        for f in self.etc.iterdir():
            os.utime(f, (past, past))

    def start(self):
        r = subprocess.run([str(POSTFIX), "-c", str(self.etc), "start"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()

    def maillog(self) -> str:
        p = self.root / "maillog"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self):
        subprocess.run([str(POSTFIX), "-c", str(self.etc), "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


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


def _can_connect(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


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
            assert wait_for(lambda: _can_connect(s.port), timeout=15), f"no smtpd on {s.port}\n{s.maillog()}"
        yield request.param, ours, oracle
    finally:
        ours.stop()
        oracle.stop()


QUEUE_ID = r"[0-9A-F]{6,}"


def queue_files(queue: Path, name: str) -> set[str]:
    d = queue / name
    return {p.name for p in d.rglob("*") if re.fullmatch(QUEUE_ID, p.name) and p.is_file()
            and (p.stat().st_mode & 0o700) == 0o700}


def postcat(etc: Path, qid: str) -> str:
    r = subprocess.run([str(POSTCAT), "-c", str(etc), "-q", qid], capture_output=True, timeout=20,
                       env={**os.environ, "TZ": "UTC"})
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode(errors="replace")


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
