"""cleanup wakes qmgr over one connection it keeps open (Global's
TriggerChannel, ServerSkeleton's HeldTriggers): every message still wakes
qmgr at once, and when qmgr dies (SIGKILL) the same cleanup process connects
again, so the next message is delivered without waiting for master's
300-second wakeup of qmgr.
"""
from __future__ import annotations

import os
import re
import signal

import pytest

from posthorn_instance import BASE_MASTER, PosthornInstance, child_pid, require_programs, wait_for


@pytest.fixture()
def inst():
    require_programs("master", "sendmail", "postdrop", "pickup", "cleanup", "qmgr", "trivial-rewrite", "discard",
                     "postlogd", "postfix")
    i = PosthornInstance(main_extra="default_transport = discard\n",
                         master=BASE_MASTER + "discard unix - - n - - discard\n",
                         prefix="posthorn-trigger-").start()
    yield i
    i.stop()


def removed(inst) -> list[str]:
    return re.findall(r"postfix/qmgr\[\d+\]: ([0-9A-F]+): removed$", inst.maillog(), re.M)


def test_kept_connection_survives_a_qmgr_restart(inst):
    for n in range(3):
        r = inst.sendmail(["-f", "s@example.com", "r@example.org"], f"Subject: first {n}\n\nbody\n")
        assert r.returncode == 0, r.stderr
    assert wait_for(lambda: len(removed(inst)) == 3, 10), inst.logs()
    cleanup = child_pid(inst.proc.pid, "cleanup")
    qmgr = child_pid(inst.proc.pid, "qmgr")
    assert cleanup and qmgr
    os.kill(qmgr, signal.SIGKILL)
    assert wait_for(lambda: child_pid(inst.proc.pid, "qmgr") != qmgr, 5)
    r = inst.sendmail(["-f", "s@example.com", "r@example.org"], "Subject: after\n\nbody\n")
    assert r.returncode == 0, r.stderr
    # Delivered within seconds: the wakeup reached the new qmgr.
    assert wait_for(lambda: len(removed(inst)) == 4, 10), inst.logs()
    assert child_pid(inst.proc.pid, "cleanup") == cleanup, "the same cleanup process took all four"
    assert re.search(rf"postfix/qmgr\[(?!{qmgr}\])\d+\]: [0-9A-F]+: removed$", inst.maillog(), re.M)


def test_sendmail_does_not_wait_for_a_pickup_that_does_not_accept(inst):
    """A trigger is a non-blocking connect: while pickup does not accept
    (stopped here; killed and throttled by master in real life) the
    listener's backlog (100) fills with wakeups, and later senders drop
    theirs instead of waiting in connect(). Nothing is lost: pickup reads
    maildrop when it runs again."""
    r = inst.sendmail(["-f", "s@example.com", "r@example.org"], "Subject: first\n\nbody\n")
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: len(removed(inst)) == 1, 10), inst.logs()
    pickup = child_pid(inst.proc.pid, "pickup")
    assert pickup
    os.kill(pickup, signal.SIGSTOP)
    try:
        for n in range(130):
            r = inst.sendmail(["-f", "s@example.com", "r@example.org"], f"Subject: held {n}\n\nbody\n", timeout=15)
            assert r.returncode == 0, (n, r.stderr)
    finally:
        os.kill(pickup, signal.SIGCONT)
    assert wait_for(lambda: len(removed(inst)) == 131, 60), inst.logs()[-3000:]
