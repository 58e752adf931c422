#!/usr/bin/env python3
"""Benchmark: master spawning and idle daemon memory, Posthorn beside Postfix.

For each implementation (Posthorn's release build and Debian's Postfix 3.7),
starts a private instance under a temporary directory whose master.cf runs
proxymap (its private UNIX socket) with max_use=1, so that every client is
served by a freshly spawned process, plus idle unix services (proxymap,
anvil). Both log to syslog (nothing listens there during the run). Then:

- spawn latency: N times, connect and send one proxymap lookup; the time
  from connect() until the reply arrives (median and 90th percentile);
- idle memory: RSS and PSS (from /proc/PID/smaps_rollup) of master and of
  one idle process of each daemon kind, after connecting once to each unix
  service so that it is running.

Runs as root (Postfix's master needs it). Usage:
    bench/master_bench.py [--runs N] [--posthorn-bin DIR]
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def attr0(pairs):
    out = b""
    for k, v in pairs:
        out += k.encode() + b"\0" + v.encode() + b"\0"
    return out + b"\0"


def read_lists(sock, want_status=True, timeout=10):
    """Reads attr0 lists until one holds a status attribute."""
    sock.settimeout(timeout)
    buf = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
        while b"\0\0" in buf or buf.startswith(b"\0"):
            # split one list: name\0value\0 ... \0
            items = []
            pos = 0
            while True:
                end = buf.index(b"\0", pos)
                name = buf[pos:end]
                if not name:
                    pos = end + 1
                    break
                vend = buf.index(b"\0", end + 1)
                items.append((name.decode(), buf[end + 1:vend].decode()))
                pos = vend + 1
            buf = buf[pos:]
            if any(k == "status" for k, _ in items):
                return items


def write_config(root, impl, bindir, port):
    etc = os.path.join(root, "etc")
    for d in ("etc", "spool", "data", "log"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    daemon_dir = bindir if impl == "posthorn" else "/usr/lib/postfix/sbin"
    main = f"""compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
daemon_directory = {daemon_dir}
command_directory = /usr/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.localdomain
inet_interfaces = loopback-only
inet_protocols = ipv4
proxy_read_maps = static:hello
"""
    # Postfix's proxymap insists on its service name.
    master = f"""proxymap unix - - n - - proxymap -o max_use=1
anvil unix - - n - 1 anvil
"""
    with open(os.path.join(etc, "main.cf"), "w") as f:
        f.write(main)
    with open(os.path.join(etc, "master.cf"), "w") as f:
        f.write(master)
    return etc


def start(impl, etc, bindir, root):
    if impl == "posthorn":
        for d in ("pid", "private", "public"):
            os.makedirs(os.path.join(root, "spool", d), exist_ok=True)
        subprocess.run([os.path.join(bindir, "master"), "-c", etc, "-w"], check=True)
    else:
        shutil.chown(os.path.join(root, "data"), "postfix", "postfix")
        subprocess.run(["/usr/sbin/postfix", "-c", etc, "start"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pidfile = os.path.join(root, "spool", "pid", "master.pid")
    for _ in range(100):
        if os.path.exists(pidfile) and open(pidfile).read().strip():
            return int(open(pidfile).read().strip())
        time.sleep(0.05)
    raise RuntimeError(f"{impl}: master did not start")


def stop(impl, etc, pid):
    if impl == "postfix":
        subprocess.run(["/usr/sbin/postfix", "-c", etc, "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def spawn_latency(root, runs):
    request = attr0([("request", "lookup"), ("table", "static:hello"), ("flags", "0"), ("key", "k")])
    path = os.path.join(root, "spool", "private", "proxymap")
    samples = []
    for _ in range(runs):
        s = socket.socket(socket.AF_UNIX)
        t0 = time.perf_counter()
        s.connect(path)
        s.sendall(request)
        read_lists(s)
        samples.append((time.perf_counter() - t0) * 1000)
        s.close()
        time.sleep(0.01)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


def children(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(p))
            except OSError:
                pass
    return out


def memory_kib(pid):
    """RSS, PSS and private dirty memory (what one more process costs)."""
    rss = pss = dirty = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Private_Dirty:"):
                dirty = int(line.split()[1])
    return rss, pss, dirty


def process_name(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return os.path.basename(f.read().split(b"\0")[0].decode())


def idle_memory(root, master_pid):
    held = []
    for service in ("proxymap", "anvil"):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(os.path.join(root, "spool", "private", service))
            held.append(s)  # kept open so the process stays while we measure
        except OSError:
            pass
    time.sleep(0.5)
    result = {"master": memory_kib(master_pid)}
    for child in children(master_pid):
        name = process_name(child)
        if name not in result:
            result[name] = memory_kib(child)
    for s in held:
        s.close()
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--posthorn-bin", default=os.path.join(REPO, ".build", "release"))
    args = parser.parse_args()
    args.posthorn_bin = os.path.abspath(args.posthorn_bin)  # daemon_directory must be absolute
    results = {}
    for impl in ("posthorn", "postfix"):
        root = tempfile.mkdtemp(prefix=f"bench-{impl}-")
        os.chmod(root, 0o755)
        port = free_port()
        etc = write_config(root, impl, args.posthorn_bin, port)
        pid = start(impl, etc, args.posthorn_bin, root)
        try:
            time.sleep(0.5)
            spawn_latency(root, 10)  # warm the page cache
            median, p90 = spawn_latency(root, args.runs)
            mem = idle_memory(root, pid)
            results[impl] = (median, p90, mem)
        finally:
            stop(impl, etc, pid)
            shutil.rmtree(root, ignore_errors=True)
    print(f"spawn latency (connect to first reply, fresh process each time, {args.runs} runs)")
    print(f"{'implementation':<16}{'median ms':>12}{'p90 ms':>10}")
    for impl, (median, p90, _) in results.items():
        print(f"{impl:<16}{median:>12.2f}{p90:>10.2f}")
    print("\nidle process memory (KiB)")
    print(f"{'process':<10}{'posthorn RSS':>13}{'PSS':>7}{'private':>9}{'postfix RSS':>13}{'PSS':>7}{'private':>9}")
    names = sorted(set(results["posthorn"][2]) | set(results["postfix"][2]))
    for name in names:
        a = results["posthorn"][2].get(name, (0, 0, 0))
        b = results["postfix"][2].get(name, (0, 0, 0))
        print(f"{name:<10}{a[0]:>13}{a[1]:>7}{a[2]:>9}{b[0]:>13}{b[1]:>7}{b[2]:>9}")


if __name__ == "__main__":
    main()
