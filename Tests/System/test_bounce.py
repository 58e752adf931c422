"""The bounce daemon and its wiring into qmgr (issue 5 point 6, delay
warnings) in a private Posthorn instance.

Routing (transport_maps): error.test -> `error:5.7.1 refused by test`,
retry.test -> `retry:4.3.0 try again later`, sender.test -> `retry:4.0.0
held for the test`, everything else -> discard. Notifications go to
senders and postmaster recipients in sender.test, so each one is handed to
a transport (the retry agent logs `to=<...>, ... status=deferred (held for
the test)`) and then waits in the deferred queue, where the test reads it
with Debian's postcat and parses it with Python's email package.

One oracle test runs the same bounce through Debian's Postfix 3.7 and
compares the report's structure and fields with ours.

Environment: POSTHORN_BIN (default <repo>/.build/debug); missing binaries
FAIL. Needs root.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from posthorn_instance import BASE_MASTER, BIN, PosthornInstance, require_programs, wait_for

POSTCAT = Path("/usr/sbin/postcat")
DEBIAN_POSTFIX = Path("/usr/sbin/postfix")
DEBIAN_SENDMAIL = Path("/usr/sbin/sendmail")
PROGRAMS = ("master", "qmgr", "trivial-rewrite", "cleanup", "pickup", "postdrop", "sendmail", "bounce", "error",
            "discard", "postlogd", "posthorn-queue-writer")

TRANSPORT = """error.test error:5.7.1 refused by test
retry.test retry:4.3.0 try again later
sender.test retry:4.0.0 held for the test
"""

MASTER = BASE_MASTER + """bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
"""

MAIN = """transport_maps = texthash:{root}/etc/transport
default_transport = discard
qmgr_ipc_timeout = 20s
"""

ID = r"[0-9A-F]+"


def make_instance(extra: str = "") -> PosthornInstance:
    require_programs(*PROGRAMS)
    if not POSTCAT.is_file():
        pytest.fail(f"oracle program missing: {POSTCAT}", pytrace=False)
    inst = PosthornInstance(main_extra=MAIN + extra, master=MASTER, files={"transport": TRANSPORT},
                            prefix="posthorn-bounce-")
    inst.start(wait_for_services=("public/qmgr", "public/cleanup", "public/pickup", "private/bounce"))
    return inst


@pytest.fixture(scope="module")
def inst():
    i = make_instance("notify_classes = resource, software, 2bounce\n"
                      "2bounce_notice_recipient = twob@sender.test\n")
    yield i
    i.stop()


def postcat(inst: PosthornInstance, qid: str, *flags: str) -> bytes:
    r = subprocess.run([str(POSTCAT), "-c", str(inst.etc), *flags, "-q", qid], capture_output=True, timeout=20,
                       env={**os.environ, "TZ": "UTC"})
    assert r.returncode == 0, r.stderr.decode() + inst.logs()
    return r.stdout


def held_notice(inst: PosthornInstance, qid: str, what: str, to: str):
    """Waits for `QID: <what>: NEWQID`, then for the notice to reach the
    retry transport; returns (NEWQID, parsed message, postcat envelope)."""
    m = inst.wait_log(rf"postfix/bounce\[\d+\]: {qid}: {what}: ({ID})$", timeout=15)[-1]
    new = m.group(1)
    inst.wait_log(rf"postfix/error\[\d+\]: {new}: to=<{re.escape(to)}>, relay=none, .*status=deferred \(held for the test\)$",
                  timeout=15)
    assert wait_for(lambda: new in inst.files("deferred")), inst.logs()
    envelope = postcat(inst, new, "-e").decode()
    return new, email.message_from_bytes(content(postcat(inst, new)), policy=email.policy.compat32), envelope


def content(postcat_output: bytes) -> bytes:
    """The message content of a whole postcat listing."""
    lines = postcat_output.split(b"\n")
    start = next(i for i, l in enumerate(lines) if l.startswith(b"*** MESSAGE CONTENTS"))
    end = next(i for i, l in enumerate(lines) if l.startswith(b"*** HEADER EXTRACTED"))
    return b"\n".join(lines[start + 1:end]) + b"\n"


def report_parts(msg):
    assert msg.get_content_type() == "multipart/report", msg.as_string()[:500]
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert [p.get_content_type() for p in parts][:2] == ["text/plain", "message/delivery-status"]
    status = parts[1].get_payload()
    return parts[0], status[0], status[1:], parts[2] if len(parts) > 2 else None


def sendmail(inst, args, message: str) -> str:
    before = set(re.findall(rf"postfix/pickup\[\d+\]: ({ID}): uid=", inst.maillog()))
    r = inst.sendmail(args, message)
    assert r.returncode == 0, r.stderr.decode() + inst.logs()
    qid = wait_for(lambda: next((q for q in re.findall(rf"postfix/pickup\[\d+\]: ({ID}): uid=", inst.maillog())
                                  if q not in before), None), timeout=15)
    assert qid, "no pickup line\n" + inst.logs()
    return qid


MESSAGE = ("From: Alice <alice@sender.test>\nTo: bob@error.test\nSubject: hello there\n"
           "Message-ID: <m1@sender.test>\n\nbody line 1\nbody line 2\n")


def test_error_transport_bounce_report(inst):
    qid = sendmail(inst, ["-t", "-f", "alice@sender.test"], MESSAGE)
    new, msg, envelope = held_notice(inst, qid, "sender non-delivery notification", "alice@sender.test")
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: removed$")
    log = inst.maillog()
    # Postfix's order: status line, notification, removed.
    order = [log.index(s) for s in (f"{qid}: to=<bob@error.test>", f"{qid}: sender non-delivery notification",
                                    f"{qid}: removed")]
    assert order == sorted(order), log
    assert re.search(rf"postfix/qmgr\[\d+\]: {new}: from=<>, size=\d+, nrcpt=1 \(queue active\)$", log, re.M)
    assert "\nsender: \n" in envelope and "\nrecipient: alice@sender.test\n" in envelope, envelope
    assert not (inst.queue / "bounce" / qid).exists()

    assert msg["From"] == "Mail Delivery System <MAILER-DAEMON@mta.example.test>"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["To"] == "alice@sender.test"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Message-Id"] and msg["Date"]
    assert re.match(rf"by mta\.example\.test \(Postfix\)\s+id {new}; ", msg["Received"])
    text, per_message, per_rcpt, original = report_parts(msg)
    assert "\n<bob@error.test>: refused by test\n" in text.get_payload()
    assert per_message["Reporting-MTA"] == "dns; mta.example.test"
    assert per_message["X-Postfix-Queue-ID"] == qid
    assert per_message["X-Postfix-Sender"] == "rfc822; alice@sender.test"
    assert per_message["Arrival-Date"]
    assert len(per_rcpt) == 1
    r = per_rcpt[0]
    assert r["Final-Recipient"] == "rfc822; bob@error.test"
    assert r["Original-Recipient"] == "rfc822;bob@error.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.7.1"
    assert r["Diagnostic-Code"] == "X-Postfix; refused by test"
    # RET default for a bounce: the whole message.
    assert original.get_content_type() == "message/rfc822"
    assert original["Content-Description"] == "Undelivered Message"
    inner = original.get_payload()[0]
    assert inner["Return-Path"] == "<alice@sender.test>"
    assert inner["Subject"] == "hello there" and inner["Message-ID"] == "<m1@sender.test>"
    assert inner.get_payload() == "body line 1\nbody line 2\n"


def test_ret_hdrs_and_envid(inst):
    qid = sendmail(inst, ["-t", "-f", "alice@sender.test", "-R", "hdrs", "-V", "envid123"],
                   MESSAGE.replace("hello there", "headers only"))
    _, msg, _ = held_notice(inst, qid, "sender non-delivery notification", "alice@sender.test")
    _, per_message, _, original = report_parts(msg)
    assert per_message["Original-Envelope-Id"] == "envid123"
    assert original.get_content_type() == "text/rfc822-headers"
    assert original["Content-Description"] == "Undelivered Message Headers"
    payload = original.get_payload()
    assert "Subject: headers only\n" in payload and "body line" not in payload


def test_bounce_size_limit_returns_headers(inst):
    big = MESSAGE.replace("hello there", "too big") + "".join(f"filler line {i:05d} " * 8 + "\n" for i in range(800))
    qid = sendmail(inst, ["-t", "-f", "alice@sender.test"], big)
    _, msg, _ = held_notice(inst, qid, "sender non-delivery notification", "alice@sender.test")
    *_, original = report_parts(msg)
    assert original.get_content_type() == "text/rfc822-headers"
    assert "Subject: too big\n" in original.get_payload()


def test_notify_never_suppresses_and_success_reports(inst):
    q1 = sendmail(inst, ["-f", "alice@sender.test", "-N", "never", "nobody@error.test"], "Subject: never\n\nx\n")
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {q1}: removed$")
    assert not re.search(rf"{q1}: \w+ [\w ]*notification", inst.maillog())
    assert not (inst.queue / "bounce" / q1).exists()

    q2 = sendmail(inst, ["-f", "dave@sender.test", "-N", "success", "ok@discard.test"], "Subject: success\n\nx\n")
    _, msg, _ = held_notice(inst, q2, "sender delivery status notification", "dave@sender.test")
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {q2}: removed$")
    assert msg["Subject"] == "Successful Mail Delivery Report"
    _, _, per_rcpt, original = report_parts(msg)
    assert per_rcpt[0]["Action"] == "delivered" and per_rcpt[0]["Status"] == "2.0.0"
    assert per_rcpt[0]["Final-Recipient"] == "rfc822; ok@discard.test"
    assert original["Content-Description"] == "Message Headers"
    assert not (inst.queue / "trace" / q2).exists()


def test_double_bounce_goes_to_2bounce_recipient(inst):
    qid = sendmail(inst, ["-f", "<>", "x@error.test"], "Subject: a bounce\n\nbody\n")
    new, msg, envelope = held_notice(inst, qid, "postmaster non-delivery notification", "twob@sender.test")
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: removed$")
    assert "\nsender: double-bounce@mta.example.test\n" in envelope, envelope
    assert msg["Subject"] == "Postmaster Copy: Undelivered Mail"
    assert msg["To"] == "twob@sender.test"
    assert msg["Auto-Submitted"] == "auto-generated"
    text, per_message, per_rcpt, original = report_parts(msg)
    assert "mail system" not in text.get_payload()  # postmaster copies carry no template text
    assert per_message["X-Postfix-Sender"] == "rfc822; MAILER-DAEMON@mta.example.test"
    assert per_rcpt[0]["Final-Recipient"] == "rfc822; x@error.test"
    assert original.get_content_type() == "message/rfc822"
    # A failed postmaster notice is never bounced again.
    assert not re.search(rf"{new}: \w+ [\w ]*notification", inst.maillog())


def test_bad_requests_and_damaged_logs(inst):
    sock_path = inst.queue / "private" / "bounce"

    def ask(data: bytes) -> bytes:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(str(sock_path))
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        s.close()
        return reply

    def attrs(*pairs) -> bytes:
        return b"".join(f"{n}\0{v}\0".encode() for n, v in pairs) + b"\0"

    assert ask(attrs(("nrequest", "99"))) == b"status\0-1\0\0"
    assert ask(attrs(("nrequest", "1"), ("queue_name", "../../etc"), ("queue_id", "X"), ("sender", "a@b"))) \
        == b"status\0-1\0\0"
    ask(b"BAD NAME\0x\0\0")  # closed with a warning
    ask(b"nreq")            # truncated list

    # A damaged bounce log for a message whose queue file is gone: the
    # notice still goes out, with what could be read.
    qid = "ABCDEF12345"
    (inst.queue / "bounce" / qid).write_text(
        "\n<good@error.test>: it failed\nrecipient=good@error.test\noffset=100\nstatus=5.1.1\naction=failed\n"
        "reason=it failed\n\ngarbage without equals\n\nrecipient=half@error.test\nstatus=bogus\nrea")
    reply = ask(attrs(("nrequest", "1"), ("flags", "0"), ("queue_name", "active"), ("queue_id", qid),
                      ("encoding", ""), ("smtputf8", "0"), ("sender", "carol@sender.test"), ("envelope_id", ""),
                      ("ret_flags", "0")))
    assert reply == b"status\0000\0\0", inst.logs()
    _, msg, _ = held_notice(inst, qid, "sender non-delivery notification", "carol@sender.test")
    _, _, per_rcpt, original = report_parts(msg)
    assert [r["Final-Recipient"] for r in per_rcpt] == ["rfc822; good@error.test", "rfc822; half@error.test"]
    assert per_rcpt[1]["Status"] == "5.0.0"
    assert original is None
    log = inst.maillog()
    assert "warning: bounce: malformed request" in log or "warning: bounce: unknown request" in log
    assert f"warning: {qid}: bounce logfile line" in log and "bad status \"bogus\"" in log
    assert f"warning: {qid}: cannot read original message" in log
    assert not (inst.queue / "bounce" / qid).exists()
    master_log = (inst.root / "master.log").read_text(errors="replace") + log
    assert not re.search(r"bounce.*(signal|exit status [1-9])", master_log), master_log


def test_expired_message_bounces():
    inst = make_instance("maximal_queue_lifetime = 2s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 1s\n")
    try:
        qid = sendmail(inst, ["-f", "eve@sender.test", "ex@retry.test"], "Subject: expire\n\nbody\n")
        inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: from=<eve@sender.test>, status=expired, returned to sender$",
                      timeout=20)
        _, msg, _ = held_notice(inst, qid, "sender non-delivery notification", "eve@sender.test")
        inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: removed$")
        _, _, per_rcpt, original = report_parts(msg)
        r = per_rcpt[0]
        assert (r["Final-Recipient"], r["Action"], r["Status"], r["Diagnostic-Code"]) == \
            ("rfc822; ex@retry.test", "failed", "4.3.0", "X-Postfix; try again later")
        assert original.get_content_type() == "message/rfc822"
    finally:
        inst.stop()


def test_delay_warning_sent_once():
    inst = make_instance("minimal_backoff_time = 1s\nmaximal_backoff_time = 1s\ndelay_warning_time = 1h\n")
    try:
        msg_file = inst.root / "msg.txt"
        msg_file.write_text("From: carol@sender.test\nSubject: delay me\n\nbody text\n")
        due = int(time.time()) - 1
        # Written in hold, handed to mail_owner (qmgr runs as postfix), then
        # moved into incoming: cleanup does not write W records yet.
        out = subprocess.run([str(BIN / "posthorn-queue-writer"), "-d", str(inst.queue), "-q", "hold",
                              "-f", "carol@sender.test", "-W", str(due), "-m", str(msg_file), "slow@retry.test"],
                             capture_output=True, text=True, timeout=10, check=True)
        qid = out.stdout.split()[0]
        shutil.chown(inst.queue / "hold" / qid, user="postfix", group="postfix")
        os.rename(inst.queue / "hold" / qid, inst.queue / "incoming" / qid)
        inst.trigger()
        _, msg, _ = held_notice(inst, qid, "sender delay notification", "carol@sender.test")
        assert msg["Subject"] == "Delayed Mail (still being retried)"
        text, _, per_rcpt, original = report_parts(msg)
        assert "1 hour(s)" in text.get_payload() and "5 day(s)" in text.get_payload()
        r = per_rcpt[0]
        assert (r["Action"], r["Status"], r["Diagnostic-Code"]) == ("delayed", "4.3.0", "X-Postfix; try again later")
        assert r["Will-Retry-Until"]
        assert original.get_content_type() == "text/rfc822-headers"
        # Warn once: the W record is now -1, and later passes send nothing.
        assert wait_for(lambda: "warning_message_time: Wed Dec 31 23:59:59 1969" in postcat(inst, qid, "-e").decode())
        passes = len(re.findall(rf"{qid}: to=<slow@retry.test>", inst.maillog()))
        inst.wait_log(rf"{qid}: to=<slow@retry.test>", count=passes + 2, timeout=15)
        assert len(re.findall(rf"{qid}: sender delay notification", inst.maillog())) == 1
        assert (inst.queue / "deferred").rglob(qid)
    finally:
        inst.stop()


# --- Debian's Postfix on the same bounce -------------------------------------

ORACLE_MASTER = """pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def oracle_bounce() -> tuple[str, bytes]:
    """Runs MESSAGE through Debian's Postfix; returns (log, report bytes)."""
    root = Path(tempfile.mkdtemp(prefix="postfix-bounce-oracle-", dir="/tmp"))
    os.chmod(root, 0o755)
    for d in ("etc", "queue", "data"):
        (root / d).mkdir()
    shutil.chown(root / "data", user="postfix")
    (root / "etc" / "main.cf").write_text(
        f"queue_directory = {root}/queue\ndata_directory = {root}/data\ninet_interfaces = loopback-only\n"
        f"inet_protocols = ipv4\ncompatibility_level = 3.6\nmyhostname = mta.example.test\nmydomain = example.test\n"
        f"mydestination =\nmaillog_file = {root}/maillog\nmaillog_file_prefixes = /tmp\nqueue_run_delay = 1s\n"
        + MAIN.format(root=root))
    (root / "etc" / "master.cf").write_text(ORACLE_MASTER)
    (root / "etc" / "transport").write_text(TRANSPORT)
    etc = str(root / "etc")
    try:
        r = subprocess.run([str(DEBIAN_POSTFIX), "-c", etc, "start"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        subprocess.run([str(DEBIAN_SENDMAIL), "-C", etc, "-t", "-f", "alice@sender.test"], input=MESSAGE.encode(),
                       check=True, timeout=30)
        log = lambda: (root / "maillog").read_text(errors="replace") if (root / "maillog").exists() else ""  # noqa
        m = wait_for(lambda: re.search(rf"sender non-delivery notification: ({ID})", log()), timeout=20)
        assert m, log()
        new = m.group(1)
        assert wait_for(lambda: re.search(rf"{new}: to=<alice@sender.test>.*held for the test", log()), timeout=20)
        time.sleep(0.5)
        listing = subprocess.run([str(POSTCAT), "-c", etc, "-q", new], capture_output=True, timeout=20,
                                 env={**os.environ, "TZ": "UTC"}).stdout
        return log(), content(listing)
    finally:
        subprocess.run([str(DEBIAN_POSTFIX), "-c", etc, "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def shape(body: bytes) -> list:
    """The report's structure and fields, with IDs, dates and our own
    template wording taken out."""
    msg = email.message_from_bytes(body, policy=email.policy.compat32)
    out = [("top", sorted(k for k in msg.keys() if k not in ("Received",)),
            msg["From"], msg["Subject"], msg["Auto-Submitted"], msg["Content-Type"].split("boundary")[0])]
    text, per_message, per_rcpt, original = report_parts(msg)
    out.append(("text", text["Content-Description"], text["Content-Type"],
                [l for l in text.get_payload().splitlines() if l.startswith("<")]))
    out.append(("dsn", [(k, re.sub(r"[0-9A-F]{8,}", "QID", v)) for k, v in per_message.items() if k != "Arrival-Date"],
                [list(r.items()) for r in per_rcpt]))
    inner = original.get_payload()[0]
    out.append(("original", original["Content-Description"], original.get_content_type(),
                [k for k in inner.keys()], inner.get_payload()))
    return out


def test_report_matches_debian_postfix(inst):
    if not (DEBIAN_POSTFIX.is_file() and DEBIAN_SENDMAIL.is_file()):
        pytest.fail("Debian's postfix is not installed", pytrace=False)
    their_log, theirs = oracle_bounce()
    qid = sendmail(inst, ["-t", "-f", "alice@sender.test"], MESSAGE)
    new, _, _ = held_notice(inst, qid, "sender non-delivery notification", "alice@sender.test")
    ours = content(postcat(inst, new))
    assert shape(ours) == shape(theirs), ours.decode() + "\n----\n" + theirs.decode()
    # The same log line shapes, in the same order.
    pattern = (r"postfix/error\[\d+\]: ({id}): to=<bob@error.test>, relay=none, .*status=bounced \(refused by test\)\n"
               r"(?:.*\n)*?.*postfix/bounce\[\d+\]: \1: sender non-delivery notification: {id}\n"
               r"(?:.*\n)*?.*postfix/qmgr\[\d+\]: \1: removed\n").format(id=ID)
    assert re.search(pattern, their_log), their_log
    assert re.search(pattern, inst.maillog()), inst.maillog()
