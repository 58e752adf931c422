#!/usr/bin/env python3
"""Benchmark: messages through sendmail into discard, Posthorn beside Postfix.

Issue 5's queue benchmark. For each implementation (Posthorn's release
build and Debian's Postfix 3.7), a private instance under a temporary
directory (master.cf: pickup, cleanup, qmgr, trivial-rewrite, bounce,
defer, trace, discard, showq, postlogd; default_transport = discard;
maillog_file through postlogd) receives N messages submitted with that
implementation's own `sendmail` (C submitters in parallel; sendmail runs
postdrop, which writes maildrop; pickup, cleanup, qmgr and discard do the
rest). Measured per run:

- messages per second: N / (time from the first submission until discard
  has logged status=sent for all N);
- CPU milliseconds per message: user + system time of every process of the
  suite (master, every daemon, every sendmail and postdrop), from
  getrusage(RUSAGE_CHILDREN) of a sub-reaper process that owns the whole
  process tree, divided by N.

Runs alternate Posthorn, Postfix, Posthorn, Postfix ... (--rounds) in one
invocation on the same machine, so both see the same conditions.

Needs root (Postfix's master and postdrop). Usage:
    swift build -c release --static-swift-stdlib
    bench/queue_bench.py [--messages 10000] [--submitters 4] [--rounds 2] [--posthorn-bin DIR]
"""
import argparse
import ctypes
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PR_SET_CHILD_SUBREAPER = 36

MASTER_CF = """pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
discard   unix  -       -       n       -       -       discard
showq     unix  n       -       n       -       -       showq
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MESSAGE = ("From: bench@example.com\nTo: sink@example.org\nSubject: benchmark {n}\n\n"
           + "A line of benchmark text to make the message about one kilobyte long.\n" * 14)


def suite_dirs(kind, posthorn_bin):
    if kind == "posthorn":
        return posthorn_bin, posthorn_bin
    return "/usr/sbin", "/usr/lib/postfix/sbin"


def run_one(kind, messages, submitters, posthorn_bin):
    """Runs one suite in this process, which must be a sub-reaper; returns figures."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    command_dir, daemon_dir = suite_dirs(kind, posthorn_bin)
    root = tempfile.mkdtemp(prefix=f"bench-queue-{kind}-", dir="/tmp")
    os.chmod(root, 0o755)
    for d in ("etc", "queue", "data"):
        os.mkdir(os.path.join(root, d))
        os.chmod(os.path.join(root, d), 0o755)
    shutil.chown(os.path.join(root, "data"), user="postfix")
    etc = os.path.join(root, "etc")
    with open(os.path.join(etc, "main.cf"), "w") as f:
        f.write(f"""queue_directory = {root}/queue
data_directory = {root}/data
command_directory = {command_dir}
daemon_directory = {daemon_dir}
inet_interfaces = loopback-only
inet_protocols = ipv4
compatibility_level = 3.6
myhostname = mta.bench.invalid
mydomain = bench.invalid
mydestination =
default_transport = discard
maillog_file = {root}/maillog
maillog_file_prefixes = /tmp
""")
    with open(os.path.join(etc, "master.cf"), "w") as f:
        f.write(MASTER_CF)
    maillog = os.path.join(root, "maillog")
    try:
        subprocess.run([os.path.join(command_dir, "postfix"), "-c", etc, "check"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        master = subprocess.Popen([os.path.join(daemon_dir, "master"), "-c", etc, "-d"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(root, "queue", "public", "pickup")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind}: pickup never appeared")
            time.sleep(0.05)
        time.sleep(0.5)

        counter = iter(range(messages))
        lock = threading.Lock()
        failures = []
        sendmail = os.path.join(command_dir, "sendmail")

        def submitter():
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                r = subprocess.run([sendmail, "-C", etc, "-i", "-f", "bench@example.com", "sink@example.org"],
                                   input=MESSAGE.format(n=n).encode(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
                if r.returncode != 0:
                    with lock:
                        failures.append(r.stderr.decode(errors="replace"))

        start = time.monotonic()
        threads = [threading.Thread(target=submitter) for _ in range(submitters)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        submitted = time.monotonic()
        sent = re.compile(rb"/discard\[\d+\]: [0-9A-Za-z]+: to=<[^>]*>, .*status=sent")
        delivered = 0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                with open(maillog, "rb") as f:
                    delivered = len(sent.findall(f.read()))
            except FileNotFoundError:
                delivered = 0
            if delivered >= messages - len(failures):
                break
            time.sleep(0.1)
        end = time.monotonic()
        master.send_signal(signal.SIGTERM)
        master.wait(30)
        # Reap every descendant (orphans come to us as the sub-reaper).
        reap_deadline = time.monotonic() + 30
        while time.monotonic() < reap_deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.05)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        user = after.ru_utime - before.ru_utime
        system = after.ru_stime - before.ru_stime
        return {
            "kind": kind, "messages": messages, "delivered": delivered, "failures": len(failures),
            "first_failure": failures[0] if failures else "",
            "seconds": end - start, "submit_seconds": submitted - start,
            "rate": delivered / (end - start) if end > start else 0.0,
            "cpu_ms_per_msg": (user + system) * 1000 / max(delivered, 1),
            "user_ms_per_msg": user * 1000 / max(delivered, 1),
            "sys_ms_per_msg": system * 1000 / max(delivered, 1),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=10000)
    p.add_argument("--submitters", type=int, default=4)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--posthorn-bin", default=os.path.join(REPO, ".build", "release"))
    p.add_argument("--one", choices=("posthorn", "postfix"), help=argparse.SUPPRESS)
    a = p.parse_args()
    posthorn_bin = os.path.abspath(a.posthorn_bin)
    if a.one:
        print(json.dumps(run_one(a.one, a.messages, a.submitters, posthorn_bin)))
        return
    if os.geteuid() != 0:
        sys.exit("queue_bench: run as root")
    results = {"posthorn": [], "postfix": []}
    for r in range(a.rounds):
        for kind in ("posthorn", "postfix"):
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", kind,
                                  "--messages", str(a.messages), "--submitters", str(a.submitters),
                                  "--posthorn-bin", posthorn_bin], capture_output=True, text=True, timeout=1800)
            if out.returncode != 0:
                sys.exit(f"{kind} run failed:\n{out.stderr}")
            fig = json.loads(out.stdout)
            results[kind].append(fig)
            print(f"round {r + 1} {kind:8s}: {fig['delivered']}/{fig['messages']} delivered, "
                  f"{fig['rate']:.0f} msg/s, {fig['cpu_ms_per_msg']:.2f} CPU ms/msg "
                  f"(user {fig['user_ms_per_msg']:.2f}, sys {fig['sys_ms_per_msg']:.2f}), "
                  f"submission {fig['submit_seconds']:.1f} s, failures {fig['failures']}", flush=True)
    print()
    print("| suite | msg/s (mean) | CPU ms/msg (mean) | user | sys |")
    print("|---|---|---|---|---|")
    for kind, figs in results.items():
        n = len(figs)
        print(f"| {kind} | {sum(f['rate'] for f in figs) / n:.0f} | {sum(f['cpu_ms_per_msg'] for f in figs) / n:.2f} | "
              f"{sum(f['user_ms_per_msg'] for f in figs) / n:.2f} | {sum(f['sys_ms_per_msg'] for f in figs) / n:.2f} |")


if __name__ == "__main__":
    main()
