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
import tempfile
from pathlib import Path

from posthorn_instance import wait_for

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


class PostfixOracle:
    def __init__(self, main_extra: str = "", master: str = "", files: dict[str, str] | None = None,
                 prefix: str = "posthorn-oracle-"):
        self.root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        os.chmod(self.root, 0o755)
        for d in ("etc", "queue", "data"):
            (self.root / d).mkdir()
            os.chmod(self.root / d, 0o755)
        shutil.chown(self.root / "data", user="postfix")
        self.etc = self.root / "etc"
        self.queue = self.root / "queue"
        for name, content in (files or {}).items():
            (self.etc / name).write_text(content)
        (self.etc / "main.cf").write_text(ORACLE_MAIN.format(root=self.root) + ORACLE_LOG.format(root=self.root)
                                          + main_extra)
        (self.etc / "master.cf").write_text(master)

    def start(self, ready: str = "public/cleanup"):
        subprocess.run([str(POSTFIX), "-c", str(self.etc), "start"], check=True, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(lambda: (self.queue / ready).exists()), self.maillog()
        return self

    def stop(self):
        subprocess.run([str(POSTFIX), "-c", str(self.etc), "stop"], timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.root, ignore_errors=True)

    def maillog(self) -> str:
        p = self.root / "maillog"
        return p.read_text(errors="replace") if p.exists() else ""
