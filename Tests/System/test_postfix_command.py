"""System tests of the postfix control command, postlog and postlogd (issue 4).

Each test builds its own instance under /tmp (world-traversable, since the
services run as $mail_owner when the tests run as root): the repo's
etc/main.cf and etc/master.cf, re-rooted as scripts/run.sh does
(queue_directory, data_directory, meta_directory, maillog_file inside the
instance; daemon_directory = POSTHORN_BIN, command_directory holds set-gid
copies of postqueue and postdrop) and the
smtpd listener moved to a free loopback port.

The expected messages and exit codes are those observed from Debian's
Postfix 3.7 (postfix-script): messages go to the mail log always, and to
standard error only when it is a terminal (checked here through a pty).

Environment: POSTHORN_BIN (default <repo>/.build/debug) must hold postfix,
postlog, postlogd and master; a missing binary FAILS the test.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from posthorn_instance import BIN, REPO, free_port, make_root, wait_for

PROGRAMS = ("postfix", "postlog", "postlogd", "master")
LINE = re.compile(r"^[A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} (\S+) (\S+)\[(\d+)\]: (.*)$")


class Instance:
    def __init__(self, maillog: str | None = None, master_cf: str | None = None):
        for program in PROGRAMS:
            if not (BIN / program).is_file():
                pytest.fail(f"missing {BIN / program}: build first or set POSTHORN_BIN", pytrace=False)
        subdirs = ("etc", "spool", "data", "log")
        self.root = make_root("posthorn-ctl-", subdirs, data_owner="postfix" if os.geteuid() == 0 else None,
                              tmpdir=None)
        self.etc, self.spool, self.data, self.logdir = (self.root / n for n in subdirs)
        self.log_path = self.logdir / "posthorn.log"
        # command_directory holds the set-gid commands installed as Postfix
        # installs them (postfix check inspects them); daemons come from BIN.
        self.commands = self.root / "bin"
        self.commands.mkdir()
        for name in ("postqueue", "postdrop"):
            if (BIN / name).exists():
                shutil.copy(BIN / name, self.commands / name)
                if os.geteuid() == 0:
                    shutil.chown(self.commands / name, user="root", group="postdrop")
                    os.chmod(self.commands / name, 0o2755)
        for f in (REPO / "etc").iterdir():
            if f.is_file() and f.name not in ("main.cf", "master.cf"):
                shutil.copy(f, self.etc / f.name)
        main = (REPO / "etc" / "main.cf").read_text()
        values = {
            "queue_directory": str(self.spool), "data_directory": str(self.data),
            "command_directory": str(self.commands), "daemon_directory": str(BIN),
            "meta_directory": str(self.etc), "maillog_file": maillog or str(self.log_path),
            "maillog_file_prefixes": f"/var, /dev/stdout, {self.logdir}",
        }
        for name, value in values.items():
            main, n = re.subn(rf"(?m)^{name}\s*=.*$", f"{name} = {value}", main)
            if n == 0:
                main += f"{name} = {value}\n"
        (self.etc / "main.cf").write_text(main)
        master = (REPO / "etc" / "master.cf").read_text().replace("127.0.0.1:2525", f"127.0.0.1:{free_port()}")
        (self.etc / "master.cf").write_text(master_cf if master_cf is not None else master)

    def run(self, *args, stdin: bytes | None = None, timeout=20) -> subprocess.CompletedProcess:
        program = args[0]
        return subprocess.run([str(BIN / program), "-c", str(self.etc), *args[1:]], input=stdin or b"",
                              capture_output=True, timeout=timeout)

    def run_tty(self, *args, timeout=20) -> tuple[int, str]:
        """Runs with standard error on a pseudo-terminal; returns (rc, stderr)."""
        return tty_output([str(BIN / args[0]), "-c", str(self.etc), *args[1:]], timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def messages(self) -> list[str]:
        """`TAG: TEXT` of each log line."""
        out = []
        for line in self.log().splitlines():
            m = LINE.match(line)
            if m:
                out.append(f"{m.group(2)}: {m.group(4)}")
        return out

    def master_pid(self) -> int | None:
        try:
            return int((self.spool / "pid" / "master.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def processes(self) -> list[int]:
        """Our processes: executable under POSTHORN_BIN, working in or
        configured for this instance."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                exe = os.readlink(f"/proc/{entry}/exe")
                if not exe.startswith(str(BIN.resolve()) + "/"):
                    continue
                cwd = os.readlink(f"/proc/{entry}/cwd")
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
                continue
            if state != "Z" and (cwd.startswith(str(self.root)) or str(self.etc) in cmdline):
                found.append(int(entry))
        return found

    def cleanup(self):
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def instance():
    inst = Instance()
    yield inst
    inst.cleanup()


# For `postfix check`: only programs this issue brings, so that the
# configuration validation finds no "program ... is not installed" error.
POSTLOG_ONLY = "postlog   unix-dgram n  -       n       -       1       postlogd\n"


@pytest.fixture
def small_instance():
    inst = Instance(master_cf=POSTLOG_ONLY)
    yield inst
    inst.cleanup()


def test_start_status_reload_stop(instance):
    r = instance.run("postfix", "status")
    assert r.returncode == 1 and r.stderr == b"", r
    assert wait_for(lambda: "postfix/postfix-script: the Postfix mail system is not running" in instance.messages(), 5), instance.log()

    r = instance.run("postfix", "start")
    assert r.returncode == 0, r
    assert wait_for(lambda: "postfix/postfix-script: starting the Postfix mail system" in instance.messages(), 5), instance.log()
    pid = wait_for(instance.master_pid)
    assert pid, "no pid/master.pid"
    assert wait_for(lambda: f"postfix/master: daemon started -- version 3.7.11, configuration {instance.etc}"
                    in instance.messages()), instance.log()

    r = instance.run("postfix", "status")
    assert r.returncode == 0, r
    assert wait_for(lambda: f"postfix/postfix-script: the Postfix mail system is running: PID: {pid}" in instance.messages(), 5), instance.log()
    rc, err = instance.run_tty("postfix", "status")
    assert (rc, err) == (0, f"postfix/postfix-script: the Postfix mail system is running: PID: {pid}\n")

    # A second start refuses: in the log always, on stderr on a terminal.
    r = instance.run("postfix", "start")
    assert r.returncode == 1 and r.stderr == b"", r
    assert wait_for(lambda: "postfix/postfix-script: fatal: the Postfix mail system is already running" in instance.messages(), 5), instance.log()
    rc, err = instance.run_tty("postfix", "start")
    assert (rc, err) == (1, "postfix/postfix-script: fatal: the Postfix mail system is already running\n")
    assert instance.master_pid() == pid

    r = instance.run("postfix", "reload")
    assert r.returncode == 0, r
    assert wait_for(lambda: "postfix/postfix-script: refreshing the Postfix mail system" in instance.messages(), 5), instance.log()
    assert wait_for(lambda: f"postfix/master: reload -- version 3.7.11, configuration {instance.etc}"
                    in instance.messages()), instance.log()

    r = instance.run("postfix", "stop", timeout=15)
    assert r.returncode == 0, r
    assert wait_for(lambda: "postfix/postfix-script: stopping the Postfix mail system" in instance.messages(), 5), instance.log()
    assert wait_for(lambda: not instance.processes(), 5), f"left behind: {instance.processes()}"

    r = instance.run("postfix", "status")
    assert r.returncode == 1, r
    rc, err = instance.run_tty("postfix", "stop")
    assert (rc, err) == (1, "postfix/postfix-script: fatal: the Postfix mail system is not running\n")
    rc, err = instance.run_tty("postfix", "reload")
    assert (rc, err) == (1, "postfix/postfix-script: fatal: the Postfix mail system is not running\n")


def test_check_creates_queue_directories(small_instance):
    instance = small_instance
    r = instance.run("postfix", "check")
    assert r.returncode == 0, r
    expected = {"active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming",
                "maildrop", "pid", "private", "public", "saved", "trace"}
    assert expected <= {p.name for p in instance.spool.iterdir()}
    modes = {p.name: p.stat().st_mode & 0o7777 for p in instance.spool.iterdir()}
    assert modes["maildrop"] == 0o730 and modes["public"] == 0o710 and modes["pid"] == 0o755
    assert modes["active"] == 0o700
    if os.geteuid() == 0:
        import grp
        import pwd
        assert pwd.getpwuid((instance.spool / "active").stat().st_uid).pw_name == "postfix"
        assert grp.getgrgid((instance.spool / "maildrop").stat().st_gid).gr_name == "postdrop"
        assert (instance.spool / "pid").stat().st_uid == 0
    assert not [m for m in instance.messages() if "warning" in m], instance.log()


def test_check_refuses_missing_postlog_service(small_instance):
    (small_instance.etc / "master.cf").write_text("")
    rc, err = small_instance.run_tty("postfix", "check")
    assert (rc, err) == (1, "postfix/postfix-script: fatal: missing 'postlog' service in master.cf"
                            " - run 'postfix upgrade-configuration'\n")


def test_check_warns_about_modes_as_postfix(small_instance):
    instance = small_instance
    assert instance.run("postfix", "check").returncode == 0
    os.chmod(instance.spool, 0o775)
    (instance.spool / "corrupt" / "ABC").write_text("x")
    if os.geteuid() == 0:
        shutil.chown(instance.spool / "corrupt" / "ABC", user="postfix")
        shutil.chown(instance.spool / "public", group="root")
    rc, err = instance.run_tty("postfix", "check")
    assert rc == 0, err
    want = [f"postfix/postfix-script: warning: group or other writable: {instance.spool}/.",
            "postfix/postfix-script: warning: damaged message: corrupt/ABC"]
    if os.geteuid() == 0:
        want.insert(1, f"postfix/postfix-script: warning: not owned by group postdrop: {instance.spool}/public")
    assert err.splitlines() == want
    assert [m for m in instance.messages() if "warning" in m] == want


def test_postlog_lines_in_maillog_file(instance):
    r = instance.run("postlog", "hello", "world")
    assert r.returncode == 0, r
    r = instance.run("postlog", "-t", "mytag", "-p", "warn", stdin=b"line1\nline2\n")
    assert r.returncode == 0, r
    lines = instance.log().splitlines()
    assert len(lines) == 3, lines
    for line in lines:
        m = LINE.match(line)
        assert m, line
        assert m.group(1) == "posthorn"  # first label of myhostname
    assert [f"{LINE.match(l).group(2)}: {LINE.match(l).group(4)}" for l in lines] == [
        "postfix/postlog: hello world", "mytag: warning: line1", "mytag: warning: line2"]
    rc, err = instance.run_tty("postlog", "-p", "bogus", "x")
    assert (rc, err) == (1, 'postfix/postlog: fatal: bad severity: "bogus"\n')


def test_postlog_through_postlogd(instance):
    assert instance.run("postfix", "start").returncode == 0
    assert wait_for(lambda: any("daemon started" in m for m in instance.messages()))
    assert instance.run("postlog", "-t", "x/y", "via postlogd").returncode == 0
    assert wait_for(lambda: "x/y: via postlogd" in instance.messages(), 5), instance.log()
    assert instance.run("postfix", "stop", timeout=15).returncode == 0
    assert wait_for(lambda: not instance.processes(), 5)


def test_start_fg_logs_to_stdout_and_stops_on_sigterm():
    inst = Instance(maillog="/dev/stdout")
    try:
        proc = subprocess.Popen([str(BIN / "postfix"), "-c", str(inst.etc), "start-fg"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = b""
        deadline = time.monotonic() + 10
        os.set_blocking(proc.stdout.fileno(), False)
        while b"daemon started" not in out and time.monotonic() < deadline:
            chunk = proc.stdout.read()
            if chunk:
                out += chunk
            time.sleep(0.05)
        text = out.decode(errors="replace")
        assert f"postfix/master[{proc.pid}]: daemon started -- version 3.7.11, configuration {inst.etc}" in text, text
        assert "postfix/postfix-script" in text and "starting the Postfix mail system" in text
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        assert wait_for(lambda: not inst.processes(), 5), f"left behind: {inst.processes()}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        inst.cleanup()


def tty_output(argv: list[str], timeout=20) -> tuple[int, str]:
    """Runs argv with standard error on a pseudo-terminal; (rc, stderr)."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower)
        os.close(follower)
        rc = proc.wait(timeout=timeout)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return rc, b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    finally:
        os.close(leader)


@pytest.mark.parametrize("level", ["0", "2", "3.6"])
def test_compatibility_level_notice_matches_postfix(level, tmp_path):
    """Below compatibility level 3.6 every postfix command says it runs with
    backwards-compatible defaults (terminal and log), before anything else;
    compared with Debian's postfix on the same main.cf (whose queue
    directory is missing, so both stop right after)."""
    oracle = Path("/usr/sbin/postfix")
    if not oracle.exists():
        pytest.fail("Debian's postfix is not installed (scripts/test.sh installs it)", pytrace=False)
    outputs = []
    for name, program in (("oracle", str(oracle)), ("ours", str(BIN / "postfix"))):
        etc = tmp_path / name
        etc.mkdir()
        (etc / "main.cf").write_text(f"queue_directory = {tmp_path}/missing-queue\n"
                                     f"maillog_file = {etc}/maillog\nmaillog_file_prefixes = {tmp_path}\n"
                                     f"compatibility_level = {level}\n")
        (etc / "master.cf").write_text("")
        rc, err = tty_output([program, "-c", str(etc), "check"])
        logged = [LINE.match(l) for l in (etc / "maillog").read_text().splitlines()] if (etc / "maillog").exists() else []
        outputs.append((rc, err, [f"{m.group(2)}: {m.group(4)}" for m in logged if m]))
    assert outputs[1] == outputs[0]
    notice = "postfix: Postfix is using backwards-compatible default settings"
    assert (notice in outputs[1][1]) == (level != "3.6")
    assert (notice in outputs[1][2]) == (level != "3.6")
