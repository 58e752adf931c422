"""Bad-config corpus: each broken file is paired with the exact error.

fixtures/bad/NAME.main.cf or NAME.master.cf is installed as main.cf or
master.cf of a fresh configuration directory (the other file is empty), and
postconf runs on it. NAME.expected holds what must happen:

    # args: -n            postconf arguments (default: -n for a main.cf
                          fixture, -M for a master.cf fixture)
    # exit: 1             exit status
    postconf: fatal: ...  the expected stderr lines; "postconf: " stands for
                          the program's own name and $CONFIG for the
                          configuration directory. Lines are compared as a
                          sorted multiset, because Postfix prints some
                          warnings in hash-table order.

The expectations were produced by Debian's Postfix 3.7 postconf. To
(re)generate them, run with POSTHORN_UPDATE_GOLDEN=1: the oracle is run and
its result written, keeping an existing "# args:" line. To add a fixture,
add NAME.main.cf or NAME.master.cf (and, for other arguments, a NAME.expected
holding only the "# args:" line), then regenerate.

With the oracle present, each test also checks that the oracle still
produces the checked-in expectation.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from conftest import FIXTURES, ORACLE_POSTCONF, UPDATE_GOLDEN, Postconfs, Result

BAD = FIXTURES / "bad"


def _fixtures() -> list[str]:
    names = {p.name.rsplit(".", 2)[0] for p in BAD.glob("*.main.cf")}
    names |= {p.name.rsplit(".", 2)[0] for p in BAD.glob("*.master.cf")}
    return sorted(names)


def _read_expected(path: Path) -> tuple[list[str] | None, int | None, list[str]]:
    args, rc, lines = None, None, []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("# args:"):
                args = shlex.split(line[len("# args:"):])
            elif line.startswith("# exit:"):
                rc = int(line[len("# exit:"):])
            elif line.startswith("#"):
                continue
            else:
                lines.append(line)
    return args, rc, lines


def _render(r: Result, args: list[str], d: Path) -> str:
    out = [f"# args: {shlex.join(args)}\n", f"# exit: {r.rc}\n"]
    out += [l.replace(str(d), "$CONFIG") + "\n" for l in sorted(r.stderr)]
    return "".join(out)


def test_corpus_size():
    assert len(_fixtures()) >= 15, "the bad-config corpus should cover at least 15 errors"


@pytest.mark.parametrize("name", _fixtures())
def test_bad_config(postconfs: Postconfs, confdirs, name):
    main, master = BAD / f"{name}.main.cf", BAD / f"{name}.master.cf"
    d = confdirs.make("bad",
                      main=main.read_bytes() if main.exists() else "",
                      master=master.read_bytes() if master.exists() else "")
    expected_path = BAD / f"{name}.expected"
    args, rc, lines = _read_expected(expected_path)
    if args is None:
        args = ["-n"] if main.exists() else ["-M"]
    full = ["-c", str(d), *args]

    if UPDATE_GOLDEN:
        expected_path.write_text(_render(postconfs.run_oracle(full), args, d), encoding="utf-8")
        args, rc, lines = _read_expected(expected_path)
    if rc is None:
        pytest.fail(f"{expected_path} has no '# exit:' line (run with POSTHORN_UPDATE_GOLDEN=1)",
                    pytrace=False)

    want = sorted(lines)
    problems = []
    ours = postconfs.run_ours(full)
    got = sorted(l.replace(str(d), "$CONFIG") for l in ours.stderr)
    if got != want or ours.rc != rc:
        problems.append(f"posthorn: exit {ours.rc}, stderr:\n  " + "\n  ".join(got)
                        + f"\nexpected: exit {rc}, stderr:\n  " + "\n  ".join(want))
    if not UPDATE_GOLDEN and ORACLE_POSTCONF.exists():
        theirs = postconfs.run_oracle(full)
        t_got = sorted(l.replace(str(d), "$CONFIG") for l in theirs.stderr)
        if t_got != want or theirs.rc != rc:
            problems.append(f"the oracle no longer matches {expected_path.name}: exit {theirs.rc}, "
                            "stderr:\n  " + "\n  ".join(t_got))
    if problems:
        pytest.fail(f"postconf {shlex.join(args)} on {name}:\n" + "\n".join(problems),
                    pytrace=False)
