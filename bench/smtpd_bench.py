#!/usr/bin/env python3
"""Benchmark: SMTP into discard with Debian's smtp-source, Posthorn beside Postfix.

Issue 6's benchmark. For each implementation (Posthorn's release build and
Debian's Postfix 3.7), a private instance (benchlib.Instance: smtpd on a
loopback port with maxproc 120, cleanup, qmgr, trivial-rewrite, bounce,
discard, anvil, proxymap, postlogd; default_transport = discard) receives
N messages of 1 KiB from `/usr/sbin/smtp-source -s 20 -l 1024 -m N`
(20 parallel sessions, one message per session). Measured per run:

- messages per second: N / (time from smtp-source's start until discard
  has logged status=sent for all N);
- CPU milliseconds per message: user + system time of every process of the
  suite (master, each daemon, smtp-source excluded), from
  getrusage(RUSAGE_CHILDREN) of a sub-reaper that owns the suite's process
  tree, minus smtp-source's own rusage, divided by N;
- memory per idle session: 100 clients connect and read the banner; the
  PSS (/proc/PID/smaps_rollup) summed over all smtpd processes, divided
  by 100.

Runs alternate Posthorn, Postfix, ... (--rounds) in one invocation.

Needs root. Usage:
    swift build -c release --static-swift-stdlib
    bench/smtpd_bench.py [--messages 10000] [--sessions 20] [--rounds 1] [--posthorn-bin DIR]
"""
import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMTP_SOURCE = "/usr/sbin/smtp-source"
IDLE_SESSIONS = 100


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_one(kind, messages, sessions, posthorn_bin):
    benchlib.become_subreaper()
    port = free_port()
    master_cf = f"127.0.0.1:{port} inet n - n - 120 smtpd\n" + benchlib.BASE_MASTER_CF
    inst = benchlib.Instance(kind, posthorn_bin, master_cf,
                             main_extra="smtpd_client_connection_count_limit = 0\n"
                                        "smtpd_client_connection_rate_limit = 0\n")
    try:
        inst.start(ready_path="public/cleanup")
        user0, sys0 = benchlib.children_cpu()
        start = time.monotonic()
        src = subprocess.Popen([SMTP_SOURCE, "-s", str(sessions), "-l", "1024", "-m", str(messages),
                                "-f", "bench@example.com", "-t", "sink@example.org", f"127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, src_rusage = os.wait4(src.pid, 0)[1:]
        src_err = src.stderr.read().decode(errors="replace")
        delivered = inst.wait_delivered(messages)
        end = time.monotonic()
        # Idle sessions: connect, read the banner, hold.
        clients = []
        for _ in range(IDLE_SESSIONS):
            c = socket.create_connection(("127.0.0.1", port), timeout=30)
            c.recv(512)
            clients.append(c)
        time.sleep(1.0)
        smtpds = benchlib.processes_named("smtpd", inst.master.pid)
        pss = sum(benchlib.pss_kib(p) for p in smtpds)
        for c in clients:
            c.close()
        inst.stop()
        user1, sys1 = benchlib.children_cpu()
        user = user1 - user0 - src_rusage.ru_utime
        system = sys1 - sys0 - src_rusage.ru_stime
        return {"kind": kind, "messages": messages, "delivered": delivered, "seconds": end - start,
                "rate": delivered / (end - start), "cpu_ms_per_msg": (user + system) * 1000 / max(delivered, 1),
                "user_ms_per_msg": user * 1000 / max(delivered, 1), "sys_ms_per_msg": system * 1000 / max(delivered, 1),
                "smtpd_processes": len(smtpds), "pss_kib_per_session": pss / IDLE_SESSIONS,
                "smtp_source_errors": src_err[-500:]}
    finally:
        inst.stop()
        inst.remove()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=10000)
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--posthorn-bin", default=os.path.join(REPO, ".build", "release"))
    p.add_argument("--one", choices=("posthorn", "postfix"), help=argparse.SUPPRESS)
    a = p.parse_args()
    posthorn_bin = os.path.abspath(a.posthorn_bin)
    if a.one:
        print(json.dumps(run_one(a.one, a.messages, a.sessions, posthorn_bin)))
        return
    if os.geteuid() != 0:
        sys.exit("smtpd_bench: run as root")

    def report(r, kind, fig):
        print(f"round {r} {kind:8s}: {fig['delivered']}/{fig['messages']} delivered, {fig['rate']:.0f} msg/s, "
              f"{fig['cpu_ms_per_msg']:.2f} CPU ms/msg (user {fig['user_ms_per_msg']:.2f}, "
              f"sys {fig['sys_ms_per_msg']:.2f}), {fig['pss_kib_per_session']:.0f} KiB PSS per idle session "
              f"({fig['smtpd_processes']} smtpd processes)"
              + (f"; smtp-source: {fig['smtp_source_errors'].strip()}" if fig['smtp_source_errors'].strip() else ""),
              flush=True)

    results = benchlib.alternate_runs(__file__, ["--messages", str(a.messages), "--sessions", str(a.sessions), "--posthorn-bin", posthorn_bin], a.rounds, 3600, report)
    print()
    print("| suite | msg/s | CPU ms/msg | user | sys | PSS KiB per idle session |")
    print("|---|---|---|---|---|---|")
    for kind, figs in results.items():
        n = len(figs)
        avg = lambda k: sum(f[k] for f in figs) / n  # noqa: E731
        print(f"| {kind} | {avg('rate'):.0f} | {avg('cpu_ms_per_msg'):.2f} | {avg('user_ms_per_msg'):.2f} | "
              f"{avg('sys_ms_per_msg'):.2f} | {avg('pss_kib_per_session'):.0f} |")


if __name__ == "__main__":
    main()
