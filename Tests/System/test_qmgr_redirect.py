"""REDIRECT takes effect in delivery (issue 5 point 2): a header_checks
REDIRECT recorded by cleanup makes qmgr deliver the message once, to the
redirect address, logged with orig_to=<first recipient>, exactly as a
private Postfix 3.7.11 logged it for the same message:

  cleanup: QID: redirect: header Subject: redir me from local; from=<s@example.com> to=<b@example.org>: other@example.net
  discard: QID: to=<other@example.net>, orig_to=<a@example.org>, relay=none, ..., status=sent (example.net)
  qmgr: QID: removed
"""

from __future__ import annotations

import re

import pytest

from posthorn_instance import BASE_MASTER, PosthornInstance, require_programs

MAIN = """default_transport = discard
header_checks = regexp:{root}/etc/header_checks
"""


@pytest.fixture()
def inst():
    require_programs("master", "sendmail", "postdrop", "pickup", "cleanup", "qmgr", "trivial-rewrite", "discard",
                     "postlogd", "postfix")
    i = PosthornInstance(main_extra=MAIN, master=BASE_MASTER + "discard unix - - n - - discard\n",
                         files={"header_checks": "/^Subject: redir/ REDIRECT other@example.net\n"},
                         prefix="posthorn-redirect-").start()
    yield i
    i.stop()


def test_redirect_delivers_once_to_the_redirect_address(inst):
    r = inst.sendmail(["-f", "s@example.com", "a@example.org", "b@example.org"], "Subject: redir me\n\nbody\n")
    assert r.returncode == 0, r.stderr
    (m,) = inst.wait_log(r"postfix/cleanup\[\d+\]: ([0-9A-F]+): redirect: header Subject: redir me from local; "
                         r"from=<s@example\.com> to=<b@example\.org>: other@example\.net$")
    qid = m.group(1)
    inst.wait_log(rf"postfix/qmgr\[\d+\]: {qid}: removed$")
    log = inst.maillog()
    sent = re.findall(rf"postfix/discard\[\d+\]: {qid}: (to=<[^>]*>, orig_to=<[^>]*>), relay=none, .*status=sent "
                      r"\(example\.net\)$", log, re.M)
    assert sent == ["to=<other@example.net>, orig_to=<a@example.org>"], log
