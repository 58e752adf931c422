"""Shared fixtures for Posthorn's system tests.

The system tests run the command-line programs as a user would. Most of them
are differential: they run our program and Debian's Postfix 3.7 (the
"oracle", installed unconfigured by scripts/test.sh) on the same files and
compare what each prints, its exit code, and the files it leaves.

Environment:
  POSTHORN_BIN            directory holding our binaries
                          (default: <repo>/.build/debug)
  POSTHORN_UPDATE_GOLDEN  when set to 1, golden files under fixtures/ are
                          (re)written from the oracle's output
"""

from __future__ import annotations

import collections
import difflib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# ../shared beside the repository (CI lays a copy of shared/ there too).
SEED_ETC = REPO.parent / "shared" / "seed" / "etc" / "postfix"
DEBIAN_SHARE = Path("/usr/share/postfix")
ORACLE_POSTCONF = Path("/usr/sbin/postconf")

# Parameters Posthorn implements although stock Postfix does not (the seed's
# quota extension). The oracle warns "unused parameter" for them; we do not.
POSTHORN_ONLY_PARAMETERS = frozenset({
    "virtual_mailbox_limit_maps",
    "virtual_mailbox_limit_inbox",
    "virtual_mailbox_limit_override",
    "virtual_overquota_bounce",
})

UPDATE_GOLDEN = os.environ.get("POSTHORN_UPDATE_GOLDEN") == "1"

_PROGRAM_PREFIX = re.compile(r"^(?:\S*/)?postconf: ")
_POSTHORN_ONLY_UNUSED = re.compile(
    r"^postconf: warning: .*: unused parameter: (?:"
    + "|".join(sorted(POSTHORN_ONLY_PARAMETERS))
    + r")="
)


@dataclass
class Result:
    """What one program run produced, normalized for comparison."""

    args: list[str]
    rc: int
    stdout: str
    stderr: list[str]  # lines, program prefix normalized to "postconf: "

    def describe(self) -> str:
        return (f"$ postconf {' '.join(self.args)}\n[exit {self.rc}]\n"
                f"[stdout]\n{self.stdout}[stderr]\n" + "".join(l + "\n" for l in self.stderr))


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MAIL_CONFIG", None)
    env.pop("MAIL_VERBOSE", None)
    env.pop("MAIL_DEBUG", None)
    return env


def normalize_stderr(text: str, oracle: bool) -> list[str]:
    """Split stderr into lines with the program-name prefix made uniform.

    Debian's postconf prefixes messages with its argv[0] (/usr/sbin/postconf);
    ours with its own argv[0]. Both become "postconf: ". From the oracle's
    side, "unused parameter" warnings for POSTHORN_ONLY_PARAMETERS are
    dropped, since Posthorn implements those parameters.
    """
    lines = [_PROGRAM_PREFIX.sub("postconf: ", l) for l in text.splitlines()]
    if oracle:
        lines = [l for l in lines if not _POSTHORN_ONLY_UNUSED.match(l)]
    return lines


def run_postconf(binary: Path, args: list[str], oracle: bool, timeout: float = 30) -> Result:
    with subprocess.Popen([str(binary), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, env=_clean_env()) as proc:
        pid = proc.pid
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    # $process_id expands to the program's own pid (e.g. in debugger_command
    # with -x); make it comparable.
    stdout = re.sub(rf"\b{pid}\b", "$PID", out.decode("utf-8", "surrogateescape"))
    return Result(args=list(args), rc=proc.returncode,
                  stdout=stdout,
                  stderr=normalize_stderr(err.decode("utf-8", "surrogateescape"), oracle))


def _diff(label: str, expected: str, actual: str) -> str:
    return "".join(difflib.unified_diff(
        expected.splitlines(keepends=True), actual.splitlines(keepends=True),
        fromfile=f"oracle {label}", tofile=f"posthorn {label}"))


_POSTHORN_ONLY_ENTRY = re.compile(
    r"^(?:" + "|".join(sorted(POSTHORN_ONLY_PARAMETERS)) + r")(?: =.*)?\n(?:[ \t].*\n)*",
    re.MULTILINE)


def strip_posthorn_only(stdout: str) -> str:
    """Drop main.cf-style entries ("name = value", folded continuation lines
    included, or a bare name with -H) of POSTHORN_ONLY_PARAMETERS.

    Postfix leaves unused parameters out of "postconf -n"; Posthorn knows
    these, so it may list them. Both sides are stripped before comparing."""
    return _POSTHORN_ONLY_ENTRY.sub("", stdout)


def compare_results(ours: Result, theirs: Result) -> list[str]:
    """Differences between two results: stdout exactly (apart from entries
    of POSTHORN_ONLY_PARAMETERS), stderr as a multiset of lines (Postfix
    emits some warnings in hash order), exit code."""
    problems = []
    o_out, t_out = strip_posthorn_only(ours.stdout), strip_posthorn_only(theirs.stdout)
    if o_out != t_out:
        problems.append("stdout differs:\n" + _diff("stdout", t_out, o_out))
    if collections.Counter(ours.stderr) != collections.Counter(theirs.stderr):
        problems.append("stderr differs (as sorted multisets):\n" + _diff(
            "stderr", "".join(l + "\n" for l in sorted(theirs.stderr)),
            "".join(l + "\n" for l in sorted(ours.stderr))))
    if ours.rc != theirs.rc:
        problems.append(f"exit code: oracle {theirs.rc}, posthorn {ours.rc}")
    return problems


class Postconfs:
    """Runs our postconf and the oracle's with the same arguments."""

    def __init__(self, ours: Path, oracle: Path):
        self.ours = ours
        self.oracle = oracle
        # Self-check mode: POSTHORN_BIN may hold a symlink to the oracle, to
        # validate this harness (the oracle against itself must pass). Then
        # "ours" gets the oracle's stderr filtering too.
        self.self_check = ours.resolve() == oracle.resolve()

    def run_ours(self, args: list[str]) -> Result:
        return run_postconf(self.ours, args, oracle=self.self_check)

    def run_oracle(self, args: list[str]) -> Result:
        return run_postconf(self.oracle, args, oracle=True)

    def assert_same(self, args: list[str]) -> Result:
        """Run both on the same arguments (hence the same files) and compare."""
        theirs = self.run_oracle(args)
        ours = self.run_ours(args)
        problems = compare_results(ours, theirs)
        if problems:
            pytest.fail(f"postconf {' '.join(args)}:\n" + "\n".join(problems), pytrace=False)
        return theirs


def _binary(path: Path, what: str) -> Path:
    if not (path.is_file() and os.access(path, os.X_OK)):
        # A missing binary is a failure, never a skip: a test run that did
        # not exercise the program must not look green.
        pytest.fail(f"{what} not found or not executable: {path}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    # Not resolved: when POSTHORN_BIN holds symlinks, argv[0] must still end
    # in the program's name.
    return Path(os.environ.get("POSTHORN_BIN", REPO / ".build" / "debug")).absolute()


@pytest.fixture(scope="session")
def ours_postconf(bin_dir: Path) -> Path:
    return _binary(bin_dir / "postconf", "Posthorn postconf (set POSTHORN_BIN or build first)")


@pytest.fixture(scope="session")
def oracle_postconf() -> Path:
    return _binary(ORACLE_POSTCONF, "oracle postconf (scripts/test.sh installs Debian's postfix)")


@pytest.fixture(scope="session")
def postconfs(ours_postconf: Path, oracle_postconf: Path) -> Postconfs:
    return Postconfs(ours_postconf, oracle_postconf)


class ConfDirFactory:
    """Creates fresh configuration directories under pytest's temp root."""

    def __init__(self, factory: pytest.TempPathFactory):
        self._factory = factory

    def make(self, name: str = "conf", main: str | bytes | None = "",
             master: str | bytes | None = "", copy_from: Path | None = None) -> Path:
        """A new directory with main.cf and master.cf. With copy_from, that
        directory's files are copied first; main/master then override only
        when not None (and copy_from is given) or always (without copy_from)."""
        d = self._factory.mktemp(name)
        if copy_from is not None:
            for f in copy_from.iterdir():
                if f.is_file():
                    shutil.copy2(f, d / f.name)
            if main:
                _write(d / "main.cf", main)
            if master:
                _write(d / "master.cf", master)
        else:
            if main is not None:
                _write(d / "main.cf", main)
            if master is not None:
                _write(d / "master.cf", master)
        cool_down(d)
        return d

    def seed(self) -> Path:
        """The seed deployment's files, with only "/etc/postfix/" in main.cf
        replaced by the new directory's path."""
        d = self.make("seed", copy_from=SEED_ETC)
        main = (d / "main.cf").read_bytes()
        (d / "main.cf").write_bytes(main.replace(b"/etc/postfix/", str(d).encode() + b"/"))
        cool_down(d)
        return d

    def debian(self) -> Path:
        """Debian's shipped main.cf.debian and master.cf.dist."""
        return self.make("debian",
                         main=(DEBIAN_SHARE / "main.cf.debian").read_bytes(),
                         master=(DEBIAN_SHARE / "master.cf.dist").read_bytes())


def _write(path: Path, content: str | bytes) -> None:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)


def cool_down(d: Path) -> None:
    """Backdate every file in d by a minute.

    Postfix re-reads a "hot" configuration file (modified within about the
    last second) until it has cooled down, pausing 300 ms between reads, and
    repeats every warning on each read. With freshly written files that
    makes the oracle slow and its warning counts timing-dependent, so every
    test cools its files before running either program.
    """
    past = time.time() - 60
    for f in d.iterdir():
        if f.is_file():
            os.utime(f, (past, past))


@pytest.fixture(scope="session")
def confdirs(tmp_path_factory: pytest.TempPathFactory) -> ConfDirFactory:
    if not SEED_ETC.is_dir():
        pytest.fail(f"seed configuration missing: {SEED_ETC}", pytrace=False)
    for f in ("main.cf.debian", "master.cf.dist"):
        if not (DEBIAN_SHARE / f).is_file():
            pytest.fail(f"oracle file missing: {DEBIAN_SHARE / f}", pytrace=False)
    return ConfDirFactory(tmp_path_factory)
