"""Shared libraries load on demand (docs/architecture.md): a table whose
library cannot be loaded is a clear configuration error naming the table and
the library, never a crash, and other table types keep working. Each case
hides one library behind /dev/null in a private mount namespace
(`unshare -m`), then runs our postmap."""
import ctypes.util
import os
import subprocess
import tempfile

import pytest

from posthorn_instance import BIN, require_programs

LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib/x86_64-linux-gnu",
                "/lib/aarch64-linux-gnu", "/usr/lib", "/lib")

# table type, the file the table names, soname, the words of the error
CASES = [
    ("hash", "access", "libdb-5.3.so", "cannot load the Berkeley DB library"),
    ("btree", "access_btree", "libdb-5.3.so", "cannot load the Berkeley DB library"),
    ("lmdb", "access", "liblmdb.so.0", "cannot load the LMDB library"),
    ("sqlite", "sqlite.cf", "libsqlite3.so.0", "cannot load the SQLite library"),
    ("mysql", "mysql.cf", "libmariadb.so.3", "cannot load the MariaDB client library"),
    ("pcre", "checks.pcre", "libpcre2-8.so.0", "cannot load the PCRE2 library"),
]


def library_path(soname: str) -> str:
    for d in LIBRARY_DIRS:
        p = os.path.join(d, soname)
        if os.path.exists(p):
            return os.path.realpath(p)
    pytest.fail(f"{soname} not found", pytrace=False)


@pytest.fixture(scope="module")
def confdir():
    require_programs("postmap")
    d = tempfile.mkdtemp(prefix="posthorn-lazy-")
    with open(os.path.join(d, "main.cf"), "w") as f:
        f.write(f"command_directory = {BIN}\ndaemon_directory = {BIN}\n")
    for name in ("access", "access_btree"):
        with open(os.path.join(d, name), "w") as f:
            f.write("example.com OK\n")
    with open(os.path.join(d, "sqlite.cf"), "w") as f:
        f.write(f"dbpath = {d}/db.sqlite\nquery = SELECT 'x' WHERE '%s' = 'y'\n")
    with open(os.path.join(d, "mysql.cf"), "w") as f:
        f.write("hosts = 127.0.0.1\nuser = u\npassword = p\ndbname = d\nquery = SELECT 1\n")
    with open(os.path.join(d, "checks.pcre"), "w") as f:
        f.write("/^example/ OK\n")
    for kind, name in (("hash", "access"), ("btree", "access_btree"), ("lmdb", "access")):
        r = subprocess.run([str(BIN / "postmap"), "-c", d, f"{kind}:{d}/{name}"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    yield d
    subprocess.run(["rm", "-rf", d])


@pytest.mark.parametrize("kind,name,soname,words", CASES, ids=[c[0] for c in CASES])
def test_missing_library_is_a_clear_error(confdir, kind, name, soname, words):
    table = f"{kind}:{confdir}/{name}"
    hidden = library_path(soname)
    script = (f"mount --bind /dev/null {hidden} && "
              f"exec {BIN}/postmap -c {confdir} -q example.com {table}")
    r = subprocess.run(["unshare", "-m", "--", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, (r.returncode, r.stderr)  # an error exit, not a signal
    assert words in r.stderr and table in r.stderr, r.stderr
    assert "fatal" in r.stderr

    # The same query with the library in place (where it needs no server).
    if kind in ("hash", "btree", "lmdb", "pcre"):
        r = subprocess.run([str(BIN / "postmap"), "-c", confdir, "-q", "example.com", table],
                           capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stdout) == (0, "OK\n"), r.stderr


def test_other_tables_work_without_a_library(confdir):
    """Hiding Berkeley DB does not stop an lmdb: table."""
    hidden = library_path("libdb-5.3.so")
    script = (f"mount --bind /dev/null {hidden} && "
              f"exec {BIN}/postmap -c {confdir} -q example.com lmdb:{confdir}/access")
    r = subprocess.run(["unshare", "-m", "--", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "OK\n"), r.stderr
