"""Differential test of trivial-rewrite (issue 5, point 3).

The same main.cf (re-rooted under a temporary directory) runs in two private
instances: Debian's Postfix 3.7 (`postfix -c DIR start`, only the rewrite and
postlog services) and Posthorn (`master -c DIR -d`, only rewrite). Each
address of a table of about 60 is sent to both servers over
`private/rewrite` in the attr0 form as `rewrite` (local and remote rules) and
`resolve` requests (and a few `verify` and sender-dependent requests), under
several configurations, and the replies are compared attribute by attribute.

Known differences are listed in KNOWN_DIFFERENCES with the reason; they are
compared too, so a fix shows up as a failure to update the list.

Environment: POSTHORN_BIN (default <repo>/.build/debug) must hold master and
trivial-rewrite; a missing binary FAILS the test. Needs root (the oracle's
data_directory belongs to postfix) and Debian's postfix package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from attr0 import Attr0Connection
from postfix_oracle import ORACLE_LOG, ORACLE_MAIN
from posthorn_instance import BIN, make_root, read_logs, terminate, wait_for

ORACLE = Path("/usr/sbin/postfix")
POSTMAP = Path("/usr/sbin/postmap")


class Attr0(Attr0Connection):
    def read(self):
        pairs = []
        while True:
            name = self._field()
            if name is None:
                return None
            if name == b"":
                if pairs and pairs[0][0] == "protocol" and all(n != "flags" for n, _ in pairs):
                    pairs = []  # Postfix's greeting
                    continue
                return pairs
            value = self._field()
            if value is None:
                return None
            pairs.append((name.decode(), value.decode("utf-8", "replace")))

    def ask(self, pairs):
        self.sock.sendall(b"".join(n.encode() + b"\0" + v.encode() + b"\0" for n, v in pairs) + b"\0")
        return self.read()


ADDRESSES = [
    "user", "User", "user@mta.example.test", "user@MTA.Example.Test", "user@localhost", "user@mta",
    "user@example.test", "user@[127.0.0.1]", "user@[127.0.0.2]", "user@[10.1.1.1]", "user@[ipv6:::1]",
    "user@[IPv6:fe80::1]", "user@127.0.0.1", "user@gmail.com", "user@gmail.com.", "user@GMAIL.COM", "user@",
    "@", "@a", "<>", "", "user%gmail.com", "user%gmail.com@mta.example.test", "user%gmail.com@gmail.com",
    "user%host%gmail.com", "user%", "host!user", "gmail.com!user", "a!b!user", "a!b!user@mta.example.test",
    "a!user@gmail.com", "!user", "user!", "@a,@b:user@gmail.com", "@a:user@gmail.com", "@a:user",
    '"quoted user"@gmail.com', '"quoted user"', '"user@x"@gmail.com', '"a!b"', "user@@gmail.com", "user@a@b",
    "user+ext@mta.example.test", "postmaster", "MAILER-DAEMON", "user@mta.example.test.", "user@.gmail.com",
    "user@gmail..com", "user (comment)@gmail.com", "user@host", "user@sub.example.test", "user@[]",
    "user@[1.2.3.999]", "user@-bad.com", "user@a_b.com", "user@a.123",
    "user@local.test", "user@valias.test", "user@vmbox.test", "user@relay.test", "user@x.relay.test",
    "user@parent.test", "user@x.parent.test", "user%gmail.com@local.test", "full@tm.test", "FULL+x@TM.TEST",
    "other@tm.test", "a@x.tm.test", "a@sub.tm.test", "a@x.sub.tm.test", "a@colon.test", "a@tonly.test",
    "a@err.test",
]
SENDERS = ["", "sender@sd.test", "SENDER@SD.TEST", "other@sdom.test", "a@dt.test", "x@dt2.test"]
SENDER_ADDRESSES = ["user@gmail.com", "other@relay.test", "user@local.test", "user", "full@tm.test"]

TRANSPORT = """full@tm.test\tsmtp:[full.relay]:2525
tm.test\trelay:tm-next
.sub.tm.test\t:sub-next
colon.test\t:
tonly.test\tuucp:
err.test\terror:no mail here
user@relay.test\tlocal:
"""
SDRH = "sender@sd.test\t[sd-relay.test]:587\n@sdom.test\tsdom-relay.test\n"
SDDT = "@dt.test\tuucp:dt-next\nx@dt2.test\tlmtp:\n"

CONFIGS = {
    "defaults": "",
    "classes": """myorigin = origin.test
mydestination = $myhostname, localhost.$mydomain, localhost, local.test
virtual_alias_domains = valias.test
virtual_mailbox_domains = vmbox.test
relay_domains = relay.test, .parent.test
relayhost = [relayhost.test]:25
append_dot_mydomain = yes
remote_header_rewrite_domain = remote.test
""",
    "maps": """mydestination = $myhostname, localhost, local.test
virtual_alias_domains = valias.test
virtual_mailbox_domains = vmbox.test
relay_domains = relay.test
transport_maps = hash:TABLES/transport
sender_dependent_relayhost_maps = hash:TABLES/sdrh
sender_dependent_default_transport_maps = hash:TABLES/sddt
append_dot_mydomain = yes
recipient_delimiter = +
empty_address_recipient = bounces
address_verify_relayhost = [verify.test]
address_verify_transport_maps =
""",
    "switches": """swap_bangpath = no
allow_percent_hack = no
append_at_myorigin = no
relayhost = [rh.test]
default_transport = smtp:[dt.test]
local_transport = local
transport_maps = hash:TABLES/transport
show_user_unknown_table_name = no
virtual_alias_domains = valias.test
resolve_numeric_domain = yes
""",
    "failing": """transport_maps = fail:broken
relay_domains = relay.test
""",
}

# (config, request kind, address) -> why Posthorn differs from Postfix 3.7.
KNOWN_DIFFERENCES: dict[tuple[str, str, str], str] = {}

# Both instances' main.cf starts with the oracle's base settings and log.
BASE = ORACLE_MAIN + ORACLE_LOG


class Instance:
    def __init__(self, oracle: bool, config: str):
        self.oracle = oracle
        self.root = make_root("posthorn-rw-oracle-" if oracle else "posthorn-rw-", ("etc", "queue", "data", "tables"),
                              data_owner="postfix" if oracle else None, tmpdir=None)
        tables = self.root / "tables"
        (tables / "transport").write_text(TRANSPORT)
        (tables / "sdrh").write_text(SDRH)
        (tables / "sddt").write_text(SDDT)
        main = BASE.format(root=self.root) + config.replace("TABLES", str(tables))
        if not oracle:
            main += f"daemon_directory = {BIN}\n"
        (self.root / "etc" / "main.cf").write_text(main)
        (self.root / "etc" / "master.cf").write_text(
            "rewrite unix - - n - - trivial-rewrite\n"
            + ("postlog unix-dgram n - n - 1 postlogd\n" if oracle else ""))
        for name in ("transport", "sdrh", "sddt"):
            subprocess.run([str(POSTMAP), "-c", str(self.root / "etc"), f"hash:{tables / name}"],
                           check=True, timeout=20)
        past = time.time() - 60
        for f in (self.root / "etc").iterdir():
            os.utime(f, (past, past))
        self.proc = None
        self.log = None

    def start(self):
        if self.oracle:
            subprocess.run([str(ORACLE), "-c", str(self.root / "etc"), "start"], check=True, timeout=30,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            self.log = open(self.root / "master.log", "ab")
            self.proc = subprocess.Popen([str(BIN / "master"), "-c", str(self.root / "etc"), "-d"],
                                         stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        assert wait_for(lambda: (self.root / "queue" / "private" / "rewrite").exists()), self.logs()
        self.client = Attr0(str(self.root / "queue" / "private" / "rewrite"))

    def logs(self) -> str:
        return read_logs(self.root)

    def ask(self, pairs):
        reply = self.client.ask(pairs)
        if reply is None:  # the server closed the connection: reconnect for the next request
            self.client.close()
            self.client = Attr0(str(self.root / "queue" / "private" / "rewrite"))
        return reply

    def stop(self):
        try:
            self.client.close()
        except Exception:
            pass
        if self.oracle:
            subprocess.run([str(ORACLE), "-c", str(self.root / "etc"), "stop"], timeout=30,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            terminate(self.proc)
        if self.log:
            self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


def requests():
    for address in ADDRESSES:
        yield "rewrite-local", address, [("request", "rewrite"), ("rule", "local"), ("address", address)]
        yield "rewrite-remote", address, [("request", "rewrite"), ("rule", "remote"), ("address", address)]
        yield "resolve", address, [("request", "resolve"), ("sender", ""), ("address", address)]
    for sender in SENDERS:
        for address in SENDER_ADDRESSES:
            yield f"resolve from {sender}", address, [("request", "resolve"), ("sender", sender), ("address", address)]
            yield f"verify from {sender}", address, [("request", "verify"), ("sender", sender), ("address", address)]


@pytest.fixture(scope="module")
def binaries():
    for program in ("master", "trivial-rewrite"):
        if not (BIN / program).is_file():
            pytest.fail(f"missing {BIN / program}: build first or set POSTHORN_BIN", pytrace=False)
    for path in (ORACLE, POSTMAP):
        if not path.is_file():
            pytest.fail(f"oracle program missing: {path}", pytrace=False)
    if os.geteuid() != 0:
        pytest.fail("the oracle instance needs root (its data_directory belongs to postfix)", pytrace=False)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_replies_match_postfix(binaries, name):
    oracle = Instance(True, CONFIGS[name])
    ours = Instance(False, CONFIGS[name])
    try:
        oracle.start()
        ours.start()
        problems = []
        count = 0
        for kind, address, pairs in requests():
            theirs = oracle.ask(pairs)
            mine = ours.ask(pairs)
            count += 1
            key = (name, kind, address)
            if theirs != mine:
                if key in KNOWN_DIFFERENCES:
                    continue
                problems.append(f"{kind} {address!r}:\n  postfix:  {theirs}\n  posthorn: {mine}")
            elif key in KNOWN_DIFFERENCES:
                problems.append(f"{kind} {address!r} now matches: remove it from KNOWN_DIFFERENCES")
        assert count > 200
        assert not problems, f"{len(problems)} of {count} replies differ in config {name}:\n" + "\n".join(problems) \
            + "\n--- posthorn log ---\n" + ours.logs()[-3000:]
    finally:
        ours.stop()
        oracle.stop()


def test_bad_requests_close_the_connection(binaries):
    oracle = Instance(True, "")
    ours = Instance(False, "")
    try:
        oracle.start()
        ours.start()
        for pairs in ([("request", "bogus")], [("request", "rewrite"), ("rule", "bogus"), ("address", "u")],
                      [("request", "resolve"), ("address", "u")]):
            assert oracle.ask(pairs) is None
            assert ours.ask(pairs) is None, pairs
        # The connection after a bad request works again.
        pairs = [("request", "rewrite"), ("rule", "local"), ("address", "u")]
        assert oracle.ask(pairs) == ours.ask(pairs) == [("flags", "0"), ("address", "u@mta.example.test")]
        assert wait_for(lambda: "warning: bad command bogus" in ours.logs()), ours.logs()
        assert "warning: unknown context: bogus" in ours.logs()
    finally:
        ours.stop()
        oracle.stop()
