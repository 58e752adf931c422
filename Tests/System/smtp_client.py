"""SMTP client helpers shared by the smtpd system tests (test_smtpd.py,
test_smtpd_policy.py, test_smtpd_tls_sasl.py): reading one (possibly
multi-line) server reply off a socket file, exactly as the server sent it,
picking smtpd's own lines out of a mail log (queue IDs and client ports
masked when two servers' logs are compared), and reading one policy
delegation request (for the fake policy servers).
"""

from __future__ import annotations

import os
import re
import socketserver
import threading

# The syslog-style prefix of an smtpd log line; what follows is its text.
SMTPD_LOG_PREFIX = re.compile(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ postfix/smtpd\[\d+\]: ")
# smtpd lines about the host rather than the session (NIS, aliases, unsupported options).
SMTPD_LOG_NOISE = re.compile(r"dict_nis_init|open database /etc/aliases|is not supported; ignored")


def smtpd_log_texts(log: str, noise: re.Pattern = SMTPD_LOG_NOISE) -> list[str]:
    """The text (after the prefix) of every smtpd line in log that noise does not match."""
    out = []
    for line in log.splitlines():
        m = SMTPD_LOG_PREFIX.match(line)
        if m and not noise.search(line):
            out.append(line[m.end():])
    return out


QUEUE_ID = re.compile(r"\b[0-9A-F]{8,12}\b")


def masked_smtpd_lines(log: str) -> list[str]:
    """smtpd_log_texts(log) with queue IDs as "QID" and 127.0.0.1:PORT for
    client ports: comparable between two servers."""
    return [re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", QUEUE_ID.sub("QID", t)) for t in smtpd_log_texts(log)]


def start_threaded_server(handler: type[socketserver.BaseRequestHandler],
                          unix_path: str | None = None) -> tuple[socketserver.BaseServer, int]:
    """A threaded stream server for handler (a fake policy server, say) on
    127.0.0.1 at a free port, or on the UNIX socket unix_path (mode 0666),
    served from a daemon thread; returns it and its port (0 for UNIX).
    Stop it with server.shutdown() and server.server_close()."""
    if unix_path:
        class UnixServer(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True
        server: socketserver.BaseServer = UnixServer(unix_path, handler)
        os.chmod(unix_path, 0o666)
        port = 0
    else:
        class TCPServer(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
        server = TCPServer(("127.0.0.1", 0), handler)
        port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def read_policy_request(rfile) -> dict[str, str] | None:
    """One policy delegation request (name=value lines up to an empty
    line) from rfile; None at end of file."""
    attrs = {}
    while True:
        line = rfile.readline()
        if not line:
            return None
        line = line.rstrip(b"\n").decode()
        if line == "":
            return attrs
        k, _, v = line.partition("=")
        attrs[k] = v


def read_reply(f, eof_errors: tuple[type[BaseException], ...] = (ConnectionResetError,)) -> list[str]:
    """The lines of one SMTP reply read from f (a binary socket file), CRLF
    removed; "<EOF>" ends the list when the server closed the connection
    (or one of eof_errors was raised while reading) before the last line."""
    lines = []
    while True:
        try:
            line = f.readline()
        except eof_errors:
            line = b""
        if not line:
            lines.append("<EOF>")
            return lines
        lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            return lines
