#!/usr/bin/env python3
"""Benchmark: postconf start-up and output, Posthorn beside Debian's Postfix.

Runs `postconf -c DIR -n` and `postconf -c DIR -d` on the seed deployment's
configuration (re-rooted into a temporary directory) N times for each
implementation, interleaved, and prints the mean wall time per run and the
peak resident set size of one run. Needs GNU time (Debian package `time`). Usage:

    bench/postconf_bench.py [--runs N] [--posthorn PATH] [--postfix PATH]
"""
import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SEED = os.path.join(os.path.dirname(REPO), "shared", "seed", "etc", "postfix")


def peak_rss_kib(argv):
    """Peak RSS of one run of argv, in KiB, as GNU time reports it (a child
    of Python would count Python's own pages; GNU time is small)."""
    result = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, check=False)
    return int(result.stderr.strip().splitlines()[-1])


def mean_ms(argv, runs):
    start = time.perf_counter()
    for _ in range(runs):
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return (time.perf_counter() - start) * 1000.0 / runs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--posthorn", default=os.path.join(REPO, ".build", "release", "postconf"))
    parser.add_argument("--postfix", default="/usr/sbin/postconf")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="posthorn-bench-")
    try:
        conf = os.path.join(work, "etc")
        shutil.copytree(SEED, conf)
        main_cf = os.path.join(conf, "main.cf")
        with open(main_cf, encoding="utf-8") as f:
            text = f.read().replace("/etc/postfix/", conf + "/")
        with open(main_cf, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"{'workload':<22}{'implementation':<16}{'mean ms/run':>12}{'peak RSS KiB':>14}")
        for mode in ("-n", "-d", "-M"):
            for name, binary in (("posthorn", args.posthorn), ("postfix 3.7", args.postfix)):
                argv = [binary, "-c", conf, mode]
                ms = mean_ms(argv, args.runs)
                rss = peak_rss_kib(argv)
                print(f"{'postconf ' + mode:<22}{name:<16}{ms:>12.2f}{rss:>14}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
