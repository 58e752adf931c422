"""A private Posthorn instance for system tests: one temporary root with
etc/ (main.cf, master.cf and any table files), queue/ and data/, run by our
master (`master -c ETC -d`), logging to ROOT/maillog through postlogd.

Tests drive it only through its public faces: sockets, the command-line
programs, queue files and log lines. Shared by the test modules that need a
running mail system; each module picks the services it wants in master.cf.

    inst = PosthornInstance(main_extra="default_transport = discard",
                            master=BASE_MASTER + "discard unix - n n - - discard\n")
    inst.start()
    ...
    inst.stop()

Also the scaffolding test modules with an instance of their own share:
QUEUES and make_queue_dirs() (for a master started without `postfix
check`), make_root(), terminate(), read_logs(), wait_for(), free_port(),
can_connect(), child_pid() and require_programs().

Environment: POSTHORN_BIN (default <repo>/.build/debug). Needs root: the
services run as mail_owner (postfix).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("POSTHORN_BIN", REPO / ".build" / "debug")).absolute()

QUEUES = ("incoming", "active", "deferred", "hold", "maildrop", "corrupt", "defer", "bounce", "trace",
          "saved", "spare", "flush", "private", "public", "pid")

# Every main.cf starts with this; {root} and {bin} are filled in.
BASE_MAIN = """queue_directory = {root}/queue
data_directory = {root}/data
command_directory = {bin}
daemon_directory = {bin}
inet_interfaces = loopback-only
inet_protocols = ipv4
compatibility_level = 3.6
myhostname = mta.example.test
mydomain = example.test
mydestination =
maillog_file = {root}/maillog
maillog_file_prefixes = /tmp
queue_run_delay = 1s
"""

# The services almost every test needs (message entry, routing, logging).
BASE_MASTER = """pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
showq     unix  n       -       n       -       -       showq
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def wait_for(predicate, timeout=10.0, interval=0.05):
    """Polls predicate until it returns a true value or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def make_root(prefix: str, subdirs=("etc", "queue", "data"), data_owner: str | None = "postfix",
              tmpdir: str | None = "/tmp") -> Path:
    """A new temporary instance root (mode 0755) with subdirs (each 0755);
    data/ is handed to data_owner unless that is None."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=tmpdir))
    os.chmod(root, 0o755)
    for d in subdirs:
        (root / d).mkdir()
        os.chmod(root / d, 0o755)
    if data_owner is not None:
        shutil.chown(root / "data", user=data_owner)
    return root


def make_queue_dirs(queue: Path, mode: int = 0o700) -> None:
    """Creates every directory of QUEUES under queue, for tests that start
    master without `postfix check`."""
    for q in QUEUES:
        (queue / q).mkdir()
        os.chmod(queue / q, mode)


def read_logs(root: Path, names=("master.log", "maillog")) -> str:
    """The named log files under root, each under a "--- name ---" line."""
    text = ""
    for name in names:
        p = root / name
        if p.exists():
            text += f"--- {name} ---\n" + p.read_text(errors="replace")
    return text


def terminate(proc: subprocess.Popen | None) -> None:
    """SIGTERM to proc (a master) if it still runs; SIGKILL after 10 s."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def distinct_ports(count: int) -> list[int]:
    """`count` loopback ports, free a moment ago and all different (held
    open together while they are picked: separate free_port() calls can
    return the same port twice)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (for a listener in master.cf)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def can_connect(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port (1 s timeout)."""
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


def child_pid(master_pid: int, program: str) -> int | None:
    """The PID of a child of master_pid whose argv[0] ends with program
    (e.g. the running qmgr), or None."""
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                cmd = (d / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master_pid and cmd.endswith(program.encode()):
                return int(d.name)
    return None


def require_programs(*programs: str) -> None:
    """Fails (never skips) the test when a binary is missing or we are not root."""
    for program in programs:
        if not (BIN / program).is_file():
            pytest.fail(f"missing {BIN / program}: build first or set POSTHORN_BIN", pytrace=False)
    if os.geteuid() != 0:
        pytest.fail("needs root (services run as mail_owner)", pytrace=False)


class PosthornInstance:
    def __init__(self, main_extra: str = "", master: str = BASE_MASTER, files: dict[str, str] | None = None,
                 prefix: str = "posthorn-"):
        self.root = make_root(prefix)
        self.etc = self.root / "etc"
        self.queue = self.root / "queue"
        main = BASE_MAIN.format(root=self.root, bin=BIN) + main_extra.replace("{root}", str(self.root)) + "\n"
        (self.etc / "main.cf").write_text(main)
        (self.etc / "master.cf").write_text(master)
        for name, content in (files or {}).items():
            (self.etc / name).write_text(content)
        self.proc: subprocess.Popen | None = None
        self.log = None

    # -- life cycle --------------------------------------------------------

    def start(self, wait_for_services=("public/qmgr",)):
        """`postfix check` (which creates the queue directories with their
        owners and modes, as postfix-script does), then master."""
        check = self.run("postfix", "check")
        assert check.returncode == 0, check.stderr.decode(errors="replace")
        self.log = open(self.root / "master.log", "ab")
        self.proc = subprocess.Popen([str(BIN / "master"), "-c", str(self.etc), "-d"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        for service in wait_for_services:
            assert wait_for(lambda: (self.queue / service).exists()), f"{service} missing\n" + self.logs()
        return self

    def stop(self, remove=True):
        terminate(self.proc)
        if self.log:
            self.log.close()
            self.log = None
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- logs --------------------------------------------------------------

    def maillog(self) -> str:
        p = self.root / "maillog"
        return p.read_text(errors="replace") if p.exists() else ""

    def logs(self) -> str:
        return read_logs(self.root)

    def wait_log(self, pattern: str, timeout=10.0, count=1) -> list[re.Match]:
        """Waits until at least count log lines match pattern (re.M)."""
        found = wait_for(lambda: (ms := list(re.finditer(pattern, self.maillog(), re.M))) and len(ms) >= count
                         and ms, timeout)
        assert found, f"no {count} log lines matching {pattern!r}:\n{self.logs()}"
        return found

    # -- commands and queues -----------------------------------------------

    def run(self, program: str, *args, stdin: str | bytes | None = None, config_flag="-c", timeout=30):
        data = stdin.encode() if isinstance(stdin, str) else stdin
        return subprocess.run([str(BIN / program), config_flag, str(self.etc), *args], input=data,
                              capture_output=True, timeout=timeout)

    def sendmail(self, args, message: str | bytes, timeout=20):
        return self.run("sendmail", *args, stdin=message, config_flag="-C", timeout=timeout)

    def files(self, queue: str) -> list[str]:
        return sorted(p.name for p in (self.queue / queue).rglob("*") if p.is_file())

    def trigger(self, service: str = "qmgr", data: bytes = b"I"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(str(self.queue / "public" / service))
        s.sendall(data)
        s.close()

    def queue_empty(self) -> bool:
        return not any(self.files(q) for q in ("maildrop", "incoming", "active", "deferred"))
