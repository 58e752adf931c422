"""Kept internal connections (SingleServer.runRequests): qmgr keeps its
connections to delivery agents between requests (QmgrAgentPool), and
smtpd keeps its connection to cleanup between messages (CleanupClient's
kept connection, CleanupProtocol `request=next`). A server that answered a
request in full offers `keep=1`; the client uses the connection again
within ipc_idle seconds and for at most ipc_ttl seconds in all.

max_use counts connections (as Postfix's, for every daemon), so with
max_use = 1 one discard (or cleanup) process that served several requests
shows that they came over one kept connection; after ipc_idle the
connection is closed and the next request goes to another process, with
no failure and nothing lost.

Environment: POSTHORN_BIN (default <repo>/.build/debug); needs root.
"""

from __future__ import annotations

import os
import re
import signal
import smtplib
import time
from pathlib import Path

import pytest

from posthorn_instance import BASE_MASTER, PosthornInstance, free_port, require_programs, wait_for
from test_queue_manager import PROGRAMS, Instance


def discard_pid(inst: Instance, qid: str) -> str:
    m = inst.wait_log(rf"postfix/discard\[(\d+)\]: {qid}: to=<[^>]+>, relay=none, .*status=sent")
    return m.group(1)


def deliver(inst: Instance, rcpt: str) -> str:
    qid = inst.submit([rcpt])
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: removed$")
    return qid


@pytest.fixture
def qmgr_instance():
    """Makes qmgr instances (test_queue_manager's) with main.cf additions."""
    made = []

    def make(extra: str) -> Instance:
        require_programs(*PROGRAMS)
        made.append(Instance(extra=extra))
        return made[-1]
    yield make
    for i in made:
        i.stop()


def test_one_connection_carries_several_deliveries(qmgr_instance):
    kept = qmgr_instance("max_use = 1\nipc_idle = 30s\n")
    qids = [deliver(kept, f"r{n}@discard.test") for n in range(3)]
    pids = {discard_pid(kept, q) for q in qids}
    assert len(pids) == 1, f"max_use = 1, yet one discard process served all: {pids}\n{kept.logs()}"
    # The error agent keeps its connection the same way.
    bounced = [deliver(kept, f"e{n}@error.test") for n in range(2)]
    epids = {kept.wait_log(rf"postfix/error\[(\d+)\]: {q}: to=<").group(1) for q in bounced}
    assert len(epids) == 1, epids
    assert "warning" not in kept.maillog(), kept.maillog()


def test_idle_connection_is_closed_and_replaced(qmgr_instance):
    short_idle = qmgr_instance("max_use = 1\nipc_idle = 1s\n")
    first = deliver(short_idle, "a@discard.test")
    # qmgr drops the kept connection after ipc_idle (1 s); the agent gives
    # up waiting after twice that and, at max_use = 1, exits.
    time.sleep(3.5)
    second = deliver(short_idle, "b@discard.test")
    assert discard_pid(short_idle, first) != discard_pid(short_idle, second)
    log = short_idle.maillog()
    assert not re.search(r"warning|transport .* failure|unknown mail transport error", log), log


# --- smtpd -> cleanup ---------------------------------------------------

SMTPD_PROGRAMS = ("master", "smtpd", "cleanup", "qmgr", "trivial-rewrite", "discard", "postlogd", "postfix",
                  "pickup", "sendmail", "postdrop")
NO_WARNINGS = r"postfix/(smtpd|cleanup|qmgr|discard|master)\[\d+\]: (warning|fatal)"


@pytest.fixture
def smtpd_session():
    """Makes an instance with smtpd (default_transport = discard, main.cf
    additions, cleanup's maxproc) and an SMTP session to it after EHLO."""
    made = []

    def make(extra: str, cleanup_limit: str = "0") -> tuple[PosthornInstance, smtplib.SMTP]:
        require_programs(*SMTPD_PROGRAMS)
        port = free_port()
        base = BASE_MASTER.replace("n       -       0       cleanup", f"n       -       {cleanup_limit}       cleanup")
        assert cleanup_limit == "0" or base != BASE_MASTER
        master = f"127.0.0.1:{port} inet n - n - - smtpd\n" + base + "discard unix - - n - - discard\n"
        inst = PosthornInstance(main_extra="default_transport = discard\n" + extra, master=master,
                                prefix="posthorn-kept-")
        made.append(inst)
        inst.start()
        client = smtplib.SMTP("127.0.0.1", port, timeout=30)
        assert client.ehlo("client.example")[0] == 250
        return inst, client
    yield make
    for inst in made:
        inst.stop()


def send(client: smtplib.SMTP, n: int) -> str:
    assert client.mail("a@example.com")[0] == 250
    assert client.rcpt(f"r{n}@example.org")[0] == 250
    code, text = client.data(f"Subject: {n}\r\n\r\nbody {n}\r\n".encode())
    assert code == 250, text
    return re.search(rb"queued as ([0-9A-Za-z]+)", text).group(1).decode()


def cleanup_pid(inst: PosthornInstance, qid: str) -> str:
    return inst.wait_log(rf"postfix/cleanup\[(\d+)\]: {qid}: message-id=")[0].group(1)


def all_removed(inst: PosthornInstance, qids):
    for q in qids:
        inst.wait_log(rf"postfix/qmgr\[\d+\]: {q}: removed$")


@pytest.mark.parametrize("idle", ["30s", "1s"])
def test_smtpd_keeps_its_cleanup_connection(smtpd_session, idle):
    inst, client = smtpd_session(f"max_use = 1\nipc_idle = {idle}\n")
    qids = [send(client, 0), send(client, 1)]
    if idle == "1s":
        # smtpd uses the kept connection only within ipc_idle; cleanup
        # gives up waiting after twice that (and, at max_use = 1, exits).
        time.sleep(3.5)
    qids.append(send(client, 2))
    client.quit()
    pids = [cleanup_pid(inst, q) for q in qids]
    if idle == "30s":
        assert len(set(pids)) == 1, f"max_use = 1, one cleanup process took all: {pids}\n{inst.logs()}"
    else:
        assert pids[0] == pids[1] and pids[2] != pids[1], pids
    all_removed(inst, qids)
    assert not re.search(NO_WARNINGS, inst.maillog()), inst.maillog()


def test_cleanup_with_a_process_limit_keeps_nothing(smtpd_session):
    """With a cleanup process limit (here 1), a connection kept by an idle
    smtpd could keep pickup waiting for a cleanup process: cleanup then
    offers no kept connection, every message has its own."""
    inst, client = smtpd_session("max_use = 1\nipc_idle = 30s\n", cleanup_limit="1")
    qids = [send(client, 0), send(client, 1)]
    pids = [cleanup_pid(inst, q) for q in qids]
    assert pids[0] != pids[1], pids
    # The session is still open, and holds no cleanup process: a local
    # submission goes through (a kept connection would hold the one
    # cleanup process for ipc_idle, 30 s, longer than this wait).
    r = inst.sendmail(["-f", "local@example.com", "x@example.org"], "Subject: local\n\nhi\n")
    assert r.returncode == 0, r.stderr
    inst.wait_log(r"postfix/qmgr\[\d+\]: \w+: from=<local@example.com>", timeout=10)
    client.quit()


def test_reload_ends_kept_connections_without_losing_a_message(smtpd_session):
    """`postfix reload` ends old processes: the cleanup process on smtpd's
    kept connection exits; the session (which survives the reload) sends
    its next message on a new connection, to a new cleanup process."""
    inst, client = smtpd_session("ipc_idle = 30s\n")
    first = send(client, 0)
    before = cleanup_pid(inst, first)
    r = inst.run("postfix", "reload")
    assert r.returncode == 0, r.stderr
    inst.wait_log(r"postfix/master\[\d+\]: reload ")
    # The old cleanup process leaves once master has let go of it.
    assert wait_for(lambda: not Path(f"/proc/{before}").exists(), timeout=10), f"cleanup {before} still runs"
    second = send(client, 1)
    client.quit()
    assert cleanup_pid(inst, second) != before
    all_removed(inst, (first, second))
    assert not re.search(NO_WARNINGS, inst.maillog()), inst.maillog()


def test_killed_agent_on_a_kept_connection_loses_nothing(qmgr_instance):
    """An agent killed while qmgr keeps its connection: the next request
    goes to a new process, delivered, not deferred."""
    inst = qmgr_instance("ipc_idle = 30s\n")
    first = deliver(inst, "a@discard.test")
    pid = int(discard_pid(inst, first))
    os.kill(pid, signal.SIGKILL)
    second = deliver(inst, "b@discard.test")
    assert int(discard_pid(inst, second)) != pid
    log = inst.maillog()
    assert "status=deferred" not in log, log
    assert not re.search(r"postfix/qmgr\[\d+\]: warning", log), log


def test_killed_cleanup_on_a_kept_connection_loses_nothing(smtpd_session):
    """cleanup killed while smtpd keeps its connection: the session's next
    message finds the connection gone and is queued over a new one."""
    inst, client = smtpd_session("ipc_idle = 30s\n")
    first = send(client, 0)
    pid = int(cleanup_pid(inst, first))
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=10)
    second = send(client, 1)
    client.quit()
    assert int(cleanup_pid(inst, second)) != pid
    all_removed(inst, (first, second))
