"""The fast flush service (flush), postqueue -s / -i and SMTP ETRN, in a
private Posthorn instance and a private Debian Postfix 3.7 run through the
same steps.

Both instances: relay_domains (and so fast_flush_domains) = one.example
two.example; transport_maps send one.example to slow1 and two.example to
slow2, both listed in defer_transports (discard agents behind them), so
every message to them is deferred until someone asks for a flush. Three
messages go in through sendmail: M1 to u@one.example, M2 to u@two.example,
M3 to a@one.example, b@one.example and c@two.example.

Observed and compared: the flush logfiles (the messages each lists), which recipients are delivered after `postqueue -s
one.example` (M1 and all of M3: a flushed message ignores
defer_transports), postqueue's errors and exit codes, `postqueue -i`, and
ETRN's replies and smtpd's warning lines.

Environment: POSTHORN_BIN (default <repo>/.build/debug). Needs root.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from postfix_oracle import PostfixOracle
from posthorn_instance import BASE_MASTER, PosthornInstance, free_port, require_programs, wait_for

ORACLE = Path("/usr/sbin/postfix")
ORACLE_POSTQUEUE = Path("/usr/sbin/postqueue")
ORACLE_SENDMAIL = Path("/usr/sbin/sendmail")


MAIN = """relay_domains = one.example two.example
transport_maps = texthash:{etc}/transport
defer_transports = slow1 slow2
default_transport = discard
smtpd_error_sleep_time = 0
"""

TRANSPORT = "one.example slow1:\ntwo.example slow2:\n"

SERVICES = """{port} inet n - n - - smtpd
flush     unix  n       -       n       1000?   0       flush
discard   unix  -       -       n       -       -       discard
slow1     unix  -       -       n       -       -       discard
slow2     unix  -       -       n       -       -       discard
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
proxymap  unix  -       -       n       -       -       proxymap
anvil     unix  -       -       n       -       1       anvil
"""


class Oracle(PostfixOracle):
    """A private Debian Postfix."""

    def __init__(self, port: int):
        self.port = port
        super().__init__(main_extra="mydestination =\nqueue_run_delay = 1s\n", files={"transport": TRANSPORT},
                         prefix="posthorn-flush-oracle-")
        with open(self.etc / "main.cf", "a") as f:
            f.write(MAIN.replace("{etc}", str(self.etc)))
        (self.etc / "master.cf").write_text(BASE_MASTER + SERVICES.format(port=f"127.0.0.1:{port}")
                                           + "retry     unix  -       -       n       -       -       error\n")

    def start(self):
        return super().start(ready="public/flush")

    def postqueue(self, *args):
        return subprocess.run([str(ORACLE_POSTQUEUE), "-c", str(self.etc), *args], capture_output=True, timeout=30)

    def sendmail(self, recipients, message: str):
        return subprocess.run([str(ORACLE_SENDMAIL), "-C", str(self.etc), "-f", "s@example.test", *recipients],
                              input=message.encode(), capture_output=True, timeout=30)


class Ours:
    def __init__(self, port: int):
        self.port = port
        self.inst = PosthornInstance(main_extra=MAIN, master=BASE_MASTER + SERVICES.format(port=f"127.0.0.1:{port}"),
                                     files={"transport": TRANSPORT}, prefix="posthorn-flush-")
        main = (self.inst.etc / "main.cf").read_text().replace("{etc}", str(self.inst.etc))
        (self.inst.etc / "main.cf").write_text(main)
        self.queue = self.inst.queue

    def start(self):
        self.inst.start(wait_for_services=("public/qmgr", "public/flush"))

    def stop(self):
        self.inst.stop()

    def maillog(self) -> str:
        return self.inst.maillog()

    def postqueue(self, *args):
        return self.inst.run("postqueue", *args)

    def sendmail(self, recipients, message: str):
        return self.inst.sendmail(["-f", "s@example.test", *recipients], message)


@pytest.fixture(scope="module")
def systems():
    require_programs("master", "flush", "smtpd", "cleanup", "pickup", "qmgr", "trivial-rewrite", "discard",
                     "postlogd", "postqueue", "sendmail", "postdrop", "bounce", "proxymap", "anvil", "showq")
    if not ORACLE.exists():
        pytest.fail("Debian postfix is not installed", pytrace=False)
    oracle, ours = Oracle(free_port()), Ours(free_port())
    oracle.start()
    try:
        ours.start()
        yield oracle, ours
    finally:
        ours.stop()
        oracle.stop()


MESSAGES = {"M1": ["u@one.example"], "M2": ["u@two.example"], "M3": ["a@one.example", "b@one.example", "c@two.example"]}


def deferred_ids(log: str) -> dict[str, str]:
    """recipient -> queue ID of its deferral."""
    return {m.group(2): m.group(1) for m in re.finditer(r"\]: ([0-9A-Za-z]+): to=<([^>]+)>.*status=deferred", log)}


def sent(log: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r": to=<([^>]+)>.*status=sent", log)}


def flush_logs(system, names: dict[str, str]) -> dict[str, list[str]]:
    out = {}
    for p in sorted((system.queue / "flush").iterdir()):
        # Sorted and de-duplicated: the order of messages depends on pickup
        # and qmgr timing, and Postfix writes one line per deferred
        # recipient where Posthorn's qmgr writes one per destination and
        # pass (the flush server de-duplicates when it reads the log).
        out[p.name] = sorted({names.get(line, line) for line in p.read_text().splitlines()})
    return out


def flush_logs_cover(system, ids: dict[str, str], names: dict[str, str]) -> bool:
    logs = flush_logs(system, names)
    return all(names.get(qid, qid) in logs.get(rcpt.split("@")[1].replace(".", "_"), [])
               for rcpt, qid in ids.items())


def converse(port: int, commands: list[str]) -> list[str]:
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    f = s.makefile("rb")

    def reply() -> str:
        lines = []
        while True:
            line = f.readline().decode().rstrip("\r\n")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return lines[-1] if lines[0].startswith("250-") else "\n".join(lines)

    out = [reply()]
    for c in commands:
        s.sendall(c.encode() + b"\r\n")
        out.append(f"{c} -> {reply()}")
    s.close()
    return out


def run_scenario(system) -> dict:
    obs: dict = {}
    for label, rcpts in MESSAGES.items():
        r = system.sendmail(rcpts, f"Subject: {label}\n\n{label}\n")
        assert r.returncode == 0, r.stderr
    assert wait_for(lambda: len(deferred_ids(system.maillog())) == 5, timeout=20), system.maillog()
    ids = deferred_ids(system.maillog())
    names = {ids["u@one.example"]: "M1", ids["u@two.example"]: "M2", ids["a@one.example"]: "M3"}
    # The "deferred" log line is written before the agent's flush_add
    # request reaches the flush server (in Postfix as in Posthorn): wait
    # until every deferred recipient's destination log names its message.
    wait_for(lambda: flush_logs_cover(system, ids, names), timeout=15)
    obs["logs after deferral"] = flush_logs(system, names)
    obs["sent before"] = sorted(sent(system.maillog()))

    r = system.postqueue("-s", "one.example")
    obs["-s one.example"] = (r.returncode, r.stderr.decode())
    assert wait_for(lambda: len(sent(system.maillog())) >= 4, timeout=15), system.maillog()
    wait_for(lambda: len(sent(system.maillog())) > 4, timeout=2)
    obs["sent after -s one.example"] = sorted(sent(system.maillog()))
    obs["logs after -s one.example"] = flush_logs(system, names)

    for args in (["-s", "three.example"], ["-s", "1.2.3.4"], ["-s", "foo.example."], ["-s", "[1.2.3.4]"],
                 ["-s", "x" * 120 + ".example"], ["-s", "ONE.example"], ["-i", "a/b"], ["-i", "NOSUCHID"]):
        r = system.postqueue(*args)
        obs[" ".join(a[:20] for a in args)] = (r.returncode, r.stderr.decode())

    r = system.postqueue("-i", ids["u@two.example"])
    obs["-i M2"] = (r.returncode, r.stderr.decode())
    assert wait_for(lambda: "u@two.example" in sent(system.maillog()), timeout=15), system.maillog()
    obs["sent after -i M2"] = sorted(sent(system.maillog()))

    # ETRN: a new message for two.example, deferred, then flushed over SMTP.
    r = system.sendmail(["v@two.example"], "Subject: M4\n\nM4\n")
    assert wait_for(lambda: "v@two.example" in deferred_ids(system.maillog()), timeout=15), system.maillog()
    before = len(system.maillog().splitlines())
    obs["etrn"] = converse(system.port, ["EHLO client.example", "ETRN", "ETRN two.example x", "ETRN 1.2.3.4",
                                         "ETRN three.example", "ETRN [1.2.3.4]", "ETRN @two.example",
                                         "MAIL FROM:<s@example.test>", "ETRN two.example", "RSET", "QUIT"])
    assert wait_for(lambda: "v@two.example" in sent(system.maillog()), timeout=15), system.maillog()
    assert wait_for(lambda: "disconnect from" in "".join(system.maillog().splitlines()[before:]), timeout=10)
    obs["smtpd log"] = [re.sub(r"^.*?smtpd\[\d+\]: ", "", line) for line in system.maillog().splitlines()[before:]
                        if "smtpd[" in line and ("warning: reject" in line or "disconnect from" in line)]
    obs["logs at end"] = flush_logs(system, names)
    return obs


def test_flush_matches_postfix(systems):
    oracle, ours = systems
    theirs = run_scenario(oracle)
    mine = run_scenario(ours)
    # The scenario itself, as Postfix 3.7 behaves.
    assert theirs["logs after deferral"] == {"one_example": ["M1", "M3"], "two_example": ["M2", "M3"]}
    assert theirs["sent after -s one.example"] == ["a@one.example", "b@one.example", "c@two.example",
                                                   "u@one.example"]
    for key in theirs:
        assert mine[key] == theirs[key], f"{key}:\nours:   {mine[key]!r}\noracle: {theirs[key]!r}"


def test_flush_down_messages(tmp_path):
    """Without a flush service: postqueue's and smtpd's fallbacks."""
    require_programs("master", "smtpd", "postqueue")
    port = free_port()
    inst = PosthornInstance(main_extra=MAIN, master=BASE_MASTER + SERVICES.format(port=f"127.0.0.1:{port}")
                            .replace("flush     unix", "#flush     unix"),
                            files={"transport": TRANSPORT}, prefix="posthorn-flush-down-")
    (inst.etc / "main.cf").write_text((inst.etc / "main.cf").read_text().replace("{etc}", str(inst.etc)))
    inst.start()
    try:
        r = inst.run("postqueue", "-s", "one.example")
        assert r.returncode == 69
        assert r.stderr.decode().splitlines()[-1] == "postqueue: fatal: Cannot flush mail queue - mail system is down"
        r = inst.run("postqueue", "-i", "ABCDEF")
        assert r.returncode == 69
        assert wait_for(lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True)
        replies = converse(port, ["EHLO x", "ETRN one.example", "QUIT"])
        assert replies[2] == "ETRN one.example -> 458 Unable to queue messages"
        inst.wait_log(r"warning: unable to talk to fast flush service")
    finally:
        inst.stop()
