#!/usr/bin/env python3
"""record-smtp-dialogs.py - record the SMTP dialog corpus from Debian's Postfix 3.7.

Usage (as root, with Debian's postfix installed, never configured):
    scripts/record-smtp-dialogs.py [--check N] [CASE_OR_DIR ...]

For every profile used by the selected cases (default: all of
Tests/System/smtp_dialogs), starts a private Postfix instance under /tmp
(smtpd on 127.0.0.1:<free port>, everything delivered to discard, its own
maillog), runs each case's client script and writes what Postfix answered
back into the case file: every reply line (queue IDs masked as
{{queueid}}), where the server closed the connection, and the session's
smtpd log lines. A case's posthorn-expect section is recorded the same way
from a second instance whose main.cf adds profiles/_posthorn-hardening.cf.

--check N replays every freshly recorded case N more times against the
same instances and reports (and exits 1 on) any case whose answer changed:
nondeterministic cases must be fixed or dropped.

Only loopback is used; every read is bounded by a socket timeout. See
Tests/System/smtp_dialogs/README.md for the case format.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "System" / "smtp_dialogs"))

import dialoglib as dl  # noqa: E402


def select(args: list[str]) -> list[Path]:
    if not args:
        return dl.all_cases()
    out: list[Path] = []
    for a in args:
        p = Path(a).resolve()
        if p.is_dir():
            out += sorted(q for q in p.rglob("*" + dl.CASE_SUFFIX) if "profiles" not in q.parts)
        elif p.is_file():
            out.append(p)
        else:
            sys.exit(f"no such case or directory: {a}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--check", type=int, default=1, metavar="N",
                    help="replay each recorded case N times to detect nondeterminism (default 1)")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("record-smtp-dialogs: needs root (private Postfix instances)")
    if not dl.ORACLE_POSTFIX.exists():
        sys.exit("record-smtp-dialogs: Debian's postfix is not installed")

    cases = [dl.parse_case(p) for p in select(opts.cases)]
    by_config: dict[tuple[str, bool], list[tuple[dl.Case, dl.Dialog]]] = {}
    for c in cases:
        by_config.setdefault((c.profile, False), []).append((c, c.main))
        if c.posthorn is not None:
            by_config.setdefault((c.profile, True), []).append((c, c.posthorn))

    unstable: list[str] = []
    for (profile, hardened), items in sorted(by_config.items()):
        label = profile + (" +hardening" if hardened else "")
        print(f"== profile {label}: {len(items)} dialog(s)", flush=True)
        inst = dl.PostfixInstance(profile, hardened).start()
        try:
            for case, dialog in items:
                print(f"  {case.name}{' [posthorn-expect]' if hardened else ''}", flush=True)
                dl.record_dialog(dialog, inst.port, case.source, inst.maillog)
            for case in {id(c): c for c, _ in items}.values():
                case.path.write_text(dl.render_case(case), encoding="utf-8")
            for _ in range(opts.check):
                for case, dialog in items:
                    problems = dl.replay_dialog(dialog, inst.port, case.source, inst.maillog)
                    if problems:
                        unstable.append(f"{case.name} ({label}):\n    " + "\n    ".join(problems))
        finally:
            inst.stop()
    if unstable:
        print("\nNONDETERMINISTIC (answer changed on replay):", file=sys.stderr)
        for u in unstable:
            print("  " + u, file=sys.stderr)
        return 1
    print(f"recorded {len(cases)} case(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
