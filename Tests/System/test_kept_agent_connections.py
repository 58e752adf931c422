"""qmgr keeps its connections to delivery agents between requests
(QmgrAgentPool, SingleServer.runRequests): an agent whose final reply
offers `keep=1` gets the next request of its transport on the same
connection, for at most ipc_idle seconds unused and ipc_ttl seconds in all.

max_use counts connections (as Postfix's, for every daemon), so with
max_use = 1 a discard process that served several deliveries shows that
they came over one kept connection; after ipc_idle the connection is
closed and the next delivery goes to another process, with no failure.

Environment: POSTHORN_BIN (default <repo>/.build/debug); needs root.
"""

from __future__ import annotations

import re
import time

import pytest

from posthorn_instance import require_programs
from test_queue_manager import PROGRAMS, Instance


def discard_pid(inst: Instance, qid: str) -> str:
    m = inst.wait_log(rf"postfix/discard\[(\d+)\]: {qid}: to=<[^>]+>, relay=none, .*status=sent")
    return m.group(1)


def deliver(inst: Instance, rcpt: str) -> str:
    qid = inst.submit([rcpt])
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: removed$")
    return qid


@pytest.fixture
def kept():
    require_programs(*PROGRAMS)
    i = Instance(extra="max_use = 1\nipc_idle = 30s\n")
    yield i
    i.stop()


@pytest.fixture
def short_idle():
    require_programs(*PROGRAMS)
    i = Instance(extra="max_use = 1\nipc_idle = 1s\n")
    yield i
    i.stop()


def test_one_connection_carries_several_deliveries(kept):
    qids = [deliver(kept, f"r{n}@discard.test") for n in range(3)]
    pids = {discard_pid(kept, q) for q in qids}
    assert len(pids) == 1, f"max_use = 1, yet one discard process served all: {pids}\n{kept.logs()}"
    # The error agent keeps its connection the same way.
    bounced = [deliver(kept, f"e{n}@error.test") for n in range(2)]
    epids = {kept.wait_log(rf"postfix/error\[(\d+)\]: {q}: to=<").group(1) for q in bounced}
    assert len(epids) == 1, epids
    assert "warning" not in kept.maillog(), kept.maillog()


def test_idle_connection_is_closed_and_replaced(short_idle):
    first = deliver(short_idle, "a@discard.test")
    # qmgr drops the kept connection after ipc_idle (1 s); the agent gives
    # up waiting after twice that and, at max_use = 1, exits.
    time.sleep(3.5)
    second = deliver(short_idle, "b@discard.test")
    assert discard_pid(short_idle, first) != discard_pid(short_idle, second)
    log = short_idle.maillog()
    assert not re.search(r"warning|transport .* failure|unknown mail transport error", log), log
