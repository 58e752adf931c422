"""Message entry: sendmail -> postdrop -> maildrop -> pickup -> cleanup -> incoming
(issue 5, points 2 and 5).

A private Posthorn instance (main.cf re-rooted under a temporary directory,
maillog_file under it; master.cf with pickup, cleanup, rewrite and postlog,
no qmgr, so queued messages stay in `incoming`) runs under `master -c DIR -d`.
Messages submitted with Posthorn's sendmail must become complete queue files
that Debian's postcat (the oracle) prints with the expected envelope and
content; header_checks actions, canonical and virtual alias mapping,
message_size_limit, and the pickup/cleanup log lines are checked in Postfix
3.7's exact format (as observed on a private Postfix 3.7.11 instance).

Environment: POSTHORN_BIN (default <repo>/.build/debug) must hold master,
postfix, postlogd, trivial-rewrite, cleanup, pickup, postdrop and sendmail;
a missing binary FAILS the test. Needs root (services run as mail_owner)
and Debian's postcat.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from posthorn_instance import BIN, make_root, read_logs, require_programs, terminate, wait_for

POSTCAT = Path("/usr/sbin/postcat")
PROGRAMS = ("master", "postfix", "postlogd", "trivial-rewrite", "cleanup", "pickup", "postdrop", "sendmail")

HEADER_CHECKS = r"""/^Subject: hold-me/ HOLD held by test
/^Subject: warn-me/ WARN warned by test
/^Subject: info-me/ INFO noted by test
/^Subject: reject-me/ REJECT no way
/^X-Drop:/ IGNORE
/^X-Pre:/ PREPEND X-Added: yes
/^X-Rep:(.*)/ REPLACE X-Replaced:$1
"""

MAIN_CF = """queue_directory = {root}/queue
data_directory = {root}/data
command_directory = {bin}
daemon_directory = {bin}
inet_interfaces = loopback-only
inet_protocols = ipv4
compatibility_level = 3.6
myhostname = mta.example.test
mydomain = example.test
maillog_file = {root}/maillog
maillog_file_prefixes = /tmp
message_size_limit = 20000
header_checks = regexp:{root}/etc/header_checks
virtual_alias_maps = inline:{{ {{valias@example.test = one@example.org, two@example.org}} }}
canonical_maps = inline:{{ {{canon@example.test = canonical@example.org}} }}
"""

MASTER_CF = """pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
rewrite   unix  -       -       n       -       -       trivial-rewrite
postlog   unix-dgram n  -       n       -       1       postlogd
"""

LOG_PREFIX = r"^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d mta "


class Instance:
    def __init__(self):
        self.root = make_root("posthorn-entry-")
        (self.root / "etc" / "main.cf").write_text(MAIN_CF.format(root=self.root, bin=BIN))
        (self.root / "etc" / "master.cf").write_text(MASTER_CF)
        (self.root / "etc" / "header_checks").write_text(HEADER_CHECKS)
        self.etc = str(self.root / "etc")
        self.proc = None
        self.log = None

    def start(self):
        check = subprocess.run([str(BIN / "postfix"), "-c", self.etc, "check"], capture_output=True, timeout=30)
        assert check.returncode == 0, check.stderr.decode()
        self.log = open(self.root / "master.log", "ab")
        self.proc = subprocess.Popen([str(BIN / "master"), "-c", self.etc, "-d"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        assert wait_for(lambda: (self.root / "queue" / "public" / "cleanup").exists()
                        and (self.root / "queue" / "public" / "pickup").exists()), self.logs()

    def stop(self):
        terminate(self.proc)
        if self.log:
            self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        return read_logs(self.root)

    def maillog(self) -> list[str]:
        p = self.root / "maillog"
        return p.read_text(errors="replace").splitlines() if p.exists() else []

    def sendmail(self, args, message: str, timeout=20):
        return subprocess.run([str(BIN / "sendmail"), "-C", self.etc, *args], input=message.encode(),
                              capture_output=True, timeout=timeout)

    def submit(self, args, message: str, queue="incoming") -> str:
        """Submits a message and returns its queue ID once it is complete in `queue`."""
        before = set(self.pickup_ids())
        r = self.sendmail(args, message)
        assert r.returncode == 0, (r.returncode, r.stderr.decode(), self.logs())
        qid = wait_for(lambda: next((i for i in self.pickup_ids() if i not in before), None))
        assert qid, "no pickup line\n" + self.logs()
        path = self.root / "queue" / queue / qid
        assert wait_for(lambda: path.exists() and (path.stat().st_mode & 0o700) == 0o700), \
            f"{queue}/{qid} missing\n" + self.logs()
        return qid

    def pickup_ids(self) -> list[str]:
        return [m.group(1) for l in self.maillog() if (m := re.search(r"postfix/pickup\[\d+\]: ([0-9A-F]+): uid=", l))]

    def postcat(self, qid: str) -> str:
        r = subprocess.run([str(POSTCAT), "-c", self.etc, "-q", qid], capture_output=True, timeout=20,
                           env={**os.environ, "TZ": "UTC"})
        assert r.returncode == 0, r.stderr.decode()
        return r.stdout.decode()


@pytest.fixture(scope="module")
def mta():
    require_programs(*PROGRAMS)
    if not POSTCAT.is_file():
        pytest.fail(f"oracle program missing: {POSTCAT}", pytrace=False)
    instance = Instance()
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


def section(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith(f"*** {name}"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("***"))
    return lines[start + 1:end]


def test_sendmail_with_recipient(mta):
    qid = mta.submit(["-i", "-F", "Al Ice", "-f", "alice@example.com", "bob@example.net"],
                     "Subject: plain\n\nHello\n.dot\n..two\n.\nafter\n")
    out = mta.postcat(qid)
    env = section(out, "ENVELOPE RECORDS")
    assert env[0].startswith("message_size:")
    assert "named_attribute: rewrite_context=local" in env
    assert "sender_fullname: Al Ice" in env
    assert "sender: alice@example.com" in env
    assert env[-3:] == ["named_attribute: dsn_orig_rcpt=rfc822;bob@example.net",
                        "original_recipient: bob@example.net", "recipient: bob@example.net"]
    content = section(out, "MESSAGE CONTENTS")
    assert content[0] == "Received: by mta.example.test (Postfix, from userid 0)"
    assert re.match(rf"^\tid {qid}; \w{{3}}, [ \d]\d \w{{3}} \d{{4}} \d\d:\d\d:\d\d [+-]\d{{4}} \(\w+\)$", content[1])
    assert content[2] == "Subject: plain"
    assert re.match(rf"^Message-Id: <\d{{14}}\.{qid}@mta\.example\.test>$", content[3])
    assert content[4].startswith("Date: ")
    assert content[5] == "From: Al Ice <alice@example.com>"
    assert content[6:] == ["", "Hello", ".dot", "..two", ".", "after"]
    log = mta.maillog()
    assert any(re.match(LOG_PREFIX + rf"postfix/pickup\[\d+\]: {qid}: uid=0 from=<alice@example.com>$", l) for l in log)
    assert any(re.match(LOG_PREFIX + rf"postfix/cleanup\[\d+\]: {qid}: message-id=<\d{{14}}\.{qid}@mta\.example\.test>$", l)
               for l in log), "\n".join(log)


DEBIAN_SENDMAIL = Path("/usr/sbin/sendmail")


def test_postdrop_protocol_interoperates_with_debian(mta):
    """Debian's sendmail drives our postdrop (`postdrop -r`: queue_id first,
    then status), and our sendmail drives Debian's postdrop; either way our
    pickup takes the maildrop file."""
    before = set(mta.pickup_ids())
    r = subprocess.run([str(DEBIAN_SENDMAIL), "-C", mta.etc, "-i", "-f", "deb@example.com", "one@example.net"],
                       input=b"Subject: from debian sendmail\n\nbody one\n", capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    qid = wait_for(lambda: next((i for i in mta.pickup_ids() if i not in before), None))
    assert qid, mta.logs()
    assert any(re.search(rf"pickup\[\d+\]: {qid}: uid=0 from=<deb@example.com>$", l) for l in mta.maillog())

    # A second configuration directory for the same queue whose
    # command_directory is Debian's: our sendmail runs /usr/sbin/postdrop.
    other = mta.root / "etc-debian-postdrop"
    other.mkdir(exist_ok=True)
    main = (mta.root / "etc" / "main.cf").read_text().replace(f"command_directory = {BIN}",
                                                              "command_directory = /usr/sbin")
    (other / "main.cf").write_text(main)
    (other / "master.cf").write_text((mta.root / "etc" / "master.cf").read_text())
    before = set(mta.pickup_ids())
    r = subprocess.run([str(BIN / "sendmail"), "-C", str(other), "-i", "-f", "ours@example.com", "two@example.net"],
                       input=b"Subject: to debian postdrop\n\nbody two\n", capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    qid = wait_for(lambda: next((i for i in mta.pickup_ids() if i not in before), None))
    assert qid, mta.logs()
    assert any(re.search(rf"pickup\[\d+\]: {qid}: uid=0 from=<ours@example.com>$", l) for l in mta.maillog())


def test_dot_ends_input_without_i(mta):
    qid = mta.submit(["-f", "alice@example.com", "bob@example.net"], "Subject: dot\nMessage-ID: <m1@example.com>\n\nbefore\n.\nafter\n")
    content = section(mta.postcat(qid), "MESSAGE CONTENTS")
    assert content[-2:] == ["", "before"]
    assert "Message-ID: <m1@example.com>" in content
    assert not any(l.startswith("Message-Id:") for l in content)
    assert any(re.match(LOG_PREFIX + rf"postfix/cleanup\[\d+\]: {qid}: message-id=<m1@example.com>$", l)
               for l in mta.maillog())


def test_sendmail_t_extracts_recipients_and_drops_bcc(mta):
    qid = mta.submit(["-t", "-f", "alice@example.com"],
                     "Subject: t\nTo: bob, carol@example.org\nCc: Dave <dave@x.test>\nBcc: eve@y.test\n\nHi\n")
    out = mta.postcat(qid)
    content = section(out, "MESSAGE CONTENTS")
    assert not any(l.startswith("Bcc:") for l in content)
    extracted = section(out, "HEADER EXTRACTED")
    recipients = [l.split(": ", 1)[1] for l in extracted if l.startswith("recipient: ")]
    assert recipients == ["bob@mta.example.test", "carol@example.org", "dave@x.test", "eve@y.test"]
    assert "original_recipient: bob" in extracted


def test_header_checks_hold_and_log(mta):
    qid = mta.submit(["-f", "alice@example.com", "bob@example.net"], "Subject: hold-me now\n\nx\n", queue="hold")
    assert not (mta.root / "queue" / "incoming" / qid).exists()
    line = f"{qid}: hold: header Subject: hold-me now from local; from=<alice@example.com> to=<bob@example.net>: held by test"
    assert any(re.match(LOG_PREFIX + r"postfix/cleanup\[\d+\]: " + re.escape(line) + "$", l) for l in mta.maillog())


def test_header_checks_edit_and_warn(mta):
    qid = mta.submit(["-f", "alice@example.com", "bob@example.net"],
                     "Subject: warn-me\nX-Drop: gone\nX-Pre: a\nX-Rep: b\nX-Info: i\n\nbody\n")
    content = section(mta.postcat(qid), "MESSAGE CONTENTS")
    assert "X-Drop: gone" not in content
    i = content.index("X-Pre: a")
    assert content[i - 1] == "X-Added: yes"
    assert "X-Replaced: b" in content and "X-Rep: b" not in content
    log = mta.maillog()
    expected = [
        f"{qid}: warning: header Subject: warn-me from local; from=<alice@example.com> to=<bob@example.net>: warned by test",
        f"{qid}: prepend: header X-Pre: a from local; from=<alice@example.com> to=<bob@example.net>: X-Added: yes",
        f"{qid}: replace: header X-Rep: b from local; from=<alice@example.com> to=<bob@example.net>: X-Replaced: b",
    ]
    for text in expected:
        assert any(l.endswith("]: " + text) and "postfix/cleanup[" in l for l in log), text + "\n" + "\n".join(log)


def test_header_checks_reject_local_mail(mta):
    # As Postfix: sendmail succeeds (the reject happens in cleanup, after
    # postdrop); Postfix would bounce the message; without a bounce service
    # (Postfix with private/bounce down, and Posthorn for now) the file
    # stays in maildrop and the reject is logged.
    r = mta.sendmail(["-f", "alice@example.com", "bob@example.net"], "Subject: reject-me\n\nx\n")
    assert r.returncode == 0, r.stderr.decode()
    line = wait_for(lambda: next((l for l in mta.maillog() if ": reject: header Subject: reject-me" in l), None))
    assert line, mta.logs()
    assert re.search(r"postfix/cleanup\[\d+\]: [0-9A-F]+: reject: header Subject: reject-me from local; "
                     r"from=<alice@example\.com> to=<bob@example\.net>: 5\.7\.1 no way$", line)
    maildrop = mta.root / "queue" / "maildrop"
    assert wait_for(lambda: len(list(maildrop.iterdir())) == 1)
    for f in maildrop.iterdir():
        f.unlink()


def test_virtual_and_canonical(mta):
    qid = mta.submit(["-f", "alice@example.com", "valias@example.test", "canon@example.test", "one@example.org"],
                     "Subject: maps\n\nx\n")
    env = section(mta.postcat(qid), "ENVELOPE RECORDS")
    recipients = [l.split(": ", 1)[1] for l in env if l.startswith("recipient: ")]
    originals = [l.split(": ", 1)[1] for l in env if l.startswith("original_recipient: ")]
    # one@example.org from the command line duplicates the alias result.
    assert recipients == ["one@example.org", "two@example.org", "canonical@example.org"]
    assert originals == ["valias@example.test", "valias@example.test", "canon@example.test"]


def test_message_size_limit(mta):
    r = mta.sendmail(["-f", "alice@example.com", "bob@example.net"], "Subject: big\n\n" + ("x" * 70 + "\n") * 400)
    assert r.returncode == 75
    assert "sendmail: fatal: alice@example.com(0): message file too big" in r.stderr.decode()


def test_no_recipients(mta):
    r = mta.sendmail(["-f", "alice@example.com"], "Subject: none\n\nx\n")
    assert r.returncode == 75
    assert ("sendmail: fatal: alice@example.com(0): Recipient addresses must be specified on the command line "
            "or via the -t option") in r.stderr.decode()


def test_bs_runs_standalone_smtpd(mta):
    # -bs execs smtpd -S (Tests/System/test_sendmail_bs.py compares it with Postfix).
    r = mta.sendmail(["-bs"], "QUIT\r\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "220 mta.example.test ESMTP Postfix\r\n221 2.0.0 Bye\r\n"


def test_sendmail_xv_keeps_verp_delimiters(mta):
    """sendmail -XV (default delimiters) and -XV-= reach the queue file as
    the verp_delimiters record after the sender, as with Debian's sendmail
    (which our pickup also takes)."""
    for args, expected in ((["-XV"], "+="), (["-XV-="], "-=")):
        qid = mta.submit(args + ["-i", "-f", "list@example.com", "bob@example.net"], "Subject: verp\n\nbody\n")
        env = section(mta.postcat(qid), "ENVELOPE RECORDS")
        sender = env.index("sender: list@example.com")
        assert env[sender + 1] == f"verp_delimiters: {expected}", env
    before = set(mta.pickup_ids())
    r = subprocess.run([str(DEBIAN_SENDMAIL), "-C", mta.etc, "-XV", "-i", "-f", "deb@example.com", "one@example.net"],
                       input=b"Subject: verp from debian\n\nbody\n", capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    qid = wait_for(lambda: next((i for i in mta.pickup_ids() if i not in before), None))
    assert qid, mta.logs()
    path = mta.root / "queue" / "incoming" / qid
    assert wait_for(lambda: path.exists() and (path.stat().st_mode & 0o700) == 0o700), mta.logs()
    assert "verp_delimiters: +=" in section(mta.postcat(qid), "ENVELOPE RECORDS")


@pytest.mark.parametrize("args", [["-XVab", "-f", "a@example.com"], ["-XV", "-f", ""]], ids=["bad-delimiters", "null-sender"])
def test_sendmail_xv_errors_match_debian(mta, args):
    runs = []
    for program in (DEBIAN_SENDMAIL, BIN / "sendmail"):
        r = subprocess.run([str(program), "-C", mta.etc, *args, "x@example.net"], input=b"Subject: x\n\nbody\n",
                           capture_output=True, timeout=30)
        runs.append((r.returncode, r.stderr.decode()))
    assert runs[1] == runs[0]
    assert runs[1][0] == 75
