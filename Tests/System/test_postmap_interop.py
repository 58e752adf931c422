"""Interop of our postmap/postalias with Debian's Postfix 3.7 (the oracle).

For hash, btree and lmdb: a table built by one side is queried by the
other for every key (upper-case keys folded, quoted keys, continuation
values), `-s` listings agree as sets, and messages for bad source lines,
exit codes and `-q -` output agree with the oracle's.

Environment: POSTHORN_BIN is the directory with our binaries (default
<repo>/.build/debug). A missing binary fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OUR_BIN = Path(os.environ.get("POSTHORN_BIN", REPO / ".build" / "debug"))
ORACLE = {"postmap": "/usr/sbin/postmap", "postalias": "/usr/sbin/postalias"}
TYPES = ["hash", "btree", "lmdb"]

SOURCE = """\
# a comment line
User@Example.COM   ok
MiXeD   Value With CAPS
multi   first
    second
\tthird
"quoted key"  quoted value
key\\ esc   escaped
dup one
dup two
"""

ALIASES = """\
# comment
Root: admin, Bob@Example.COM
postmaster:root
"a b": x
list: :include:/etc/lists/list,
   "|/usr/bin/prog arg", /var/mail/file
\tmore@x
Name: Full Name <a@b>, a\\,b, (comment) c
"""

BAD_SOURCE = """\
onlykey
good value
"unbalanced key value
alias: style
  continued
dup 1
dup 2
"""

BAD_ALIASES = """\
  leading: x
nocolon value
a@b: c
a%b: c
: empty
trailing:
ok: y
ok: z
"@": x
"""


def program(side: str, name: str) -> str:
    if side == "oracle":
        return ORACLE[name]
    path = OUR_BIN / name
    if not path.exists():
        pytest.fail(f"our {name} binary is missing: {path} (set POSTHORN_BIN)")
    return str(path)


@pytest.fixture
def confdir(tmp_path: Path) -> Path:
    d = tmp_path / "conf"
    d.mkdir()
    (d / "main.cf").write_text("")
    (d / "master.cf").write_text("")
    return d


def run(side: str, name: str, confdir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([program(side, name), "-c", str(confdir), *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def normalize(stderr: str, tmp: Path) -> list[str]:
    """Messages without directory names, so that two runs compare."""
    return [line.replace(str(tmp) + "/", "") for line in stderr.splitlines()]


def other(side: str) -> str:
    return "ours" if side == "oracle" else "oracle"


@pytest.mark.parametrize("builder", ["ours", "oracle"])
@pytest.mark.parametrize("table_type", TYPES)
def test_postmap_tables_interoperate(tmp_path: Path, confdir: Path, table_type: str, builder: str) -> None:
    src = tmp_path / "map"
    src.write_text(SOURCE)
    built = run(builder, "postmap", confdir, f"{table_type}:{src}")
    assert built.returncode == 0, built.stderr
    reader = other(builder)
    expected = {
        "user@example.com": "ok", "USER@EXAMPLE.COM": "ok", "mixed": "Value With CAPS",
        "MIXED": "Value With CAPS", "multi": "first    second\tthird", '"quoted key"': "quoted value",
        "key\\ esc": "escaped", "dup": "one",
    }
    for key, value in expected.items():
        for side in (builder, reader):
            got = run(side, "postmap", confdir, "-q", key, f"{table_type}:{src}")
            assert (got.returncode, got.stdout) == (0, value + "\n"), (side, key, got.stderr)
    for side in (builder, reader):
        miss = run(side, "postmap", confdir, "-q", "absent", f"{table_type}:{src}")
        assert (miss.returncode, miss.stdout) == (1, "")
    dumps = {side: run(side, "postmap", confdir, "-s", f"{table_type}:{src}") for side in ("ours", "oracle")}
    assert set(dumps["ours"].stdout.splitlines()) == set(dumps["oracle"].stdout.splitlines())
    assert dumps["ours"].returncode == dumps["oracle"].returncode == 0
    keys = "user@example.com\nABSENT\nMIXED\n\nmulti\n"
    streams = {side: run(side, "postmap", confdir, "-q", "-", f"{table_type}:{src}", stdin=keys)
               for side in ("ours", "oracle")}
    assert streams["ours"].stdout == streams["oracle"].stdout
    assert streams["ours"].returncode == streams["oracle"].returncode == 0


@pytest.mark.parametrize("table_type", TYPES)
def test_postmap_f_n_and_incremental_interoperate(tmp_path: Path, confdir: Path, table_type: str) -> None:
    for builder in ("ours", "oracle"):
        src = tmp_path / f"map-{builder}"
        src.write_text("CaseKey value\nlower v2\n")
        assert run(builder, "postmap", confdir, "-f", "-n", f"{table_type}:{src}").returncode == 0
        added = run(builder, "postmap", confdir, "-i", f"{table_type}:{src}", stdin="Added x\nlower again\n")
        assert added.returncode == 0
        for side in ("ours", "oracle"):
            assert run(side, "postmap", confdir, "-f", "-q", "CaseKey", f"{table_type}:{src}").stdout == "value\n"
            assert run(side, "postmap", confdir, "-q", "added", f"{table_type}:{src}").stdout == "x\n"
            assert run(side, "postmap", confdir, "-q", "casekey", f"{table_type}:{src}").returncode == 1
        dumps = {side: set(run(side, "postmap", confdir, "-s", f"{table_type}:{src}").stdout.splitlines())
                 for side in ("ours", "oracle")}
        # -i writes with the NUL, so "lower" (stored without one by -n) is
        # not a duplicate: both sides then hold two "lower" entries.
        assert dumps["ours"] == dumps["oracle"] == {"CaseKey\tvalue", "lower\tv2", "lower\tagain", "added\tx"}


@pytest.mark.parametrize("table_type", TYPES)
def test_postmap_delete_agrees(tmp_path: Path, confdir: Path, table_type: str) -> None:
    results = {}
    for side in ("ours", "oracle"):
        src = tmp_path / f"del-{side}"
        src.write_text("a 1\nb 2\nc 3\n")
        assert run("oracle", "postmap", confdir, f"{table_type}:{src}").returncode == 0
        one = run(side, "postmap", confdir, "-d", "A", f"{table_type}:{src}")
        again = run(side, "postmap", confdir, "-d", "a", f"{table_type}:{src}")
        many = run(side, "postmap", confdir, "-d", "-", f"{table_type}:{src}", stdin="b\nzz\n")
        left = run(other(side), "postmap", confdir, "-s", f"{table_type}:{src}").stdout
        results[side] = (one.returncode, again.returncode, many.returncode, left)
    assert results["ours"] == results["oracle"] == (0, 1, 0, "c\t3\n")


@pytest.mark.parametrize("table_type", TYPES)
def test_postmap_messages_agree(tmp_path: Path, confdir: Path, table_type: str) -> None:
    outcome = {}
    for side in ("ours", "oracle"):
        d = tmp_path / side
        d.mkdir()
        src = d / "bad"
        src.write_text(BAD_SOURCE)
        built = run(side, "postmap", confdir, f"{table_type}:{src}")
        msgs = [m.replace(str(d) + "/", "") for m in built.stderr.splitlines()]
        dump = set(run("oracle", "postmap", confdir, "-s", f"{table_type}:{src}").stdout.splitlines())
        outcome[side] = (built.returncode, msgs, dump)
    assert outcome["ours"] == outcome["oracle"]


@pytest.mark.parametrize("args", [
    [], ["-z", "x"], ["-q"], ["-q", "a", "-s", "x"], ["-q", "x", "hash:/nonexistent/t"],
    ["-q", "x", "lmdb:/nonexistent/t"], ["hash:/nonexistent/src"], ["-s", "regexp:/dev/null"],
    ["-q", "x", "nosuchtype:/tmp/x"], ["nosuchtype:/tmp/x"],
])
def test_postmap_usage_and_open_errors_agree(confdir: Path, args: list[str]) -> None:
    ours = run("ours", "postmap", confdir, *args)
    oracle = run("oracle", "postmap", confdir, *args)
    assert (ours.returncode, ours.stdout, ours.stderr) == (oracle.returncode, oracle.stdout, oracle.stderr)


def test_new_file_takes_source_permissions(tmp_path: Path, confdir: Path) -> None:
    modes = {}
    for side in ("ours", "oracle"):
        src = tmp_path / f"perm-{side}"
        src.write_text("a b\n")
        src.chmod(0o640)
        assert run(side, "postmap", confdir, f"hash:{src}").returncode == 0
        modes[side] = (tmp_path / f"perm-{side}.db").stat().st_mode & 0o777
    assert modes["ours"] == modes["oracle"] == 0o640


@pytest.mark.parametrize("builder", ["ours", "oracle"])
@pytest.mark.parametrize("table_type", TYPES)
def test_postalias_interoperates(tmp_path: Path, confdir: Path, table_type: str, builder: str) -> None:
    src = tmp_path / "aliases"
    src.write_text(ALIASES)
    built = run(builder, "postalias", confdir, f"{table_type}:{src}")
    assert built.returncode == 0, built.stderr
    expected = {
        "root": "admin, Bob@Example.COM", "ROOT": "admin, Bob@Example.COM", "postmaster": "root",
        "a b": "x", "list": ':include:/etc/lists/list, "|/usr/bin/prog arg", /var/mail/file more@x',
        "name": 'Full Name <a@b>, "a,b", (comment) c', "@": "@",
    }
    for key, value in expected.items():
        for side in ("ours", "oracle"):
            got = run(side, "postalias", confdir, "-q", key, f"{table_type}:{src}")
            assert (got.returncode, got.stdout) == (0, value + "\n"), (side, key, got.stderr)
            got = run(side, "postmap", confdir, "-q", key, f"{table_type}:{src}")
            assert got.stdout == value + "\n", (side, key)

    def listing(side: str) -> set[str]:
        lines = run(side, "postalias", confdir, "-s", f"{table_type}:{src}").stdout.splitlines()
        return {line for line in lines if not line.startswith("YP_LAST_MODIFIED:")}

    assert listing("ours") == listing("oracle")
    assert any(line.startswith("YP_MASTER_NAME:\t") for line in listing("ours"))
    keys = "root\nNOBODY\nA B\n@\n"
    streams = {side: run(side, "postalias", confdir, "-q", "-", f"{table_type}:{src}", stdin=keys)
               for side in ("ours", "oracle")}
    assert streams["ours"].stdout == streams["oracle"].stdout
    assert streams["ours"].returncode == streams["oracle"].returncode == 0


@pytest.mark.parametrize("table_type", TYPES)
def test_postalias_messages_agree(tmp_path: Path, confdir: Path, table_type: str) -> None:
    outcome = {}
    for side in ("ours", "oracle"):
        d = tmp_path / side
        d.mkdir()
        src = d / "aliases"
        src.write_text(BAD_ALIASES)
        built = run(side, "postalias", confdir, f"{table_type}:{src}")
        msgs = [m.replace(str(d) + "/", "") for m in built.stderr.splitlines()]
        dump = {line for line in run("oracle", "postalias", confdir, "-s", f"{table_type}:{src}").stdout.splitlines()
                if not line.startswith("YP_LAST_MODIFIED:")}
        outcome[side] = (built.returncode, msgs, dump)
    assert outcome["ours"] == outcome["oracle"]


def test_newaliases_rebuilds_alias_database(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "master.cf").write_text("")
    (tmp_path / "a1").write_text("x: y\n")
    (tmp_path / "a2").write_text("Z: w\n")
    (conf / "main.cf").write_text(f"alias_database = hash:{tmp_path}/a1, lmdb:{tmp_path}/a2\n")
    newaliases = OUR_BIN / "newaliases"
    if not newaliases.exists():
        pytest.fail(f"our newaliases binary is missing: {newaliases}")
    done = subprocess.run([str(newaliases)], env={**os.environ, "MAIL_CONFIG": str(conf)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert run("oracle", "postalias", conf, "-q", "x", f"hash:{tmp_path}/a1").stdout == "y\n"
    assert run("oracle", "postalias", conf, "-q", "z", f"lmdb:{tmp_path}/a2").stdout == "w\n"
    (conf / "main.cf").write_text(f"alias_database = hash:{tmp_path}/a1, hash:{tmp_path}/missing\n")
    failed = subprocess.run([str(newaliases)], env={**os.environ, "MAIL_CONFIG": str(conf)},
                            capture_output=True, text=True, timeout=60)
    oracle = subprocess.run(["/usr/sbin/sendmail", "-bi"], env={**os.environ, "MAIL_CONFIG": str(conf)},
                            capture_output=True, text=True, timeout=60)
    assert (failed.returncode, failed.stderr) == (oracle.returncode, oracle.stderr)
