"""System tests of proxymap, proxywrite and anvil (issue 4, point 7).

A private instance runs under a temporary directory: main.cf re-rooted
there (queue_directory, data_directory, daemon_directory = POSTHORN_BIN,
maillog_file), a master.cf with the proxymap, proxywrite and anvil services
and nothing else, started with `master -c DIR -d`. Without a postlog
service the daemons' log lines reach master's standard error, which the
test captures (and maillog_file is read too, when it exists).

Checked: `postmap -q KEY proxy:TYPE:NAME` answers exactly as
`postmap -q KEY TYPE:NAME` (output and exit status, hits, case variants and
misses) for hash, btree, lmdb, cidr, regexp, pcre, texthash, inline, static
and sqlite; a table not in proxy_read_maps is refused with Postfix 3.7's
client and server messages; proxywrite applies updates and deletes only to
proxy_write_maps tables; anvil counts connections per client connection
over its socket (attr0 wire form) and logs its statistics lines.

Environment: POSTHORN_BIN (default <repo>/.build/debug) must hold master,
postmap, proxymap and anvil; a missing binary FAILS the tests.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import time

import pytest

from attr0 import Attr0Connection
from posthorn_instance import BIN, make_root, terminate, wait_for

PROGRAMS = ("master", "postmap", "proxymap", "anvil")

FOLD_FIX = 1 << 14


# --- attr0 wire form ---------------------------------------------------------

def encode(pairs) -> bytes:
    out = b""
    for name, value in pairs:
        out += name.encode() + b"\0" + str(value).encode() + b"\0"
    return out + b"\0"


class Attr0Client(Attr0Connection):
    """Speaks the attr0 form: `name NUL value NUL` ... `NUL`."""

    def read(self) -> dict[str, str] | None:
        result: dict[str, str] = {}
        while True:
            name = self._field()
            if name is None:
                return None
            if name == b"":
                if "protocol" in result and "status" not in result:
                    result = {}  # a Postfix-style greeting: skip it
                    continue
                return result
            value = self._field()
            if value is None:
                return None
            result[name.decode()] = value.decode()

    def ask(self, **pairs) -> dict[str, str] | None:
        self.sock.sendall(encode(pairs.items()))
        return self.read()


class Instance:
    def __init__(self):
        for program in PROGRAMS:
            assert (BIN / program).is_file(), f"missing {BIN / program}: build first or set POSTHORN_BIN"
        self.root = make_root("posthorn-proxy-", ("etc", "queue", "data", "tables"), data_owner=None, tmpdir=None)
        self.etc = self.root / "etc"
        self.queue = self.root / "queue"
        self.data = self.root / "data"
        self.tables = self.root / "tables"
        self.log_path = self.root / "master.log"
        self.proc = None

    def configure(self, read_maps: list[str], write_maps: list[str]):
        (self.etc / "main.cf").write_text(
            f"queue_directory = {self.queue}\n"
            f"data_directory = {self.data}\n"
            f"daemon_directory = {BIN}\n"
            f"maillog_file = {self.root / 'maillog'}\n"
            "myhostname = mta.example.test\n"
            "inet_interfaces = loopback-only\n"
            "inet_protocols = ipv4\n"
            "compatibility_level = 3.6\n"
            "anvil_status_update_time = 1s\n"
            f"proxy_read_maps = {' '.join(read_maps)}\n"
            f"proxy_write_maps = {' '.join(write_maps)}\n")
        (self.etc / "master.cf").write_text(
            "proxymap   unix -  -  n  -  -  proxymap\n"
            "proxywrite unix -  -  n  -  1  proxymap\n"
            "anvil      unix -  -  n  -  1  anvil\n")

    def start(self):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(BIN / "master"), "-c", str(self.etc), "-d"],
                                     stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=self.log_file)
        assert wait_for(lambda: os.path.exists(self.private("anvil")), 10), self.log()
        return self

    def log(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        maillog = self.root / "maillog"
        if maillog.exists():
            text += maillog.read_text(errors="replace")
        return text

    def private(self, name: str) -> str:
        return str(self.queue / "private" / name)

    def postmap(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "postmap"), "-c", str(self.etc), *args], input=stdin,
                              capture_output=True, text=True, timeout=20)

    def stop(self):
        terminate(self.proc)
        if self.proc:
            self.log_file.close()
        shutil.rmtree(self.root, ignore_errors=True)


# Keys asked of every table: hits, case variants, misses.
KEYS = ["foo", "FOO", "Mixed.Case", "mixed.case", "k2", "nothere", "10.1.2.3", "192.0.2.1",
        "Abc", "abc", "bcd", "BCD", "alice@example.com"]


@pytest.fixture(scope="module")
def instance():
    inst = Instance()
    t = inst.tables
    source = "foo bar\nMixed.Case value with spaces\nk2 v2\nalice@example.com alice-box\n"
    tables: list[str] = []
    for kind in ("hash", "btree", "lmdb"):
        (t / kind).write_text(source)
        tables.append(f"{kind}:{t / kind}")
    (t / "cidr").write_text("10.0.0.0/8 ten\n192.0.2.0/24 doc-net\n")
    tables.append(f"cidr:{t / 'cidr'}")
    (t / "regexp").write_text("/^A(.*)$/ regexp-A $1\n/^foo$/ regexp-foo\n")
    tables.append(f"regexp:{t / 'regexp'}")
    (t / "pcre").write_text("/^b(.*)$/i pcre-b $1\n/@example\\.com$/ pcre-domain\n")
    tables.append(f"pcre:{t / 'pcre'}")
    (t / "texthash").write_text(source)
    tables.append(f"texthash:{t / 'texthash'}")
    tables.append("inline:{foo=inline-foo,K2=inline-k2}")
    tables.append("static:static-answer")
    db = t / "users.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (email TEXT PRIMARY KEY, maildir TEXT)")
        conn.executemany("INSERT INTO users VALUES (?, ?)",
                         [("alice@example.com", "example.com/alice/"), ("foo", "sql-foo")])
    (t / "sqlite.cf").write_text(f"dbpath = {db}\nquery = SELECT maildir FROM users WHERE email='%s'\n")
    tables.append(f"sqlite:{t / 'sqlite.cf'}")
    # Tables for proxywrite: one approved for writing, one only for reading.
    for name in ("writable", "readonly", "unlisted"):
        (t / name).write_text("old value\n")
    inst.tables_under_test = tables
    inst.writable = f"hash:{t / 'writable'}"
    inst.readonly = f"hash:{t / 'readonly'}"
    inst.unlisted = f"hash:{t / 'unlisted'}"
    inst.configure(read_maps=[f"proxy:{x}" for x in tables] + [f"proxy:{inst.readonly}", inst.unlisted],
                   write_maps=[f"proxy:{inst.writable}"])
    for kind in ("hash", "btree", "lmdb"):
        r = inst.postmap(f"{kind}:{t / kind}")
        assert r.returncode == 0, r.stderr
    for name in ("writable", "readonly", "unlisted"):
        r = inst.postmap(f"hash:{t / name}")
        assert r.returncode == 0, r.stderr
    if os.geteuid() == 0:
        # proxywrite runs as mail_owner (master.cf unpriv = y): the table it
        # updates must be writable by that user, as with Postfix.
        shutil.chown(t / "writable.db", user="postfix", group="postfix")
    inst.start()
    yield inst
    inst.stop()


def test_proxy_answers_as_the_direct_table(instance):
    mismatches = []
    hits = 0
    for table in instance.tables_under_test:
        # One process per table: `postmap -q -` answers many keys.
        direct = instance.postmap("-q", "-", table, stdin="\n".join(KEYS) + "\n")
        proxied = instance.postmap("-q", "-", "proxy:" + table, stdin="\n".join(KEYS) + "\n")
        assert direct.returncode in (0, 1), direct.stderr
        hits += direct.stdout.count("\n")
        if (direct.stdout, direct.returncode, direct.stderr) != (proxied.stdout, proxied.returncode, proxied.stderr):
            mismatches.append((table, direct, proxied))
        # Single -q: value and exit status, for a hit and for a miss.
        for key in ("foo", "FOO", "nothere"):
            d = instance.postmap("-q", key, table)
            p = instance.postmap("-q", key, "proxy:" + table)
            if (d.stdout, d.returncode) != (p.stdout, p.returncode):
                mismatches.append((table, key, d, p))
    assert not mismatches, mismatches
    assert hits > 20, "the tables must actually answer"
    miss = instance.postmap("-q", "nothere", "proxy:" + instance.tables_under_test[0])
    assert (miss.returncode, miss.stdout) == (1, "")


def test_unapproved_table_is_refused_as_postfix(instance):
    r = instance.postmap("-q", "old", "proxy:" + instance.unlisted)
    assert r.returncode == 1
    assert f'postmap: fatal: proxymap service is not configured for table "{instance.unlisted}"' in r.stderr
    assert wait_for(lambda: f'warning: request for unapproved table: "{instance.unlisted}"' in instance.log(), timeout=5.0)
    assert (f"warning: to approve this table for read-only access, list proxy:{instance.unlisted} "
            "in main.cf:proxy_read_maps") in instance.log()


def test_proxywrite_updates_only_write_maps(instance):
    writer = Attr0Client(instance.private("proxywrite"))
    try:
        opened = writer.ask(request="open", table=instance.writable, flags=FOLD_FIX)
        assert opened["status"] == "0", opened
        # postmap -i style: key/value updates, folded by the client's flags.
        for key, value in (("NewKey", "new value"), ("second", "two")):
            assert writer.ask(request="update", table=instance.writable, flags=FOLD_FIX, key=key, value=value) == {"status": "0"}
        assert writer.ask(request="lookup", table=instance.writable, flags=FOLD_FIX, key="NEWKEY") == \
            {"status": "0", "value": "new value"}
        # A table approved for reading only is refused for writing.
        assert writer.ask(request="update", table=instance.readonly, flags=0, key="a", value="b") == {"status": "4"}
    finally:
        writer.close()
    direct = instance.postmap("-q", "newkey", instance.writable)
    assert (direct.returncode, direct.stdout) == (0, "new value\n"), direct.stderr
    # Deletes go to proxywrite too. (`postmap -d KEY proxy:...` would, as in
    # Postfix, once TableCommand opens its -d tables with writable: true.)
    writer = Attr0Client(instance.private("proxywrite"))
    try:
        assert writer.ask(request="delete", table=instance.writable, flags=FOLD_FIX, key="Second") == {"status": "0"}
        assert writer.ask(request="delete", table=instance.writable, flags=FOLD_FIX, key="second") == {"status": "1"}
    finally:
        writer.close()
    assert instance.postmap("-q", "second", instance.writable).returncode == 1
    assert wait_for(lambda: f'warning: request for unapproved table: "{instance.readonly}"' in instance.log(), timeout=5.0)
    assert (f"warning: to approve this table for read-write access, list proxy:{instance.readonly} "
            "in main.cf:proxy_write_maps") in instance.log()
    # The read-only service refuses updates even for an approved table.
    reader = Attr0Client(instance.private("proxymap"))
    try:
        assert reader.ask(request="update", table=instance.readonly, flags=0, key="a", value="b") == {"status": "4"}
        assert reader.ask(request="bogus", table=instance.readonly, flags=0) == {"status": "3"}
    finally:
        reader.close()
    assert wait_for(lambda: f"warning: refusing {instance.readonly} update request on non-proxywrite service" in instance.log(), timeout=5.0)
    assert 'warning: unrecognized request: "bogus", ignored' in instance.log()


def test_anvil_counts_connections(instance):
    a = Attr0Client(instance.private("anvil"))
    b = Attr0Client(instance.private("anvil"))
    ident = "smtp:192.0.2.7"
    try:
        assert a.ask(request="connect", ident=ident) == {"status": "0", "count": "1", "rate": "1"}
        assert b.ask(request="connect", ident=ident) == {"status": "0", "count": "2", "rate": "2"}
        assert a.ask(request="message", ident=ident) == {"status": "0", "rate": "1"}
        assert a.ask(request="recipient", ident=ident) == {"status": "0", "rate": "1"}
        assert a.ask(request="disconnect", ident=ident) == {"status": "0"}
        assert a.ask(request="lookup", ident=ident) == {
            "status": "0", "count": "1", "rate": "2", "mail": "1", "rcpt": "1", "newtls": "0", "auth": "0"}
        b.close()  # a client going away releases its connect
        assert wait_for(lambda: a.ask(request="lookup", ident=ident)["count"] == "0", 3)
        assert a.ask(request="bogus", ident=ident)["status"] != "0"
        time.sleep(1.2)  # anvil_status_update_time = 1s; the next request logs the peaks
        a.ask(request="lookup", ident=ident)
    finally:
        a.close()
    stamp = r"\w{3} [ \d]\d \d\d:\d\d:\d\d"
    assert wait_for(lambda: re.search(
        rf"postfix/anvil\[\d+\]: statistics: max connection rate 2/60s for \({re.escape(ident)}\) at {stamp}",
        instance.log()), 3), instance.log()
    assert re.search(rf"postfix/anvil\[\d+\]: statistics: max connection count 2 for \({re.escape(ident)}\) at {stamp}",
                     instance.log())
    assert re.search(rf"postfix/anvil\[\d+\]: statistics: max cache size \d+ at {stamp}", instance.log())
    assert 'warning: unrecognized request: "bogus", ignored' in instance.log()


def test_client_reconnects_once_after_a_broken_connection(tmp_path):
    """A fake proxymap closes the connection after the first lookup; the
    client opens a new one, sends open again and repeats the lookup."""
    import threading
    assert (BIN / "postmap").is_file(), f"missing {BIN / 'postmap'}"
    etc, private = tmp_path / "etc", tmp_path / "queue" / "private"
    etc.mkdir()
    private.mkdir(parents=True)
    (etc / "main.cf").write_text(f"queue_directory = {tmp_path / 'queue'}\ncompatibility_level = 3.6\n")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(private / "proxymap"))
    server.listen(5)
    server.settimeout(10)
    seen: list[list[str]] = []

    def serve():
        for connection_number in (1, 2):
            conn, _ = server.accept()
            client = Attr0Client.__new__(Attr0Client)
            client.sock, client.buffer = conn, b""
            requests = []
            while True:
                request = client.read()
                if request is None:
                    break
                requests.append(request["request"])
                if request["request"] == "open":
                    conn.sendall(encode([("status", 0), ("flags", 16)]))
                elif connection_number == 1:
                    break  # drop the connection instead of answering
                else:
                    conn.sendall(encode([("status", 0), ("value", "v-" + request["key"])]))
            seen.append(requests)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    r = subprocess.run([str(BIN / "postmap"), "-c", str(etc), "-q", "somekey", "proxy:hash:/nonexistent"],
                       capture_output=True, text=True, timeout=20)
    thread.join(10)
    server.close()
    assert (r.returncode, r.stdout) == (0, "v-somekey\n"), r.stderr
    assert seen == [["open", "lookup"], ["open", "lookup"]]
