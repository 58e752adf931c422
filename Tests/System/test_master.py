"""System tests of master and the server skeletons (issue 4).

Each test builds a private instance under a temporary directory: main.cf
with queue_directory, data_directory and daemon_directory (= POSTHORN_BIN),
maillog_file set, and a master.cf of posthorn-testd services on free
127.0.0.1 ports or UNIX sockets. `master -c DIR -d` runs in the background;
no postlog service runs, so every program's log lines fall back to
master's standard error, which the test captures to a file.

Environment: POSTHORN_BIN (default <repo>/.build/debug) must hold
`master` and `posthorn-testd`; a missing binary FAILS the test.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from posthorn_instance import BIN, free_port, make_root, terminate, wait_for

TESTD = "posthorn-testd"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:  # gone (ENOENT), or vanished while being read (ESRCH)
        return False


def children_of(pid: int, name: str = TESTD) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z" and name in Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return found


class Client:
    """A line-oriented client of posthorn-testd."""

    def __init__(self, address, timeout=5.0):
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.buffer = b""

    def ask(self, line: str, timeout=5.0) -> str | None:
        self.sock.sendall(line.encode() + b"\n")
        return self.reply(timeout)

    def reply(self, timeout=5.0) -> str | None:
        self.sock.settimeout(timeout)
        try:
            while b"\n" not in self.buffer:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return None
                self.buffer += chunk
        except socket.timeout:
            return None
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def close(self):
        self.sock.close()


def fields(reply: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in reply.split(" "))


class Instance:
    def __init__(self, master_cf: str, main_extra: str = ""):
        for program in ("master", TESTD):
            assert (BIN / program).is_file(), f"missing {BIN / program}: build first or set POSTHORN_BIN"
        self.root = make_root("posthorn-master-", data_owner=None, tmpdir=None)
        self.etc = self.root / "etc"
        self.queue = self.root / "queue"
        self.log_path = self.root / "master.log"
        (self.etc / "main.cf").write_text(
            f"queue_directory = {self.queue}\n"
            f"data_directory = {self.root / 'data'}\n"
            f"daemon_directory = {BIN}\n"
            f"maillog_file = {self.root / 'maillog'}\n"
            "myhostname = mta.example.test\n"
            "inet_interfaces = loopback-only\n"
            "inet_protocols = ipv4\n"
            "service_throttle_time = 2s\n"
            "compatibility_level = 3.6\n" + main_extra)
        self.write_master(master_cf)
        self.proc = None

    def write_master(self, text: str):
        (self.etc / "master.cf").write_text(text)

    def start(self):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(BIN / "master"), "-c", str(self.etc), "-d"],
                                     stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=self.log_file)
        assert wait_for(lambda: "daemon started" in self.log(), 10), self.log()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def private(self, name: str) -> str:
        return str(self.queue / "private" / name)

    def public(self, name: str) -> str:
        return str(self.queue / "public" / name)

    def stop(self):
        terminate(self.proc)
        if self.proc:
            self.log_file.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def make_instance():
    made = []

    def make(master_cf: str, main_extra: str = "") -> Instance:
        instance = Instance(master_cf, main_extra)
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.cleanup()


def service_line(service: str, kind: str = "inet", maxproc: str = "2", args: str = "", priv: str = "n",
               wakeup: str = "-") -> str:
    return f"{service} {kind} {priv} - n {wakeup} {maxproc} {TESTD} -o posthorn_test_value=v-{service.split(':')[-1]} {args}\n"


def test_spawns_on_demand_up_to_maxproc(make_instance):
    port = free_port()
    inst = make_instance(service_line(f"127.0.0.1:{port}", maxproc="2")).start()
    assert children_of(inst.proc.pid) == [], "no process before a client arrives"
    first, second, third = (Client(("127.0.0.1", port)) for _ in range(3))
    pids = [fields(c.ask("posthorn_test_value"))["pid"] for c in (first, second)]
    assert len(set(pids)) == 2
    assert fields(first.ask("posthorn_test_value"))["arg"] == f"v-{port}"
    # The third client waits: the limit is 2.
    assert third.ask("posthorn_test_value", timeout=1.5) is None
    assert len(children_of(inst.proc.pid)) == 2
    assert wait_for(lambda: f'has reached its process limit "2"' in inst.log(), 4), inst.log()
    assert re.search(rf'postfix/master\[\d+\]: warning: service "127.0.0.1:{port}" \(127.0.0.1:{port}\) has reached '
                     r'its process limit "2": new clients may experience noticeable delays', inst.log())
    first.close()
    answer = third.reply(timeout=5)
    assert answer and fields(answer)["pid"] in pids, "the freed process serves the waiting client"
    assert len(children_of(inst.proc.pid)) == 2
    second.close()
    third.close()


def test_waiting_client_is_served_back_to_back_but_not_across_a_reload(make_instance):
    """A process that finishes a client while another is already waiting
    serves that one at once (it stays counted busy); after a reload it
    exits instead, and a process with the new settings takes the client."""
    port = free_port()
    inst = make_instance(service_line(f"127.0.0.1:{port}", maxproc="1")).start()
    first, second = Client(("127.0.0.1", port)), Client(("127.0.0.1", port))
    pid = fields(first.ask("posthorn_test_value"))["pid"]
    assert second.ask("posthorn_test_value", timeout=1.0) is None, "the limit is 1"
    first.close()
    answer = second.reply(timeout=5)
    assert answer and fields(answer)["pid"] == pid, "the same process goes on to the waiting client"
    third = Client(("127.0.0.1", port))
    assert third.ask("posthorn_test_value", timeout=1.0) is None
    inst.write_master(service_line(f"127.0.0.1:{port}", maxproc="1", args="-o posthorn_test_value=changed"))
    inst.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "reload -- version" in inst.log(), timeout=5.0), inst.log()
    second.close()
    answer = third.reply(timeout=5)
    assert answer, inst.log()
    assert fields(answer)["arg"] == "changed" and fields(answer)["pid"] != pid
    assert wait_for(lambda: not alive(int(pid)), 3), "the old process exits after its client"
    third.close()
    # Many short sessions back to back: master's count of busy processes
    # stays right (a fresh client is still served once they are done).
    clients = [Client(("127.0.0.1", port)) for _ in range(5)]
    for c in clients:
        c.sock.sendall(b"quit\n")
    for c in clients:
        assert c.reply(timeout=5) is None
        c.close()
    last = Client(("127.0.0.1", port))
    assert fields(last.ask("posthorn_test_value"))["arg"] == "changed"
    last.close()


def test_killed_child_is_replaced_and_crash_logged(make_instance):
    port = free_port()
    inst = make_instance(service_line(f"127.0.0.1:{port}", maxproc="1")).start()
    c = Client(("127.0.0.1", port))
    pid = int(fields(c.ask("x"))["pid"])
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: f"pid {pid} killed by signal 9" in inst.log(), timeout=5.0), inst.log()
    c.close()
    c = Client(("127.0.0.1", port))
    new_pid = int(fields(c.ask("x"))["pid"])
    assert new_pid != pid
    # A crash while serving is logged but does not throttle (the process had started).
    assert c.ask("crash") is None
    assert wait_for(lambda: f"pid {new_pid} killed by signal 6" in inst.log(), timeout=5.0), inst.log()
    c.close()
    c = Client(("127.0.0.1", port))
    assert c.ask("x", timeout=3) is not None
    c.close()
    assert "throttling" not in inst.log()
    line = re.search(rf"postfix/master\[\d+\]: warning: process {re.escape(str(BIN))}/{TESTD} pid {pid} killed by signal 9", inst.log())
    assert line, inst.log()


def test_idle_child_killed_is_taken_off_the_idle_count(make_instance):
    # The children keep the idle count on master's shared status page; one
    # killed while idle never says so. master must count it out when it
    # reaps it, or it would wait for that process to take the next client.
    port = free_port()
    inst = make_instance(service_line(f"127.0.0.1:{port}", maxproc="2")).start()
    holder = Client(("127.0.0.1", port))
    busy_pid = int(fields(holder.ask("x"))["pid"])  # stays busy with this client
    for _ in range(3):
        c = Client(("127.0.0.1", port))
        pid = int(fields(c.ask("x"))["pid"])
        assert pid != busy_pid
        c.close()
        time.sleep(0.2)  # back to idle, waiting for the next client
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: f"pid {pid} killed by signal 9" in inst.log(), timeout=5.0), inst.log()
        c = Client(("127.0.0.1", port))
        reply = c.ask("x", timeout=5)
        assert reply is not None, inst.log()
        assert int(fields(reply)["pid"]) not in (pid, busy_pid)
        c.close()
    holder.close()
    assert "throttling" not in inst.log()


def test_bad_startup_is_throttled(make_instance):
    inst = make_instance(f"bad unix - - n - 1 {TESTD} crash-on-start\n"
                         f"badcfg unix - - n - 1 {TESTD} -o max_idle=bogus\n").start()
    bad_config = Client(inst.private("badcfg"))
    c = Client(inst.private("bad"))
    c.sock.sendall(b"hello\n")
    path = f"{BIN}/{TESTD}"
    assert wait_for(lambda: f"warning: {path}: bad command startup -- throttling" in inst.log(), 5), inst.log()
    log = inst.log()
    assert re.search(rf"postfix/posthorn-testd\[\d+\]: fatal: crash-on-start requested", log), log
    assert re.search(rf"warning: process {re.escape(path)} pid \d+ exit status 1", log), log
    # Throttled: no new attempt within the throttle time (2s) ...
    time.sleep(1.0)
    assert inst.log().count("crash-on-start requested") == 1
    # ... and another attempt after it, since the client still waits.
    assert wait_for(lambda: inst.log().count("crash-on-start requested") >= 2, 4), inst.log()
    c.close()
    # A malformed parameter is fatal in the service, worded as Postfix words it.
    assert wait_for(lambda: "fatal: parameter max_idle: bad time value or unit: bogus" in inst.log(), 3), inst.log()
    bad_config.close()


def test_conditional_wakeup_only_while_in_use(make_instance):
    master_cf = (f"cond unix n - n 1? 1 {TESTD} -o max_use=3 trigger\n"
                 f"always fifo n - n 1 1 {TESTD} trigger\n")
    inst = make_instance(master_cf).start()
    assert stat.S_ISFIFO(os.stat(inst.public("always")).st_mode)
    assert stat.S_IMODE(os.stat(inst.public("always")).st_mode) == 0o622
    time.sleep(2.5)
    log = inst.log()
    assert "trigger W" in log, "an unconditional wakeup starts the fifo service"
    always_pid = re.search(r"posthorn-testd\[(\d+)\]: trigger W", log).group(1)
    cond_lines = lambda: [l for l in inst.log().splitlines() if "trigger" in l and f"[{always_pid}]" not in l]
    assert cond_lines() == [], "no wakeup while the N? service has no process"
    s = socket.socket(socket.AF_UNIX)
    s.connect(inst.public("cond"))
    s.sendall(b"x")
    s.close()
    assert wait_for(lambda: any(l.endswith("trigger x") for l in cond_lines()), 3), inst.log()
    # Now in use: wakeups arrive, and after max_use=3 triggers the process exits.
    assert wait_for(lambda: sum(l.endswith("trigger W") for l in cond_lines()) >= 2, 4), inst.log()
    cond_pid = int(re.search(r"\[(\d+)\]: trigger x", "\n".join(cond_lines())).group(1))
    assert wait_for(lambda: not alive(cond_pid), 3)
    count = len(cond_lines())
    time.sleep(2.2)
    assert len(cond_lines()) == count, "no wakeup once the service has no process"


def test_multi_and_datagram_servers(make_instance):
    master_cf = (f"multi unix - - n - 1 {TESTD} -o posthorn_test_value=m -o max_use=3 multi\n"
                 f"dgram unix-dgram n - n - 1 {TESTD} dgram\n")
    inst = make_instance(master_cf).start()
    clients = [Client(inst.private("multi")) for _ in range(3)]
    replies = [fields(c.ask("posthorn_test_value")) for c in clients]
    assert len({r["pid"] for r in replies}) == 1 and {r["arg"] for r in replies} == {"m"}
    assert fields(clients[0].ask("posthorn_test_value"))["pid"] == replies[0]["pid"], "requests keep flowing"
    # max_use=3 reached: the process stops accepting and exits after its last client.
    late = Client(inst.private("multi"))
    late.sock.sendall(b"posthorn_test_value\n")
    for c in clients:
        c.close()
    answer = late.reply(timeout=5)
    assert answer and fields(answer)["pid"] != replies[0]["pid"]
    late.close()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"hello log", inst.public("dgram"))
    s.close()
    assert wait_for(lambda: re.search(r"posthorn-testd\[\d+\]: datagram hello log$", inst.log(), re.M), 3), inst.log()


def test_reload_adds_removes_and_keeps_sessions(make_instance):
    keep, gone, added = free_port(), free_port(), free_port()
    inst = make_instance(service_line(f"127.0.0.1:{keep}") + service_line(f"127.0.0.1:{gone}")).start()
    session = Client(("127.0.0.1", gone))
    old_pid = fields(session.ask("posthorn_test_value"))["pid"]
    keep_client = Client(("127.0.0.1", keep))
    keep_pid = fields(keep_client.ask("posthorn_test_value"))["pid"]
    keep_client.close()
    inst.write_master(service_line(f"127.0.0.1:{keep}", args="-o posthorn_test_value=changed")
                      + service_line(f"127.0.0.1:{added}"))
    inst.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: re.search(rf"postfix/master\[\d+\]: reload -- version 3\.7\.11, configuration {re.escape(str(inst.etc))}$",
                                      inst.log(), re.M), timeout=5.0), inst.log()
    # The established session on the removed service still works.
    answer = session.ask("posthorn_test_value")
    assert answer and fields(answer)["pid"] == old_pid and fields(answer)["arg"] == f"v-{gone}"
    # The added service answers; the kept one runs new processes with the new settings.
    c = Client(("127.0.0.1", added))
    assert fields(c.ask("posthorn_test_value"))["arg"] == f"v-{added}"
    c.close()
    c = Client(("127.0.0.1", keep))
    reply = fields(c.ask("posthorn_test_value"))
    assert reply["arg"] == "changed" and reply["pid"] != keep_pid
    c.close()
    assert wait_for(lambda: not alive(int(keep_pid)), 3), "the idle old process exits"
    session.close()
    assert wait_for(lambda: not alive(int(old_pid)), 3), "the old process exits after its client"
    with pytest.raises(OSError):
        Client(("127.0.0.1", gone), timeout=1).ask("x", timeout=1)


def test_sigterm_leaves_no_process(make_instance):
    port = free_port()
    inst = make_instance(service_line(f"127.0.0.1:{port}", maxproc="3")
                         + f"always fifo n - n 1 1 {TESTD} trigger\n").start()
    clients = [Client(("127.0.0.1", port)) for _ in range(3)]
    pids = [int(fields(c.ask("x"))["pid"]) for c in clients]
    assert wait_for(lambda: len(children_of(inst.proc.pid)) == 4, 4)
    master_pid = inst.proc.pid
    inst.proc.send_signal(signal.SIGTERM)
    assert inst.proc.wait(10) == 0
    assert "terminating on signal 15" in inst.log()
    assert not any(alive(p) for p in pids)
    assert children_of(master_pid) == []
    for c in clients:
        c.close()


def test_pid_file_second_master_and_test_mode(make_instance):
    port = free_port()
    inst = make_instance(service_line(f"127.0.0.1:{port}")).start()
    pid_file = inst.queue / "pid" / "master.pid"
    content = pid_file.read_text()
    assert content == f"{inst.proc.pid:>32}\n"
    assert stat.S_IMODE(pid_file.stat().st_mode) == 0o600
    second = subprocess.run([str(BIN / "master"), "-c", str(inst.etc), "-d"], capture_output=True, text=True, timeout=10)
    assert second.returncode == 1
    assert re.search(r"postfix/master\[\d+\]: fatal: the Postfix mail system is already running", second.stderr), second.stderr
    assert subprocess.run([str(BIN / "master"), "-c", str(inst.etc), "-t"], timeout=10).returncode == 1
    inst.stop()
    assert subprocess.run([str(BIN / "master"), "-c", str(inst.etc), "-t"], timeout=10).returncode == 0
    # -w: detach and return once the daemon runs.
    started = subprocess.run([str(BIN / "master"), "-c", str(inst.etc), "-w"], timeout=20,
                             stdin=subprocess.DEVNULL, capture_output=True)
    assert started.returncode == 0, started
    daemon = int(pid_file.read_text())
    try:
        assert alive(daemon) and daemon != inst.proc.pid
        assert Client(("127.0.0.1", port)).ask("x") is not None
    finally:
        os.kill(daemon, signal.SIGTERM)
    assert wait_for(lambda: not alive(daemon), 10)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to another user")
def test_privilege_drop_and_unprivileged_mode(make_instance):
    import pwd
    port = free_port()
    inst = make_instance(service_line(f"127.0.0.1:{port}").replace(" n - n ", " n - y ", 1),
                         main_extra="mail_owner = nobody\n")
    # As root: the service (unpriv = -) runs as mail_owner, chrooted (chroot = y).
    inst.start()
    pid = int(fields(Client(("127.0.0.1", port)).ask("x"))["pid"])
    nobody = pwd.getpwnam("nobody")
    status = Path(f"/proc/{pid}/status").read_text()
    assert re.search(rf"^Uid:\s+{nobody.pw_uid}\s+{nobody.pw_uid}", status, re.M), status
    assert re.search(rf"^Groups:\s+{nobody.pw_gid}\s*$", status, re.M), status
    assert os.readlink(f"/proc/{pid}/root") == str(inst.queue)
    inst.stop()
    # Started by another user: everything runs as that user, and master says so once.
    for path in (inst.root, inst.queue, inst.queue / "pid", inst.queue / "private", inst.queue / "public"):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    os.chown(inst.queue / "pid" / "master.pid", nobody.pw_uid, nobody.pw_gid)
    inst.log_path.unlink()

    def become_nobody():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    log = open(inst.log_path, "ab")
    proc = subprocess.Popen([str(BIN / "master"), "-c", str(inst.etc), "-d"], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, preexec_fn=become_nobody)
    try:
        assert wait_for(lambda: "daemon started" in inst.log(), 10), inst.log()
        assert inst.log().count(f"warning: running without root privileges: all services run as UID {nobody.pw_uid}") == 1
        pid = int(fields(Client(("127.0.0.1", port)).ask("x"))["pid"])
        assert re.search(rf"^Uid:\s+{nobody.pw_uid}\s", Path(f"/proc/{pid}/status").read_text(), re.M)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        log.close()


def test_pass_service_serves_a_handed_over_connection(make_instance):
    # A "pass" service receives client connections as descriptors sent over
    # its UNIX socket (as postscreen hands clients to smtpd).
    inst = make_instance(f"passer pass - - n - 1 {TESTD} -o posthorn_test_value=passed\n").start()
    ours, theirs = socket.socketpair()
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sender.settimeout(5)
    sender.connect(inst.private("passer"))
    socket.send_fds(sender, [b"x"], [theirs.fileno()])
    theirs.close()
    ours.settimeout(5)
    ours.sendall(b"posthorn_test_value\n")
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = ours.recv(4096)
        assert chunk, f"connection closed without a reply; log:\n{inst.log()}"
        reply += chunk
    assert fields(reply.decode().strip())["arg"] == "passed"
    ours.close()
    sender.close()


def test_inet_service_without_host_listens_on_inet_interfaces(make_instance):
    port = free_port()
    # Only 127.0.0.2 (a loopback address) is this instance's interface.
    inst = make_instance(service_line(str(port)), main_extra="inet_interfaces = 127.0.0.2\n").start()
    client = Client(("127.0.0.2", port))
    assert fields(client.ask("posthorn_test_value"))["arg"] == f"v-{port}"
    client.close()
    with pytest.raises(OSError):
        Client(("127.0.0.1", port), timeout=2)
