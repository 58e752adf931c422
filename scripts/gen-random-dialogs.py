#!/usr/bin/env python3
"""gen-random-dialogs.py - random SMTP sessions for the dialog corpus.

Usage: scripts/gen-random-dialogs.py OUT_DIR SEED COUNT [PROFILE,PROFILE,...]

Writes COUNT unrecorded .dlg cases (client lines only) mixing valid and
broken HELO/EHLO, MAIL, RCPT (odd addresses, routes, literals, quoting,
ESMTP parameters), DATA, BDAT, RSET, VRFY, ETRN, XCLIENT and junk, each
with a profile of the corpus (the default twenty, or those listed). Record them with
scripts/record-smtp-dialogs.py (Debian's Postfix answers), then replay
against Posthorn: every difference is a compatibility bug (or one of the
deliberate hardening differences, which need a posthorn-expect section).
The corpus's random/ cases came from seeds 1 (80 cases), 7 (120), 11 (150, more profiles) 23 (200, as b4-*) and 29 (200, as b5-*), and seed 31 (200, as b6-*) over the
profiles barelf, barelfyes, compat2, permitlog, permitlog2, portlog, relayfirst,
senderlogin, session-helo, session-nodelay and masteropts (portlog's cases left
out: they log the client's port, which changes from run to run), and seed 37 (150, as b7-*) over sasl, access,
classes, helo, strict, codes, xclient and senderlogin (sessions that meet
Postfix's Cyrus SASL mechanisms left out: Posthorn offers Dovecot SASL only), and seed 41 (250, as b8-*) over 23 profiles.
"""
import random, sys, os
random.seed(int(sys.argv[2]))
out = sys.argv[1]
N = int(sys.argv[3])
profiles = ["default", "external", "strict", "helo", "sizes", "access", "codes", "keywords", "xclient", "footer", "softbounce", "compat0", "verp", "noopcmds", "keywordmaps", "classes", "errors", "session", "cmdfilter", "opennow"]
if len(sys.argv) > 4:
    profiles = sys.argv[4].split(",")
locals_ = ["alice", "bob", "postmaster", "nobody", "a.b", "x+y", '"q u"', "ü", "a%b", "c!d", "", "Alice", "MAILER-DAEMON", "abuse"]
domains = ["example.test", "mta.example.test", "elsewhere.example", "relay.example", "sub.relay.example", "valias.example", "vmbox.example",
           "[127.0.0.1]", "[192.0.2.1]", "localhost", "nodot", "EXAMPLE.TEST", "example.test.", "-bad.example", "a_b.example", "[IPv6:::1]"]
def addr():
    r = random.random()
    if r < 0.05: return "<>"
    if r < 0.1: return random.choice(locals_)
    l = random.choice(locals_); d = random.choice(domains)
    a = f"{l}@{d}"
    if random.random() < 0.1: a = "@route.example:" + a
    if random.random() < 0.85: return f"<{a}>"
    return a
mail_params = ["SIZE=100", "SIZE=99999999", "SIZE=x", "BODY=8BITMIME", "BODY=7BIT", "BODY=BINARYMIME", "RET=FULL", "RET=HDRS", "RET=BAD",
               "ENVID=abc", "ENVID=a+2Bb", "SMTPUTF8", "AUTH=<>", "FOO=bar", "XVERP"]
rcpt_params = ["NOTIFY=NEVER", "NOTIFY=SUCCESS,FAILURE", "NOTIFY=DELAY", "NOTIFY=BOGUS", "ORCPT=rfc822;a@b", "ORCPT=bad", "FOO"]
helos = ["client.example", "[127.0.0.1]", "[192.0.2.300]", "nodot", "bad_name!", "a..b", "1.2.3.4", "x" * 70 + ".example", "ünicode.example", ""]
def cmd():
    r = random.random()
    if r < 0.12: return [random.choice(["HELO", "EHLO", "helo", "ehlo"]) + " " + random.choice(helos)]
    if r < 0.32:
        p = " ".join(random.sample(mail_params, random.randint(0, 2)))
        sep = random.choice([":", ": ", ":"])
        return [f"MAIL FROM{sep}{addr()}" + (" " + p if p else "")]
    if r < 0.55:
        p = " ".join(random.sample(rcpt_params, random.randint(0, 2)))
        return [f"RCPT TO:{addr()}" + (" " + p if p else "")]
    if r < 0.62: return ["DATA", "CONTENT"]
    if r < 0.66: return [f"BDAT {random.choice([0, 5, 10])}" + random.choice(["", " LAST"]), "BDATCONTENT"]
    if r < 0.72: return ["RSET"]
    if r < 0.76: return [random.choice(["NOOP", "NOOP x", "VRFY alice", "VRFY <bob@example.test>", "VRFY", "EXPN list", "HELP", "ETRN example.test", "ETRN", "ETRN @bad"])]
    if r < 0.80: return [random.choice(["XCLIENT NAME=x", "XFORWARD ADDR=1.2.3.4", "STARTTLS", "AUTH PLAIN AAAA", "TURN", "BDAT", "DATA x"])]
    if r < 0.84: return [random.choice(["", " ", "MAIL", "RCPT", "MAIL TO:<a@b>", "RCPT FROM:<a@b>", "mail from:<a@example.test>", "QUIT now"])]
    return [random.choice(["RCPT TO:<alice@example.test>", "MAIL FROM:<s@example.org>", "EHLO client.example"])]
os.makedirs(out, exist_ok=True)
for n in range(N):
    prof = random.choice(profiles)
    lines = [f"# random differential session {n}", f"profile: {prof}", "", "<< "]
    cmds = []
    for _ in range(random.randint(3, 12)):
        cmds += cmd()
    cmds.append("QUIT")
    i = 0
    while i < len(cmds):
        c = cmds[i]
        if c in ("CONTENT", "BDATCONTENT"):
            i += 1; continue
        lines.append(f">> {c}")
        size = int(c.split()[1]) if c.startswith("BDAT ") and c.split()[1].isdigit() else 0
        if size and i + 1 < len(cmds) and cmds[i + 1] == "BDATCONTENT":
            lines.append(">>raw " + "x" * size)
        lines.append("<< ")
        if i + 1 < len(cmds) and cmds[i + 1] == "CONTENT":
            lines.append(">> Subject: t")
            lines.append(">> ")
            lines.append(">> body")
            lines.append(">> .")
            lines.append("<< ")
        i += 1
    open(f"{out}/s{n:03d}.dlg", "w").write("\n".join(lines) + "\n")
