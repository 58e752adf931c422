#!/usr/bin/env python3
"""Benchmark: messages through sendmail into discard, Posthorn beside Postfix.

Issue 5's queue benchmark. For each implementation (Posthorn's release
build and Debian's Postfix 3.7), a private instance under a temporary
directory (benchlib.Instance; master.cf: pickup, cleanup, qmgr,
trivial-rewrite, bounce, defer, trace, discard, showq, anvil, proxymap, postlogd; default_transport = discard;
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
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MESSAGE = ("From: bench@example.com\nTo: sink@example.org\nSubject: benchmark {n}\n\n"
           + "A line of benchmark text to make the message about one kilobyte long.\n" * 14)


def run_one(kind, messages, submitters, posthorn_bin):
    """Runs one suite in this process (made a sub-reaper); returns figures."""
    benchlib.become_subreaper()
    inst = benchlib.Instance(kind, posthorn_bin)
    try:
        inst.start()
        user0, sys0 = benchlib.children_cpu()
        counter = iter(range(messages))
        lock = threading.Lock()
        failures = []
        sendmail = os.path.join(inst.command_dir, "sendmail")

        def submitter():
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                r = subprocess.run([sendmail, "-C", inst.etc, "-i", "-f", "bench@example.com", "sink@example.org"],
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
        delivered = inst.wait_delivered(messages - len(failures), timeout=600)
        end = time.monotonic()
        inst.stop()
        user1, sys1 = benchlib.children_cpu()
        user = user1 - user0
        system = sys1 - sys0
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
        inst.stop()
        inst.remove()


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

    def report(r, kind, fig):
        print(f"round {r} {kind:8s}: {fig['delivered']}/{fig['messages']} delivered, "
              f"{fig['rate']:.0f} msg/s, {fig['cpu_ms_per_msg']:.2f} CPU ms/msg "
              f"(user {fig['user_ms_per_msg']:.2f}, sys {fig['sys_ms_per_msg']:.2f}), "
              f"submission {fig['submit_seconds']:.1f} s, failures {fig['failures']}", flush=True)

    results = benchlib.alternate_runs(__file__, ["--messages", str(a.messages), "--submitters", str(a.submitters), "--posthorn-bin", posthorn_bin], a.rounds, 1800, report)
    print()
    print("| suite | msg/s (mean) | CPU ms/msg (mean) | user | sys |")
    print("|---|---|---|---|---|")
    for kind, figs in results.items():
        n = len(figs)
        print(f"| {kind} | {sum(f['rate'] for f in figs) / n:.0f} | {sum(f['cpu_ms_per_msg'] for f in figs) / n:.2f} | "
              f"{sum(f['user_ms_per_msg'] for f in figs) / n:.2f} | {sum(f['sys_ms_per_msg'] for f in figs) / n:.2f} |")


if __name__ == "__main__":
    main()
