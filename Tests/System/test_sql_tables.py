"""mysql: and sqlite: tables, through our postmap -q, against Debian's.

A private MariaDB server (mariadb_server.py) holds PostfixAdmin's tables
with a few rows; an SQLite file holds the same. The seed's four
mysql_virtual_*.cf files are copied with only `hosts` pointed at the test
server (user, password and dbname are the seed's: the test server has that
user), and their sqlite twins with `dbpath` instead. Every lookup is run
through our postmap and Debian's on the same files and must give the same
answer (exit status and output); the answers are also checked against the
fixture's expected values, so a broken fixture cannot pass unnoticed.

Also: a stopped server is a temporary failure (a fatal "query error", never
"not found"); with two servers in `hosts`, lookups go on while either is
down; hostile keys find nothing and leave the tables as they were.

The postmap interface: `postmap -c DIR -q KEY type:name` exits 0 and prints
the value when found, exits 1 silently when not found, and on a lookup
error prints `postmap: fatal: ...` and exits non-zero (Postfix: 1).
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

import mariadb_server
from conftest import SEED_ETC, _binary
from mariadb_server import EXPECTED, MariaDBServer

ORACLE_POSTMAP = Path("/usr/sbin/postmap")
SEED_MAPS = sorted(EXPECTED)

# Keys that must find nothing, whatever the table, and change nothing.
HOSTILE_KEYS: list[bytes] = [
    b"' OR '1'='1",
    b"x' OR 1=1 -- ",
    b"alice@example.com' -- ",
    b"alice@example.com'#",
    b"'; DROP TABLE mailbox; --",
    b"'; DELETE FROM alias; --",
    b"\\",
    b"\\'",
    b"\\' OR 1=1 -- ",
    b"alice@example.com\\",
    b'" OR "1"="1',
    b"%",
    b"_",
    b"%@example.com",
    b"alice@example.co_",
    b"al%",
    b"alice@example.com\n",
    b"alice@example.com\t",
    b"\xbf' OR 1=1 -- ",        # GBK-style multibyte swallowing the backslash
    b"\xc0\xa7 OR 1=1 -- ",     # overlong UTF-8 quote
    b"\xef\xbc\x87 OR 1=1 -- ",  # fullwidth apostrophe
    b"\xff\xfe\xfd",
    bytes(range(1, 128)),
    bytes(range(128, 256)),
    b"'" * 300,
    b"a" * 5000,
]


# -- programs --------------------------------------------------------------

@pytest.fixture(scope="session")
def ours_postmap(bin_dir: Path) -> Path:
    return _binary(bin_dir / "postmap", "Posthorn postmap (set POSTHORN_BIN or build first)")


@pytest.fixture(scope="session")
def oracle_postmap() -> Path:
    path = _binary(ORACLE_POSTMAP, "oracle postmap (scripts/test.sh installs Debian's postfix)")
    for plugin in ("postfix-mysql.so", "postfix-sqlite.so"):
        if not Path("/usr/lib/postfix", plugin).exists():
            pytest.fail(f"oracle lacks {plugin} (Debian packages postfix-mysql, postfix-sqlite)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def confdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty configuration directory for postmap -c."""
    path = tmp_path_factory.mktemp("sqlconf")
    (path / "main.cf").write_text("")
    return path


def cool(path: Path) -> None:
    """Backdates a freshly written file: Postfix re-reads a configuration
    file modified within the last second until it cools down, 300 ms a read
    (see conftest.cool_down)."""
    try:
        if path.is_file() and path.stat().st_mtime > time.time() - 5:
            past = time.time() - 60
            os.utime(path, (past, past))
    except OSError:
        pass


def postmap(program: Path, confdir: Path, key: bytes | str, table: str,
            extra: list[str] | None = None) -> subprocess.CompletedProcess:
    cool(confdir / "main.cf")
    cool(Path(table.partition(":")[2]))
    key_bytes = key.encode() if isinstance(key, str) else key
    return subprocess.run([os.fsencode(program), b"-c", os.fsencode(confdir), *[a.encode() for a in extra or []],
                           b"-q", key_bytes, table.encode()],
                          capture_output=True, timeout=120, env=_env())


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("MAIL_CONFIG", "MAIL_VERBOSE", "MAIL_DEBUG"):
        env.pop(name, None)
    return env


def describe(label: str, result: subprocess.CompletedProcess) -> str:
    return (f"{label}: exit {result.returncode}\n  stdout {result.stdout!r}\n"
            f"  stderr {result.stderr.decode(errors='replace')!r}")


def answer(result: subprocess.CompletedProcess) -> str | None:
    """The value found, None for not found; fails on anything else."""
    if result.returncode == 0:
        return result.stdout.decode(errors="replace").rstrip("\n")
    assert result.returncode == 1 and result.stdout == b"" and b"fatal:" not in result.stderr, \
        describe("lookup neither found nor missed", result)
    return None


def assert_temporary_failure(result: subprocess.CompletedProcess, label: str) -> None:
    """A lookup error: no output, non-zero exit and a fatal message (Postfix
    prints "postmap: fatal: table TYPE:NAME: query error: ..."), unlike a
    miss, which exits 1 silently."""
    assert result.stdout == b"", describe(label, result)
    assert result.returncode != 0, describe(label, result)
    assert re.search(rb"postmap: fatal: ", result.stderr), describe(label, result)


class Postmaps:
    """Runs ours and the oracle on the same lookup and compares."""

    def __init__(self, ours: Path, oracle: Path, confdir: Path):
        self.ours, self.oracle, self.confdir = ours, oracle, confdir

    def both(self, key: bytes | str, table: str) -> str | None:
        theirs = postmap(self.oracle, self.confdir, key, table)
        mine = postmap(self.ours, self.confdir, key, table)
        expected = answer(theirs)
        assert (mine.returncode, mine.stdout) == (theirs.returncode, theirs.stdout), \
            f"postmap -q {key!r} {table}\n" + describe("oracle", theirs) + "\n" + describe("ours", mine)
        return expected


@pytest.fixture(scope="session")
def postmaps(ours_postmap: Path, oracle_postmap: Path, confdir: Path) -> Postmaps:
    return Postmaps(ours_postmap, oracle_postmap, confdir)


# -- servers and files -----------------------------------------------------

def _server(tmp_path_factory: pytest.TempPathFactory, name: str):
    missing = mariadb_server.available()
    if missing:
        pytest.fail(missing, pytrace=False)
    # A short base path: UNIX socket paths are limited to about 107 bytes.
    server = MariaDBServer(tmp_path_factory.mktemp("my", numbered=True), name)
    server.start()
    return server


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory):
    server = _server(tmp_path_factory, "a")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mariadb_b(tmp_path_factory: pytest.TempPathFactory):
    server = _server(tmp_path_factory, "b")
    yield server
    server.stop()


@pytest.fixture
def running(mariadb: MariaDBServer) -> MariaDBServer:
    """The main server, (re)started if a test stopped it."""
    mariadb.start()
    return mariadb


def seed_copy(directory: Path, name: str, hosts: str) -> Path:
    """The seed's mysql file `name` with only `hosts` changed."""
    text = (SEED_ETC / name).read_text()
    rewritten, count = re.subn(r"(?m)^hosts\s*=.*$", f"hosts = {hosts}", text)
    assert count == 1, f"{name}: no hosts line"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(rewritten)
    return path


def sqlite_twin(directory: Path, name: str, dbpath: Path) -> Path:
    """The seed's mysql file `name` as an sqlite file: dbpath instead of
    user, password, hosts and dbname; the legacy settings as they are."""
    kept = [line for line in (SEED_ETC / name).read_text().splitlines()
            if not re.match(r"\s*(user|password|hosts|dbname)\s*=", line)]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name.replace("mysql_", "sqlite_")
    path.write_text(f"dbpath = {dbpath}\n" + "\n".join(kept) + "\n")
    return path


def mysql_file(directory: Path, name: str, hosts: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"user = {mariadb_server.DB_USER}\npassword = {mariadb_server.DB_PASSWORD}\n"
                    f"dbname = {mariadb_server.DB_NAME}\nhosts = {hosts}\n" + body)
    return path


@pytest.fixture(scope="session")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PostfixAdmin's tables and the fixture rows in an SQLite file."""
    path = tmp_path_factory.mktemp("sqlite") / "postfixadmin.sqlite"
    connection = sqlite3.connect(path)
    schema = re.sub(r"\) ENGINE=.*?;", ");", mariadb_server.SCHEMA)
    schema = re.sub(r",\s*KEY \w+ \(\w+\)", "", schema)
    connection.executescript(schema)
    for domain, backupmx, active in mariadb_server.DOMAINS:
        connection.execute("INSERT INTO domain (domain, description, backupmx, active) VALUES (?, 'test', ?, ?)",
                           (domain, backupmx, active))
    for address, goto, active in mariadb_server.ALIASES:
        connection.execute("INSERT INTO alias (address, goto, domain, active) VALUES (?, ?, ?, ?)",
                           (address, goto, address.rpartition("@")[2], active))
    for username, maildir, quota, active in mariadb_server.MAILBOXES:
        local, _, domain = username.rpartition("@")
        connection.execute("INSERT INTO mailbox (username, password, name, maildir, quota, local_part, domain, "
                           "active) VALUES (?, 'x', 'test', ?, ?, ?, ?, ?)",
                           (username, maildir, quota, local, domain, active))
    connection.commit()
    connection.close()
    os.chmod(path, 0o444)  # our table opens it read-only; nothing may write
    return path


def sqlite_dump(path: Path) -> str:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(connection.iterdump())
    finally:
        connection.close()


# -- the seed's files ------------------------------------------------------

SEED_CASES = [(name, key) for name in SEED_MAPS for key in EXPECTED[name]]


@pytest.mark.parametrize("name,key", SEED_CASES, ids=[f"{n[14:-3]}-{k}" for n, k in SEED_CASES])
def test_seed_mysql_maps_over_unix_socket(postmaps, running, tmp_path, name, key):
    path = seed_copy(tmp_path, name, f"unix:{running.socket}")
    assert postmaps.both(key, f"mysql:{path}") == EXPECTED[name][key]


@pytest.mark.parametrize("name", SEED_MAPS)
def test_seed_mysql_maps_over_tcp(postmaps, running, tmp_path, name):
    path = seed_copy(tmp_path, name, f"inet:127.0.0.1:{running.port}")
    for key, expected in EXPECTED[name].items():
        assert postmaps.both(key, f"mysql:{path}") == expected, key
    plain = seed_copy(tmp_path / "plain", name, f"127.0.0.1:{running.port}")
    for key, expected in EXPECTED[name].items():
        assert postmaps.both(key, f"mysql:{plain}") == expected, key


@pytest.mark.parametrize("name", SEED_MAPS)
def test_seed_maps_on_sqlite(postmaps, sqlite_db, tmp_path, name):
    path = sqlite_twin(tmp_path, name, sqlite_db)
    for key, expected in EXPECTED[name].items():
        assert postmaps.both(key, f"sqlite:{path}") == expected, key


# -- query form, result_format, domain, expansion_limit ---------------------

QUERY_FORMS = {
    "by-parts": ("query = SELECT maildir FROM mailbox WHERE local_part = '%u' AND domain = '%d' AND active = '1'\n",
                 ["alice@example.com", "bob@example.com", "carol@example.com", "alice", "@example.com",
                  "alice@", "alice@example.net"]),
    "labels": ("query = SELECT domain FROM domain WHERE domain = '%2.%1'\n",
               ["x@example.com", "x@mail.example.net", "x@com", "example.com", "x@inactive.example"]),
    "result-format": ("query = SELECT goto FROM alias WHERE address = '%s'\nresult_format = <%u> at %d for %U/%D/%1 %%\n",
                      ["alice@example.com", "postmaster@example.com", "plain", "@example.net"]),
    "domain": ("query = SELECT username FROM mailbox WHERE username = '%s'\ndomain = example.com\n",
               ["alice@example.com", "carol@example.com", "alice@example.net", "alice", "@example.com"]),
    "domain-file-negated": ("query = SELECT goto FROM alias WHERE address = '%s'\n"
                            "domain = !example.com, {domains}\n",
                            ["alice@example.com", "x@example.net", "@example.net"]),
    "multi-row": ("query = SELECT username FROM mailbox WHERE domain = '%d' ORDER BY username\n",
                  ["x@example.com", "x@example.net"]),
    "expansion-limit-ok": ("query = SELECT username FROM mailbox WHERE domain = '%d' ORDER BY username\n"
                           "expansion_limit = 3\n", ["x@example.com"]),
    "literal-percent": ("query = SELECT CONCAT(domain, '%%') FROM domain WHERE domain = '%d'\n",
                        ["x@example.com"]),
}


@pytest.mark.parametrize("form", sorted(QUERY_FORMS))
def test_query_forms_mysql(postmaps, running, tmp_path, form):
    body, keys = QUERY_FORMS[form]
    (tmp_path / "domains").write_text("example.com\nexample.net\n")
    cool(tmp_path / "domains")
    body = body.replace("{domains}", str(tmp_path / "domains"))
    path = mysql_file(tmp_path, f"{form}.cf", f"unix:{running.socket}", body)
    for key in keys:
        postmaps.both(key, f"mysql:{path}")


@pytest.mark.parametrize("form", sorted(QUERY_FORMS))
def test_query_forms_sqlite(postmaps, sqlite_db, tmp_path, form):
    body, keys = QUERY_FORMS[form]
    (tmp_path / "domains").write_text("example.com\nexample.net\n")
    cool(tmp_path / "domains")
    body = body.replace("{domains}", str(tmp_path / "domains")).replace("CONCAT(domain, '%%')", "domain || '%%'")
    path = tmp_path / f"{form}.cf"
    path.write_text(f"dbpath = {sqlite_db}\n" + body)
    for key in keys:
        postmaps.both(key, f"sqlite:{path}")


def test_mysql_returns_every_column_of_every_row(postmaps, running, tmp_path):
    path = mysql_file(tmp_path, "columns.cf", f"unix:{running.socket}",
                      "query = SELECT username, quota FROM mailbox WHERE domain = '%d' ORDER BY username\n")
    assert postmaps.both("x@example.com", f"mysql:{path}") == \
        "alice@example.com,1024000,bob@example.com,0,carol@example.com,2048000"


def test_expansion_limit_exceeded_is_temporary(ours_postmap, oracle_postmap, confdir, running, sqlite_db, tmp_path):
    body = "query = SELECT username FROM mailbox WHERE domain = '%d'\nexpansion_limit = 2\n"
    mysql = mysql_file(tmp_path, "limit.cf", f"unix:{running.socket}", body)
    lite = tmp_path / "limit-sqlite.cf"
    lite.write_text(f"dbpath = {sqlite_db}\n" + body)
    for table in (f"mysql:{mysql}", f"sqlite:{lite}"):
        for program in (oracle_postmap, ours_postmap):
            assert_temporary_failure(postmap(program, confdir, "x@example.com", table), f"{program} {table}")


# -- servers that are down -------------------------------------------------

def test_stopped_server_is_a_temporary_failure(ours_postmap, oracle_postmap, confdir, mariadb, tmp_path):
    socket_map = seed_copy(tmp_path / "unix", "mysql_virtual_mailbox_maps.cf", f"unix:{mariadb.socket}")
    tcp_map = seed_copy(tmp_path / "tcp", "mysql_virtual_mailbox_maps.cf", f"inet:127.0.0.1:{mariadb.port}")
    mariadb.start()
    assert answer(postmap(ours_postmap, confdir, "alice@example.com", f"mysql:{socket_map}")) == "example.com/alice/"
    mariadb.stop()
    try:
        for path in (socket_map, tcp_map):
            for key in ("alice@example.com", "dave@example.com"):  # found and missing alike
                for program in (oracle_postmap, ours_postmap):
                    assert_temporary_failure(postmap(program, confdir, key, f"mysql:{path}"),
                                             f"{program} -q {key} mysql:{path} (server stopped)")
    finally:
        mariadb.start()
    assert answer(postmap(ours_postmap, confdir, "alice@example.com", f"mysql:{tcp_map}")) == "example.com/alice/"


def test_wrong_password_and_bad_query_are_temporary(ours_postmap, oracle_postmap, confdir, running, tmp_path):
    wrong = tmp_path / "wrong.cf"
    wrong.write_text(seed_copy(tmp_path, "mysql_virtual_mailbox_maps.cf", f"unix:{running.socket}")
                     .read_text().replace("postfix-mysql-pass", "not-the-password"))
    bad = mysql_file(tmp_path, "bad.cf", f"unix:{running.socket}", "query = SELECT nope FROM no_such_table\n")
    for path in (wrong, bad):
        for program in (oracle_postmap, ours_postmap):
            assert_temporary_failure(postmap(program, confdir, "alice@example.com", f"mysql:{path}"),
                                     f"{program} mysql:{path}")


def test_lookups_go_on_while_one_of_two_servers_is_down(ours_postmap, confdir, mariadb, mariadb_b, tmp_path):
    mariadb.start()
    mariadb_b.start()
    both = seed_copy(tmp_path / "tcp", "mysql_virtual_mailbox_maps.cf",
                     f"inet:127.0.0.1:{mariadb.port} inet:127.0.0.1:{mariadb_b.port}")
    mixed = seed_copy(tmp_path / "mixed", "mysql_virtual_mailbox_maps.cf",
                      f"unix:{mariadb.socket} unix:{mariadb_b.socket} inet:127.0.0.1:{mariadb.port}")

    def lookups_work(label: str) -> None:
        # The order is random: enough runs that each server comes first.
        for path in (both, mixed):
            for _ in range(8):
                assert answer(postmap(ours_postmap, confdir, "alice@example.com", f"mysql:{path}")) == \
                    "example.com/alice/", label
                assert answer(postmap(ours_postmap, confdir, "dave@example.com", f"mysql:{path}")) is None, label

    lookups_work("both up")
    try:
        mariadb.stop()
        lookups_work("first server down")
        mariadb.start()
        mariadb_b.stop()
        lookups_work("second server down")
        mariadb.stop()
        for path in (both, mixed):
            assert_temporary_failure(postmap(ours_postmap, confdir, "alice@example.com", f"mysql:{path}"),
                                     "both servers down")
    finally:
        mariadb.start()
        mariadb_b.start()


def test_failover_within_one_process(ours_postmap, confdir, running, tmp_path):
    """postmap -q - looks many keys up in one process: the dead host is
    skipped each time and the live connection reused."""
    path = seed_copy(tmp_path, "mysql_virtual_mailbox_maps.cf",
                     f"inet:127.0.0.1:{mariadb_server.free_loopback_port()} unix:{running.socket}")
    keys = ["alice@example.com", "dave@example.com", "bob@example.com"] * 20
    cool(path)
    result = subprocess.run([ours_postmap, "-c", confdir, "-q", "-", f"mysql:{path}"],
                            input="\n".join(keys) + "\n", capture_output=True, text=True, timeout=120, env=_env())
    assert result.returncode == 0, describe("postmap -q -", result)
    assert result.stdout.splitlines() == ["alice@example.com\texample.com/alice/",
                                          "bob@example.com\texample.com/bob/"] * 20


# -- hostile keys ----------------------------------------------------------

def _hostile_tables(tmp_path: Path, server: MariaDBServer, sqlite_path: Path) -> list[str]:
    tables = []
    for name in SEED_MAPS:
        tables.append(f"mysql:{seed_copy(tmp_path / 'mysql', name, f'unix:{server.socket}')}")
        tables.append(f"sqlite:{sqlite_twin(tmp_path / 'sqlite', name, sqlite_path)}")
    query = "query = SELECT goto FROM alias WHERE address = '%s' OR address = '%u@%d'\n"
    tables.append(f"mysql:{mysql_file(tmp_path, 'query.cf', f'unix:{server.socket}', query)}")
    lite = tmp_path / "query-sqlite.cf"
    lite.write_text(f"dbpath = {sqlite_path}\n{query}")
    tables.append(f"sqlite:{lite}")
    return tables


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=[repr(k)[2:30] for k in HOSTILE_KEYS])
def test_hostile_keys_find_nothing(postmaps, ours_postmap, confdir, running, sqlite_db, tmp_path, key):
    before = (running.checksum(), sqlite_dump(sqlite_db))
    for table in _hostile_tables(tmp_path, running, sqlite_db):
        assert postmaps.both(key, table) is None, table
        # Upper case too (no folding): the same answer.
        result = postmap(ours_postmap, confdir, key, table, extra=["-f"])
        assert answer(result) is None, table
    assert (running.checksum(), sqlite_dump(sqlite_db)) == before
    # The tables still answer.
    mailbox = seed_copy(tmp_path / "check", "mysql_virtual_mailbox_maps.cf", f"unix:{running.socket}")
    assert answer(postmap(ours_postmap, confdir, "alice@example.com", f"mysql:{mailbox}")) == "example.com/alice/"


def test_quotes_in_real_keys_are_found(postmaps, running, sqlite_db, tmp_path):
    """Quoting is not refusal: a key with a quote that is in the table is found."""
    mysql = seed_copy(tmp_path, "mysql_virtual_alias_maps.cf", f"unix:{running.socket}")
    lite = sqlite_twin(tmp_path, "mysql_virtual_alias_maps.cf", sqlite_db)
    for table in (f"mysql:{mysql}", f"sqlite:{lite}"):
        assert postmaps.both("o'brien@example.com", table) == "alice@example.com"
        assert postmaps.both("o\\'brien@example.com", table) is None
        assert postmaps.both("o''brien@example.com", table) is None


def test_connection_is_reused_and_reopened_after_a_restart(ours_postmap, confdir, running, tmp_path):
    """One connection serves many lookups; when the server restarts, the
    next lookup reconnects instead of failing (Postfix's postmap gives up
    there: "Lost connection to server during query")."""
    path = seed_copy(tmp_path, "mysql_virtual_mailbox_maps.cf", f"inet:127.0.0.1:{running.port}")
    cool(path)
    process = subprocess.Popen([ours_postmap, "-c", confdir, "-q", "-", f"mysql:{path}"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        count = ("SELECT COUNT(*) FROM information_schema.processlist "
                 f"WHERE user = '{mariadb_server.DB_USER}';")
        for key in ("alice@example.com", "dave@example.com", "bob@example.com"):
            process.stdin.write(key + "\n")
            process.stdin.flush()
            time.sleep(0.3)
        assert running.sql(count, database=None).strip() == "1"
        running.stop()
        running.start()
        process.stdin.write("alice@example.com\n")
        process.stdin.flush()
        time.sleep(0.3)
        process.stdin.close()
        process.wait(timeout=60)
        stdout, stderr = process.stdout.read(), process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert stdout.splitlines() == ["alice@example.com\texample.com/alice/", "bob@example.com\texample.com/bob/",
                                   "alice@example.com\texample.com/alice/"], stderr
