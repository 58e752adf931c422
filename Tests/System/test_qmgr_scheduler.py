"""qmgr's scheduler (issue 5, point 4) in a running Posthorn instance.

Delivery agents are played by this test: `Agent` serves private/<transport>
with the delivery request protocol (Global/DeliveryRequest.swift), one
thread per connection, marks delivered recipients done in the queue file
(as real agents do) and records every request: when it started and ended,
its queue ID, next hop and recipients, so the tests can check concurrency
and order. Messages are written straight into `incoming` with
posthorn-queue-writer and qmgr is triggered with `I`.

transport_maps routes each test domain to its own transport with its own
per-transport settings:
  win.test  -> win:   concurrency limit 4, initial 2, 5 recipients/request
  big.test  -> big:   concurrency limit 2, 50 recipients/request
  dead.test -> dead:  concurrency limit 3, initial 3, 2 recipients/request;
                      the agent reports a site failure for every request
  per.test  -> per:   1 recipient/request (the recipient is the destination)
and a second instance runs with qmgr_message_recipient_limit = 30.

Everything is bounded in time and in count. Environment: POSTHORN_BIN
(default <repo>/.build/debug). Needs root.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from attr0 import AgentSocket, read_request
from posthorn_instance import BIN, PosthornInstance, child_pid, require_programs, wait_for

PROGRAMS = ("master", "qmgr", "trivial-rewrite", "postlogd", "posthorn-queue-writer", "bounce", "cleanup", "discard",
            "postfix")

MASTER = """qmgr      unix  n  n  n  1  1  qmgr
rewrite   unix  -  n  n  -  -  trivial-rewrite
cleanup   unix  n  n  n  -  0  cleanup
bounce    unix  -  n  n  -  0  bounce
defer     unix  -  n  n  -  0  bounce
trace     unix  -  n  n  -  0  bounce
discard   unix  -  n  n  -  -  discard
postlog   unix-dgram n n n -  1  postlogd
"""

TRANSPORT = """win.test win:
big.test big:
dead.test dead:
per.test per:
slices.test big:
"""

MAIN = """transport_maps = texthash:{root}/etc/transport
default_transport = discard
qmgr_ipc_timeout = 20s
win_destination_concurrency_limit = 4
win_initial_destination_concurrency = 2
win_destination_recipient_limit = 5
big_destination_concurrency_limit = 2
big_destination_recipient_limit = 50
dead_destination_concurrency_limit = 3
dead_initial_destination_concurrency = 3
dead_destination_recipient_limit = 2
per_destination_recipient_limit = 1
per_destination_concurrency_limit = 1
"""


class Agent(AgentSocket):
    """A delivery agent on private/<name>: `delay` seconds per recipient;
    with `fail`, every recipient is deferred and the request ends with a
    site failure (final status 1 and a reason)."""

    def __init__(self, inst: PosthornInstance, name: str, delay: float = 0.0, fail: bool = False):
        self.queue = inst.queue
        self.delay = delay
        self.fail = fail
        path = inst.queue / "private" / name
        if path.exists():
            path.unlink()
        super().__init__(path, backlog=512, accept_timeout=0.2, mode=0o666)
        self.lock = threading.Lock()
        self.active = collections.Counter()  # next hop -> requests in progress
        self.max_active = collections.Counter()
        self.total_active = 0
        self.max_total = 0
        self.events: list[tuple[str, float, str, str, int]] = []  # (start|end, time, qid, nexthop, n)
        self.delivered = collections.Counter()  # (qid, recipient) -> times
        # Recipients handed to the agent and not yet answered (over all
        # requests): a lower bound of what qmgr holds in memory.
        self.unanswered = 0
        self.max_unanswered = 0
        self.start_serving()

    def accepted(self, conn):
        threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        conn.settimeout(30)
        try:
            pairs = read_request(conn)
        except OSError:
            conn.close()
            return
        fields = dict(pairs)
        qid, nexthop = fields.get("queue_id", "?"), fields.get("nexthop", "?")
        recipients = []
        address = None
        for name, value in pairs:
            if name == "rcpt":
                address = value
            elif name == "rcpt_offset":
                recipients.append((address, int(value)))
        with self.lock:
            self.active[nexthop] += 1
            self.total_active += 1
            self.max_active[nexthop] = max(self.max_active[nexthop], self.active[nexthop])
            self.max_total = max(self.max_total, self.total_active)
            self.events.append(("start", time.monotonic(), qid, nexthop, len(recipients)))
            self.unanswered += len(recipients)
            self.max_unanswered = max(self.max_unanswered, self.unanswered)
        path = self.queue / fields.get("queue_name", "active") / qid
        try:
            with open(path, "r+b") as f:
                for address, offset in recipients:
                    time.sleep(self.delay)
                    if self.fail:
                        out = (f"rcpt_offset\0{offset}\0status\0deferred\0dsn\0004.4.1\0"
                               f"text\0connect to {nexthop}[192.0.2.1]:25: Connection refused\0\0")
                    else:
                        f.seek(offset)
                        f.write(b"D")
                        f.flush()
                        os.fsync(f.fileno())
                        with self.lock:
                            self.delivered[(qid, address)] += 1
                        out = f"rcpt_offset\0{offset}\0status\0sent\0dsn\0002.0.0\0text\0ok\0\0"
                    with self.lock:  # counted out before qmgr can hear of it
                        self.unanswered -= 1
                    conn.sendall(out.encode())
        except OSError:
            pass  # qmgr went away (killed): stop, as an agent that cannot report
        with self.lock:
            self.active[nexthop] -= 1
            self.total_active -= 1
            self.events.append(("end", time.monotonic(), qid, nexthop, len(recipients)))
        try:
            if self.fail:
                conn.sendall(f"status\0001\0dsn\0004.4.1\0text\0connect to {nexthop}[192.0.2.1]:25: "
                             f"Connection refused\0\0".encode())
            else:
                conn.sendall(b"status\0000\0text\0\0\0")
        except OSError:
            pass
        conn.close()

    def close(self):
        self.stop = True
        self.sock.close()

    def requests(self, qid=None):
        with self.lock:
            return [e for e in self.events if e[0] == "start" and (qid is None or e[2] == qid)]


def submit(inst: PosthornInstance, recipients, sender="alice@example.com") -> str:
    msg = inst.root / "msg.txt"
    msg.write_text("Subject: scheduler test\n\nhello\n")
    out = subprocess.run([str(BIN / "posthorn-queue-writer"), "-d", str(inst.queue), "-q", "incoming",
                          "-f", sender, "-m", str(msg), *recipients],
                         capture_output=True, text=True, timeout=30, check=True)
    qid = out.stdout.split()[0]
    inst.trigger(data=b"I")
    return qid


@pytest.fixture(scope="module")
def inst():
    require_programs(*PROGRAMS)
    i = PosthornInstance(main_extra=MAIN, master=MASTER, files={"transport": TRANSPORT}, prefix="posthorn-sched-")
    i.start()
    agents = {"win": Agent(i, "win", delay=0.05), "big": Agent(i, "big", delay=0.004),
              "dead": Agent(i, "dead", delay=0.02, fail=True), "per": Agent(i, "per", delay=0.1)}
    i.agents = agents
    yield i
    for a in agents.values():
        a.close()
    i.stop()


def test_window_slow_start_and_limit(inst):
    agent = inst.agents["win"]
    rcpts = [f"u{n}@win.test" for n in range(60)]
    qid = submit(inst, rcpts)
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: removed$", timeout=30)
    with agent.lock:
        events = [e for e in agent.events if e[2] == qid]
        delivered = {a for (q, a), n in agent.delivered.items() if q == qid}
    starts = [e for e in events if e[0] == "start"]
    assert len(starts) == 12 and all(e[4] == 5 for e in starts)  # win_destination_recipient_limit
    assert delivered == set(rcpts)
    # Never more than the limit at once; it is reached, but only after
    # starting at win_initial_destination_concurrency (slow start).
    assert agent.max_active["win.test"] == 4, agent.max_active
    first_end = next(i for i, e in enumerate(events) if e[0] == "end")
    assert sum(1 for e in events[:first_end] if e[0] == "start") == 2, events
    concurrency, peak = 0, []
    for e in events:
        concurrency += 1 if e[0] == "start" else -1
        peak.append(concurrency)
    assert max(peak) <= 4


def test_small_message_not_stuck_behind_huge_one(inst):
    agent = inst.agents["big"]
    huge = submit(inst, [f"h{n}@big.test" for n in range(2000)])
    assert wait_for(lambda: agent.requests(huge), timeout=15), inst.logs()
    small = submit(inst, ["s@big.test"])
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {small}: removed$", timeout=20)
    # The huge message (40 requests of 50, two at a time) is far from done.
    with agent.lock:
        done_huge = sum(n for (q, _), n in agent.delivered.items() if q == huge)
    assert done_huge < 1000, done_huge
    assert not re.search(rf"{huge}: removed$", inst.maillog(), re.M)
    starts = agent.requests()
    order = [e[2] for e in starts]
    assert order.index(small) <= order.index(huge) + 6, order[:12]
    assert agent.max_active["big.test"] <= 2
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {huge}: removed$", timeout=60)
    with agent.lock:
        got = {a for (q, a), n in agent.delivered.items() if q == huge}
        dups = [a for (q, a), n in agent.delivered.items() if q == huge and n > 1]
    assert len(got) == 2000 and not dups
    assert all(e[4] <= 50 for e in agent.requests(huge))


def test_dead_destination_is_throttled(inst):
    agent = inst.agents["dead"]
    qid = submit(inst, [f"d{n}@dead.test" for n in range(20)])
    suspended = (r"status=deferred \(delivery temporarily suspended: "
                 r"connect to dead\.test\[192\.0\.2\.1\]:25: Connection refused\)$")
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: to=<d\d+@dead\.test>, relay=none, .*dsn=4\.4\.1, {suspended}")
    assert wait_for(lambda: qid in inst.files("deferred"), timeout=15), inst.logs()
    # Three requests at once (initial 3), each a failed cohort share:
    # 1/3 + 1/2 + 1/1 >= 1 -> dead after at most the third failure; the
    # other recipients were never handed to the agent.
    requests = agent.requests(qid)
    assert 3 <= len(requests) <= 4, requests
    logged = re.findall(rf"{qid}: to=<d\d+@dead\.test>, relay=none, .*{suspended}", inst.maillog(), re.M)
    assert len(logged) == 20 - 2 * len(requests)
    # A new message for the dead destination is deferred at once.
    later = submit(inst, ["late@dead.test"])
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {later}: to=<late@dead\.test>, relay=none, .*{suspended}")
    assert wait_for(lambda: later in inst.files("deferred"), timeout=10)
    assert not agent.requests(later)
    for q in (qid, later):
        inst.run("postsuper", "-d", q)


def test_per_recipient_destinations(inst):
    # per_destination_recipient_limit = 1: each recipient is its own
    # destination, so the concurrency limit of 1 is per recipient and
    # different recipients of one domain go in parallel.
    agent = inst.agents["per"]
    qid = submit(inst, [f"p{n}@per.test" for n in range(4)])
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: removed$", timeout=20)
    requests = agent.requests(qid)
    assert len(requests) == 4 and all(e[4] == 1 for e in requests)
    assert agent.max_total >= 2, agent.events


def test_killed_qmgr_delivers_the_rest_once(inst):
    agent = inst.agents["big"]
    huge = submit(inst, [f"k{n}@big.test" for n in range(2000)])

    def delivered():
        with agent.lock:
            return sum(1 for (q, _), n in agent.delivered.items() if q == huge)

    assert wait_for(lambda: delivered() >= 300, timeout=30), inst.logs()
    pid = child_pid(inst.proc.pid, "qmgr")
    assert pid
    os.kill(pid, signal.SIGKILL)
    # master's next wakeup starts a new qmgr, which takes the file back
    # from active and delivers the recipients still R.
    inst.wait_log(rf"postfix/qmgr\[(?!{pid}\])\d+\]: {huge}: removed$", timeout=60)
    with agent.lock:
        counts = {a: n for (q, a), n in agent.delivered.items() if q == huge}
    assert len(counts) == 2000
    twice = [a for a, n in counts.items() if n > 1]
    # Only what was in flight at the kill may go twice: two requests of 50.
    assert len(twice) <= 100, len(twice)
    assert all(n <= 2 for n in counts.values())


@pytest.fixture()
def small_budget():
    require_programs(*PROGRAMS)
    extra = MAIN + ("qmgr_message_recipient_limit = 30\nbig_destination_recipient_limit = 10\n"
                    "big_destination_concurrency_limit = 20\nbig_initial_destination_concurrency = 10\n"
                    "default_recipient_refill_limit = 10\ndefault_recipient_refill_delay = 1s\n")
    i = PosthornInstance(main_extra=extra, master=MASTER, files={"transport": TRANSPORT}, prefix="posthorn-sched2-")
    i.start()
    i.agent = Agent(i, "big", delay=0.01)
    yield i
    i.agent.close()
    i.stop()


def test_more_recipients_than_recipient_limit(small_budget):
    inst = small_budget
    agent = inst.agent
    rcpts = [f"m{n}@slices.test" for n in range(200)]
    qid = submit(inst, rcpts)
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: removed$", timeout=60)
    with agent.lock:
        counts = {a: n for (q, a), n in agent.delivered.items() if q == qid}
    assert set(counts) == set(rcpts) and set(counts.values()) == {1}
    # At most 30 recipients in qmgr's memory, so never more than 30 out
    # at the agent, although the window (10 requests of 10) would allow 100.
    assert 20 <= agent.max_unanswered <= 30, agent.max_unanswered
    requests = agent.requests(qid)
    assert all(e[4] <= 10 for e in requests) and len(requests) >= 20
