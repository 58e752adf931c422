"""The SMTP dialog corpus (issue 6, "Checked by"): every case under
smtp_dialogs/ is a client script with the replies Debian's Postfix 3.7.11
gave at every step (recorded by scripts/record-smtp-dialogs.py); here it is
replayed and every reply line must equal the recorded one (queue IDs and
other marked parts masked), the connection must close where Postfix closed
it, and the recorded smtpd log lines must appear in order in the session's
log. Format and workflow: smtp_dialogs/README.md.

Targets (env POSTHORN_DIALOG_TARGET):
  posthorn (default)  a private Posthorn instance per profile (PosthornInstance,
                      programs from POSTHORN_BIN, default .build/debug), smtpd
                      on 127.0.0.1:<free port>. A case's posthorn-expect
                      section, when present, replaces the Postfix answers.
  postfix             the corpus self-check: private Debian Postfix instances,
                      the same profiles; posthorn-expect sections are checked
                      against Postfix with profiles/_posthorn-hardening.cf added.

The replay test is collected only when POSTHORN_DIALOGS=1 (scripts/test.sh
sets it) or the target is postfix; when enabled for Posthorn
and a program is missing, it FAILS (never skips). The corpus format check
(test_corpus_is_well_formed) needs no server and always runs.
Needs root (both mail systems run their services as mail_owner).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "smtp_dialogs"))

import dialoglib as dl  # noqa: E402
from posthorn_instance import BASE_MAIN, BIN, PosthornInstance, require_programs  # noqa: E402

TARGET = os.environ.get("POSTHORN_DIALOG_TARGET", "posthorn")
CHECK_LOGS = os.environ.get("POSTHORN_DIALOG_LOGS", "1") != "0"
POSTHORN_PROGRAMS = ("master", "smtpd", "postlogd", "cleanup", "trivial-rewrite", "qmgr", "pickup",
                     "discard", "anvil", "error")
MIN_CASES = 150

ENABLED = TARGET == "postfix" or os.environ.get("POSTHORN_DIALOGS") == "1"

CASE_PATHS = dl.all_cases()


def test_corpus_is_well_formed():
    """Every case parses, is recorded (no "<<" placeholders left), names a
    profile that exists, and justifies its posthorn-expect section."""
    assert len(CASE_PATHS) >= MIN_CASES, f"only {len(CASE_PATHS)} cases (issue 6 asks for {MIN_CASES})"
    problems = []
    for path in CASE_PATHS:
        try:
            case = dl.parse_case(path)
        except dl.CaseError as e:
            problems.append(str(e))
            continue
        for label, d in (("", case.main), (" posthorn-expect", case.posthorn)):
            if d is None:
                continue
            if any(l == "" for s in d.steps for l in s.expect) or not d.steps[0].expect:
                problems.append(f"{case.name}{label}: not recorded (run scripts/record-smtp-dialogs.py)")
        if case.posthorn is not None and len(case.justification) < 10:
            problems.append(f"{case.name}: posthorn-expect needs a justification")
    assert not problems, "\n".join(problems)


class _PosthornServer:
    def __init__(self, profile: str):
        require_programs(*POSTHORN_PROGRAMS)
        main, master, files = dl.profile_files(profile)
        self.port = dl.free_port()
        self.inst = PosthornInstance(master=dl.smtpd_service(self.port, master) + dl.SUPPORT_MASTER,
                                     prefix="posthorn-dlg-")
        etc = str(self.inst.etc)
        (self.inst.etc / "main.cf").write_text(
            dl.merge_main(BASE_MAIN.format(root=self.inst.root, bin=BIN), main).replace("{etc}", etc))
        (self.inst.etc / "master.cf").write_text((self.inst.etc / "master.cf").read_text().replace("{etc}", etc))
        for name, content in files.items():
            (self.inst.etc / name).write_text(content.replace("{etc}", etc))
        self.maillog = self.inst.root / "maillog"
        try:
            self.inst.start()
            if not dl.wait_listening(self.port):
                pytest.fail(f"Posthorn smtpd is not answering on 127.0.0.1:{self.port} "
                            f"(profile {profile})\n{self.inst.logs()}", pytrace=False)
            dl.session_log(self.maillog, 0)
            dl.wait_log_quiet(self.maillog)
        except BaseException:
            self.inst.stop()
            raise

    def stop(self):
        self.inst.stop()


class _PostfixServer:
    def __init__(self, profile: str, hardened: bool):
        self.inst = dl.PostfixInstance(profile, hardened).start()
        self.port = self.inst.port
        self.maillog = self.inst.maillog

    def stop(self):
        self.inst.stop()


class _Servers:
    """One running server per (profile, hardened), started on first use."""

    def __init__(self):
        self.running: dict[tuple[str, bool], object] = {}

    def get(self, profile: str, hardened: bool = False):
        key = (profile, hardened)
        if key not in self.running:
            self.running[key] = (_PostfixServer(profile, hardened) if TARGET == "postfix"
                                 else _PosthornServer(profile))
        return self.running[key]

    def stop(self):
        for s in self.running.values():
            s.stop()
        self.running.clear()


if ENABLED:
    if TARGET not in ("posthorn", "postfix"):
        raise RuntimeError(f"POSTHORN_DIALOG_TARGET must be posthorn or postfix, not {TARGET!r}")

    @pytest.fixture(scope="module")
    def servers():
        if os.geteuid() != 0:
            pytest.fail("the SMTP dialog corpus needs root (services run as mail_owner)", pytrace=False)
        if TARGET == "posthorn" and not (BIN / "smtpd").is_file():
            pytest.fail(f"Posthorn's smtpd is missing: {BIN / 'smtpd'} (build it, or set POSTHORN_BIN; "
                        "POSTHORN_DIALOGS=1 requires it)", pytrace=False)
        pool = _Servers()
        yield pool
        pool.stop()

    @pytest.mark.parametrize("path", CASE_PATHS, ids=[dl.Case(p, {}, [], dl.Dialog()).name for p in CASE_PATHS])
    def test_dialog(path: Path, servers: _Servers):
        case = dl.parse_case(path)
        runs: list[tuple[str, dl.Dialog, bool]] = []
        if TARGET == "postfix":
            runs.append(("postfix", case.main, False))
            if case.posthorn is not None:
                runs.append(("postfix +hardening (posthorn-expect)", case.posthorn, True))
        else:
            runs.append(("posthorn-expect" if case.posthorn else "posthorn",
                         case.posthorn or case.main, False))
        report = []
        for label, dialog, hardened in runs:
            server = servers.get(case.profile, hardened)
            problems = dl.replay_dialog(dialog, server.port, case.source, server.maillog, CHECK_LOGS)
            if problems:
                report.append(f"[{label}, profile {case.profile}, from {case.source}]\n  "
                              + "\n  ".join(p.replace("\n", "\n  ") for p in problems))
        if report:
            pytest.fail(f"{case.name}: ({path})\n" + "\n".join(report), pytrace=False)
