"""A fake DNS server and a private network for DNS-list tests.

Tests that need DNS answers (reject_rbl_client, permit_dnswl_client, ...)
cannot use the real resolver: the machine's nameserver is not ours and there
is no network. So the test re-runs itself under `unshare -m -n` (a private
mount and network namespace): there `enter_private_network()` brings up
loopback and bind-mounts a resolv.conf naming 127.0.0.1 over
/etc/resolv.conf (visible to nobody outside), and `FakeDNS` answers on
127.0.0.1:53 from a dictionary. Postfix (through libresolv) and Posthorn
(through its own stub resolver) then ask the same server.

FakeDNS speaks just enough RFC 1035: one question, A, TXT, MX ("10
mx.example"; "0 ." is a null MX) and NS answers, NXDOMAIN for unknown
names, NOERROR/NODATA for known names without the type, SERVFAIL for names
under a `servfail` label.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading

TYPES = {"A": 1, "NS": 2, "TXT": 16, "AAAA": 28, "MX": 15, "PTR": 12}


def enter_private_network() -> None:
    """In the namespace child: loopback up, our resolv.conf in place."""
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    fd, path = tempfile.mkstemp(prefix="posthorn-resolv-")
    os.write(fd, b"nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
    os.close(fd)
    os.chmod(path, 0o644)
    subprocess.run(["mount", "--bind", path, "/etc/resolv.conf"], check=True)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def run_in_namespace(script: str, *args: str, timeout: float = 300) -> dict:
    """Runs `python3 SCRIPT --netns-child ARGS` in a new mount+network
    namespace; the child prints one JSON object as its last stdout line."""
    proc = subprocess.run(["unshare", "-m", "-n", "--", sys.executable, script, "--netns-child", *args],
                          capture_output=True, timeout=timeout, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise AssertionError(f"namespace child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1])


def _name(data: bytes, pos: int) -> tuple[str, int]:
    labels = []
    while True:
        n = data[pos]
        if n == 0:
            return ".".join(labels).lower(), pos + 1
        labels.append(data[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n


def _encode_name(name: str) -> bytes:
    if name.strip(".") == "":
        return b"\0"
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


class FakeDNS:
    """records: {("1.0.0.127.zen.example", "A"): ["127.0.0.2"], (..., "TXT"): ["text"]}"""

    def __init__(self, records: dict[tuple[str, str], list[str]], host="127.0.0.1", port=53):
        self.records = {(k[0].lower().rstrip("."), k[1]): v for k, v in records.items()}
        self.names = {k[0] for k in self.records}
        self.queries: list[tuple[str, int]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                self.sock.sendto(self._answer(data), peer)
            except Exception:  # a fake server must not die on odd input
                pass

    def _answer(self, data: bytes) -> bytes:
        qid, flags, qd = struct.unpack("!HHH", data[:6])
        name, pos = _name(data, 12)
        qtype, qclass = struct.unpack("!HH", data[pos:pos + 4])
        question = data[12:pos + 4]
        self.queries.append((name, qtype))
        rcode = 0
        answers = b""
        count = 0
        type_name = next((k for k, v in TYPES.items() if v == qtype), str(qtype))
        if "servfail" in name.split("."):
            rcode = 2
        elif name not in self.names:
            rcode = 3
        else:
            for value in self.records.get((name, type_name), []):
                if type_name == "A":
                    rdata = socket.inet_aton(value)
                elif type_name == "MX":
                    pref, host = value.split()
                    rdata = struct.pack("!H", int(pref)) + _encode_name(host)
                elif type_name == "NS":
                    rdata = _encode_name(value)
                elif type_name == "TXT":
                    raw = value.encode()
                    rdata = b"".join(bytes([len(raw[i:i + 255])]) + raw[i:i + 255] for i in range(0, max(len(raw), 1), 255))
                else:
                    continue
                answers += b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 60, len(rdata)) + rdata
                count += 1
        header = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, count, 0, 0)
        return header + question + answers

    def close(self):
        self.sock.close()
