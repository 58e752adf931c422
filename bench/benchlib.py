"""Shared pieces of the mail-path benchmarks (queue_bench.py, smtpd_bench.py):
a private instance of either implementation under a temporary directory,
run by its master in the foreground, inside a sub-reaper process so that
getrusage(RUSAGE_CHILDREN) covers every process of the suite.
"""
import ctypes
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time

PR_SET_CHILD_SUBREAPER = 36

BASE_MASTER_CF = """pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
discard   unix  -       -       n       -       -       discard
showq     unix  n       -       n       -       -       showq
anvil     unix  -       -       n       -       1       anvil
proxymap  unix  -       -       n       -       -       proxymap
postlog   unix-dgram n  -       n       -       1       postlogd
"""

SENT = re.compile(rb"/discard\[\d+\]: [0-9A-Za-z]+: to=<[^>]*>, .*status=sent")


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def suite_dirs(kind, posthorn_bin):
    """(command_directory, daemon_directory) of an implementation."""
    if kind == "posthorn":
        return posthorn_bin, posthorn_bin
    return "/usr/sbin", "/usr/lib/postfix/sbin"


class Instance:
    def __init__(self, kind, posthorn_bin, master_cf=BASE_MASTER_CF, main_extra=""):
        self.kind = kind
        self.command_dir, self.daemon_dir = suite_dirs(kind, posthorn_bin)
        self.root = tempfile.mkdtemp(prefix=f"bench-{kind}-", dir="/tmp")
        os.chmod(self.root, 0o755)
        for d in ("etc", "queue", "data"):
            os.mkdir(os.path.join(self.root, d))
            os.chmod(os.path.join(self.root, d), 0o755)
        shutil.chown(os.path.join(self.root, "data"), user="postfix")
        self.etc = os.path.join(self.root, "etc")
        self.maillog = os.path.join(self.root, "maillog")
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(f"""queue_directory = {self.root}/queue
data_directory = {self.root}/data
command_directory = {self.command_dir}
daemon_directory = {self.daemon_dir}
inet_interfaces = loopback-only
inet_protocols = ipv4
compatibility_level = 3.6
myhostname = mta.bench.invalid
mydomain = bench.invalid
mydestination =
default_transport = discard
maillog_file = {self.maillog}
maillog_file_prefixes = /tmp
alias_maps =
alias_database =
""" + main_extra)
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(master_cf)
        self.master = None
        self._log_offset = 0
        self._sent = 0

    def start(self, ready_path="public/pickup"):
        subprocess.run([os.path.join(self.command_dir, "postfix"), "-c", self.etc, "check"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        self.master = subprocess.Popen([os.path.join(self.daemon_dir, "master"), "-c", self.etc, "-d"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(self.root, "queue", ready_path)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind}: {ready_path} never appeared")
            time.sleep(0.05)
        time.sleep(0.5)

    def delivered(self):
        """Deliveries logged so far. The log is read incrementally: rescanning
        a log of megabytes ten times a second would take CPU from the suite
        being measured."""
        try:
            with open(self.maillog, "rb") as f:
                f.seek(self._log_offset)
                data = f.read()
        except FileNotFoundError:
            return 0
        whole = data[:data.rfind(b"\n") + 1]
        self._log_offset += len(whole)
        self._sent += len(SENT.findall(whole))
        return self._sent

    def wait_delivered(self, count, timeout=900):
        """Polls the log every 10 ms (the log is read incrementally): the
        end of a run is then known to 10 ms, not to the 100 ms of an
        earlier version, which added about 50 ms to every run's time, 1% of
        a 5-second run."""
        deadline = time.monotonic() + timeout
        n = self.delivered()
        while n < count and time.monotonic() < deadline:
            time.sleep(0.01)
            n = self.delivered()
        return n

    def stop(self):
        """Stops master and reaps every descendant (they come to us, the sub-reaper)."""
        if self.master and self.master.poll() is None:
            self.master.send_signal(signal.SIGTERM)
            self.master.wait(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.05)

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime, r.ru_stime


def pss_kib(pid):
    """Proportional set size of one process (smaps_rollup), KiB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def processes_named(name, root_pid):
    """PIDs of descendants of root_pid whose command name is `name`."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
        children.setdefault(ppid, []).append((int(entry), comm))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        for child, comm in children.get(pid, []):
            todo.append(child)
            if comm == name:
                found.append(child)
    return found


SETTLE_SECONDS = 5


def alternate_runs(script, extra_args, rounds, timeout, report):
    """Runs `script --one KIND extra_args` for Posthorn then Postfix, `rounds`
    times, each in its own process (its own sub-reaper); calls
    report(round, kind, figures) after each run and returns
    {kind: [figures...]}."""
    import json
    import sys
    results = {"posthorn": [], "postfix": []}
    for r in range(rounds):
        for kind in ("posthorn", "postfix"):
            # Each run starts on a settled machine: the previous run's
            # dirty pages written back (its queue files and log), so that
            # writeback does not run during the next suite's measurement.
            os.sync()
            time.sleep(SETTLE_SECONDS)
            out = subprocess.run([sys.executable, os.path.abspath(script), "--one", kind, *extra_args],
                                 capture_output=True, text=True, timeout=timeout)
            if out.returncode != 0:
                sys.exit(f"{kind} run failed:\n{out.stderr}")
            figures = json.loads(out.stdout)
            results[kind].append(figures)
            report(r + 1, kind, figures)
    return results
