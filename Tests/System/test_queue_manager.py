"""qmgr, the discard/error/retry agents, showq, postqueue, mailq and postsuper
(issue 5, points 4, 7 and 8) in a private Posthorn instance.

`master -c DIR -d` runs qmgr, trivial-rewrite, discard, error, retry, showq
and postlogd (every service unprivileged = n, so the test's root queue
directory is used as is). Messages are written straight into `incoming`
with posthorn-queue-writer (the message-entry path is tested elsewhere)
and qmgr is triggered with `I` on public/qmgr. Routing: default_transport
= discard; transport_maps sends error.test to `error:5.7.1 refused by test`,
retry.test to `retry:4.3.0 try again later`, defer.test to `slowtr`
(listed in defer_transports) and hang.test to a transport served by this
test (a fake agent that first stalls, then answers).

The mailq layout is compared byte for byte with Debian's Postfix 3.7 showq
run directly on the same queue (postqueue falls back to running showq
itself when the showq service cannot be reached).

Environment: POSTHORN_BIN (default <repo>/.build/debug); missing binaries
FAIL. Needs root (postsuper, Debian's showq).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from attr0 import AgentSocket, read_request
from posthorn_instance import (BIN, child_pid, make_queue_dirs, make_root, read_logs, require_programs, terminate,
                               wait_for)

PROGRAMS = ("master", "qmgr", "trivial-rewrite", "discard", "error", "showq", "postqueue", "mailq",
            "postsuper", "postlogd", "posthorn-queue-writer", "bounce", "cleanup")
DEBIAN_POSTQUEUE = Path("/usr/sbin/postqueue")
DEBIAN_DAEMONS = Path("/usr/lib/postfix/sbin")

MAIN = """queue_directory = {root}/queue
data_directory = {root}/data
daemon_directory = {bin}
inet_interfaces = loopback-only
inet_protocols = ipv4
compatibility_level = 3.6
myhostname = mta.example.test
mydomain = example.test
mydestination =
maillog_file = {root}/maillog
maillog_file_prefixes = /tmp
default_transport = discard
transport_maps = texthash:{root}/etc/transport
defer_transports = slowtr
queue_run_delay = 1s
qmgr_ipc_timeout = 20s
{extra}
"""

TRANSPORT = """error.test error:5.7.1 refused by test
retry.test retry:4.3.0 try again later
defer.test slowtr:
hang.test hang:
"""

MASTER = """qmgr unix n n n 1 1 qmgr
rewrite unix - n n - - trivial-rewrite
discard unix - n n - - discard
slowtr unix - n n - - discard
error unix - n n - - error
retry unix - n n - - error
showq unix n n n - - showq
postlog unix-dgram n n n - 1 postlogd
cleanup unix n n n - 0 cleanup
bounce unix - n n - 0 bounce
defer unix - n n - 0 bounce
trace unix - n n - 0 bounce
"""


class Instance:
    def __init__(self, extra: str = ""):
        self.root = make_root("posthorn-qmgr-", data_owner=None, tmpdir=None)
        (self.root / "etc" / "main.cf").write_text(MAIN.format(root=self.root, bin=BIN, extra=extra))
        (self.root / "etc" / "master.cf").write_text(MASTER)
        (self.root / "etc" / "transport").write_text(TRANSPORT)
        self.queue = self.root / "queue"
        make_queue_dirs(self.queue, 0o700)
        self.log = open(self.root / "master.log", "ab")
        self.proc = subprocess.Popen([str(BIN / "master"), "-c", str(self.root / "etc"), "-d"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        assert wait_for(lambda: (self.queue / "public" / "qmgr").exists()), self.logs()

    def logs(self) -> str:
        return read_logs(self.root)

    def maillog(self) -> str:
        p = self.root / "maillog"
        return p.read_text(errors="replace") if p.exists() else ""

    def submit(self, recipients, sender="alice@example.com", body="Subject: test\n\nhello\n") -> str:
        msg = self.root / "msg.txt"
        msg.write_text(body)
        out = subprocess.run([str(BIN / "posthorn-queue-writer"), "-d", str(self.queue), "-q", "incoming",
                              "-f", sender, "-m", str(msg), *recipients],
                             capture_output=True, text=True, timeout=10, check=True)
        qid = out.stdout.split()[0]
        self.trigger(b"I")
        return qid

    def trigger(self, data: bytes):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(str(self.queue / "public" / "qmgr"))
        s.sendall(data)
        s.close()

    def run(self, program: str, *args, stdin: str | None = None):
        return subprocess.run([str(BIN / program), "-c", str(self.root / "etc"), *args], input=stdin,
                              capture_output=True, text=True, timeout=20)

    def files(self, queue: str) -> list[str]:
        return sorted(p.name for p in (self.queue / queue).rglob("*") if p.is_file())

    def wait_log(self, pattern: str, timeout=10.0) -> re.Match:
        m = wait_for(lambda: re.search(pattern, self.maillog(), re.M), timeout)
        assert m, f"no log line matching {pattern!r}:\n{self.logs()}"
        return m

    def stop(self):
        terminate(self.proc)
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


def arrival(queue_file: Path) -> int:
    data = queue_file.read_bytes()
    assert data[0:1] == b"C" and data[97:98] == b"T"
    n = data[98]
    return int(data[99:99 + n].split()[0])


@pytest.fixture(scope="module")
def inst():
    require_programs(*PROGRAMS)
    i = Instance()
    yield i
    i.stop()


ID = r"[0-9A-F]+"
DELAYS = r"delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+"


def test_discard_delivers_and_removes(inst):
    qid = inst.submit(["x@discard.test", "y@other.test"])
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: removed$")
    log = inst.maillog()
    assert re.search(rf"postfix/qmgr\[\d+\]: {qid}: from=<alice@example.com>, size=\d+, nrcpt=2 \(queue active\)$", log, re.M)
    assert re.search(rf"postfix/discard\[\d+\]: {qid}: to=<x@discard.test>, relay=none, {DELAYS}, dsn=2.0.0, "
                     r"status=sent \(discard.test\)$", log, re.M), log
    assert re.search(rf"postfix/discard\[\d+\]: {qid}: to=<y@other.test>, relay=none, {DELAYS}, dsn=2.0.0, "
                     r"status=sent \(other.test\)$", log, re.M), log
    assert qid not in inst.files("active") + inst.files("incoming") + inst.files("deferred")


def short_id_inode(qid: str) -> int:
    return int(qid[5:], 16)


def test_delivered_files_are_reused(inst):
    """A delivered message's file is parked in spare/ (mode 0600, named by
    its inode) and the next message is written into it: same inode, new
    queue ID, only the new envelope and content."""
    q1 = inst.submit(["first@discard.test"], body="Subject: one\n\n" + "x" * 3000 + "\n")
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {q1}: removed$")
    spare = inst.queue / "spare"
    parked = sorted(p.name for p in spare.iterdir())
    assert parked == [format(short_id_inode(q1), "x")], parked
    assert (spare / parked[0]).stat().st_mode & 0o777 == 0o600
    q2 = inst.submit(["second@discard.test"], sender="bob@example.com", body="Subject: two\n\nshort\n")
    assert q2 != q1 and short_id_inode(q2) == short_id_inode(q1), (q1, q2)
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {q2}: removed$")
    log = inst.maillog()
    assert re.search(rf"qmgr\[\d+\]: {q2}: from=<bob@example.com>, size=\d+, nrcpt=1 \(queue active\)$", log, re.M), log
    assert re.search(rf"discard\[\d+\]: {q2}: to=<second@discard.test>, .*status=sent", log, re.M), log
    assert not re.search(rf"{q2}: to=<first@discard.test>", log), "nothing of the old message comes back"
    assert [p.name for p in spare.iterdir()] == parked, "the same file is parked again"


def test_error_bounces_with_bounce_log(inst):
    qid = inst.submit(["y@error.test"])
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: removed$")
    assert re.search(rf"postfix/error\[\d+\]: {qid}: to=<y@error.test>, relay=none, {DELAYS}, dsn=5.7.1, "
                     r"status=bounced \(refused by test\)$", inst.maillog(), re.M)
    # The bounce daemon turned the bounce log into a notice (to the sender,
    # delivered by discard) and removed it before qmgr removed the file.
    notice = inst.wait_log(rf"postfix/bounce\[\d+\]: {qid}: sender non-delivery notification: ([0-9A-F]+)$").group(1)
    inst.wait_log(rf"postfix/discard\[\d+\]: {notice}: to=<alice@example.com>, .*status=sent")
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {notice}: removed$")
    assert not (inst.queue / "bounce" / qid).exists()


def test_deferred_mailq_postsuper(inst):
    q1 = inst.submit(["z@defer.test"])
    q2 = inst.submit(["r1@retry.test", "r2@retry.test"], sender="")
    for qid, who in ((q1, "z@defer.test"), (q2, "r2@retry.test")):
        inst.wait_log(rf"{qid}: to=<{who}>, relay=none, {DELAYS}, dsn=4.3.\d, status=deferred")
    assert wait_for(lambda: q1 in inst.files("deferred") and q2 in inst.files("deferred")), inst.logs()
    log = inst.maillog()
    assert re.search(rf"postfix/qmgr\[\d+\]: {q1}: to=<z@defer.test>, relay=none, {DELAYS}, dsn=4.3.2, "
                     r"status=deferred \(deferred transport\)$", log, re.M), log
    assert re.search(rf"postfix/error\[\d+\]: {q2}: to=<r1@retry.test>, relay=none, {DELAYS}, dsn=4.3.0, "
                     r"status=deferred \(try again later\)$", log, re.M), log
    # Retry time = now + minimal_backoff_time (300 s).
    f1 = next((inst.queue / "deferred").rglob(q1))
    assert 290 < f1.stat().st_mtime - time.time() <= 301

    out = inst.run("postqueue", "-p")
    assert out.returncode == 0, out.stderr
    size1 = int(re.search(rf"{q1}: from=<[^>]*>, size=(\d+)", log).group(1))
    size2 = int(re.search(rf"{q2}: from=<[^>]*>, size=(\d+)", log).group(1))
    t1 = time.strftime("%a %b %e %H:%M:%S", time.localtime(arrival(f1)))
    block1 = (f"{q1:<11} {size1:>7} {t1}  alice@example.com\n"
              f"{'(deferred transport)':>78}\n" + " " * 41 + "z@defer.test\n\n")
    assert out.stdout.startswith("-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n")
    assert block1 in out.stdout
    assert (f"{'(try again later)':>78}\n" + " " * 41 + "r1@retry.test\n" + " " * 41 + "r2@retry.test\n") in out.stdout
    assert out.stdout.endswith(f"\n-- {(size1 + size2) // 1024} Kbytes in 2 Requests.\n")
    assert inst.run("mailq").stdout == out.stdout

    # Byte for byte against Debian's showq on the same queue files.
    if DEBIAN_POSTQUEUE.is_file() and (DEBIAN_DAEMONS / "showq").is_file():
        etc2 = inst.root / "etc-debian"
        etc2.mkdir(exist_ok=True)
        daemons = inst.root / "debian-daemons"
        daemons.mkdir(exist_ok=True)
        if not (daemons / "no-showq-here").exists():
            os.symlink(DEBIAN_DAEMONS / "showq", daemons / "no-showq-here")
        main = (inst.root / "etc" / "main.cf").read_text().replace(f"daemon_directory = {BIN}",
                                                                   f"daemon_directory = {daemons}")
        (etc2 / "main.cf").write_text(main + "showq_service_name = no-showq-here\n")
        shutil.copy(inst.root / "etc" / "master.cf", etc2 / "master.cf")
        # Debian's showq drops to mail_owner; our services run as root, which
        # reads postfix-owned files all the same.
        subprocess.run(["chown", "-R", "postfix:", str(inst.queue)], check=True, timeout=10)
        theirs = subprocess.run([str(DEBIAN_POSTQUEUE), "-c", str(etc2), "-p"], capture_output=True, text=True,
                                timeout=20)
        assert theirs.returncode == 0, theirs.stderr + inst.maillog()[-1500:]
        order = lambda text: sorted(text.split("\n\n"))  # noqa: E731 - readdir order differs
        assert order(theirs.stdout) == order(out.stdout), theirs.stdout + "\n----\n" + out.stdout

    # postqueue -j
    lines = [json.loads(l) for l in inst.run("postqueue", "-j").stdout.splitlines()]
    by_id = {o["queue_id"]: o for o in lines}
    assert by_id[q2] == {"queue_name": "deferred", "queue_id": q2, "arrival_time": by_id[q2]["arrival_time"],
                         "message_size": size2, "forced_expire": False, "sender": "MAILER-DAEMON",
                         "recipients": [{"address": "r1@retry.test", "delay_reason": "try again later"},
                                        {"address": "r2@retry.test", "delay_reason": "try again later"}]}

    # postsuper -h / -H
    r = inst.run("postsuper", "-h", q1)
    assert r.stderr == f"postsuper: {q1}: placed on hold\npostsuper: Placed on hold: 1 message\n"
    assert q1 in inst.files("hold")
    assert f"{q1}!" in inst.run("postqueue", "-p").stdout
    r = inst.run("postsuper", "-H", q1)
    assert r.stderr == f"postsuper: {q1}: released from hold\npostsuper: Released from hold: 1 message\n"
    assert q1 in inst.files("deferred")
    r = inst.run("postsuper", "-d", "NOSUCHID")
    assert (r.returncode, r.stderr) == (0, "postsuper: Deleted: 0 messages\n")
    inst.wait_log(r"postfix/postsuper\[\d+\]: Deleted: 0 messages$")

    # postsuper -r ALL: to maildrop for pickup (which assigns new IDs).
    r = inst.run("postsuper", "-r", "ALL")
    assert r.stderr == "postsuper: Requeued: 2 messages\n"
    assert sorted([q1, q2]) == inst.files("maildrop")
    assert not (inst.queue / "defer" / q1[0] / q1).exists()
    r = inst.run("postsuper", "-d", "-", "maildrop", stdin=f"{q1}\n{q2}\n")
    assert r.stderr == f"postsuper: {q1}: removed\npostsuper: {q2}: removed\npostsuper: Deleted: 2 messages\n"
    assert inst.run("postqueue", "-p").stdout == "Mail queue is empty\n"


def test_flush_delivers_defer_transports(inst):
    qid = inst.submit(["w@defer.test"])
    inst.wait_log(rf"{qid}: to=<w@defer.test>, .*status=deferred \(deferred transport\)")
    assert wait_for(lambda: qid in inst.files("deferred"))
    r = inst.run("postqueue", "-f")
    assert r.returncode == 0, r.stderr
    inst.wait_log(rf"postfix/discard\[\d+\]: {qid}: to=<w@defer.test>, relay=none, {DELAYS}, dsn=2.0.0, status=sent")
    inst.wait_log(rf"{qid}: removed$")


class FakeAgent(AgentSocket):
    """private/hang: stalls the first request, answers later ones as an agent."""

    def __init__(self, path: Path, queue: Path):
        self.queue = queue
        super().__init__(path, backlog=5, accept_timeout=0.5)
        self.connections = 0
        self.first = None
        self.start_serving()

    def accepted(self, conn):
        self.connections += 1
        conn.settimeout(10)
        pairs = read_request(conn)
        if self.connections == 1:
            self.first = conn  # never answered
            return
        path = self.queue / dict(pairs)["queue_name"] / dict(pairs)["queue_id"]
        with open(path, "r+b") as f:
            for name, value in pairs:
                if name == "rcpt_offset":
                    f.seek(int(value))
                    f.write(b"D")
                    out = f"rcpt_offset\0{value}\0status\0sent\0dsn\0002.0.0\0text\0ok\0\0"
                    conn.sendall(out.encode())
        conn.sendall(b"status\0000\0text\0\0\0")
        conn.close()


def test_killed_qmgr_loses_nothing(inst):
    agent = FakeAgent(inst.queue / "private" / "hang", inst.queue)
    try:
        qid = inst.submit(["k@hang.test"])
        assert wait_for(lambda: agent.connections >= 1), inst.logs()
        assert qid in inst.files("active")
        pid = child_pid(inst.proc.pid, "qmgr")
        assert pid
        os.kill(pid, signal.SIGKILL)
        # master's next wakeup starts a new qmgr, which puts active files
        # back into incoming and delivers them.
        inst.wait_log(rf"postfix/qmgr\[(?!{pid}\])\d+\]: {qid}: removed$", timeout=15)
        assert agent.connections == 2
        assert qid not in inst.files("active") + inst.files("incoming") + inst.files("deferred")
    finally:
        agent.stop = True


def test_expiry():
    for program in PROGRAMS:
        if not (BIN / program).is_file():
            pytest.fail(f"missing {BIN / program}", pytrace=False)
    inst = Instance("maximal_queue_lifetime = 1s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 1s\n")
    try:
        qid = inst.submit(["e@retry.test"])
        inst.wait_log(rf"{qid}: to=<e@retry.test>, .*status=deferred \(try again later\)")
        inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: from=<alice@example.com>, status=expired, returned to sender$",
                      timeout=15)
        inst.wait_log(rf"postfix/bounce\[\d+\]: {qid}: sender non-delivery notification: [0-9A-F]+$")
        inst.wait_log(rf"{qid}: removed$")
        assert not (inst.queue / "bounce" / qid).exists()
        assert wait_for(lambda: inst.files("deferred") == [])
    finally:
        inst.stop()


def damaged_copies(inst) -> dict[str, bytes]:
    """A good queue file written by posthorn-queue-writer into `hold` (qmgr
    leaves hold alone), and three damaged variants of its bytes."""
    msg = inst.root / "corrupt-msg.txt"
    msg.write_text("Subject: to be damaged\n\nbody\n")
    out = subprocess.run([str(BIN / "posthorn-queue-writer"), "-d", str(inst.queue), "-q", "hold",
                          "-f", "alice@example.com", "-m", str(msg), "z@discard.test"],
                         capture_output=True, text=True, timeout=10, check=True)
    qid = out.stdout.split()[0]
    good = next((inst.queue / "hold").rglob(qid)).read_bytes()
    sender_at = good.index(b"alice@example.com") - 2
    unknown_type = good[:sender_at] + b"\x01\x03abc" + good[sender_at:]
    # C record: type, length byte, then six right-aligned fields; the first
    # (content size) rewritten, same width, to more than the file holds.
    assert good[0:1] == b"C"
    field = good[2:17]
    wrong_size = good[:2] + b"%15d" % (int(field) + 50000) + good[17:]
    return {"BADTRUNC0001": good[: len(good) // 2], "BADTYPE00002": unknown_type, "BADSIZE00003": wrong_size}


def test_corrupt_files_move_to_corrupt(inst):
    """Truncated files, unknown record types and wrong sizes go to corrupt/
    with a warning; nothing crashes and qmgr keeps delivering."""
    for name, data in damaged_copies(inst).items():
        path = inst.queue / "incoming" / name
        path.write_bytes(data)
        shutil.chown(path, user="postfix", group="postfix")
        os.chmod(path, 0o700)
    inst.trigger(b"I")
    for name in ("BADTRUNC0001", "BADTYPE00002", "BADSIZE00003"):
        inst.wait_log(rf"postfix/qmgr\[\d+\]: warning: saving corrupt file \"{name}\" from queue \"active\" "
                      r"to queue \"corrupt\"$")
        assert (inst.queue / "corrupt" / name).exists()
    # qmgr is still running and delivering.
    qid = inst.submit(["after@discard.test"])
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: removed$")
