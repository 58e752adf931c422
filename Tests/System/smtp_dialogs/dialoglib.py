"""The SMTP dialog corpus: case parser and writer, the dialog runner, and a
private Debian Postfix instance (the oracle) per profile.

Shared by scripts/record-smtp-dialogs.py (record mode) and
Tests/System/test_smtp_dialogs.py (replay). The case format is documented
in README.md beside this file. Standard library only.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROFILES = HERE / "profiles"
CASE_SUFFIX = ".dlg"

# The hardening Posthorn applies by default (issue 6, point 6: Postfix 3.9's
# defaults). posthorn-expect sections are recorded from Postfix 3.7.11 with
# this added to the case's profile.
HARDENING_FILE = PROFILES / "_posthorn-hardening.cf"

IO_TIMEOUT = 10.0          # every blocking read or connect, seconds
RECORD_QUIET = 0.15        # record mode: extra replies are awaited this long
RECORD_CLOSE_WAIT = 2.0    # record mode: after a final 221/421, wait this long for EOF
LOG_WAIT = 10.0            # waiting for the session's "disconnect from" log line

# --------------------------------------------------------------- the format

SEND_PREFIXES = (">>raw ", ">>lf ", ">>cr ", ">> ")
_REPEAT = re.compile(r"\{\{(\d+)\*(.*?)\}\}")
_WILDCARD = re.compile(r"\{\{(queueid|\*)\}\}")


class CaseError(Exception):
    pass


def unescape(text: str) -> bytes:
    r"""\r \n \t \\ \xHH -> bytes; everything else is UTF-8."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n in "rnt\\0":
                out += {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\", "0": b"\0"}[n]
                i += 2
                continue
            if n == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 2:i + 4] or ""):
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
        out += c.encode("utf-8")
        i += 1
    return bytes(out)


def escape_reply(line: bytes) -> str:
    """A reply or log line as stored: printable ASCII kept, \\ and the rest
    as \\xHH."""
    out = []
    for b in line:
        if b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def expand_repeats(text: str) -> str:
    return _REPEAT.sub(lambda m: m.group(2) * int(m.group(1)), text)


def send_bytes(kind: str, text: str) -> bytes:
    text = expand_repeats(text)
    if kind == ">>raw":
        return unescape(text)
    body = text.encode("utf-8", "surrogateescape")
    return body + {">>": b"\r\n", ">>lf": b"\n", ">>cr": b"\r"}[kind]


def pattern_for(expected: str) -> re.Pattern:
    """An expected line (escaped form, with {{queueid}} / {{*}} wildcards)
    as a compiled bytes regex that must match the whole line."""
    parts = []
    pos = 0
    for m in _WILDCARD.finditer(expected):
        parts.append(re.escape(unescape(expected[pos:m.start()])))
        parts.append(rb"[0-9A-Za-z]+" if m.group(1) == "queueid" else rb".*")
        pos = m.end()
    parts.append(re.escape(unescape(expected[pos:])))
    return re.compile(b"".join(parts), re.S)


def is_final_line(line: str) -> bool:
    return len(line) < 4 or line[3] != "-"


@dataclass
class Send:
    kind: str            # ">>", ">>lf", ">>cr", ">>raw"
    text: str
    comments: list[str] = field(default_factory=list)

    def data(self) -> bytes:
        return send_bytes(self.kind, self.text)

    def render(self) -> list[str]:
        return self.comments + [f"{self.kind} {self.text}"]


@dataclass
class Step:
    """One write of client bytes (possibly none: the greeting), then the
    reply lines it is answered with, and whether the server then closed."""
    sends: list[Send] = field(default_factory=list)
    expect: list[str] = field(default_factory=list)
    closed: bool = False
    flush_marker: bool = False     # an explicit "--" ended the sends
    trailing_comments: list[str] = field(default_factory=list)

    def data(self) -> bytes:
        return b"".join(s.data() for s in self.sends)

    def reply_count(self) -> int:
        return sum(1 for l in self.expect if is_final_line(l))


@dataclass
class Dialog:
    steps: list[Step] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)


@dataclass
class Case:
    path: Path
    headers: dict[str, str]
    header_lines: list[str]
    main: Dialog
    posthorn: Dialog | None = None
    justification: str = ""

    @property
    def name(self) -> str:
        return self.path.relative_to(HERE).with_suffix("").as_posix()

    @property
    def profile(self) -> str:
        return self.headers["profile"]

    @property
    def source(self) -> str:
        return self.headers.get("source", "127.0.0.1")


def parse_case(path: Path) -> Case:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    headers: dict[str, str] = {}
    header_lines: list[str] = []
    main = Dialog()
    posthorn: Dialog | None = None
    justification = ""
    cur = main
    in_header = True
    pending_comments: list[str] = []
    step: Step | None = None

    def new_step() -> Step:
        s = Step()
        cur.steps.append(s)
        return s

    for n, line in enumerate(lines, 1):
        where = f"{path}:{n}"
        if in_header:
            m = re.match(r"^(profile|source|description):\s*(.*)$", line)
            if m:
                headers[m.group(1)] = m.group(2).strip()
                header_lines.append(line)
                continue
            if line.startswith("#") or line.strip() == "":
                header_lines.append(line)
                continue
            in_header = False
        if line.strip() == "":
            continue
        if line.startswith("#"):
            pending_comments.append(line)
            continue
        if line.startswith("posthorn-expect:"):
            justification = line[len("posthorn-expect:"):].strip()
            if posthorn is not None:
                raise CaseError(f"{where}: second posthorn-expect section")
            if not justification:
                raise CaseError(f"{where}: posthorn-expect needs a one-line justification")
            if step is not None:
                step.trailing_comments += pending_comments
                pending_comments = []
            posthorn = Dialog()
            cur = posthorn
            step = None
            continue
        if line.startswith("log: ") or line == "log:":
            cur.logs.append(line[5:])
            continue
        kind = next((p.rstrip() for p in SEND_PREFIXES if line.startswith(p)), None)
        if kind is None and line in (">>", ">>lf", ">>cr", ">>raw"):
            kind = line
        if kind is not None:
            text = line[len(kind) + 1:]
            if step is None or step.expect or step.closed or step.flush_marker:
                if step is not None and step.closed:
                    raise CaseError(f"{where}: client data after '== closed'")
                step = new_step()
            step.sends.append(Send(kind, text, pending_comments))
            pending_comments = []
            continue
        if step is None:
            step = new_step()   # the greeting step
        if step.closed:
            raise CaseError(f"{where}: nothing may follow '== closed' in a dialog")
        if line == "--":
            step.flush_marker = True
            step.trailing_comments += pending_comments
            pending_comments = []
            continue
        if line.startswith("<< ") or line == "<<":
            step.expect.append(line[3:])
            step.trailing_comments += pending_comments
            pending_comments = []
            continue
        if line == "== closed":
            step.closed = True
            continue
        raise CaseError(f"{where}: cannot parse line: {line!r}")
    if step is not None:
        step.trailing_comments += pending_comments
    if "profile" not in headers:
        raise CaseError(f"{path}: no 'profile:' header")
    if not (PROFILES / headers["profile"]).is_dir():
        raise CaseError(f"{path}: unknown profile {headers['profile']!r}")
    if not main.steps:
        raise CaseError(f"{path}: empty dialog")
    return Case(path, headers, header_lines, main, posthorn, justification)


def render_dialog(d: Dialog) -> list[str]:
    out: list[str] = []
    for s in d.steps:
        for send in s.sends:
            out += send.render()
        if s.flush_marker and not s.expect:
            out.append("--")
        out += [f"<< {l}" if l else "<<" for l in s.expect]
        if s.closed:
            out.append("== closed")
        out += s.trailing_comments
    out += [f"log: {l}" for l in d.logs]
    return out


def render_case(c: Case) -> str:
    header = list(c.header_lines)
    while header and header[-1].strip() == "":
        header.pop()
    out = header + [""] + render_dialog(c.main)
    if c.posthorn is not None:
        out += ["", f"posthorn-expect: {c.justification}"] + render_dialog(c.posthorn)
    return "\n".join(out) + "\n"


def all_cases() -> list[Path]:
    return sorted(p for p in HERE.rglob("*" + CASE_SUFFIX) if "profiles" not in p.parts)


# ----------------------------------------------------------------- profiles

def merge_main(*texts: str) -> str:
    """main.cf texts joined with every parameter defined once: a later
    definition replaces an earlier one in place (Postfix warns about
    "overriding earlier entry", in every smtpd session's log)."""
    entries: dict[str, list[str]] = {}
    order: list[str] = []
    for text in texts:
        cur = None
        for line in text.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and cur is not None:
                entries[cur].append(line)
                continue
            name = line.split("=", 1)[0].strip()
            if name not in entries:
                order.append(name)
            entries[name] = [line]
            cur = name
    return "".join("\n".join(entries[n]) + "\n" for n in order)


def profile_files(profile: str, hardened: bool = False) -> tuple[str, str, dict[str, str]]:
    """(main.cf fragment, master.cf fragment, {table file: content}) of a
    profile: profiles/_common/main.cf, then profiles/NAME/main.cf, then (hardened)
    the hardening overlay. {etc} stays a placeholder for the config dir."""
    pdir = PROFILES / profile
    parts = [(PROFILES / "_common" / "main.cf").read_text()]
    if (pdir / "main.cf").exists():
        parts.append((pdir / "main.cf").read_text())
    if hardened:
        parts.append(HARDENING_FILE.read_text())
    main = merge_main(*parts)
    master = (pdir / "master.cf").read_text() if (pdir / "master.cf").exists() else ""
    files = {p.name: p.read_text() for d in (PROFILES / "_common", pdir) for p in sorted(d.iterdir())
             if p.is_file() and p.name not in ("main.cf", "master.cf", "README")}
    return main, master, files


def smtpd_service(port: int, master_fragment: str) -> str:
    """The smtpd service entry: our line, then the profile's fragment
    (indented -o lines continue this entry)."""
    return f"127.0.0.1:{port} inet n - n - - smtpd\n" + master_fragment


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                # Read the greeting so smtpd does not log a lost connection
                # in the middle of a later case; then quit.
                s.settimeout(IO_TIMEOUT)
                f = s.makefile("rb")
                f.readline()
                s.sendall(b"QUIT\r\n")
                f.readline()
            return True
        except OSError:
            time.sleep(0.1)
    return False


# ------------------------------------------------------------------ the run

class DialogError(Exception):
    pass


@dataclass
class StepResult:
    replies: list[bytes] = field(default_factory=list)   # raw lines, CRLF stripped
    closed: bool = False
    bad_endings: list[bytes] = field(default_factory=list)


class Connection:
    def __init__(self, port: int, source: str):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(IO_TIMEOUT)
        if source != "127.0.0.1":
            self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes):
        if data:
            self.sock.sendall(data)

    def _fill(self, timeout: float) -> bool:
        """Reads more; False on timeout. Sets eof."""
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except OSError as e:
            if e.errno in (errno.ECONNRESET, errno.EPIPE):
                chunk = b""
            else:
                raise
        if not chunk:
            self.eof = True
        self.buf += chunk
        return True

    def read_line(self, timeout: float) -> bytes | None:
        """One line with its terminator; None on timeout or EOF."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0 or not self._fill(left):
                return None
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def read_reply(self, timeout: float) -> list[bytes] | None:
        """One complete (possibly multi-line) reply."""
        lines = []
        while True:
            line = self.read_line(timeout)
            if line is None:
                if lines:
                    raise DialogError(f"connection ended inside a multi-line reply: {lines!r}")
                return None
            lines.append(line)
            body = line.rstrip(b"\r\n")
            if len(body) < 4 or body[3:4] != b"-":
                return lines

    def wait_eof(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.eof:
            if self.buf:
                return False
            left = deadline - time.monotonic()
            if left <= 0 or not self._fill(left):
                return False
        return not self.buf


def _collect(conn: Connection, res: StepResult, reply: list[bytes]):
    for raw in reply:
        if not raw.endswith(b"\r\n"):
            res.bad_endings.append(raw)
        res.replies.append(raw.rstrip(b"\r\n"))


def run_step_record(conn: Connection, step: Step, last: bool) -> StepResult:
    """Record mode: at least as many replies as the step names (each "<<"
    line counts as one reply; multi-line replies may be given as one line),
    then whatever else arrives within RECORD_QUIET, then EOF if seen."""
    res = StepResult()
    if not conn.eof:
        try:
            conn.send(step.data())
        except OSError as e:
            if e.errno not in (errno.EPIPE, errno.ECONNRESET):
                raise
    want = step.reply_count() or (0 if step.sends else 1)
    got = 0
    while got < want:
        reply = conn.read_reply(IO_TIMEOUT)
        if reply is None:
            break
        _collect(conn, res, reply)
        got += 1
    while True:
        reply = conn.read_reply(RECORD_QUIET)
        if reply is None:
            break
        _collect(conn, res, reply)
    last_code = res.replies[-1][:3] if res.replies else b""
    wait = RECORD_CLOSE_WAIT if (last or last_code in (b"221", b"421")) else RECORD_QUIET
    res.closed = (conn.eof and not conn.buf) or (wait > RECORD_QUIET and conn.wait_eof(wait))
    return res


def run_step_replay(conn: Connection, step: Step) -> StepResult:
    """Replay: sends, then reads exactly the recorded number of replies
    (each bounded by IO_TIMEOUT), then, when the recording says so, EOF."""
    res = StepResult()
    try:
        conn.send(step.data())
    except OSError as e:
        raise DialogError(f"sending {step.data()[:200]!r} failed: {e}")
    for _ in range(step.reply_count()):
        reply = conn.read_reply(IO_TIMEOUT)
        if reply is None:
            res.closed = conn.eof
            break
        _collect(conn, res, reply)
    else:
        if step.closed:
            res.closed = conn.wait_eof(IO_TIMEOUT)
    return res


def step_problems(step: Step, res: StepResult, index: int) -> list[str]:
    problems = []
    sent = step.data()
    what = f"step {index}" + (f" (after sending {sent[:120]!r})" if sent else " (greeting)")
    exp = step.expect
    got = res.replies
    for i in range(max(len(exp), len(got))):
        e = exp[i] if i < len(exp) else None
        g = got[i] if i < len(got) else None
        if e is None:
            problems.append(f"{what}: unexpected reply line {escape_reply(g)!r}")
        elif g is None:
            problems.append(f"{what}: expected {e!r}, got nothing"
                            + (" (connection closed)" if res.closed else " (timeout)"))
        elif not pattern_for(e).fullmatch(g):
            problems.append(f"{what}: expected {e!r}\n{' ' * len(what)}       got {escape_reply(g)!r}")
    if len(problems) > 6:
        problems[6:] = [f"{what}: ... {len(problems) - 6} more differing lines"]
    if step.closed and not res.closed and not problems:
        problems.append(f"{what}: expected the server to close the connection")
    for raw in res.bad_endings:
        problems.append(f"{what}: reply line not ended by CRLF: {raw!r}")
    return problems


# -------------------------------------------------------------- log capture

_SMTPD_LOG = re.compile(rb"^.*?\bsmtpd\[\d+\]: (.*)$", re.M)
_QUEUE_ID = re.compile(r"(?<![0-9A-Za-z])[0-9A-F]{8,16}(?=: )")


def log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def session_log(path: Path, offset: int, wait: bool = True) -> list[bytes]:
    """The smtpd log lines (message part) written after offset, waiting up to
    LOG_WAIT for the session's "disconnect from" line."""
    deadline = time.monotonic() + (LOG_WAIT if wait else 0)
    while True:
        data = b""
        if path.exists():
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        # A line still being written is not read yet (a reader can see part
        # of a concurrent write).
        data = data[:data.rfind(b"\n") + 1]
        lines = [m.group(1) for m in _SMTPD_LOG.finditer(data)]
        for i, l in enumerate(lines):
            if l.startswith(b"disconnect from "):
                return lines[:i + 1]
        if time.monotonic() >= deadline:
            return lines
        time.sleep(0.05)


def wait_log_quiet(path: Path, quiet: float = 0.3, timeout: float = LOG_WAIT) -> None:
    """Waits until the log has not grown for `quiet` seconds (the start-up
    probe's last lines are in before the first case takes its offset)."""
    deadline = time.monotonic() + timeout
    size = log_size(path)
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = log_size(path)
        if now != size:
            size, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= quiet:
            return


def mask_reply(line: bytes) -> str:
    text = escape_reply(line)
    return re.sub(r"(queued as )[0-9A-Za-z]+", r"\1{{queueid}}", text)


def mask_log(line: bytes) -> str:
    text = escape_reply(line)
    text = _QUEUE_ID.sub("{{queueid}}", text)
    return re.sub(r"(queued as )[0-9A-Za-z]+", r"\1{{queueid}}", text)


def log_problems(expected: list[str], lines: list[bytes]) -> list[str]:
    """Every expected line must match one log line, in order (other lines
    may come between)."""
    i = 0
    for e in expected:
        pat = pattern_for(e)
        while i < len(lines) and not pat.fullmatch(lines[i]):
            i += 1
        if i == len(lines):
            return [f"log line not found (in order): {e!r}\nsession log:\n"
                    + "\n".join("  " + escape_reply(l) for l in lines)]
        i += 1
    return []


# ------------------------------------------------- the oracle: Debian Postfix

ORACLE_POSTFIX = Path("/usr/sbin/postfix")

ORACLE_BASE_MAIN = """# --- instance paths (oracle)
queue_directory = {root}/queue
data_directory = {root}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
"""

# Services both implementations run beside smtpd (see README).
SUPPORT_MASTER = """pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
error     unix  -       -       n       -       -       error
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def _cool(d: Path):
    past = time.time() - 60
    for f in d.iterdir():
        if f.is_file():
            os.utime(f, (past, past))


class PostfixInstance:
    """A private Debian Postfix 3.7 running one profile on a free loopback port."""

    def __init__(self, profile: str, hardened: bool = False):
        self.profile = profile
        self.hardened = hardened
        self.root = Path(tempfile.mkdtemp(prefix="posthorn-dlg-pf-", dir="/tmp"))
        self.root.chmod(0o755)
        self.etc = self.root / "etc"
        for d in ("etc", "queue", "data"):
            (self.root / d).mkdir()
        shutil.chown(self.root / "data", "postfix")
        self.port = free_port()
        main, master, files = profile_files(profile, hardened)
        main = merge_main(ORACLE_BASE_MAIN.format(root=self.root), main)
        (self.etc / "main.cf").write_text(main.replace("{etc}", str(self.etc)))
        (self.etc / "master.cf").write_text(
            (smtpd_service(self.port, master) + SUPPORT_MASTER).replace("{etc}", str(self.etc)))
        for name, content in files.items():
            (self.etc / name).write_text(content.replace("{etc}", str(self.etc)))
        _cool(self.etc)
        self.maillog = self.root / "maillog"

    def start(self):
        env = dict(os.environ, MAIL_CONFIG=str(self.etc))
        p = subprocess.run([str(ORACLE_POSTFIX), "-c", str(self.etc), "start"], env=env,
                           capture_output=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"postfix start failed ({self.profile}):\n{p.stdout.decode()}{p.stderr.decode()}"
                               + self.logs())
        if not wait_listening(self.port):
            raise RuntimeError(f"postfix smtpd not listening on {self.port}\n" + self.logs())
        session_log(self.maillog, 0)     # the probe session's lines are in
        wait_log_quiet(self.maillog)
        return self

    def logs(self) -> str:
        return self.maillog.read_text(errors="replace") if self.maillog.exists() else ""

    def stop(self, remove: bool = True):
        env = dict(os.environ, MAIL_CONFIG=str(self.etc))
        subprocess.run([str(ORACLE_POSTFIX), "-c", str(self.etc), "stop"], env=env,
                       capture_output=True, timeout=60)
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)


# ------------------------------------------------------------- whole cases

def record_dialog(dialog: Dialog, port: int, source: str, maillog: Path) -> None:
    """Runs the dialog and stores what the server said into it."""
    offset = log_size(maillog)
    conn = Connection(port, source)
    try:
        for i, step in enumerate(dialog.steps):
            res = run_step_record(conn, step, last=i == len(dialog.steps) - 1)
            step.expect = [mask_reply(r) for r in res.replies]
            step.closed = res.closed
            if res.closed and i < len(dialog.steps) - 1:
                rest = dialog.steps[i + 1:]
                if any(s.sends for s in rest):
                    print(f"  note: server closed at step {i}; later client data is not sent")
                del dialog.steps[i + 1:]
                break
    finally:
        conn.close()
    dialog.logs = [mask_log(l) for l in session_log(maillog, offset)]


def replay_dialog(dialog: Dialog, port: int, source: str, maillog: Path | None,
                  check_logs: bool = True) -> list[str]:
    """Runs the dialog against a server; returns the differences."""
    offset = log_size(maillog) if maillog else 0
    problems: list[str] = []
    try:
        conn = Connection(port, source)
    except OSError as e:
        return [f"connect to 127.0.0.1:{port} from {source}: {e}"]
    try:
        for i, step in enumerate(dialog.steps):
            try:
                res = run_step_replay(conn, step)
            except DialogError as e:
                problems.append(f"step {i}: {e}")
                break
            p = step_problems(step, res, i)
            if p:
                problems += p
                break
    finally:
        conn.close()
    if check_logs and maillog is not None and dialog.logs and not problems:
        problems += log_problems(dialog.logs, session_log(maillog, offset))
    elif maillog is not None:
        session_log(maillog, offset)   # let the session finish before the next case
    return problems
