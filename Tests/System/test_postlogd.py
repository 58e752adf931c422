"""postlogd: datagrams to the postlog service land in maillog_file in
arrival order, also in bursts (postlogd writes a burst with one write), and
a rotated-away log file is replaced by a new one for the first burst a
second or more after the rotation."""
import os
import time
import pwd
import socket

from posthorn_instance import PosthornInstance, require_programs, wait_for


def send_lines(inst, lines):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.settimeout(10)  # a full queue blocks the sender, as our daemons do
    try:
        for line in lines:
            s.sendto(line.encode(), str(inst.queue / "public" / "postlog"))
    finally:
        s.close()


def test_bursts_in_order_and_rotation():
    require_programs("master", "postlogd")
    inst = PosthornInstance(master="postlog   unix-dgram n  -       n       -       1       postlogd\n",
                            prefix="posthorn-postlogd-")
    # postlogd runs as $mail_owner: the directory of the log must be its own
    # for a rotated-away file to be re-created.
    logdir = inst.root / "log"
    logdir.mkdir()
    os.chown(logdir, pwd.getpwnam("postfix").pw_uid, -1)
    with open(inst.etc / "main.cf", "a") as f:
        f.write(f"maillog_file = {logdir}/maillog\n")
    log = logdir / "maillog"

    def text(path=log):
        return path.read_text() if path.exists() else ""
    inst.start(wait_for_services=("public/postlog",))
    try:
        first = [f"Nov 29 10:00:00 mta postfix/test[1]: burst line {i:04d}" for i in range(500)]
        send_lines(inst, first)
        assert wait_for(lambda: first[-1] in text(), timeout=20), text()[-500:]
        got = [line for line in text().splitlines() if "burst line" in line]
        assert got == first

        log.rename(logdir / "maillog.1")
        # postlogd looks for a rotation at most once a second.
        time.sleep(1.2)
        after = [f"Nov 29 10:00:01 mta postfix/test[1]: after rotation {i}" for i in range(3)]
        send_lines(inst, after)
        assert wait_for(lambda: after[-1] in text(), timeout=20), inst.logs()
        assert [line for line in text().splitlines() if "after rotation" in line] == after
        assert "after rotation" not in text(logdir / "maillog.1")
    finally:
        inst.stop()
