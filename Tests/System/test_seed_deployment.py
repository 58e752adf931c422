"""The seed deployment (../shared/seed/etc/postfix), re-rooted under a test
directory and otherwise unchanged, is read without a single misreading:
`postfix check` passes, and the only master.cf findings are the programs
that later parts of Posthorn bring (smtpd, cleanup, qmgr, ...). Every
service the seed lists is parsed as Postfix parses it (postconf -F)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import SEED_ETC, _binary


def program(bin_dir: Path, name: str) -> Path:
    return _binary(bin_dir / name, f"Posthorn {name} (set POSTHORN_BIN or build first)")

# Programs the seed's master.cf names; those not built yet may only be
# reported as "not installed", nothing else.
SEED_PROGRAMS = {"smtpd", "smtp", "pickup", "cleanup", "qmgr", "tlsmgr", "trivial-rewrite", "bounce",
                 "verify", "flush", "proxymap", "showq", "error", "discard", "local", "virtual", "lmtp",
                 "anvil", "scache", "pipe"}


def reroot_seed(root: Path, bindir: Path) -> Path:
    etc = root / "etc"
    shutil.copytree(SEED_ETC, etc)
    text = (etc / "main.cf").read_text(encoding="utf-8")
    replacements = [
        ("/etc/postfix/", f"{etc}/"),
        ("/var/spool/postfix", f"{root}/spool"),
        ("/var/lib/postfix", f"{root}/data"),
        ("/etc/aliases", f"{etc}/aliases"),
        ("/etc/pki/tls/", f"{root}/pki/"),
        ("/var/hoge/mail-spool", f"{root}/mail-spool"),
    ]
    for old, new in replacements:
        text = text.replace(old, new)
    text = re.sub(r"(?m)^daemon_directory = .*$", f"daemon_directory = {bindir}", text)
    text = re.sub(r"(?m)^command_directory = .*$", f"command_directory = {bindir}", text)
    (etc / "main.cf").write_text(text, encoding="utf-8")
    (etc / "aliases").write_text("postmaster: root\nroot: admin@example.org\n")
    # An administrator creates the queue and data directories (postfix
    # needs queue_directory to exist; check creates what is below it).
    for name in ("spool", "data"):
        (root / name).mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(root / "data", user="postfix")
        # The seed comes from SUSE, whose setgid_group is "maildrop"; the
        # machine it runs on has that group, so the test machine gets it too.
        if subprocess.run(["getent", "group", "maildrop"], capture_output=True).returncode != 0:
            subprocess.run(["groupadd", "--system", "maildrop"], check=True)
    return etc


def test_seed_check_reports_only_programs_still_to_come(tmp_path: Path, bin_dir: Path):
    postfix = program(bin_dir, "postfix")
    bindir = bin_dir
    etc = reroot_seed(tmp_path, bindir)
    built = subprocess.run([str(program(bin_dir, "postalias")), "-c", str(etc), f"hash:{etc}/aliases"],
                           capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    result = subprocess.run([str(postfix), "-c", str(etc), "check"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    pattern = re.compile(r"^postfix: warning: .*/master\.cf, line \d+: service \S+: program (\S+) is not installed in \S+$")
    missing = set()
    for line in result.stderr.splitlines():
        m = pattern.match(line)
        assert m, f"unexpected finding: {line}"
        missing.add(m.group(1))
    assert missing <= SEED_PROGRAMS
    for name in SEED_PROGRAMS - missing:
        assert (bindir / name).exists()


def test_seed_services_parse_as_postfix_parses_them(tmp_path: Path, bin_dir: Path):
    etc = reroot_seed(tmp_path, Path("/usr/lib/postfix/sbin"))
    ours = subprocess.run([str(program(bin_dir, "postconf")), "-c", str(etc), "-F"], capture_output=True, text=True, timeout=60)
    theirs = subprocess.run(["/usr/sbin/postconf", "-c", str(etc), "-F"], capture_output=True, text=True, timeout=60)
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout == theirs.stdout
    services = [line for line in ours.stdout.splitlines() if line.endswith("/service = " + line.split("/")[0])]
    assert len(services) == 28
