"""smtpd with TLS and Dovecot SASL, against real peers and Debian's Postfix.

A real Dovecot (dovecot-core, private config: passwd-file passdb, static
userdb, no mail protocols, base_dir under the temp root) serves the auth
protocol on three sockets: a unix_listener in OUR queue directory's
private/auth, one in the ORACLE's, and an inet listener. A private Debian
Postfix 3.7 and a Posthorn instance run with the same main.cf (the seed's TLS
and SASL settings plus smtpd_tls_loglevel=1 and smtpd_tls_received_header)
and the same extra services:

  smtp      STARTTLS (smtpd_use_tls = yes, smtpd_tls_auth_only = yes)
  smtps     -o smtpd_tls_wrappermode=yes -o smtpd_sasl_auth_enable=yes
  encrypt   -o smtpd_tls_security_level=encrypt
  inet      -o smtpd_sasl_path=inet:127.0.0.1:PORT, auth before TLS allowed
            but noplaintext (plaintext mechanisms offered only after TLS)
  chain     -o smtpd_tls_chain_files=... -o max_use=1 (tlsmgr ticket keys
            let a second process resume the first one's session)
  except    -o smtpd_sasl_exceptions_networks=127.0.0.0/8 (AUTH not announced)
  nocert, nocertwrap   a certificate file that does not exist
  login     -o smtpd_sender_login_maps=texthash:CERTS/sender_logins
            -o smtpd_sender_restrictions=reject_sender_login_mismatch

Certificates (RSA and ECDSA leaves signed by an intermediate signed by a
root) are made at test time with openssl; no key is committed. Clients:
raw sockets (replies and smtpd log lines compared with Postfix's),
smtplib (STARTTLS, SMTP_SSL, login), swaks (--tls, --tlsc, --auth PLAIN and
LOGIN), openssl s_client (-starttls smtp, -connect, chains, resumption) and
fail2ban-regex with Debian's postfix filter (modes auth and aggressive).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import smtp_client
from postfix_oracle import PostfixOracle
from posthorn_instance import BASE_MASTER, BIN, PosthornInstance, can_connect, distinct_ports, free_port, require_programs, wait_for

ORACLE = Path("/usr/sbin/postfix")
DOVECOT = Path("/usr/sbin/dovecot")
USERS = {"alice@example.test": "secret1", "bob": "hunter2"}


def make_certs(d: Path) -> None:
    """Root CA -> intermediate CA -> RSA and ECDSA leaves for mta.example.test."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (d / "ca.ext").write_text("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
    (d / "leaf.ext").write_text("basicConstraints=CA:FALSE\nsubjectAltName=DNS:mta.example.test\n")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key", "-out", "root.crt", "-days", "2",
        "-subj", "/CN=Posthorn Test Root")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "int.key", "-out", "int.csr", "-subj", "/CN=Posthorn Test Intermediate")
    run("x509", "-req", "-in", "int.csr", "-CA", "root.crt", "-CAkey", "root.key", "-CAcreateserial", "-out", "int.crt",
        "-days", "2", "-extfile", "ca.ext")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.key", "-out", "rsa.csr", "-subj", "/CN=mta.example.test")
    run("x509", "-req", "-in", "rsa.csr", "-CA", "int.crt", "-CAkey", "int.key", "-CAcreateserial", "-out", "rsa-leaf.crt",
        "-days", "2", "-extfile", "leaf.ext")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ec.key", "-out", "ec.csr",
        "-subj", "/CN=mta.example.test")
    run("x509", "-req", "-in", "ec.csr", "-CA", "int.crt", "-CAkey", "int.key", "-CAcreateserial", "-out", "ec-leaf.crt",
        "-days", "2", "-extfile", "leaf.ext")
    inter = (d / "int.crt").read_text()
    (d / "rsa.crt").write_text((d / "rsa-leaf.crt").read_text() + inter)
    (d / "ec.crt").write_text((d / "ec-leaf.crt").read_text() + inter)
    # smtpd_tls_chain_files form: key, then its certificate chain.
    (d / "rsa.pem").write_text((d / "rsa.key").read_text() + (d / "rsa.crt").read_text())
    (d / "ec.pem").write_text((d / "ec.key").read_text() + (d / "ec.crt").read_text())
    for f in d.iterdir():
        os.chmod(f, 0o644 if f.suffix != ".key" and f.suffix != ".pem" else 0o600)


# Shared main.cf: the seed's TLS and SASL settings (paths re-rooted).
MAIN = """mynetworks = 10.0.0.0/8
relay_domains = relay.test
default_transport = discard
relay_transport = discard
local_recipient_maps =
smtpd_error_sleep_time = 0
smtpd_sasl_auth_enable = yes
smtpd_sasl_authenticated_header = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_local_domain = $myhostname
smtpd_sasl_security_options = noanonymous
smtpd_helo_required = yes
smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
broken_sasl_auth_clients = yes
smtpd_use_tls = yes
smtpd_tls_auth_only = yes
smtpd_tls_cert_file = {certs}/rsa.crt
smtpd_tls_key_file = {certs}/rsa.key
smtpd_tls_eccert_file = {certs}/ec.crt
smtpd_tls_eckey_file = {certs}/ec.key
smtpd_tls_session_cache_database = btree:{data}/smtpd_scache
tls_random_source = dev:/dev/urandom
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_end_of_data_restrictions = check_sender_access inline:{{hold@b.test=HOLD}}
"""


def services(ports: dict[str, int], dovecot_port: int, certs: Path) -> str:
    return f"""127.0.0.1:{ports['smtp']} inet n - n - - smtpd
127.0.0.1:{ports['smtps']} inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
127.0.0.1:{ports['encrypt']} inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
127.0.0.1:{ports['inet']} inet n - n - - smtpd
  -o smtpd_sasl_path=inet:127.0.0.1:{dovecot_port}
  -o smtpd_tls_auth_only=no
  -o smtpd_sasl_security_options=noanonymous,noplaintext
  -o smtpd_sasl_tls_security_options=noanonymous
127.0.0.1:{ports['chain']} inet n - n - - smtpd
  -o smtpd_tls_chain_files={certs}/rsa.pem,{certs}/ec.pem
  -o max_use=1
127.0.0.1:{ports['except']} inet n - n - - smtpd
  -o smtpd_sasl_exceptions_networks=127.0.0.0/8
  -o smtpd_tls_auth_only=no
127.0.0.1:{ports['nocert']} inet n - n - - smtpd
  -o smtpd_tls_cert_file=/nonexistent/mail.crt
  -o smtpd_tls_key_file=/nonexistent/mail.key
  -o smtpd_tls_eccert_file=
127.0.0.1:{ports['nocertwrap']} inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_cert_file=/nonexistent/mail.crt
  -o smtpd_tls_eccert_file=
127.0.0.1:{ports['login']} inet n - n - - smtpd
  -o smtpd_tls_auth_only=no
  -o smtpd_sender_login_maps=texthash:{certs}/sender_logins
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
127.0.0.1:{ports['plaintext']} inet n - n - - smtpd
  -o smtpd_tls_auth_only=no
  -o smtpd_recipient_restrictions=reject_plaintext_session,check_sasl_access,texthash:{certs}/sasl_access,permit_sasl_authenticated,reject_unauth_destination
127.0.0.1:{ports['verp']} inet n - n - - smtpd
  -o smtpd_authorized_verp_clients=127.0.0.1
127.0.0.1:{ports['newtls']} inet n - n - - smtpd
  -o smtpd_client_new_tls_session_rate_limit=1
127.0.0.1:{ports['newtlswrap']} inet n - n - - smtpd
  -o smtpd_client_new_tls_session_rate_limit=1
  -o smtpd_tls_wrappermode=yes
tlsmgr    unix  -       -       n       300     1       tlsmgr
discard   unix  -       -       n       -       -       discard
proxymap  unix  -       -       n       -       -       proxymap
anvil     unix  -       -       n       -       1       anvil
"""


class Oracle(PostfixOracle):
    def __init__(self, ports: dict[str, int], dovecot_port: int, certs: Path):
        self.ports = ports
        super().__init__(main_extra="mydestination =\n" + MAIN.format(certs=certs, data="{root}/data"),
                         master=services(ports, dovecot_port, certs) + """cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
postlog   unix-dgram n  -       n       -       1       postlogd
""", prefix="posthorn-tls-oracle-")

    def start(self):
        super().start(ready="public/cleanup")

    def postcat(self, qid: str) -> str:
        return subprocess.run(["/usr/sbin/postcat", "-c", str(self.etc), "-q", qid], capture_output=True, text=True).stdout


class Ours:
    def __init__(self, ports: dict[str, int], dovecot_port: int, certs: Path):
        self.ports = ports
        self.inst = PosthornInstance(main_extra=MAIN.format(certs=certs, data="{root}/data"),
                                     master=BASE_MASTER + services(ports, dovecot_port, certs), prefix="posthorn-tls-")
        self.queue = self.inst.queue
        self.root = self.inst.root

    def start(self):
        self.inst.start()

    def maillog(self) -> str:
        return self.inst.maillog()

    def postcat(self, qid: str) -> str:
        return self.inst.run("postcat", "-q", qid).stdout.decode(errors="replace")

    def stop(self):
        self.inst.stop()


class Dovecot:
    """A private Dovecot serving only the auth protocol."""

    def __init__(self, queues: list[Path], port: int):
        self.root = Path(tempfile.mkdtemp(prefix="posthorn-dovecot-"))
        os.chmod(self.root, 0o755)
        self.port = port
        users = self.root / "users"
        users.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in USERS.items()))
        os.chmod(users, 0o644)
        listeners = "".join(f"""  unix_listener {q}/private/auth {{
    mode = 0660
    user = postfix
    group = postfix
  }}
""" for q in queues)
        self.conf = self.root / "dovecot.conf"
        self.conf.write_text(f"""base_dir = {self.root}/run
state_dir = {self.root}/state
protocols = none
listen = 127.0.0.1
ssl = no
log_path = {self.root}/dovecot.log
auth_mechanisms = plain login cram-md5
disable_plaintext_auth = no
auth_failure_delay = 0
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = static
  args = uid=5000 gid=5000 home=/nonexistent
}}
service auth {{
{listeners}  inet_listener {{
    address = 127.0.0.1
    port = {port}
  }}
}}
""")
        self.queues = queues
        self.proc: subprocess.Popen | None = None

    def start(self):
        self.proc = subprocess.Popen([str(DOVECOT), "-F", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.root / "stderr", "wb"))
        for q in self.queues:
            assert wait_for(lambda: (q / "private" / "auth").exists()), self.log()
        assert wait_for(lambda: can_connect(self.port)), self.log()

    def log(self) -> str:
        text = ""
        for name in ("stderr", "dovecot.log"):
            p = self.root / name
            if p.exists():
                text += p.read_text(errors="replace")
        return text

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def env():
    require_programs("master", "smtpd", "cleanup", "qmgr", "trivial-rewrite", "discard", "postlogd", "proxymap",
                     "anvil", "postfix", "tlsmgr", "postcat")
    for p in (ORACLE, DOVECOT):
        if not p.exists():
            pytest.fail(f"{p} is not installed (scripts/test.sh installs postfix and dovecot-core)", pytrace=False)
    certs = Path(tempfile.mkdtemp(prefix="posthorn-certs-"))
    os.chmod(certs, 0o755)
    make_certs(certs)
    (certs / "sender_logins").write_text("alice@example.test alice@example.test\n"
                                         "shared@b.test bob, alice@example.test\n@owned.test bob\n")
    (certs / "sasl_access").write_text("bob REJECT bob may not send\n")
    names = ("smtp", "smtps", "encrypt", "inet", "chain", "except", "nocert", "nocertwrap", "login", "plaintext", "verp", "newtls", "newtlswrap")
    ports = distinct_ports(2 * len(names) + 1)
    dovecot_port = ports.pop()
    oracle = Oracle(dict(zip(names, ports[:len(names)])), dovecot_port, certs)
    ours = Ours(dict(zip(names, ports[len(names):])), dovecot_port, certs)
    dovecot = Dovecot([oracle.queue, ours.queue], dovecot_port)
    oracle.start()
    try:
        ours.start()
        dovecot.start()
        for s in (oracle, ours):
            assert wait_for(lambda: all(can_connect(p) for p in s.ports.values())), f"no smtpd\n{s.maillog()}"
            wait_for(lambda: s.maillog().count("disconnect from") >= len(names), timeout=5)
        yield {"oracle": oracle, "ours": ours, "certs": certs, "dovecot": dovecot}
    finally:
        dovecot.stop()
        ours.stop()
        oracle.stop()
        shutil.rmtree(certs, ignore_errors=True)


# -- talking and comparing ---------------------------------------------------

CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


def read_reply(f) -> list[str]:
    """One reply; a reset or a TLS error while reading counts as end of file."""
    return smtp_client.read_reply(f, eof_errors=(ConnectionResetError, ssl.SSLError))


QID = re.compile(r"\b[0-9A-F]{8,12}\b")
CHALLENGE = re.compile(r"^334 (?!VXNlcm5hbWU6|UGFzc3dvcmQ6)\S+$")


def norm(lines: list[str]) -> list[str]:
    return [CHALLENGE.sub("334 CHALLENGE", QID.sub("QID", line)) for line in lines]


class Client:
    """A raw SMTP client that can switch to TLS."""

    def __init__(self, port: int, wrapper: bool = False, tls_version=None):
        # Dovecot delays answers to an address with recent failures (its
        # auth penalty, up to 15 s), so allow for that.
        self.sock = socket.create_connection(("127.0.0.1", port), 30)
        self.ctx = CTX
        if tls_version:
            self.ctx = ssl.create_default_context()
            self.ctx.check_hostname = False
            self.ctx.verify_mode = ssl.CERT_NONE
            self.ctx.minimum_version = self.ctx.maximum_version = tls_version
        if wrapper:
            self.sock = self.ctx.wrap_socket(self.sock)
        self.f = self.sock.makefile("rb")
        self.transcript = [norm(read_reply(self.f))]

    def send(self, data: bytes, replies: int = 1) -> list[str]:
        self.sock.sendall(data)
        r = []
        for _ in range(replies):
            r = norm(read_reply(self.f))
            self.transcript.append(r)
        return r

    def cmd(self, line: str) -> list[str]:
        return self.send(line.encode() + b"\r\n")

    def starttls(self, extra: bytes = b"") -> list[str]:
        r = self.send(b"STARTTLS\r\n" + extra)
        if r[0].startswith("220"):
            self.sock = self.ctx.wrap_socket(self.sock)
            self.f = self.sock.makefile("rb")
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


smtpd_lines = smtp_client.masked_smtpd_lines


def run_both(env, dialog, service="smtp"):
    """Runs dialog(Client-factory) on the oracle, then on ours; returns both transcripts and new smtpd log lines."""
    results = []
    for server in (env["oracle"], env["ours"]):
        before = server.maillog().count("disconnect from")
        start = len(smtpd_lines(server.maillog()))
        transcript = dialog(server.ports[service])
        assert wait_for(lambda: server.maillog().count("disconnect from") > before, timeout=10), server.maillog()[-3000:]
        time.sleep(0.1)
        results.append((transcript, smtpd_lines(server.maillog())[start:]))
    return results


def assert_same(env, dialog, service="smtp"):
    (o_replies, o_log), (u_replies, u_log) = run_both(env, dialog, service)
    assert u_replies == o_replies, "replies differ\nours:   " + "\n".join(map(str, u_replies)) + "\noracle: " + "\n".join(map(str, o_replies))
    assert u_log == o_log, "log lines differ\nours:\n" + "\n".join(u_log) + "\noracle:\n" + "\n".join(o_log)
    return u_replies, u_log


def b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


# -- dialogs compared with Postfix ----------------------------------------------

def test_starttls_auth_dialog_matches_postfix(env):
    def dialog(port):
        c = Client(port)
        c.cmd("EHLO client.example")
        c.cmd("AUTH PLAIN " + b64("\0bob\0hunter2"))       # not before TLS (smtpd_tls_auth_only)
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<x@elsewhere.test>")                  # relay denied without AUTH
        c.cmd("STARTTLS x")
        c.cmd("RSET")
        c.starttls()
        c.cmd("MAIL FROM:<a@b.test>")                        # HELO state was reset
        c.cmd("EHLO client.example")
        c.cmd("STARTTLS")
        c.cmd("AUTH FOO")
        c.cmd("AUTH PLAIN !!!")
        c.cmd("AUTH PLAIN " + b64("\0alice@example.test\0wrong"))
        c.cmd("AUTH LOGIN")
        c.cmd(b64("bob"))
        c.cmd(b64("wrong"))
        c.cmd("AUTH PLAIN")
        c.cmd(b64("\0alice@example.test\0secret1"))
        c.cmd("AUTH PLAIN " + b64("\0alice@example.test\0secret1"))
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<x@elsewhere.test>")                  # permit_sasl_authenticated
        c.cmd("DATA")
        c.send(b"Subject: tls\r\n\r\nhello\r\n.\r\n")
        c.cmd("QUIT")
        c.close()
        return c.transcript
    replies, log = assert_same(env, dialog)
    assert ["220 2.0.0 Ready to start TLS"] in replies
    assert any(line.startswith("Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.3 with cipher")
               for line in log)
    assert "QID: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=alice@example.test" in log
    assert any("SASL LOGIN authentication failed" in line and "sasl_username=bob" in line for line in log)


def test_auth_login_initial_response_and_abort_match_postfix(env):
    def dialog(port):
        c = Client(port)
        c.cmd("EHLO client.example")
        c.starttls()
        c.cmd("EHLO client.example")
        c.cmd("AUTH LOGIN " + b64("bob"))
        c.cmd("*")
        c.cmd("AUTH")
        c.cmd("AUTH PLAIN a b")
        c.cmd("AUTH LOGIN " + b64("bob"))
        c.cmd(b64("hunter2"))
        c.cmd("AUTH LOGIN")
        c.cmd("MAIL FROM:<a@b.test> AUTH=<>")
        c.cmd("AUTH PLAIN")
        c.cmd("QUIT")
        c.close()
        return c.transcript
    replies, log = assert_same(env, dialog)
    assert ["501 5.7.0 Authentication aborted"] in replies
    assert ["235 2.7.0 Authentication successful"] in replies


def test_sender_login_mismatch_matches_postfix(env):
    """smtpd_sender_login_maps with reject_sender_login_mismatch, logged in
    through the real Dovecot and not."""
    def dialog(port):
        c = Client(port)
        c.cmd("EHLO client.example")
        for sender in ("alice@example.test", "nobody@b.test", ""):
            c.cmd(f"MAIL FROM:<{sender}>")
            c.cmd("RCPT TO:<x@relay.test>")                   # owned: not logged in
            c.cmd("RSET")
        c.cmd("AUTH PLAIN " + b64("\0bob\0hunter2"))
        for sender in ("alice@example.test", "shared@b.test", "nobody@b.test", "x@owned.test", "SHARED@B.TEST"):
            c.cmd(f"MAIL FROM:<{sender}>")
            c.cmd("RCPT TO:<x@relay.test>")                   # owners only; unowned refused too
            c.cmd("RSET")
        c.cmd("QUIT")
        c.close()
        return c.transcript
    replies, log = assert_same(env, dialog, service="login")
    assert ["553 5.7.1 <alice@example.test>: Sender address rejected: not logged in"] in replies
    assert ["553 5.7.1 <alice@example.test>: Sender address rejected: not owned by user bob"] in replies
    assert ["553 5.7.1 <nobody@b.test>: Sender address rejected: not owned by user bob"] in replies


def test_plaintext_session_and_sasl_access_match_postfix(env):
    """reject_plaintext_session before and after STARTTLS, then
    check_sasl_access refusing a login made through the real Dovecot."""
    def dialog(port):
        c = Client(port)
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<x@relay.test>")                       # plaintext: 450
        c.cmd("RSET")
        c.starttls()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<x@relay.test>")                       # encrypted, no login: relay domain
        c.cmd("RCPT TO:<x@elsewhere.test>")                   # no login: relay denied
        c.cmd("RSET")
        c.cmd("AUTH PLAIN " + b64("\0bob\0hunter2"))
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<x@relay.test>")                       # bob is refused by login name
        c.cmd("QUIT")
        c.close()
        return c.transcript
    replies, log = assert_same(env, dialog, service="plaintext")
    assert ["450 4.7.1 Session encryption is required"] in replies
    assert ["250 2.1.5 Ok"] in replies
    assert ["554 5.7.1 <bob>: SASL login name rejected: bob may not send"] in replies
    assert any("reject: RCPT from localhost[127.0.0.1]: 450 4.7.1 Session encryption is required" in l for l in log)


def test_sasl_access_passes_unlisted_login_matches_postfix(env):
    """check_sasl_access: a login the table does not list goes on to
    permit_sasl_authenticated."""
    def dialog(port):
        c = Client(port)
        c.cmd("EHLO client.example")
        c.starttls()
        c.cmd("EHLO client.example")
        c.cmd("AUTH PLAIN " + b64("\0alice@example.test\0secret1"))
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<x@elsewhere.test>")
        c.cmd("QUIT")
        c.close()
        return c.transcript
    replies, log = assert_same(env, dialog, service="plaintext")
    assert replies[-2] == ["250 2.1.5 Ok"]


def test_mail_auth_parameter_matches_postfix(env):
    """MAIL FROM's AUTH= while SASL is on: kept as sent (no xtext decoding)
    unless `<>`, logged as `sasl_sender=` on the client= line, a second
    AUTH= refused; after a login the field follows sasl_username."""
    def dialog(port):
        c = Client(port)
        c.cmd("EHLO client.example")
        for params in ("AUTH=<x+2By@b.test>", "AUTH=<>", "AUTH=bare@b.test", "AUTH=<x@b.test> AUTH=<y@b.test>"):
            c.cmd(f"MAIL FROM:<nobody@b.test> {params}")
            c.cmd("RCPT TO:<x@relay.test>")
            c.cmd("RSET")
        c.cmd("AUTH PLAIN " + b64("\0bob\0hunter2"))
        c.cmd("MAIL FROM:<shared@b.test> AUTH=<shared@b.test>")
        c.cmd("RCPT TO:<x@relay.test>")
        c.cmd("QUIT")
        c.close()
        return c.transcript
    replies, log = assert_same(env, dialog, service="login")
    assert ["503 5.5.4 Error: multiple AUTH= options"] in replies
    assert "QID: client=localhost[127.0.0.1], sasl_sender=<x+2By@b.test>" in log
    assert "QID: client=localhost[127.0.0.1], sasl_sender=bare@b.test" in log
    assert ("QID: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=bob, sasl_sender=<shared@b.test>"
            in log)


def test_cram_md5_with_random_challenge(env):
    # The challenge is random: compare only the shape, then answer it.
    for server in (env["oracle"], env["ours"]):
        c = Client(server.ports["smtp"])
        c.cmd("EHLO client.example")
        c.starttls()
        c.cmd("EHLO client.example")
        c.sock.sendall(b"AUTH CRAM-MD5\r\n")
        line = read_reply(c.f)[0]
        assert line.startswith("334 "), line
        challenge = base64.b64decode(line[4:])
        assert re.fullmatch(rb"<\d+\.\d+@[^>]+>", challenge), challenge
        digest = hmac.new(b"secret1", challenge, hashlib.md5).hexdigest()
        assert c.cmd(b64("alice@example.test " + digest)) == ["235 2.7.0 Authentication successful"]
        c.cmd("QUIT")
        c.close()


def test_starttls_command_injection_is_discarded(env):
    """CVE-2011-0411 style: plaintext pipelined behind STARTTLS must not run inside TLS."""
    def dialog(port):
        c = Client(port)
        c.cmd("EHLO client.example")
        c.starttls(b"RSET\r\nMAIL FROM:<evil@b.test>\r\n")
        c.cmd("NOOP")
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<good@b.test>")
        c.cmd("QUIT")
        c.close()
        return c.transcript
    replies, log = assert_same(env, dialog)
    # NOOP got exactly its own reply, and the second MAIL is not "nested".
    assert replies[3] == ["250 2.0.0 Ok"]
    assert replies[5] == ["250 2.1.0 Ok"]
    assert log[-1] == "disconnect from localhost[127.0.0.1] ehlo=2 starttls=1 mail=1 noop=1 quit=1 commands=6"


def test_wrappermode_matches_postfix(env):
    def dialog(port):
        c = Client(port, wrapper=True)
        c.cmd("EHLO client.example")
        c.cmd("STARTTLS")
        c.cmd("AUTH PLAIN " + b64("\0alice@example.test\0secret1"))
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<x@elsewhere.test>")
        c.cmd("RCPT TO:<y@elsewhere.test>")
        c.cmd("DATA")
        c.send(b"Subject: smtps\r\n\r\nhello\r\n.\r\n")
        c.cmd("QUIT")
        c.close()
        return c.transcript
    replies, log = assert_same(env, dialog, "smtps")
    assert replies[0] == ["220 mta.example.test ESMTP Postfix"]
    assert "250-STARTTLS" not in replies[1]
    assert "250-AUTH PLAIN LOGIN CRAM-MD5" in replies[1] and "250-AUTH=PLAIN LOGIN CRAM-MD5" in replies[1]


def test_encrypt_level_matches_postfix(env):
    def dialog(port):
        c = Client(port)
        for command in ("EHLO client.example", "MAIL FROM:<a@b.test>", "RCPT TO:<a@relay.test>", "DATA", "VRFY x",
                        "ETRN relay.test", "AUTH PLAIN", "RSET", "NOOP", "HELO client.example"):
            c.cmd(command)
        c.starttls()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("QUIT")
        c.close()
        return c.transcript
    replies, _ = assert_same(env, dialog, "encrypt")
    assert ["530 5.7.0 Must issue a STARTTLS command first"] in replies


def test_noplaintext_before_tls_and_inet_sasl_path_match_postfix(env):
    def dialog(port):
        c = Client(port)
        c.cmd("EHLO client.example")
        c.cmd("AUTH PLAIN " + b64("\0bob\0hunter2"))         # PLAIN not offered in the clear
        c.starttls()
        c.cmd("EHLO client.example")
        c.cmd("AUTH PLAIN " + b64("\0bob\0hunter2"))
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<x@elsewhere.test>")
        c.cmd("QUIT")
        c.close()
        return c.transcript
    replies, _ = assert_same(env, dialog, "inet")
    assert "250-AUTH CRAM-MD5" in replies[1]
    assert "250-AUTH PLAIN LOGIN CRAM-MD5" in replies[4]


def test_sasl_exceptions_networks_match_postfix(env):
    def dialog(port):
        c = Client(port)
        c.cmd("EHLO client.example")
        c.cmd("AUTH PLAIN " + b64("\0bob\0hunter2"))
        c.starttls()
        c.cmd("EHLO client.example")
        c.cmd("QUIT")
        c.close()
        return c.transcript
    replies, _ = assert_same(env, dialog, "except")
    assert not any(line.startswith("250-AUTH") for line in replies[1] + replies[4])


@pytest.mark.parametrize("service", ["nocert", "nocertwrap"])
def test_missing_certificate_matches_postfix(env, service):
    """STARTTLS is still announced but answers 454; wrapper mode drops the client; the
    warnings (ours from the TLS library, so OpenSSL's own texts) are Postfix's."""
    def dialog(port):
        if service == "nocertwrap":
            s = socket.create_connection(("127.0.0.1", port), 30)
            try:
                data = s.recv(100)
            except OSError as e:
                data = repr(e).encode()
            s.close()
            return [data]
        c = Client(port)
        c.cmd("EHLO client.example")
        c.cmd("STARTTLS")
        c.cmd("QUIT")
        c.close()
        return c.transcript
    replies, log = assert_same(env, dialog, service)
    assert 'cannot get RSA certificate from file "/nonexistent/mail.crt": disabling TLS support' in env["ours"].maillog()
    if service == "nocert":
        assert ["454 4.7.0 TLS not available due to local problem"] in replies


@pytest.mark.parametrize("args", [["-tls1_3"], ["-tls1_2"], ["-tls1_3", "-groups", "P-384"], ["-tls1_2", "-sigalgs", "RSA+SHA256"],
                                  ["-tls1_3", "-sigalgs", "ECDSA+SHA256"], ["-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256"],
                                  ["-tls1_2", "-cipher", "AES128-SHA"], ["-tls1_2", "-cipher", "DHE-RSA-AES256-GCM-SHA384"],
                                  ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"]],
                         ids=lambda a: "_".join(x.strip("-") for x in a))
def test_s_client_tls_log_lines_match_postfix(env, args):
    """openssl s_client -starttls smtp: the 'TLS connection established' line equals Postfix's."""
    lines = []
    for server in (env["oracle"], env["ours"]):
        before = server.maillog().count("disconnect from")
        start = len(smtpd_lines(server.maillog()))
        out = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{server.ports['smtp']}",
                              "-CAfile", str(env["certs"] / "root.crt"), *args],
                             input=b"EHLO client.example\r\nQUIT\r\n", capture_output=True, timeout=20)
        assert b"Verify return code: 0 (ok)" in out.stdout, out.stdout.decode(errors="replace")[-2000:]
        assert wait_for(lambda: server.maillog().count("disconnect from") > before)
        time.sleep(0.1)
        lines.append([l for l in smtpd_lines(server.maillog())[start:] if "TLS" in l])
    assert lines[1] == lines[0]
    assert len(lines[1]) == 1


def test_tls_handshake_failure_logged_as_postfix(env):
    """A client that only speaks TLS 1.0 with a cipher we do not have."""
    def dialog(port):
        c = Client(port)
        c.cmd("EHLO client.example")
        c.sock.sendall(b"STARTTLS\r\n")
        c.transcript.append(read_reply(c.f))
        # Garbage instead of a ClientHello.
        c.sock.sendall(b"\x16\x03\x01\x00\x05hello")
        time.sleep(0.3)
        c.close()
        return c.transcript
    (o_replies, o_log), (u_replies, u_log) = run_both(env, dialog)
    assert u_replies == o_replies
    # Same OpenSSL library, so even its error text must be the same.
    assert u_log == o_log, "\n".join(u_log) + "\n--\n" + "\n".join(o_log)
    assert any(line.startswith("warning: TLS library problem: error:") for line in u_log)


# -- real clients ------------------------------------------------------------------

def hold_qid(server, marker: str) -> str:
    for _ in range(100):
        for line in server.maillog().splitlines():
            m = re.search(r"postfix/smtpd\[\d+\]: ([0-9A-F]+): hold: END-OF-MESSAGE", line)
            if m and marker in server.postcat(m.group(1)):
                return m.group(1)
        time.sleep(0.1)
    raise AssertionError("no held message with " + marker + "\n" + server.maillog()[-3000:])


def received_header(text: str) -> str:
    m = re.search(r"^Received: .*?(?=^\S)", text, re.S | re.M)
    assert m, text
    return m.group(0)


def test_smtplib_starttls_login_received_header_matches_postfix(env):
    import smtplib
    headers = []
    for server in (env["oracle"], env["ours"]):
        marker = f"marker-{server.ports['smtp']}"
        with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as client:
            client.ehlo("client.example")
            client.starttls(context=CTX)
            client.ehlo("client.example")
            client.login("alice@example.test", "secret1")
            client.sendmail("hold@b.test", ["x@elsewhere.test"], f"Subject: {marker}\r\n\r\nbody\r\n")
        qid = hold_qid(server, marker)
        h = received_header(server.postcat(qid))
        h = QID.sub("QID", re.sub(r"for <x@elsewhere.test>; .*", "for <x@elsewhere.test>; DATE", h))
        headers.append(h)
    assert headers[1] == headers[0]
    assert "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" in headers[1]
    assert "(Authenticated sender: alice@example.test)" in headers[1]
    assert "with ESMTPSA id QID" in headers[1]


def named_attributes(postcat_text: str) -> list[str]:
    """The queue file's named attributes (postcat's `named_attribute:`
    lines), in order, with values that differ per run masked."""
    out = []
    for line in postcat_text.splitlines():
        m = re.match(r"named_attribute: (\w+)=(.*)", line)
        if not m:
            continue
        name, value = m.groups()
        if name in ("client_port", "log_client_port", "log_ident", "server_port"):
            value = "*"
        out.append(f"{name}={value}")
    return out


def test_authenticated_message_carries_the_login_like_postfix(env):
    """After AUTH, the queue file holds sasl_method, sasl_username and the
    MAIL FROM AUTH= sender, where and as Postfix writes them."""
    attributes = []
    for server in (env["oracle"], env["ours"]):
        marker = f"sasl-attrs-{server.ports['smtp']}"
        c = Client(server.ports["smtp"])
        c.cmd("EHLO client.example")
        c.starttls()
        c.cmd("EHLO client.example")
        assert c.cmd("AUTH PLAIN " + b64("\0alice@example.test\0secret1")) == ["235 2.7.0 Authentication successful"]
        assert c.cmd("MAIL FROM:<hold@b.test> AUTH=<hold@b.test>") == ["250 2.1.0 Ok"]
        assert c.cmd("RCPT TO:<x@relay.test>") == ["250 2.1.5 Ok"]
        c.cmd("DATA")
        assert c.send(f"Subject: {marker}\r\n\r\nbody\r\n.\r\n".encode())[0].startswith("250 2.0.0 Ok: queued as")
        c.cmd("QUIT")
        c.close()
        attributes.append(named_attributes(server.postcat(hold_qid(server, marker))))
    assert attributes[1] == attributes[0], "\n".join(attributes[1]) + "\n--\n" + "\n".join(attributes[0])
    assert "sasl_method=PLAIN" in attributes[1]
    assert "sasl_username=alice@example.test" in attributes[1]
    assert "sasl_sender=<hold@b.test>" in attributes[1]


def test_helo_after_starttls_received_header_matches_postfix(env):
    headers = []
    for server in (env["oracle"], env["ours"]):
        marker = f"helo-{server.ports['smtp']}"
        c = Client(server.ports["smtp"], tls_version=ssl.TLSVersion.TLSv1_2)
        c.cmd("EHLO client.example")
        c.starttls()
        assert c.cmd("HELO client.example") == ["250 mta.example.test"]
        c.cmd("MAIL FROM:<hold@b.test>")
        assert c.cmd("RCPT TO:<x@relay.test>") == ["250 2.1.5 Ok"]
        c.cmd("DATA")
        assert c.send(f"Subject: {marker}\r\n\r\nbody\r\n.\r\n".encode())[0].startswith("250 2.0.0 Ok: queued as")
        c.cmd("QUIT")
        c.close()
        h = received_header(server.postcat(hold_qid(server, marker)))
        headers.append(QID.sub("QID", re.sub(r"for <x@relay.test>; .*", "for <x@relay.test>; DATE", h)))
    assert headers[1] == headers[0]
    assert "(using TLSv1.2 with cipher" in headers[1]


@pytest.mark.parametrize("send", [b"EHLO client.example\r\n", b""], ids=["plaintext", "eof"])
def test_wrappermode_handshake_failure_matches_postfix(env, send):
    def dialog(port):
        s = socket.create_connection(("127.0.0.1", port), 30)
        if send:
            s.sendall(send)
        else:
            s.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := s.recv(4096):
                data += chunk
        except OSError:
            pass
        s.close()
        return [data[:5]]
    (o_replies, o_log), (u_replies, u_log) = run_both(env, dialog, "smtps")
    assert u_log == o_log, "\n".join(u_log) + "\n--\n" + "\n".join(o_log)
    assert u_replies == o_replies, "\n".join(u_log) + "\n--\n" + "\n".join(o_log)


def test_smtplib_smtps_login_delivers(env):
    import smtplib
    ours = env["ours"]
    with smtplib.SMTP_SSL("127.0.0.1", ours.ports["smtps"], timeout=30, context=CTX) as client:
        client.ehlo("client.example")
        client.login("bob", "hunter2")
        assert client.sendmail("a@b.test", ["x@elsewhere.test"], "Subject: smtps\r\n\r\nbody\r\n") == {}
    ours.inst.wait_log(r"postfix/smtpd\[\d+\]: [0-9A-F]+: client=localhost\[127\.0\.0\.1\], sasl_method=\w+, sasl_username=bob$")
    ours.inst.wait_log(r"postfix/discard\[\d+\]: [0-9A-F]+: to=<x@elsewhere.test>.*status=sent")


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
@pytest.mark.parametrize("mode", ["--tls", "--tlsc"])
def test_swaks_tls_auth(env, mech, mode):
    ours = env["ours"]
    port = ours.ports["smtp"] if mode == "--tls" else ours.ports["smtps"]
    out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port), mode, "--auth", mech,
                          "--auth-user", "alice@example.test", "--auth-password", "secret1", "--helo", "client.example",
                          "--from", "a@b.test", "--to", "x@elsewhere.test", "--timeout", "30"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "235 2.7.0 Authentication successful" in out.stdout
    assert re.search(r"250 2.0.0 Ok: queued as [0-9A-F]+", out.stdout)
    ours.inst.wait_log(rf"client=localhost\[127\.0\.0\.1\], sasl_method={mech}, sasl_username=alice@example.test$")


def test_swaks_wrong_password_fails(env):
    ours = env["ours"]
    out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(ours.ports["smtp"]), "--tls", "--auth", "PLAIN",
                          "--auth-user", "mallory", "--auth-password", "nope", "--helo", "client.example",
                          "--to", "x@elsewhere.test", "--timeout", "30"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "535 5.7.8 Error: authentication failed:" in out.stdout
    ours.inst.wait_log(r"warning: localhost\[127\.0\.0\.1\]: SASL PLAIN authentication failed: .*, sasl_username=mallory$")


def test_s_client_sends_chains_for_rsa_and_ecdsa(env):
    ours = env["ours"]
    for port_name, extra in (("smtp", ["-starttls", "smtp"]), ("smtps", []), ("chain", ["-starttls", "smtp"])):
        for sigalgs, key in (("rsa_pss_rsae_sha256:RSA+SHA256", "RSA"), ("ECDSA+SHA256", "EC")):
            out = subprocess.run(["openssl", "s_client", *extra, "-connect", f"127.0.0.1:{ours.ports[port_name]}",
                                  "-CAfile", str(env["certs"] / "root.crt"), "-showcerts", "-sigalgs", sigalgs],
                                 input=b"QUIT\r\n", capture_output=True, timeout=20)
            text = out.stdout.decode(errors="replace")
            assert "Verify return code: 0 (ok)" in text, text[-2000:]
            assert " 0 s:CN = mta.example.test" in text and " 1 s:CN = Posthorn Test Intermediate" in text, text[:3000]
            assert ("Server public key is 2048 bit" if key == "RSA" else "Server public key is 256 bit") in text


def test_session_resumes_in_another_process(env, tmp_path):
    """max_use=1: every connection is a new smtpd; sessions still resume: tickets with keys from
    tlsmgr, and without tickets through tlsmgr's session cache."""
    ours = env["ours"]
    # -no_ticket: the TLS 1.2 session-ID cache in tlsmgr's btree: database.
    for version in ("-tls1_2", "-tls1_3", "-tls1_2 -no_ticket"):
        sess = tmp_path / f"sess{version.replace(' ', '')}"
        results = []
        for flag in ("-sess_out", "-sess_in"):
            # max_use=1: give master a moment to start the next process.
            assert wait_for(lambda: can_connect(ours.ports["chain"]))
            time.sleep(0.5)
            out = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{ours.ports['chain']}",
                                  *version.split(), flag, str(sess), "-ign_eof"], input=b"EHLO client.example\r\nQUIT\r\n",
                                 capture_output=True, timeout=20)
            text = out.stdout.decode(errors="replace")
            results.append("Reused," if "Reused," in text else "New," if "New," in text
                           else text[-500:] + out.stderr.decode(errors="replace")[-500:])
        assert results == ["New,", "Reused,"], results
    pids = set(re.findall(r"postfix/smtpd\[(\d+)\]: Anonymous TLS connection established", ours.maillog()))
    assert len(pids) >= 6
    # tlsmgr made the seed's btree: session cache database.
    assert (ours.root / "data" / "smtpd_scache.db").exists()


def test_fail2ban_postfix_filter_matches_failed_auth(env):
    ours = env["ours"]
    # A few failures, each of which fail2ban must count.
    for user in ("eve1", "eve2"):
        c = Client(ours.ports["smtp"])
        c.cmd("EHLO client.example")
        c.starttls()
        c.cmd("EHLO client.example")
        assert c.cmd("AUTH PLAIN " + b64(f"\0{user}\0bad"))[0].startswith("535 5.7.8")
        c.cmd("AUTH LOGIN")
        c.cmd(b64(user))
        assert c.cmd(b64("bad"))[0].startswith("535 5.7.8")
        c.cmd("QUIT")
        c.close()
    ours.inst.wait_log(r"SASL LOGIN authentication failed: .*sasl_username=eve2$")
    log = ours.maillog()
    failed = [l for l in log.splitlines() if re.search(r"SASL (PLAIN|LOGIN|CRAM-MD5) authentication failed: (?!Connection lost|Invalid authentication mechanism)", l)]
    assert len(failed) >= 4
    logfile = ours.root / "maillog.copy"
    logfile.write_text(log)
    for mode in ("auth", "aggressive"):
        out = subprocess.run(["fail2ban-regex", "-v", str(logfile), f"/etc/fail2ban/filter.d/postfix.conf[mode={mode}]"],
                             capture_output=True, text=True, timeout=120)
        m = re.search(r"^Lines: \d+ lines, \d+ ignored, (\d+) matched", out.stdout, re.M)
        assert m, out.stdout[-3000:]
        assert int(m.group(1)) >= len(failed), out.stdout[-3000:]
        assert "127.0.0.1" in out.stdout


def test_sasl_response_limit_matches_postfix(env):
    """A SASL response longer than smtpd_sasl_response_limit (12288) is
    refused as Postfix refuses it, and the rest of that line is not taken
    for a command."""
    def dialog(port):
        c = Client(port)
        try:
            for line in ("EHLO client.example", "AUTH LOGIN", "A" * 13000, "NOOP", "QUIT"):
                if c.cmd(line) == []:
                    break
        except OSError:
            c.transcript.append("closed")
        c.close()
        return c.transcript
    replies, log = assert_same(env, dialog, service="login")
    assert ["500 5.5.6 SASL response limit exceeded"] in replies
    assert ["250 2.0.0 Ok"] in replies


def queue_records(postcat_text: str) -> list[str]:
    """The record names postcat shows, in order (values left out)."""
    return [line.split(":", 1)[0] for line in postcat_text.splitlines()
            if ":" in line and not line.startswith("***")]


def test_xverp_delimiters_reach_the_queue_file_like_postfix(env):
    """MAIL FROM ... XVERP=-= from an authorized client: the queue file
    gets a verp_delimiters record where Postfix's gets it."""
    results = []
    for server in (env["oracle"], env["ours"]):
        marker = f"verp-{server.ports['verp']}"
        c = Client(server.ports["verp"])
        assert "250-XVERP" in c.cmd("EHLO client.example")
        assert c.cmd("MAIL FROM:<hold@b.test> XVERP=-=") == ["250 2.1.0 Ok"]
        assert c.cmd("RCPT TO:<x@relay.test>") == ["250 2.1.5 Ok"]
        c.cmd("DATA")
        assert c.send(f"Subject: {marker}\r\n\r\nbody\r\n.\r\n".encode())[0].startswith("250 2.0.0 Ok: queued as")
        c.cmd("QUIT")
        c.close()
        text = server.postcat(hold_qid(server, marker))
        results.append((queue_records(text), [l for l in text.splitlines() if l.startswith("verp_delimiters:")]))
    assert results[1] == results[0], f"ours: {results[1]}\noracle: {results[0]}"
    assert results[1][1] == ["verp_delimiters: -="]


def test_new_tls_session_rate_limit_matches_postfix(env):
    """smtpd_client_new_tls_session_rate_limit = 1: the second new session
    is ended after its handshake (421), the third STARTTLS is refused
    before one (454), as Postfix does, with its warnings."""
    results = []
    for server in (env["oracle"], env["ours"]):
        start = len(smtpd_lines(server.maillog()))
        replies = []
        for n in range(3):
            before = server.maillog().count("disconnect from")
            c = Client(server.ports["newtls"])
            try:
                replies.append(c.cmd("EHLO client.example")[0])
                r = c.starttls()
                replies.append(r)
                replies.append(c.cmd("EHLO client.example")[0])
                replies.append(c.cmd("QUIT"))
            except OSError as e:
                replies.append(f"closed: {type(e).__name__}")
            c.close()
            assert wait_for(lambda: server.maillog().count("disconnect from") > before, timeout=10), server.maillog()[-3000:]
        time.sleep(0.1)
        # How a closed connection shows (EOF on read, or an error on the
        # write before it) depends on timing, not on the server.
        replies = ["closed" if r == ["<EOF>"] or str(r).startswith(("closed", "<EOF>")) else r for r in replies]
        results.append((replies, smtpd_lines(server.maillog())[start:]))
    (o_replies, o_log), (u_replies, u_log) = results
    assert u_replies == o_replies, f"ours: {u_replies}\noracle: {o_replies}"
    assert u_log == o_log, "\n".join(u_log) + "\n--\n" + "\n".join(o_log)
    assert any("Error: too many new TLS sessions" in str(r) for r in u_replies)


def test_new_tls_session_rate_limit_in_wrapper_mode_matches_postfix(env):
    """The same limit with smtpd_tls_wrappermode: the second new session
    gets a 421 after its handshake, the third connection is dropped before
    one ("Refusing TLS service request"), as Postfix does."""
    results = []
    for server in (env["oracle"], env["ours"]):
        start = len(smtpd_lines(server.maillog()))
        outcomes = []
        for n in range(3):
            before = server.maillog().count("disconnect from")
            try:
                c = Client(server.ports["newtlswrap"], wrapper=True)
                outcomes.append(c.transcript[0])
                outcomes.append(c.cmd("QUIT"))
                c.close()
            except (OSError, ssl.SSLError):
                outcomes.append("closed")
            assert wait_for(lambda: server.maillog().count("disconnect from") > before, timeout=10), server.maillog()[-3000:]
        time.sleep(0.1)
        outcomes = ["closed" if r == ["<EOF>"] else r for r in outcomes]
        results.append((outcomes, smtpd_lines(server.maillog())[start:]))
    (o_out, o_log), (u_out, u_log) = results
    assert u_out == o_out, f"ours: {u_out}\noracle: {o_out}"
    assert u_log == o_log, "\n".join(u_log) + "\n--\n" + "\n".join(o_log)
    assert any("Refusing TLS service request" in line for line in u_log)
