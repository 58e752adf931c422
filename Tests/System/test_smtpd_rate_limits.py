"""smtpd's client limits through anvil, against Debian's Postfix 3.7 (the
oracle): smtpd_client_connection_count_limit, smtpd_client_connection_rate_limit,
smtpd_client_message_rate_limit, smtpd_client_recipient_rate_limit and
smtpd_client_auth_rate_limit (every AUTH command counts, before any other
check, even when AUTH is not offered).

Both servers run with the same limits and anvil; each scenario talks from
its own loopback source address (127.0.0.N), so anvil keeps a separate count
for it and no scenario disturbs another. Replies and smtpd's log lines
(the `warning: ... limit exceeded: N from unknown[127.0.0.N] for service
127.0.0.1:PORT` lines included, the port normalized) must be the same.
"""

from __future__ import annotations

import re
import socket
import time

import pytest

from postfix_oracle import SMTPD_MASTER, PostfixOracle
from posthorn_instance import BASE_MASTER, PosthornInstance, can_connect, free_port, require_programs, wait_for
from smtp_client import read_reply, smtpd_log_texts

LIMITS = """mynetworks = 10.0.0.0/8
relay_domains = relay.test
default_transport = discard
relay_transport = discard
local_recipient_maps =
smtpd_peername_lookup = no
smtpd_error_sleep_time = 0
smtpd_client_event_limit_exceptions =
smtpd_client_connection_count_limit = 2
smtpd_client_connection_rate_limit = 4
smtpd_client_message_rate_limit = 2
smtpd_client_recipient_rate_limit = 3
smtpd_client_auth_rate_limit = 2
anvil_rate_time_unit = 600s
"""


@pytest.fixture(scope="module")
def servers():
    require_programs("master", "smtpd", "cleanup", "qmgr", "trivial-rewrite", "discard", "postlogd", "anvil",
                     "postfix")
    oracle_port, our_port = free_port(), free_port()
    oracle = PostfixOracle(main_extra="mydestination =\n" + LIMITS, prefix="posthorn-limits-oracle-")
    (oracle.etc / "master.cf").write_text(SMTPD_MASTER.format(listen=f"127.0.0.1:{oracle_port}"))
    ours = PosthornInstance(main_extra="mydestination =\n" + LIMITS, prefix="posthorn-limits-",
                            master=BASE_MASTER + f"""127.0.0.1:{our_port} inet n - n - - smtpd
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
""")
    oracle.port, ours.port = oracle_port, our_port
    oracle.start()
    try:
        ours.start()
        for s in (oracle, ours):
            assert wait_for(lambda: can_connect(s.port)), f"no smtpd on {s.port}\n{s.maillog()}"
            wait_for(lambda: s.maillog().count("disconnect from") >= 1, timeout=5)
        yield oracle, ours
    finally:
        ours.stop()
        oracle.stop()


QID = re.compile(r"\b[0-9A-F]{8,12}\b")
PORT = re.compile(r"for service 127\.0\.0\.1:\d+")


def connect(port: int, source: str):
    s = socket.socket()
    s.settimeout(10)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    f = s.makefile("rb")
    return s, f, read_reply(f)


def ask(s, f, command: str) -> list[str]:
    s.sendall(command.encode() + b"\r\n")
    return [QID.sub("QID", line) for line in read_reply(f)]


def session(port: int, source: str, commands: list[str]) -> list[list[str]]:
    s, f, greeting = connect(port, source)
    out = [greeting] + [ask(s, f, c) for c in commands]
    s.close()
    return out


def log_lines(server, source: str) -> list[str]:
    """smtpd's lines about the client at `source`, normalized."""
    tag = f"[{source}]"
    return [PORT.sub("for service PORT", QID.sub("QID", t)) for t in smtpd_log_texts(server.maillog()) if tag in t]


def settle(server, source: str, sessions: int):
    assert wait_for(lambda: sum("disconnect from" in t for t in log_lines(server, source)) >= sessions, 10), \
        server.maillog()[-3000:]
    time.sleep(0.05)


def both(servers, source: str, scenario) -> None:
    """Runs `scenario(port, source)` (returns replies and a session count)
    against each server; replies and log lines must agree."""
    results = []
    for server in servers:
        replies, sessions = scenario(server.port, source)
        settle(server, source, sessions)
        results.append((replies, log_lines(server, source)))
    (oracle_replies, oracle_log), (our_replies, our_log) = results
    assert our_replies == oracle_replies
    # Sessions may be served by different processes: lines of one session
    # can come before the previous session's last line, so they are
    # compared as a whole, not in order.
    assert sorted(our_log) == sorted(oracle_log)
    return oracle_replies, oracle_log


MESSAGE = ["DATA", "Subject: limits\r\n\r\nbody\r\n."]


def test_auth_rate_counts_every_auth_command_first(servers):
    def scenario(port, source):
        first = session(port, source, ["EHLO client.example", "AUTH", "AUTH PLAIN", "AUTH", "QUIT"])
        second = session(port, source, ["EHLO client.example", "MAIL FROM:<a@b.test>", "AUTH PLAIN AHVAcA==", "QUIT"])
        return [first, second], 2
    replies, log = both(servers, "127.0.0.2", scenario)
    assert replies[0][4][0].startswith("450 4.7.1 Error: too many AUTH commands from 127.0.0.2")
    assert any(line.startswith("warning: AUTH command rate limit exceeded: 3 from unknown[127.0.0.2]") for line in log)


def test_message_and_recipient_rates(servers):
    def scenario(port, source):
        out = []
        for n in range(3):
            out.append(session(port, source, ["EHLO client.example", "MAIL FROM:<a@b.test>",
                                              f"RCPT TO:<r{n}@relay.test>", f"RCPT TO:<s{n}@relay.test>"]
                               + MESSAGE + ["QUIT"]))
        return out, 3
    replies, log = both(servers, "127.0.0.3", scenario)
    assert any("Message delivery request rate limit exceeded" in line or "Recipient address rate limit exceeded" in line
               for line in log), log


def test_connection_rate(servers):
    def scenario(port, source):
        return [session(port, source, ["QUIT"]) for _ in range(5)], 5
    replies, log = both(servers, "127.0.0.4", scenario)
    assert replies[-1][0][0].startswith("421 4.7.0 ") and "too many connections from 127.0.0.4" in replies[-1][0][0]
    assert any(line.startswith("warning: Connection rate limit exceeded: 5 from unknown[127.0.0.4]") for line in log)


def test_connection_count(servers):
    def scenario(port, source):
        held = [connect(port, source) for _ in range(2)]
        s, f, third = connect(port, source)
        s.close()
        greetings = [h[2] for h in held] + [third]
        for h in held:
            ask(h[0], h[1], "QUIT")
            h[0].close()
        return greetings, 3
    replies, log = both(servers, "127.0.0.5", scenario)
    assert replies[2][0].startswith("421 4.7.0 ") and "too many connections from 127.0.0.5" in replies[2][0]
