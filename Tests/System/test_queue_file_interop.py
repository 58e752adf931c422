"""Queue file interoperability with Debian's Postfix 3.7 (the oracle).

(a) a queue file written by our QueueFile writer (posthorn-queue-writer) is
    printed by Debian's postcat -q exactly as it went in;
(b) queue files written by a private Debian Postfix instance (sendmail and
    SMTP submissions, held with postsuper -h ALL) are printed by our postcat
    exactly as Debian's postcat prints them, for every flag combination;
(c) corrupt files give the same output, messages and exit codes;
(d) modes and names after writing follow the reference.

Stderr is compared with the program prefix normalized; with -v Debian's
postcat also logs library debug lines ("name_mask: ...",
"inet_addr_local: ...") that we do not produce: only warning, error and
fatal lines (and getopt's) are compared.
"""

from __future__ import annotations

import os
import re
import shutil
import smtplib
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from posthorn_instance import free_port, make_queue_dirs

REPO = Path(__file__).resolve().parents[2]
ORACLE_POSTCAT = Path("/usr/sbin/postcat")
ORACLE_POSTFIX = Path("/usr/sbin/postfix")
ORACLE_POSTSUPER = Path("/usr/sbin/postsuper")
ORACLE_SENDMAIL = Path("/usr/sbin/sendmail")

FLAG_SETS = ["", "-o", "-v", "-ov", "-d", "-od", "-e", "-h", "-b", "-eh", "-eb", "-hb",
             "-bo", "-ho", "-eo", "-hv", "-bv", "-hd", "-ehb"]


def _bin_dir() -> Path:
    return Path(os.environ.get("POSTHORN_BIN", REPO / ".build" / "debug")).absolute()


def _require(path: Path, what: str) -> Path:
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{what} not found or not executable: {path}", pytrace=False)
    return path


@pytest.fixture(scope="module")
def ours() -> Path:
    return _require(_bin_dir() / "postcat", "Posthorn postcat (set POSTHORN_BIN or build first)")


@pytest.fixture(scope="module")
def writer() -> Path:
    return _require(_bin_dir() / "posthorn-queue-writer", "posthorn-queue-writer")


@pytest.fixture(scope="module")
def oracle() -> Path:
    return _require(ORACLE_POSTCAT, "Debian postcat")


# ---------------------------------------------------------------- helpers

def enc_len(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def rec(t: str, p: bytes | str = b"") -> bytes:
    if isinstance(p, str):
        p = p.encode()
    return t.encode() + enc_len(len(p)) + p


def size_rec(content: int, off: int, n: int = 1, flags: int = 0) -> bytes:
    return rec("C", b" ".join(b"%15d" % v for v in (content, off, n, flags, content, 0)))


# With -v Postfix's libraries log debug lines ("name_mask: ...",
# "been_here: ...", "mynetworks_core: ..."); only diagnostics are compared.
_DIAGNOSTIC = re.compile(r"^postcat: (warning: |fatal: |error: |invalid option|option requires)")


def run_postcat(binary: Path, args: list[str], cwd: Path | None = None):
    env = dict(os.environ)
    env.pop("MAIL_CONFIG", None)
    env["TZ"] = "UTC"
    p = subprocess.run([str(binary), *args], capture_output=True, timeout=30, cwd=cwd, env=env)
    # argv[0] appears as the message prefix and in the usage text.
    err = [re.sub(r"\S*/postcat\b", "postcat", l) for l in p.stderr.decode("utf-8", "replace").splitlines()]
    err = [l for l in err if _DIAGNOSTIC.match(l)]
    return p.stdout, err, p.returncode


def assert_same(ours: Path, oracle: Path, args: list[str], cwd: Path | None = None):
    o = run_postcat(ours, args, cwd)
    t = run_postcat(oracle, args, cwd)
    assert o[2] == t[2], f"postcat {' '.join(args)}: exit {o[2]} != oracle {t[2]}\n{o[1]}\n{t[1]}"
    assert o[1] == t[1], f"postcat {' '.join(args)}: stderr differs\nours:   {o[1]}\noracle: {t[1]}"
    assert o[0] == t[0], (f"postcat {' '.join(args)}: stdout differs\nours:\n{o[0].decode('utf-8', 'replace')}"
                          f"\noracle:\n{t[0].decode('utf-8', 'replace')}")


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """A private Debian Postfix without qmgr: mail stays in incoming, then
    is moved to hold. Yields (config dir, queue dir, [queue IDs])."""
    for p in (ORACLE_POSTFIX, ORACLE_POSTSUPER, ORACLE_SENDMAIL):
        _require(p, "Debian Postfix")
    # Postfix daemons run as the postfix user: pytest's 0700 temp root is
    # not traversable for them, so the instance lives in its own directory.
    top = Path(tempfile.mkdtemp(prefix="posthorn-pfq-"))
    top.chmod(0o755)
    conf, queue, data = top / "conf", top / "queue", top / "data"
    for d in (conf, queue, data):
        d.mkdir()
    shutil.chown(data, "postfix")
    port = free_port()
    (conf / "main.cf").write_text(f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
maillog_file = {top}/maillog
maillog_file_prefixes = {top}
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mta.test.invalid
mydestination =
mynetworks = 127.0.0.0/8
default_transport = discard
smtputf8_enable = yes
local_recipient_maps =
delay_warning_time = 4h
""")
    (conf / "master.cf").write_text(f"""127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
postlog   unix-dgram n  -       n       -       1       postlogd
proxymap  unix  -       -       n       -       -       proxymap
""")
    past = time.time() - 60
    for f in conf.iterdir():
        os.utime(f, (past, past))
    env = dict(os.environ, MAIL_CONFIG=str(conf))
    subprocess.run([str(ORACLE_POSTFIX), "-c", str(conf), "start"], check=True, env=env,
                   capture_output=True, timeout=60)
    try:
        def sendmail(args, text: bytes):
            subprocess.run([str(ORACLE_SENDMAIL), *args], input=text, check=True, env=env, timeout=30)
        sendmail(["-f", "alice@example.com", "bob@example.net", "carol@example.org"],
                 b"Subject: hello\n\nHi there.\n.leading dot\n")
        sendmail(["-t", "-F", "Full Name", "-f", "sender@example.com"],
                 b"From: Someone <x@example.com>\nTo: t1@example.net, t2@example.net\n"
                 b"Cc: c1@example.org\nSubject: -t test\n\nbody\n")
        sendmail(["-f", "<>", "long@example.net"],
                 b"Subject: long\nX-Long: " + b"a" * 5000 + b"\n\n" + b"b" * 4100 + b"\n")
        sendmail(["-N", "success,delay", "-R", "hdrs", "-V", "myenvid", "-f", "u@example.com", "e@example.net"],
                 "Subject: café\n\näöü\n".encode())
        expected = 4
        smtp_deadline = time.time() + 20
        while time.time() < smtp_deadline:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
                    s.ehlo("client.example")
                    s.sendmail("dsn@example.com", ["r1@example.net", "r2@example.net"],
                               b"Subject: dsn\r\nFrom: dsn@example.com\r\n\r\nsmtp body\r\n..dot\r\n",
                               mail_options=["RET=HDRS", "ENVID=env-1"],
                               rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;orig@example.net"])
                expected += 1
                break
            except (OSError, smtplib.SMTPException):
                time.sleep(0.3)
        incoming = queue / "incoming"
        deadline = time.time() + 90
        while time.time() < deadline:
            done = [f for f in incoming.iterdir() if f.stat().st_mode & 0o700 == 0o700]
            if len(done) >= expected and not list((queue / "maildrop").iterdir()):
                break
            time.sleep(0.3)
        subprocess.run([str(ORACLE_POSTSUPER), "-c", str(conf), "-h", "ALL"], env=env,
                       capture_output=True, timeout=30)
        ids = sorted(f.name for f in (queue / "hold").iterdir())
        assert len(ids) >= expected, f"only {ids} held; maillog:\n{(top / 'maillog').read_text()}"
        yield conf, queue, ids
    finally:
        subprocess.run([str(ORACLE_POSTFIX), "-c", str(conf), "stop"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(top, ignore_errors=True)


# ------------------------------------------------------------- (b) real files

def test_real_postfix_files_all_flags(ours, oracle, instance):
    conf, queue, ids = instance
    for qid in ids:
        for flags in FLAG_SETS:
            args = ["-c", str(conf)] + ([flags] if flags else [])
            assert_same(ours, oracle, args + [str(queue / "hold" / qid)])
            assert_same(ours, oracle, args + ["-q", qid])


def test_real_postfix_queue_lookup_errors(ours, oracle, instance):
    conf, _, ids = instance
    assert_same(ours, oracle, ["-c", str(conf), "-q", "NOSUCHID1"])
    assert_same(ours, oracle, ["-c", str(conf), "-q", ids[0], "NOSUCHID2"])
    assert_same(ours, oracle, ["-c", str(conf), "/nonexistent/file"])
    assert_same(ours, oracle, ["-c", str(conf), "-x"])


# ------------------------------------------------------------ (c) corrupt

def _corrupt_cases() -> dict[str, bytes]:
    env = rec("T", "1795916290 483796") + rec("A", "create_time=1795916311") + rec("S", "a@example.com") + rec("R", "b@example.net")
    content = rec("N", "Subject: x") + rec("N", "") + rec("N", "body")

    def full(env=env, content=content, extr=b""):
        return size_rec(len(content), 97 + len(env) + 2) + env + rec("M") + content + rec("X") + extr + rec("E")

    good = full()
    return {
        "good": good,
        "truncated_data": good[:120],
        "truncated_length": good[:-1],
        "missing_end": good[:-2],
        "empty": b"",
        "not_a_queue_file": rec("N", "hello") + good,
        "unknown_type_envelope": good[:97] + rec("Z", "zzz") + good[97:],
        "unknown_type_content": full(content=content + rec("Z", "q")),
        "unknown_type_extracted": full(extr=rec("Z", "q")),
        "too_many_length_bits": good[:97] + b"R\xff\xff\xff\xff\xff\x01",
        "wrong_size_too_big": size_rec(1000, 5) + good[97:],
        "wrong_size_short": size_rec(len(content) - 3, 97 + len(env) + 2) + good[97:],
        "invalid_size": rec("C", "12 abc") + good[97:],
        "second_size": good[:97] + size_rec(1, 2) + good[97:],
        "extracted_in_envelope": good[:97] + rec("X") + good[97:],
        "end_in_content": rec("S", "a") + rec("M") + rec("N", "x") + rec("E") + rec("N", "after"),
        "content_twice": rec("S", "a") + rec("M") + rec("N", "x") + rec("M") + rec("N", "y") + rec("X") + rec("E"),
        "malformed_attribute": rec("A", "noequals") + rec("A", "=v") + rec("M") + rec("X") + rec("E"),
        "malformed_pointer": rec("S", "a@x") + rec("p", "abc") + rec("M") + rec("X") + rec("E"),
        "pointer_jump": rec("S", "a@x") + rec("p", "%15d" % 39) + rec("R", "skipped@x") + rec("R", "after@x")
        + rec("M") + rec("N", "x") + rec("X") + rec("E"),
        "padding_and_dead": good[:97] + rec("D", "done@x") + rec("K", "k") + rec("/", "c@x") + rec(">", "r@x")
        + rec("L", "smtp:[h]") + rec("w", "      0") + rec("W", "%15d" % -1) + good[97:],
        "nul_bytes": rec("S", "a\x00b") + rec("M") + rec("N", b"x\x00y\x01\xff") + rec("X") + rec("E"),
        "long_header_lines": full(content=rec("L", "X-A: 111") + rec("L", "222") + rec("N", "333")
                                  + rec("N", "Y: 3") + rec("N", "") + rec("L", "bo") + rec("N", "dy")),
    }


def test_corrupt_files_match_oracle(ours, oracle, tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "main.cf").write_text(f"queue_directory = {tmp_path}\n")
    for name, data in _corrupt_cases().items():
        (tmp_path / name).write_bytes(data)
        for flags in FLAG_SETS:
            args = ["-c", str(conf)] + ([flags] if flags else [])
            assert_same(ours, oracle, args + [name], cwd=tmp_path)
    assert_same(ours, oracle, ["-c", str(conf), "good", "truncated_data", "good"], cwd=tmp_path)


# --------------------------------------------- (a) and (d) our writer's files

def _write(writer: Path, qdir: Path, msg: Path, *args: str) -> tuple[str, str]:
    p = subprocess.run([str(writer), "-d", str(qdir), "-m", str(msg), *args],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    qid, rel = p.stdout.split()
    return qid, rel


@pytest.fixture()
def queue_dir(tmp_path):
    conf = tmp_path / "conf"
    qdir = tmp_path / "queue"
    conf.mkdir()
    qdir.mkdir()
    make_queue_dirs(qdir, 0o700)
    (conf / "main.cf").write_text(f"queue_directory = {qdir}\n")
    return conf, qdir


def test_writer_file_printed_by_debian_postcat(writer, oracle, ours, queue_dir, tmp_path):
    conf, qdir = queue_dir
    body = ["Subject: written by posthorn", "X-Long: " + "z" * 3000, "\tcontinued", "",
            "line one", ".leading dot", "", "last"]
    msg = tmp_path / "msg"
    msg.write_text("\n".join(body) + "\n")
    qid, rel = _write(writer, qdir, msg, "-f", "sender@example.com", "-F", "Sender Name",
                      "-x", "bcc@example.org", "one@example.net", "two@example.net")
    assert rel == f"incoming/{qid}"
    out, err, rc = run_postcat(oracle, ["-c", str(conf), "-q", qid])
    assert rc == 0 and err == [], err
    text = out.decode()
    lines = text.splitlines()
    assert lines[0] == f"*** ENVELOPE RECORDS {rel} ***"
    m = re.match(r"message_size: +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+)$", lines[1])
    assert m, lines[1]
    assert lines[2].startswith("message_arrival_time: ")
    assert lines[3].startswith("create_time: ")
    assert lines[4:8] == ["named_attribute: rewrite_context=local", "sender_fullname: Sender Name",
                          "sender: sender@example.com",
                          "named_attribute: dsn_orig_rcpt=rfc822;one@example.net"]
    i = lines.index(f"*** MESSAGE CONTENTS {rel} ***")
    assert lines[4:i] == ["named_attribute: rewrite_context=local", "sender_fullname: Sender Name",
                          "sender: sender@example.com",
                          "named_attribute: dsn_orig_rcpt=rfc822;one@example.net",
                          "original_recipient: one@example.net", "recipient: one@example.net",
                          "named_attribute: dsn_orig_rcpt=rfc822;two@example.net",
                          "original_recipient: two@example.net", "recipient: two@example.net"]
    j = lines.index(f"*** HEADER EXTRACTED {rel} ***")
    assert lines[i + 1:j] == body
    assert lines[j + 1:] == ["named_attribute: dsn_orig_rcpt=rfc822;bcc@example.org",
                             "original_recipient: bcc@example.org", "recipient: bcc@example.org",
                             f"*** MESSAGE FILE END {rel} ***"]
    # The size record is right: -e (which skips the content by it) still
    # finds the extracted segment, and the fields match the file.
    data = (qdir / rel).read_bytes()
    content_size, data_offset, nrcpt = int(m.group(1)), int(m.group(2)), int(m.group(3))
    assert data[data_offset - 2:data_offset] == b"M\x00"
    assert data[data_offset + content_size:data_offset + content_size + 2] == b"X\x00"
    assert nrcpt == 3 and int(m.group(5)) == content_size
    for flags in FLAG_SETS:
        assert_same(ours, oracle, ["-c", str(conf)] + ([flags] if flags else []) + ["-q", qid])


def test_writer_modes_and_names(writer, oracle, queue_dir, tmp_path):
    conf, qdir = queue_dir
    msg = tmp_path / "msg"
    msg.write_text("Subject: s\n\nb\n")
    qid, rel = _write(writer, qdir, msg, "-f", "a@example.com", "b@example.net")
    st = (qdir / rel).stat()
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert re.fullmatch(r"[0-9A-F]{5}[0-9A-F]+", qid)
    assert int(qid[5:], 16) == st.st_ino, "short ID must end in the inode number"
    assert int(qid[:5], 16) < 1_000_000
    assert sorted(os.listdir(qdir / "incoming")) == [qid], "no temporary files may linger"
    # Hashed queue, depth 2, long IDs: the path Postfix computes.
    qid2, rel2 = _write(writer, qdir, msg, "-q", "deferred", "-L", "-D", "2", "-f", "a@example.com", "b@example.net")
    assert re.fullmatch(r"[0-9A-Za-z]{10,}z[0-9A-Za-y]+", qid2) and not re.search(r"[AEIOUaeiou]", qid2), qid2
    parts = rel2.split("/")
    assert parts[0] == "deferred" and len(parts) == 4 and parts[3] == qid2
    st2 = (qdir / rel2).stat()
    assert stat.S_IMODE(st2.st_mode) == 0o700
    for sub in (qdir / "deferred" / parts[1], qdir / "deferred" / parts[1] / parts[2]):
        assert stat.S_IMODE(sub.stat().st_mode) == 0o700
    (conf / "main.cf").write_text(f"queue_directory = {qdir}\nhash_queue_depth = 2\nenable_long_queue_ids = yes\n")
    out, err, rc = run_postcat(oracle, ["-c", str(conf), "-q", qid2])
    assert rc == 0 and out.decode().startswith(f"*** ENVELOPE RECORDS {rel2} ***\n"), (out, err)
