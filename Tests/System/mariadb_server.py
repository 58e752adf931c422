"""A private MariaDB server for the mysql: table tests.

Each MariaDBServer has its own data directory under a temporary directory,
listens only on a UNIX socket in that directory and on a free loopback TCP
port, and never touches the system's MariaDB service or /etc/mysql (every
program runs with --no-defaults). The server process runs under
timeout(1), so it ends by itself even if the test run is killed.

It is loaded with PostfixAdmin's tables (domain, alias, mailbox: our own
minimal DDL with PostfixAdmin's column types) and a few fixture rows, and
has the seed's user (postfix-mysql-user / postfix-mysql-pass) with SELECT
rights on the seed's database (postfix-user-db).

Needs the Debian packages mariadb-server and mariadb-client.

Usage:
    with MariaDBServer(tmpdir) as server:
        server.sql("SELECT 1")
        server.stop(); server.start()
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DB_NAME = "postfix-user-db"
DB_USER = "postfix-mysql-user"
DB_PASSWORD = "postfix-mysql-pass"

# The longest a server may live, whatever happens to the test run.
MAX_LIFETIME_SECONDS = 1800
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30

# PostfixAdmin's tables, with its column types (only what Postfix reads and
# the bookkeeping columns around it).
SCHEMA = """
CREATE TABLE domain (
  domain varchar(255) NOT NULL DEFAULT '',
  description varchar(255) NOT NULL DEFAULT '',
  aliases int(10) NOT NULL DEFAULT 0,
  mailboxes int(10) NOT NULL DEFAULT 0,
  maxquota bigint(20) NOT NULL DEFAULT 0,
  quota bigint(20) NOT NULL DEFAULT 0,
  transport varchar(255) DEFAULT NULL,
  backupmx tinyint(1) NOT NULL DEFAULT 0,
  created datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
  modified datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
  active tinyint(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='Postfix Admin - Virtual Domains';

CREATE TABLE alias (
  address varchar(255) NOT NULL DEFAULT '',
  goto text NOT NULL,
  domain varchar(255) NOT NULL DEFAULT '',
  created datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
  modified datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
  active tinyint(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (address),
  KEY domain (domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='Postfix Admin - Virtual Aliases';

CREATE TABLE mailbox (
  username varchar(255) NOT NULL DEFAULT '',
  password varchar(255) NOT NULL DEFAULT '',
  name varchar(255) NOT NULL DEFAULT '',
  maildir varchar(255) NOT NULL DEFAULT '',
  quota bigint(20) NOT NULL DEFAULT 0,
  local_part varchar(255) NOT NULL DEFAULT '',
  domain varchar(255) NOT NULL DEFAULT '',
  created datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
  modified datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
  active tinyint(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (username),
  KEY domain (domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='Postfix Admin - Virtual Mailboxes';
"""

# (domain, backupmx, active)
DOMAINS = [
    ("example.com", 0, 1),
    ("example.net", 0, 1),
    ("inactive.example", 0, 0),
    ("backup.example", 1, 1),
]
# (address, goto, active)
ALIASES = [
    ("alice@example.com", "alice@example.com", 1),
    ("bob@example.com", "bob@example.com", 1),
    ("postmaster@example.com", "alice@example.com,bob@example.com", 1),
    ("old@example.com", "alice@example.com", 0),
    ("@example.net", "catchall@example.com", 1),
    ("o'brien@example.com", "alice@example.com", 1),
]
# (username, maildir, quota, active)
MAILBOXES = [
    ("alice@example.com", "example.com/alice/", 1024000, 1),
    ("bob@example.com", "example.com/bob/", 0, 1),
    ("carol@example.com", "example.com/carol/", 2048000, 0),
]

# The value each seed map should give for a key (None: not found), with the
# fixture rows above, for lookups with Postfix's default case folding.
EXPECTED = {
    "mysql_virtual_domains_maps.cf": {
        "example.com": "example.com",
        "EXAMPLE.NET": "example.net",
        "inactive.example": None,
        "backup.example": None,
        "missing.example": None,
    },
    "mysql_virtual_alias_maps.cf": {
        "alice@example.com": "alice@example.com",
        "postmaster@example.com": "alice@example.com,bob@example.com",
        "Postmaster@Example.COM": "alice@example.com,bob@example.com",
        "@example.net": "catchall@example.com",
        "old@example.com": "alice@example.com",  # the seed map ignores active
        "o'brien@example.com": "alice@example.com",
        "nobody@example.com": None,
    },
    "mysql_virtual_mailbox_maps.cf": {
        "alice@example.com": "example.com/alice/",
        "bob@example.com": "example.com/bob/",
        "carol@example.com": None,  # inactive
        "dave@example.com": None,
    },
    "mysql_virtual_mailbox_limit_maps.cf": {
        "alice@example.com": "1024000",
        "bob@example.com": "0",
        "carol@example.com": None,
        "dave@example.com": None,
    },
}


def _sql_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fixture_sql() -> str:
    """INSERT statements for the fixture rows."""
    lines = []
    for domain, backupmx, active in DOMAINS:
        lines.append("INSERT INTO domain (domain, description, backupmx, active) VALUES "
                     f"({_sql_quote(domain)}, 'test', {backupmx}, {active});")
    for address, goto, active in ALIASES:
        domain = address.rpartition("@")[2]
        lines.append("INSERT INTO alias (address, goto, domain, active) VALUES "
                     f"({_sql_quote(address)}, {_sql_quote(goto)}, {_sql_quote(domain)}, {active});")
    for username, maildir, quota, active in MAILBOXES:
        local, _, domain = username.rpartition("@")
        lines.append("INSERT INTO mailbox (username, password, name, maildir, quota, local_part, domain, active) "
                     f"VALUES ({_sql_quote(username)}, 'x', 'test', {_sql_quote(maildir)}, {quota}, "
                     f"{_sql_quote(local)}, {_sql_quote(domain)}, {active});")
    return "\n".join(lines) + "\n"


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available() -> str | None:
    """None when the server programs are installed, else what is missing."""
    for program in ("mariadbd", "mariadb-install-db", "mariadb"):
        if not _which(program):
            return f"{program} not installed (Debian packages mariadb-server, mariadb-client)"
    return None


def _which(program: str) -> str | None:
    return shutil.which(program, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


class MariaDBServer:
    """One private server: install, start, load, stop."""

    def __init__(self, base: Path, name: str = "db"):
        self.base = Path(base) / name
        self.datadir = self.base / "data"
        # UNIX socket paths are limited to about 107 bytes.
        self.socket = self.base / "sock"
        self.port = 0
        self.log = self.base / "error.log"
        self.process: subprocess.Popen | None = None
        self._installed = False

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> "MariaDBServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        """Starts the server (installing and loading it the first time)."""
        if self.process is not None:
            return
        first = not self._installed
        if first:
            self._install()
        if not self.port:
            self.port = free_loopback_port()
        command = [
            _which("timeout") or "timeout", "--signal=TERM", "--kill-after=10", str(MAX_LIFETIME_SECONDS),
            _which("mariadbd"), "--no-defaults",
            f"--datadir={self.datadir}", f"--socket={self.socket}",
            f"--port={self.port}", "--bind-address=127.0.0.1",
            f"--pid-file={self.base / 'mariadbd.pid'}", f"--log-error={self.log}",
            "--skip-log-bin", "--skip-name-resolve", "--innodb-buffer-pool-size=16M",
            "--innodb-log-file-size=16M", "--performance-schema=OFF", "--max-connections=50",
        ]
        if os.geteuid() == 0:
            command.append("--user=root")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        self._wait_ready()
        if first:
            self._load()

    def stop(self) -> None:
        """Stops the server and waits until it has exited."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()  # timeout(1) passes SIGTERM on: a clean shutdown
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while self.socket.exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- queries -----------------------------------------------------------

    def sql(self, statements: str, database: str | None = DB_NAME) -> str:
        """Runs SQL as root over the socket; returns tab-separated rows."""
        command = [_which("mariadb"), "--no-defaults", f"--socket={self.socket}", "--user=root",
                   "--batch", "--skip-column-names", "--raw"]
        if database:
            command.append(f"--database={database}")
        result = subprocess.run(command, input=statements, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"mariadb failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def checksum(self) -> str:
        """A digest of every fixture table, to show that nothing changed."""
        return self.sql("CHECKSUM TABLE domain, alias, mailbox EXTENDED;")

    # -- internals ---------------------------------------------------------

    def _install(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if self.datadir.exists():
            shutil.rmtree(self.datadir)
        command = [_which("mariadb-install-db"), "--no-defaults", f"--datadir={self.datadir}",
                   "--auth-root-authentication-method=normal", "--skip-test-db",
                   "--skip-name-resolve"]
        if os.geteuid() == 0:
            command.append("--user=root")
        result = subprocess.run(command, capture_output=True, text=True, timeout=180)
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {result.stdout}\n{result.stderr}")
        self._installed = True

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited early:\n{self._log_tail()}")
            if self.socket.exists():
                try:
                    self.sql("SELECT 1;", database=None)
                    return
                except (RuntimeError, subprocess.TimeoutExpired):
                    pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mariadbd did not start within {START_TIMEOUT_SECONDS}s:\n{self._log_tail()}")

    def _load(self) -> None:
        user = _sql_quote(DB_USER)
        password = _sql_quote(DB_PASSWORD)
        self.sql(f"CREATE DATABASE `{DB_NAME}` CHARACTER SET utf8mb4;\n"
                 f"CREATE USER {user}@'localhost' IDENTIFIED BY {password};\n"
                 f"CREATE USER {user}@'127.0.0.1' IDENTIFIED BY {password};\n"
                 f"GRANT SELECT ON `{DB_NAME}`.* TO {user}@'localhost';\n"
                 f"GRANT SELECT ON `{DB_NAME}`.* TO {user}@'127.0.0.1';\n"
                 "FLUSH PRIVILEGES;\n", database=None)
        self.sql(SCHEMA + fixture_sql())

    def _log_tail(self) -> str:
        try:
            return "".join(self.log.read_text(errors="replace").splitlines(True)[-20:])
        except OSError:
            return "(no error log)"


if __name__ == "__main__":
    # Manual check: start a server, show the fixture, stop it.
    import sys
    import tempfile

    missing = available()
    if missing:
        sys.exit(missing)
    with tempfile.TemporaryDirectory(prefix="mariadb-") as tmp:
        with MariaDBServer(Path(tmp)) as server:
            print(f"socket {server.socket} port {server.port}")
            print(server.sql("SELECT username, maildir, quota, active FROM mailbox;"), end="")
            if len(sys.argv) > 1 and sys.argv[1] == "--wait":
                input("running; press return to stop ")
