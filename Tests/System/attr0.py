"""The attr0 wire form of Postfix's internal protocols (`name NUL value NUL`
... `NUL`), for system tests that play one side of a service:

  read_request()   the delivery-agent side: reads one request that qmgr sent
                   (Global/DeliveryRequest.swift), shared by the fake agents
                   of test_queue_manager.py and test_qmgr_scheduler.py;
  AgentSocket      the listening socket such a fake agent serves, with its
                   accept loop in a daemon thread;
  Attr0Connection  the client side: a UNIX-socket connection that reads one
                   field at a time (test_proxymap.py, test_trivial_rewrite.py
                   build their request/reply logic on it).
"""

from __future__ import annotations

import os
import socket
import threading


def read_request(conn: socket.socket) -> list[tuple[str, str]]:
    """Reads one attribute list (up to the terminating empty name) from conn
    and returns its (name, value) pairs in order."""
    data = b""
    while not data.endswith(b"\0\0") and data != b"\0":
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    fields = data.split(b"\0")[:-2]
    return [(fields[i].decode(), fields[i + 1].decode()) for i in range(0, len(fields) - 1, 2)]


class AgentSocket:
    """A UNIX socket listening at path (chmod to mode when given), served by
    a daemon thread from start_serving() on: every accepted connection goes
    to self.accepted(conn), until self.stop is set or the socket fails."""

    def __init__(self, path, backlog: int, accept_timeout: float, mode: int | None = None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        if mode is not None:
            os.chmod(path, mode)
        self.sock.listen(backlog)
        self.sock.settimeout(accept_timeout)
        self.stop = False

    def start_serving(self):
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted(conn)

    def accepted(self, conn: socket.socket):
        raise NotImplementedError


class Attr0Connection:
    """A client connection to a UNIX-socket service speaking attr0."""

    def __init__(self, path: str, timeout: float = 5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buffer = b""

    def _field(self) -> bytes | None:
        """The next NUL-terminated field, or None when the server closed."""
        while b"\0" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            self.buffer += chunk
        field, self.buffer = self.buffer.split(b"\0", 1)
        return field

    def close(self):
        self.sock.close()
