"""smtpd client certificates, side by side with Debian's Postfix 3.7.

A private Postfix and a Posthorn instance run with the same main.cf
(smtpd_tls_CAfile = a test CA, smtpd_tls_loglevel = 1, the Received:
header's TLS comment on) and the same extra services:

  ask       smtpd_tls_ask_ccert = yes
  req       encrypt level with smtpd_tls_req_ccert = yes (and at loglevel 0: req0)
  reqmay    smtpd_tls_req_ccert = yes at the may level (a warning, no effect)
  wrapreq   req in wrapper mode (smtps)
  noca      req without smtpd_tls_CAfile (nothing is trusted)
  capath    req with smtpd_tls_CApath (a hashed directory) instead of the CAfile
  depth0, depth1   smtpd_tls_ccert_verifydepth 0 and 1
  relay     permit_tls_clientcerts with relay_clientcerts
  all       permit_tls_all_clientcerts (relay_clientcerts too)
  access    check_ccert_access texthash:...
  md5       the same with smtpd_tls_fingerprint_digest = md5
  order     check_ccert_access {texthash:..., {search_order = pubkey_fingerprint, cert_fingerprint}}
  noask     check_ccert_access without smtpd_tls_ask_ccert (a warning)
  ll2       smtpd_tls_ask_ccert at smtpd_tls_loglevel 2
  baddigest smtpd_tls_fingerprint_digest = bogus (TLS disabled)
  policy    check_policy_service (a recording policy server here)

Certificates, made at test time with openssl (no key is committed): a
root CA, an intermediate CA, clients "Client One" (signed by the root),
"other" (root), "chained" (intermediate, sent with its chain) and a
self-signed one. Fingerprints for the tables are computed with openssl, not
with our code. Clients: raw sockets switched to TLS with Python's ssl
module, smtplib, and openssl s_client -cert/-key.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import socketserver
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import smtp_client
from postfix_oracle import PostfixOracle, postcat as oracle_postcat
from posthorn_instance import BASE_MASTER, PosthornInstance, can_connect, distinct_ports, require_programs, wait_for

ORACLE = Path("/usr/sbin/postfix")


def openssl(d: Path, *args: str) -> bytes:
    return subprocess.run(["openssl", *args], check=True, cwd=d, capture_output=True).stdout


def make_certs(d: Path) -> None:
    (d / "ca.ext").write_text("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
    (d / "leaf.ext").write_text("basicConstraints=CA:FALSE\nsubjectAltName=DNS:mta.example.test\n")
    (d / "client.ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/O=Posthorn Test/CN=Posthorn Client CA")
    openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "int.key", "-out", "int.csr", "-subj", "/O=Posthorn Intermediate")
    openssl(d, "x509", "-req", "-in", "int.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "int.crt",
            "-days", "2", "-extfile", "ca.ext")

    def leaf(name, subject, ca, ext, key="rsa:2048"):
        openssl(d, "req", "-newkey", key, "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
        openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", "-extfile", ext)
    leaf("server", "/CN=mta.example.test", "ca", "leaf.ext")
    leaf("client", "/CN=Client One", "ca", "client.ext")
    openssl(d, "ecparam", "-name", "prime256v1", "-out", "ecparam.pem")
    leaf("other", "/CN=other.example.test", "ca", "client.ext", key="ec:ecparam.pem")
    leaf("chained", "/CN=chained.example.test", "int", "client.ext")
    (d / "chained-chain.crt").write_text((d / "chained.crt").read_text() + (d / "int.crt").read_text())
    openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "self.key", "-out", "self.crt", "-days", "2",
            "-subj", "/CN=self.example.test")
    # An expired one ("old"), through openssl ca, which takes dates in the past.
    openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "old.key", "-out", "old.csr", "-subj", "/CN=old.example.test")
    (d / "cadb").mkdir()
    (d / "cadb" / "index.txt").write_text("")
    (d / "cadb" / "serial").write_text("01\n")
    (d / "ca.cnf").write_text("[ca]\ndefault_ca = t\n[t]\ndatabase = cadb/index.txt\nnew_certs_dir = cadb\n"
                              "serial = cadb/serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n")
    openssl(d, "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in", "old.csr",
            "-out", "old.crt", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-notext")
    (d / "capath").mkdir()
    shutil.copy(d / "ca.crt", d / "capath" / "ca.pem")
    openssl(d, "rehash", str(d / "capath"))
    for f in d.iterdir():
        os.chmod(f, 0o755 if f.is_dir() else 0o644)
    for f in (d / "cadb").iterdir():
        os.chmod(f, 0o644)


def fingerprint(d: Path, name: str, digest: str = "sha256", pubkey: bool = False) -> str:
    """XX:XX:... of the certificate's DER, or of its DER SubjectPublicKeyInfo."""
    if pubkey:
        pem = openssl(d, "x509", "-in", f"{name}.crt", "-noout", "-pubkey")
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem, check=True,
                             capture_output=True).stdout
    else:
        der = openssl(d, "x509", "-in", f"{name}.crt", "-outform", "DER")
    h = hashlib.new(digest, der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


MAIN = """mynetworks = 10.0.0.0/8
relay_domains = relay.test
default_transport = discard
relay_transport = discard
local_recipient_maps =
smtpd_error_sleep_time = 0
smtpd_tls_security_level = may
smtpd_tls_cert_file = {certs}/server.crt
smtpd_tls_key_file = {certs}/server.key
smtpd_tls_CAfile = {certs}/ca.crt
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
tls_random_source = dev:/dev/urandom
relay_clientcerts = texthash:{certs}/relay_clientcerts
smtpd_end_of_data_restrictions = check_sender_access inline:{{hold@b.test=HOLD}}
"""

RELAY = "permit_mynetworks,{}reject_unauth_destination"


def services(ports: dict[str, int], certs: Path, policy_port: int) -> str:
    def svc(name, *opts):
        return f"127.0.0.1:{ports[name]} inet n - n - - smtpd\n" + "".join(f"  -o {o}\n" for o in opts)
    return (svc("ask", "smtpd_tls_ask_ccert=yes")
            + svc("req", "smtpd_tls_security_level=encrypt", "smtpd_tls_req_ccert=yes")
            + svc("req0", "smtpd_tls_security_level=encrypt", "smtpd_tls_req_ccert=yes", "smtpd_tls_loglevel=0")
            + svc("reqmay", "smtpd_tls_req_ccert=yes")
            + svc("wrapreq", "smtpd_tls_wrappermode=yes", "smtpd_tls_security_level=encrypt", "smtpd_tls_req_ccert=yes")
            + svc("noca", "smtpd_tls_security_level=encrypt", "smtpd_tls_req_ccert=yes", "smtpd_tls_CAfile=")
            + svc("capath", "smtpd_tls_security_level=encrypt", "smtpd_tls_req_ccert=yes", "smtpd_tls_CAfile=",
                  f"smtpd_tls_CApath={certs}/capath")
            + svc("depth0", "smtpd_tls_ask_ccert=yes", "smtpd_tls_ccert_verifydepth=0")
            + svc("depth1", "smtpd_tls_ask_ccert=yes", "smtpd_tls_ccert_verifydepth=1")
            + svc("relay", "smtpd_tls_ask_ccert=yes", "smtpd_relay_restrictions=" + RELAY.format("permit_tls_clientcerts,"))
            + svc("all", "smtpd_tls_ask_ccert=yes", "smtpd_relay_restrictions=" + RELAY.format("permit_tls_all_clientcerts,"))
            + svc("access", "smtpd_tls_ask_ccert=yes",
                  "smtpd_relay_restrictions=" + RELAY.format(f"check_ccert_access,texthash:{certs}/ccert_access,"))
            + svc("md5", "smtpd_tls_ask_ccert=yes", "smtpd_tls_fingerprint_digest=md5",
                  "smtpd_relay_restrictions=" + RELAY.format(f"check_ccert_access,texthash:{certs}/ccert_md5,"))
            + svc("order", "smtpd_tls_ask_ccert=yes", "smtpd_relay_restrictions=" + RELAY.format(
                f"check_ccert_access,{{texthash:{certs}/ccert_order,{{search_order=pubkey_fingerprint,cert_fingerprint}}}},"))
            + svc("noask", "smtpd_relay_restrictions=" + RELAY.format(f"check_ccert_access,texthash:{certs}/ccert_access,"))
            + svc("baddigest", "smtpd_tls_fingerprint_digest=bogus")
            + svc("ll2", "smtpd_tls_ask_ccert=yes", "smtpd_tls_loglevel=2")
            + svc("policy", "smtpd_tls_ask_ccert=yes",
                  f"smtpd_relay_restrictions=check_policy_service,inet:127.0.0.1:{policy_port},reject_unauth_destination")
            + """tlsmgr    unix  -       -       n       300     1       tlsmgr
discard   unix  -       -       n       -       -       discard
proxymap  unix  -       -       n       -       -       proxymap
anvil     unix  -       -       n       -       1       anvil
""")


ORACLE_MASTER = """cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PolicyServer:
    """Records every policy request and answers DUNNO."""

    def __init__(self):
        self.requests: list[dict] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                while (attrs := smtp_client.read_policy_request(self.rfile)) is not None:
                    outer.requests.append(attrs)
                    self.wfile.write(b"action=DUNNO\n\n")

        self.server, self.port = smtp_client.start_threaded_server(Handler)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


NAMES = ("ask", "req", "req0", "reqmay", "wrapreq", "noca", "capath", "depth0", "depth1", "relay", "all", "access", "md5", "order", "noask", "ll2", "baddigest", "policy")


@pytest.fixture(scope="module")
def env():
    require_programs("master", "smtpd", "cleanup", "qmgr", "trivial-rewrite", "discard", "postlogd", "proxymap",
                     "anvil", "tlsmgr", "postcat")
    if not ORACLE.exists():
        pytest.fail(f"{ORACLE} is not installed (scripts/test.sh installs postfix)", pytrace=False)
    certs = Path(tempfile.mkdtemp(prefix="posthorn-ccerts-"))
    os.chmod(certs, 0o755)
    make_certs(certs)
    fp = {n: fingerprint(certs, n) for n in ("client", "other", "self", "chained")}
    pk = {n: fingerprint(certs, n, pubkey=True) for n in ("client", "other", "self", "chained")}
    # relay_clientcerts: self by certificate, other by public key (texthash keys fold case as Postfix's).
    (certs / "relay_clientcerts").write_text(f"{fp['self']} self\n{pk['other'].lower()} other\n")
    (certs / "ccert_access").write_text(
        f"{fp['client']} REJECT no thanks, One\n"
        f"{pk['other']} OK\n"
        f"{fp['self']} DUNNO\n"
        f"{pk['self']} 550 5.7.0 self-signed by key\n")
    (certs / "ccert_order").write_text(f"{fp['client']} REJECT by certificate\n{pk['client']} REJECT by key\n"
                                       f"{fp['other']} REJECT other by certificate\n")
    (certs / "ccert_md5").write_text(f"{fingerprint(certs, 'client', 'md5')} REJECT md5 match\n")
    policy = PolicyServer()
    main = MAIN.format(certs=certs)
    ports = distinct_ports(2 * len(NAMES))
    oracle_ports = dict(zip(NAMES, ports[:len(NAMES)]))
    ours_ports = dict(zip(NAMES, ports[len(NAMES):]))
    oracle = PostfixOracle(main_extra="mydestination =\nalias_maps =\n" + main,
                           master=services(oracle_ports, certs, policy.port) + ORACLE_MASTER, prefix="posthorn-ccert-oracle-")
    ours = PosthornInstance(main_extra=main, master=BASE_MASTER + services(ours_ports, certs, policy.port),
                            prefix="posthorn-ccert-")
    oracle.ports, ours.ports = oracle_ports, ours_ports
    oracle.postcat = lambda qid: oracle_postcat(oracle.etc, qid)
    ours.postcat = lambda qid: ours.run("postcat", "-q", qid).stdout.decode(errors="replace")
    oracle.start(ready="public/cleanup")
    try:
        ours.start()
        for s in (oracle, ours):
            assert wait_for(lambda: all(can_connect(p) for p in s.ports.values())), f"no smtpd\n{s.maillog()}"
            wait_for(lambda: s.maillog().count("disconnect from") >= len(NAMES), timeout=5)
        yield {"oracle": oracle, "ours": ours, "certs": certs, "fp": fp, "pk": pk, "policy": policy}
    finally:
        ours.stop()
        oracle.stop()
        policy.close()
        shutil.rmtree(certs, ignore_errors=True)


# -- talking and comparing ---------------------------------------------------

QID = re.compile(r"\b[0-9A-F]{8,12}\b")


def context(certs: Path, cert: str | None, tls12: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        chain = certs / f"{cert}-chain.crt"
        ctx.load_cert_chain(chain if chain.exists() else certs / f"{cert}.crt", certs / f"{cert}.key")
    return ctx


class Client:
    def __init__(self, port: int, ctx: ssl.SSLContext, session: ssl.SSLSession | None = None, wrapper: bool = False):
        self.sock = socket.create_connection(("127.0.0.1", port), 30)
        self.ctx = ctx
        self.session = session
        if wrapper:
            self.sock = ctx.wrap_socket(self.sock)
        self.f = self.sock.makefile("rb")
        self.transcript = [self.read()]

    def read(self) -> list[str]:
        return [QID.sub("QID", line) for line in smtp_client.read_reply(self.f, eof_errors=(ConnectionResetError, ssl.SSLError))]

    def cmd(self, line: str) -> list[str]:
        # After a 421 the server closes: what a further command meets
        # (a reset, or not yet) is timing, not behaviour.
        if any(r and r[0].startswith("421") for r in self.transcript):
            return []
        try:
            self.sock.sendall(line.encode() + b"\r\n")
        except OSError:
            self.transcript.append(["<SEND FAILED>"])
            return []
        r = self.read()
        self.transcript.append(r)
        return r

    def starttls(self, wait: float = 0) -> list[str]:
        """STARTTLS and the handshake; with `wait`, also whatever the server
        says within that many seconds without being asked (recorded as a
        reply; Postfix says nothing, even when it is about to refuse the
        client's certificate)."""
        r = self.cmd("STARTTLS")
        if r and r[0].startswith("220"):
            self.sock = self.ctx.wrap_socket(self.sock, session=self.session)
            if not wait:
                self.f = self.sock.makefile("rb")
                return r
            self.sock.settimeout(wait)
            try:
                early = self.sock.recv(4096)
            except (socket.timeout, TimeoutError):
                early = None
            except (ConnectionResetError, ssl.SSLError):
                early = b""
            self.sock.settimeout(30)
            if early is not None:
                lines = early.decode().splitlines()
                self.transcript.append([QID.sub("QID", line) for line in lines] or ["<EOF>"])
            self.f = self.sock.makefile("rb")
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


smtpd_lines = smtp_client.masked_smtpd_lines


def run_both(env, service: str, dialog):
    results = []
    for server in (env["oracle"], env["ours"]):
        before = server.maillog().count("disconnect from")
        start = len(smtpd_lines(server.maillog()))
        transcript = dialog(server.ports[service])
        assert wait_for(lambda: server.maillog().count("disconnect from") > before, timeout=10), server.maillog()[-3000:]
        time.sleep(0.1)
        results.append((transcript, smtpd_lines(server.maillog())[start:]))
    (o_replies, o_log), (u_replies, u_log) = results
    assert u_replies == o_replies, "replies differ\nours:   " + "\n".join(map(str, u_replies)) + "\noracle: " + "\n".join(map(str, o_replies)) \
        + "\nour log:\n" + "\n".join(u_log) + "\noracle log:\n" + "\n".join(o_log)
    assert u_log == o_log, "log lines differ\nours:\n" + "\n".join(u_log) + "\noracle:\n" + "\n".join(o_log)
    return u_replies, u_log


def relay_dialog(env, cert: str | None, wait: float = 0):
    def dialog(port):
        c = Client(port, context(env["certs"], cert))
        c.cmd("EHLO client.example")
        c.starttls(wait)
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<x@elsewhere.test>")
        c.cmd("QUIT")
        c.close()
        return c.transcript
    return dialog


def established(log: list[str]) -> str:
    lines = [line for line in log if " TLS connection established from " in line]
    assert len(lines) == 1, log
    return lines[0].split(" ")[0]


# -- the handshake, its log lines and smtpd_tls_req_ccert ------------------------

@pytest.mark.parametrize("cert,word", [("client", "Trusted"), ("chained", "Trusted"), ("self", "Untrusted"), (None, "Anonymous")])
def test_ask_ccert_trust_word_matches_postfix(env, cert, word):
    replies, log = run_both(env, "ask", relay_dialog(env, cert))
    assert established(log) == word
    if cert:
        assert " client-signature RSA-PSS (2048 bits) client-digest SHA256" in [l for l in log if "established" in l][0]


@pytest.mark.parametrize("service", ["req", "req0", "noca", "capath"])
@pytest.mark.parametrize("cert", ["client", "self", "chained", "old", None])
def test_req_ccert_matches_postfix(env, service, cert):
    trusted = cert in ("client", "chained") and service != "noca"
    replies, log = run_both(env, service, relay_dialog(env, cert))
    aborts = [line for line in log if "NOQUEUE: abort: TLS from" in line]
    assert bool(aborts) == (not trusted), log
    if not trusted:
        why = "No client certificate presented" if cert is None else "Client certificate not trusted"
        # The 421 answers the next command (EHLO), which is not run.
        assert replies[3:] == [[f"421 4.7.1 mta.example.test Error: {why}"]]


@pytest.mark.parametrize("cert", ["client", "self", None])
def test_req_ccert_in_wrapper_mode_matches_postfix(env, cert):
    def dialog(port):
        c = Client(port, context(env["certs"], cert), wrapper=True)
        c.cmd("EHLO client.example")
        c.cmd("QUIT")
        c.close()
        return c.transcript
    replies, log = run_both(env, "wrapreq", dialog)
    assert replies[0][0].startswith("220" if cert == "client" else "421"), replies


def test_req_ccert_client_that_hangs_up_matches_postfix(env):
    """The refusal waits for the client's next command: a client that
    hangs up after the handshake is a lost connection after STARTTLS."""
    def dialog(port):
        c = Client(port, context(env["certs"], "self"))
        c.cmd("EHLO client.example")
        c.starttls(wait=1)
        c.close()
        return c.transcript
    replies, log = run_both(env, "req", dialog)
    assert "lost connection after STARTTLS from localhost[127.0.0.1]" in log
    assert log[-1].endswith("ehlo=1 starttls=0/1 commands=1/2")


def test_req_ccert_at_may_level_only_warns_like_postfix(env):
    replies, log = run_both(env, "reqmay", relay_dialog(env, None))
    assert not any("abort" in line for line in log)


@pytest.mark.parametrize("service", ["depth0", "depth1"])
@pytest.mark.parametrize("cert", ["client", "chained"])
def test_verify_depth_matches_postfix(env, service, cert):
    run_both(env, service, relay_dialog(env, cert))


def test_openssl_s_client_with_certificate_matches_postfix(env):
    """An independent TLS client: openssl s_client -cert/-key."""
    certs = env["certs"]
    outs, logs = [], []
    for server in (env["oracle"], env["ours"]):
        before = server.maillog().count("disconnect from")
        start = len(smtpd_lines(server.maillog()))
        p = subprocess.Popen(["openssl", "s_client", "-quiet", "-starttls", "smtp", "-connect",
                              f"127.0.0.1:{server.ports['req']}", "-cert", str(certs / "self.crt"), "-key", str(certs / "self.key")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        # s_client shows the server's reply once it has input to send; the
        # end of its input ends it.
        time.sleep(1)
        try:
            p.stdin.write(b"NOOP\r\n")
            p.stdin.flush()
        except BrokenPipeError:
            pass
        time.sleep(2)
        p.kill()
        out, _ = p.communicate(timeout=15)
        assert wait_for(lambda: server.maillog().count("disconnect from") > before, timeout=10)
        outs.append([line for line in out.decode().splitlines() if line.startswith("421")])
        logs.append(smtpd_lines(server.maillog())[start:])
    assert outs[1] == outs[0] == ["421 4.7.1 mta.example.test Error: Client certificate not trusted"]
    assert logs[1] == logs[0]
    assert "certificate verification failed for localhost[127.0.0.1]: self-signed certificate" in logs[1]


def test_expired_certificate_is_logged_like_postfix(env):
    replies, log = run_both(env, "req", relay_dialog(env, "old"))
    assert "client certificate verification failed for localhost[127.0.0.1]: certificate has expired" in log


def test_resumed_untrusted_session_matches_postfix(env):
    """A session resumed with an untrusted certificate: Postfix points back
    to the first handshake's verification failure."""
    certs = env["certs"]
    for server in (env["oracle"], env["ours"]):
        ctx = context(certs, "self")
        first = Client(server.ports["req"], ctx)
        first.cmd("EHLO client.example")
        first.starttls()
        first.cmd("EHLO client.example")
        session = first.sock.session
        first.close()
        assert wait_for(lambda: server.maillog().count("NOQUEUE: abort: TLS") >= 1)
        server.resume = (ctx, session)

    def dialog_for(server):
        def dialog(port):
            ctx, session = server.resume
            c = Client(port, ctx, session=session)
            c.cmd("EHLO client.example")
            c.starttls()
            c.transcript.append(["reused" if c.sock.session_reused else "new"])
            c.cmd("EHLO client.example")
            c.close()
            return c.transcript
        return dialog
    results = []
    for server in (env["oracle"], env["ours"]):
        before = server.maillog().count("disconnect from")
        start = len(smtpd_lines(server.maillog()))
        transcript = dialog_for(server)(server.ports["req"])
        assert wait_for(lambda: server.maillog().count("disconnect from") > before, timeout=10)
        time.sleep(0.1)
        results.append((transcript, smtpd_lines(server.maillog())[start:]))
    assert results[1] == results[0], "\n".join(map(str, results[1])) + "\noracle:\n" + "\n".join(map(str, results[0]))
    assert ["reused"] in results[1][0]
    assert "localhost[127.0.0.1]: re-using session with untrusted certificate, look for details earlier in the log" in results[1][1]


def test_loglevel_2_certificate_line_matches_postfix(env):
    """At level 2 Postfix logs handshake traces Posthorn does not; the
    certificate line must be the same."""
    for cert in ("client", "other", "self"):
        lines = []
        for server in (env["oracle"], env["ours"]):
            start = len(smtpd_lines(server.maillog()))
            before = server.maillog().count("disconnect from")
            relay_dialog(env, cert)(server.ports["ll2"])
            assert wait_for(lambda: server.maillog().count("disconnect from") > before, timeout=10)
            lines.append([line for line in smtpd_lines(server.maillog())[start:] if "subject_CN=" in line])
        assert lines[1] == lines[0]
        assert lines[1] and f"fingerprint={env['fp'][cert]}, pkey_fingerprint={env['pk'][cert]}" in lines[1][0]


def test_unknown_fingerprint_digest_disables_tls_like_postfix(env):
    def dialog(port):
        c = Client(port, context(env["certs"], None))
        c.cmd("EHLO client.example")
        c.cmd("STARTTLS")
        c.cmd("QUIT")
        c.close()
        return c.transcript
    replies, log = run_both(env, "baddigest", dialog)
    assert replies[2] == ["454 4.7.0 TLS not available due to local problem"]
    for server in (env["oracle"], env["ours"]):
        text = server.maillog()
        assert 'warning: Digest algorithm "bogus" not found' in text and "warning: disabling TLS support" in text


# -- restrictions ------------------------------------------------------------------

@pytest.mark.parametrize("service", ["relay", "all", "access", "md5", "order", "noask"])
@pytest.mark.parametrize("cert", ["client", "other", "self", None])
def test_certificate_restrictions_match_postfix(env, service, cert):
    replies, log = run_both(env, service, relay_dialog(env, cert))
    rcpt = replies[5][0]
    expected = {
        ("relay", "client"): "554", ("relay", "other"): "250", ("relay", "self"): "250", ("relay", None): "554",
        ("all", "client"): "250", ("all", "other"): "250", ("all", "self"): "250", ("all", None): "554",
        ("access", "client"): "554", ("access", "other"): "250", ("access", "self"): "550", ("access", None): "554",
        ("md5", "client"): "554",
    }.get((service, cert), "554")
    assert rcpt.startswith(expected), (rcpt, log)
    if (service, cert) == ("order", "client"):
        assert rcpt == "554 5.7.1 <Client One>: Client certificate rejected: by key"
    if (service, cert) == ("order", "other"):
        assert rcpt == "554 5.7.1 <other.example.test>: Client certificate rejected: other by certificate"
    if (service, cert) == ("access", "client"):
        assert rcpt == "554 5.7.1 <Client One>: Client certificate rejected: no thanks, One"


def test_policy_attributes_carry_the_certificate(env):
    policy = env["policy"]
    seen = []
    for server in (env["oracle"], env["ours"]):
        for cert in ("client", "self"):
            del policy.requests[:]
            relay_dialog(env, cert)(server.ports["policy"])
            assert wait_for(lambda: policy.requests)
            r = policy.requests[0]
            seen.append({k: r.get(k) for k in ("ccert_subject", "ccert_issuer", "ccert_fingerprint", "ccert_pubkey_fingerprint")})
    assert seen[2:] == seen[:2]
    assert seen[2]["ccert_subject"] == "Client+20One"
    assert seen[2]["ccert_fingerprint"] == env["fp"]["client"]
    assert seen[3]["ccert_subject"] == "" and seen[3]["ccert_pubkey_fingerprint"] == env["pk"]["self"]


# -- the Received: header ------------------------------------------------------------

def received_header(server, marker: str) -> str:
    for _ in range(100):
        for line in server.maillog().splitlines():
            m = re.search(r"postfix/smtpd\[\d+\]: ([0-9A-F]+): hold: END-OF-MESSAGE", line)
            if m:
                text = server.postcat(m.group(1))
                if marker in text:
                    h = re.search(r"^Received: .*?(?=^\S)", text, re.S | re.M).group(0)
                    return QID.sub("QID", re.sub(r"; .*", "; DATE", h))
        time.sleep(0.1)
    raise AssertionError("no held message with " + marker)


@pytest.mark.parametrize("tls12", [False, True], ids=["tls13", "tls12"])
@pytest.mark.parametrize("service,cert,comment", [
    ("ask", "client", '(Client CN "Client One", Issuer "Posthorn Client CA" (verified OK))'),
    ("ask", "self", '(Client CN "self.example.test", Issuer "self.example.test" (not verified))'),
    ("ask", None, "(Client did not present a certificate)"),
    ("reqmay", None, "(No client certificate requested)"),
    ("req", "chained", '(Client CN "chained.example.test", Issuer "Posthorn Intermediate" (verified OK))'),
])
def test_received_header_matches_postfix(env, service, cert, comment, tls12):
    import smtplib
    headers = []
    for server in (env["oracle"], env["ours"]):
        marker = f"m-{service}-{cert}-{tls12}-{server.ports[service]}"
        with smtplib.SMTP("127.0.0.1", server.ports[service], timeout=30) as client:
            client.ehlo("client.example")
            client.starttls(context=context(env["certs"], cert, tls12))
            client.ehlo("client.example")
            client.sendmail("hold@b.test", ["x@relay.test"], f"Subject: {marker}\r\n\r\nbody\r\n")
        headers.append(received_header(server, marker))
    assert headers[1] == headers[0]
    assert "\t" + comment + "\n" in headers[1]
