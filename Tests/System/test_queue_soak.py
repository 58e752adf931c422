"""Crash safety of the queue (issue 5, "Checked by": the kill -9 soak).

2,000 messages stream in through our sendmail (four submitters in
parallel) while the test kills -9 the running cleanup, qmgr and pickup
processes at random moments, several times each. When the stream ends the
test lets the system settle and then accounts for every message that
sendmail accepted (exit status 0): each must have been delivered (a
`status=sent` line from discard for a queue ID whose cleanup
`message-id=` line carries the message's unique Message-ID). Nothing may
be lost; a message may be delivered twice only if it was in flight when
a process died, so duplicates are bounded: one per killed pickup or
cleanup, and at most qmgr's delivery window per killed qmgr.
Finally no queue holds a complete message any more.

Bounded: at most 2,000 messages, 12 kills, and a settle time of 180 s.
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from posthorn_instance import BASE_MASTER, BIN, PosthornInstance, require_programs, wait_for

MESSAGES = 2000
SUBMITTERS = 4
KILLS = 12
VICTIMS = ("cleanup", "qmgr", "pickup")

MAIN = """default_transport = discard
local_transport = discard
mydestination = $myhostname
service_throttle_time = 1s
"""

MASTER = BASE_MASTER + "discard   unix  -       -       n       -       -       discard\n"


def children_of(master_pid: int, program: str) -> list[int]:
    """PIDs of live processes running BIN/program whose parent is our master."""
    found = []
    target = str((BIN / program).resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "exe") != target:
                continue
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == master_pid:
            found.append(int(entry.name))
    return found


@pytest.fixture()
def soak():
    require_programs("master", "sendmail", "postdrop", "pickup", "cleanup", "qmgr", "trivial-rewrite",
                     "discard", "postlogd")
    inst = PosthornInstance(main_extra=MAIN, master=MASTER, prefix="posthorn-soak-").start(
        wait_for_services=("public/qmgr", "public/pickup", "public/cleanup"))
    yield inst
    inst.stop(remove=os.environ.get("POSTHORN_KEEP") != "1")


def test_kill_9_during_stream_loses_nothing(soak):
    inst = soak
    rng = random.Random(5)
    accepted: list[str] = []
    refused: list[tuple[str, int, bytes]] = []
    lock = threading.Lock()
    counter = iter(range(MESSAGES))

    def submitter():
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            mid = f"<soak-{n}@posthorn.test>"
            body = (f"From: sender@example.com\nTo: rcpt{n % 7}@example.org\nSubject: soak {n}\n"
                    f"Message-ID: {mid}\n\nmessage {n}\n" + "x" * (n % 300) + "\n")
            r = inst.sendmail(["-i", "-f", "sender@example.com", f"rcpt{n % 7}@example.org"], body, timeout=60)
            with lock:
                if r.returncode == 0:
                    accepted.append(mid)
                else:
                    refused.append((mid, r.returncode, r.stderr))

    threads = [threading.Thread(target=submitter) for _ in range(SUBMITTERS)]
    for t in threads:
        t.start()

    kills = Counter()
    deadline = time.monotonic() + 240
    while any(t.is_alive() for t in threads) and sum(kills.values()) < KILLS and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.2, 1.5))
        victim = rng.choice(VICTIMS)
        pids = children_of(inst.proc.pid, victim)
        if pids:
            try:
                os.kill(rng.choice(pids), signal.SIGKILL)
            except ProcessLookupError:
                continue  # it exited by itself meanwhile (max_use, max_idle)
            kills[victim] += 1
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "submitters did not finish"

    # sendmail only fails if postdrop could not write maildrop: never here.
    assert not refused, refused[:5]
    assert len(accepted) == MESSAGES
    assert sum(kills.values()) >= 3, f"too few kills happened: {kills}"

    # Settle: every accepted message delivered, every queue empty. Kicking
    # pickup and qmgr is what an administrator's `postqueue -f` would do.
    def settled():
        try:
            inst.trigger("pickup", b"W")
            inst.trigger("qmgr", b"I")
        except OSError:
            pass
        return not any(ready_files(inst, q) for q in ("maildrop", "incoming", "active", "deferred"))

    assert wait_for(settled, timeout=180, interval=1.0), \
        {q: len(ready_files(inst, q)) for q in ("maildrop", "incoming", "active", "deferred", "hold")}

    log = inst.maillog()
    delivered = delivered_ids(log)
    lost = [mid for mid in accepted if delivered[mid] == 0]
    if lost:
        ids = set(re.findall(rf"([0-9A-F]+): message-id=(?:{'|'.join(re.escape(m) for m in lost[:5])})", log))
        context = [line for line in log.splitlines() if any(i in line for i in ids)]
        refs = [line for line in log.splitlines() if any(m[1:-1] in line for m in lost[:5])]
        raise AssertionError(f"{len(lost)} accepted messages never delivered, e.g. {lost[:5]}; kills={kills}\n"
                             + "\n".join(refs[:20] + context[:40]))
    duplicates = sum(n - 1 for n in delivered.values() if n > 1)
    # In flight at a kill: one message per killed cleanup or pickup, and at
    # most qmgr's delivery window (default_process_limit = 100) per killed qmgr.
    bound = kills["cleanup"] + kills["pickup"] + 100 * kills["qmgr"]
    assert duplicates <= bound, f"{duplicates} duplicates for kills {kills}"
    assert not inst.files("corrupt"), inst.files("corrupt")
    # The log shows the kills as Postfix's master reports them.
    assert re.search(r"postfix/master\[\d+\]: warning: process \S+/(cleanup|qmgr|pickup) pid \d+ killed by signal 9",
                     log), log[-3000:]


def ready_files(inst: PosthornInstance, queue: str) -> list[Path]:
    """Complete queue files (owner-execute bit set, or any maildrop file).
    A cleanup killed mid-message leaves its unfinished file (mode 0600) in
    incoming; like Postfix, nobody delivers that one (the sender did not
    hear "queued" for it), so it does not count."""
    files = [p for p in (inst.queue / queue).rglob("*") if p.is_file()]
    if queue == "maildrop":
        return files
    return [p for p in files if p.stat().st_mode & 0o100]


def delivered_ids(log: str) -> Counter:
    """Message-ID -> number of deliveries (discard status=sent per queue ID).

    Queue IDs are unique only among files that exist at the same time (the
    short form is microseconds + inode, as Postfix's), and 2,000 messages
    reuse a handful of inodes, so one ID can name two messages minutes apart:
    each delivery line belongs to the message whose cleanup line for that ID
    came last before it in the log."""
    current = {}
    sent = Counter()
    line_re = re.compile(r"postfix/cleanup\[\d+\]: ([0-9A-F]+): message-id=(<[^>]*>)$"
                         r"|postfix/discard\[\d+\]: ([0-9A-F]+): to=<[^>]*>, .*status=sent", re.M)
    for m in line_re.finditer(log):
        if m.group(1):
            current[m.group(1)] = m.group(2)
        elif m.group(3) in current:
            sent[current[m.group(3)]] += 1
    return sent
