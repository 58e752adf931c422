"""A private Debian Postfix 3.7 instance, the oracle of differential system
tests: one temporary root with etc/ (main.cf, master.cf, table files),
queue/ and data/ (owned by postfix), started with `postfix -c ETC start`
(which creates the queue directories), logging to ROOT/maillog through its
postlogd. Shaped like posthorn_instance.PosthornInstance, so a test builds
both from the same main.cf text and master.cf lines.

    oracle = PostfixOracle(main_extra="mydestination =\\n...", master=MASTER_CF,
                           files={"access": "..."}, prefix="posthorn-smtpd-oracle-")
    oracle.start(ready="public/cleanup")
    ...
    oracle.stop()

Only loopback addresses; never /etc/postfix. Needs root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from posthorn_instance import can_connect, make_root, wait_for

POSTFIX = Path("/usr/sbin/postfix")

# Every oracle main.cf starts with this; {root} is filled in.
ORACLE_MAIN = """queue_directory = {root}/queue
data_directory = {root}/data
inet_interfaces = loopback-only
inet_protocols = ipv4
compatibility_level = 3.6
myhostname = mta.example.test
mydomain = example.test
"""

ORACLE_LOG = """maillog_file = {root}/maillog
maillog_file_prefixes = /tmp
"""

# master.cf of an oracle that takes mail over SMTP on {listen} (host:port) and
# discards it: smtpd and every service it and cleanup call.
SMTPD_MASTER = """{listen} inet n - n - - smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
discard   unix  -       -       n       -       -       discard
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
proxymap  unix  -       -       n       -       -       proxymap
anvil     unix  -       -       n       -       1       anvil
postlog   unix-dgram n  -       n       -       1       postlogd
"""

# postcat of Debian's Postfix.
POSTCAT = Path("/usr/sbin/postcat")


def postcat(etc: Path, qid: str) -> str:
    """`postcat -c ETC -q QID` of Debian's Postfix, times in UTC; must succeed."""
    r = subprocess.run([str(POSTCAT), "-c", str(etc), "-q", qid], capture_output=True, timeout=20,
                       env={**os.environ, "TZ": "UTC"})
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode(errors="replace")


class PostfixOracle:
    # Seconds `postfix start` and `postfix stop` may take.
    timeout = 30

    def __init__(self, main_extra: str = "", master: str = "", files: dict[str, str] | None = None,
                 prefix: str = "posthorn-oracle-"):
        self.root = make_root(prefix)
        self.etc = self.root / "etc"
        self.queue = self.root / "queue"
        for name, content in (files or {}).items():
            (self.etc / name).write_text(content)
        # As in PosthornInstance, {root} in main_extra is the instance root; {etc} is etc/.
        main_extra = main_extra.replace("{root}", str(self.root)).replace("{etc}", str(self.etc))
        (self.etc / "main.cf").write_text(ORACLE_MAIN.format(root=self.root) + ORACLE_LOG.format(root=self.root)
                                          + main_extra)
        (self.etc / "master.cf").write_text(master)

    def start(self, ready: str | None = "public/cleanup", port: int | None = None):
        """`postfix start`, then waits for queue/<ready> to exist and (when
        port is given) for a listener on 127.0.0.1:port."""
        r = subprocess.run([str(POSTFIX), "-c", str(self.etc), "start"], capture_output=True, timeout=self.timeout)
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        if ready is not None:
            assert wait_for(lambda: (self.queue / ready).exists()), self.maillog()
        if port is not None:
            assert wait_for(lambda: can_connect(port)), self.maillog()
        return self

    def stop(self):
        subprocess.run([str(POSTFIX), "-c", str(self.etc), "stop"], capture_output=True, timeout=self.timeout)
        shutil.rmtree(self.root, ignore_errors=True)

    def maillog(self) -> str:
        p = self.root / "maillog"
        return p.read_text(errors="replace") if p.exists() else ""
