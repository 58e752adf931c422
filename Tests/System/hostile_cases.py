"""Odd and hostile main.cf / master.cf forms for test_postconf_oracle.test_hostile.

Each case: (main.cf text, master.cf text, list of postconf argument lists).
The expected behaviour is whatever Debian's Postfix 3.7 does; it is recorded
in fixtures/golden/<case>.txt.
"""

MASTER_MIN = "smtp      inet  n       -       n       -       -       smtpd\n"

LONG_LIST = ", ".join(f"host{i}.example.com" for i in range(12))

HOSTILE_CASES: dict[str, tuple[str, str, list[list[str]]]] = {
    "continuation-lines": (
        "# a comment\n"
        "mydestination = $myhostname,\n"
        "    localhost,\n"
        "# a comment inside the continuation\n"
        "\texample.com\n"
        "\n"
        "    example.net\n"
        "myhostname = host.example\n"
        "relay_domains =\n"
        "  $mydestination\n"
        "  \n"
        "  example.org\n",
        MASTER_MIN,
        [["-n"], ["-nf"], ["-h", "mydestination"], ["-x", "relay_domains"]],
    ),
    "crlf-line-ends": (
        "# written on Windows\r\n"
        "myhostname = crlf.example\r\n"
        "mydomain = example\r\n"
        "relayhost = [relay.example]\r\n"
        "  :2525\r\n"
        "mynetworks = 127.0.0.0/8,\r\n"
        "\t[::1]/128\r\n",
        "smtp      inet  n       -       n       -       -       smtpd\r\n"
        "  -o smtpd_helo_required=yes\r\n"
        "pickup    unix  n       -       n       60      1       pickup\r\n",
        [["-n"], ["-nf"], ["-h", "relayhost"], ["-x", "mynetworks"], ["-M"], ["-P"]],
    ),
    "leading-whitespace-first-line": (
        "   myhostname = first.example\n"
        "mydomain = example\n",
        MASTER_MIN,
        [["-n"], ["-h", "mydomain"], ["-n", "myhostname"]],
    ),
    "no-spaces-empty-repeated": (
        "myhostname=tight.example\n"
        "relayhost =\n"
        "relay_domains=\n"
        "mydomain = first.example\n"
        "mydomain = second.example\n"
        "mydomain   =   third.example   \n"
        "mynetworks\t=\t127.0.0.0/8\t\n",
        MASTER_MIN,
        [["-n"], ["-h", "mydomain"], ["-h", "relayhost"], ["relayhost", "mynetworks"]],
    ),
    "utf8": (
        "# 日本語のコメント: メールサーバの設定\n"
        "smtpd_banner = $myhostname ESMTP 郵便局 ünïcödé\n"
        "myhostname = mail.example\n"
        "# Ünïcödé comment\n"
        "mail_name = Pösthörn\n",
        "# サービス一覧\n" + MASTER_MIN + "  -o syslog_name=ポスト\n",
        [["-n"], ["-x", "smtpd_banner"], ["-M"], ["-P"]],
    ),
    "expansion-forms": (
        "myhostname = host.example\n"
        "mydomain = example\n"
        "relayhost = [$mydomain]\n"
        "x_braces = ${myhostname} $(mydomain) $mail_name\n"
        "x_set = ${mydomain?yes-set} ${mydomain:not-shown}\n"
        "x_unset = ${relay_transport:unset} ${nosuchparam:fallback} ${nosuchparam?nothing}\n"
        "x_space = ${mydomain?{with space}} ${nosuchparam:{also space}}\n"
        "x_ifelse = ${mydomain?{A}:{B}} ${nosuchparam?{A}:{B}}\n"
        "x_eq = ${{$mydomain} == {example} ? {eq} : {ne}} ${{$mydomain}=={other}?{eq}:{ne}}\n"
        "x_ne = ${{$mydomain} != {example} ? {ne} : {eq}}\n"
        "x_lt = ${{1} < {2} ? {lt} : {ge}} ${{3} <= {2} ? {le} : {gt}}\n"
        "x_gt = ${{10} > {9} ? {gt} : {le}} ${{7} >= {7} ? {ge} : {lt}}\n"
        "x_level = ${{$compatibility_level} <=level {2} ? {old} : {new}}"
        " ${{3.6} <level {3.10} ? {lt} : {ge}} ${{1.2.3} ==level {1.2.3} ? {eq} : {ne}}\n"
        "x_dollar = cost $$5 and $$myhostname\n"
        "x_undef = $nosuchparam and ${nosuchparam2} end\n"
        "x_chain = $x_braces / $x_set\n"
        "smtpd_banner = $x_braces $x_set $x_unset $x_space $x_ifelse $x_eq $x_ne $x_lt"
        " $x_gt $x_level $x_dollar $x_undef $x_chain\n",
        MASTER_MIN,
        [["-n"], ["-xn"],
         ["-x", "relayhost", "x_braces", "x_set", "x_unset", "x_space", "x_ifelse", "x_eq",
          "x_ne", "x_lt", "x_gt", "x_level", "x_dollar", "x_undef", "x_chain"],
         ["-h", "x_eq"], ["-hx", "smtpd_banner"]],
    ),
    "expansion-recursion": (
        "loop_a = $loop_b\n"
        "loop_b = $loop_a\n"
        "myhostname = host.$loop_a\n",
        MASTER_MIN,
        [["-h", "mydomain"], ["-x", "myhostname"], ["-n"]],
    ),
    "expansion-self": (
        "mydomain = $mydomain.example\n",
        MASTER_MIN,
        [["-x", "mydomain"]],
    ),
    "expansion-undefined-user": (
        "myhostname = $nosuch.example\n"
        "relayhost = ${nosuch2}\n",
        MASTER_MIN,
        [["-n"], ["-xn"], ["-x", "myhostname"]],
    ),
    "folding": (
        "mydestination = " + LONG_LIST + "\n"
        "relay_domains = " + ", ".join(f"d{i}.example" for i in range(6)) + "\n"
        "smtpd_banner = " + "x" * 120 + "\n"
        "mynetworks = " + " ".join(f"10.{i}.0.0/16" for i in range(9)) + "\n"
        "alias_maps = " + "a" * 60 + " " + "b" * 30 + "\n"
        "smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, "
        "reject_unauth_destination, check_policy_service unix:private/policy\n",
        "long      unix  -       -       n       -       -       smtp -o "
        + " -o ".join(f"smtp_param{i}=value{i}" for i in range(8)) + "\n"
        + ("x" * 40 + " unix - - n - - " + "c" * 70 + "\n"),
        [["-n"], ["-nf"], ["-xnf"], ["-M"], ["-Mf"], ["-Ff"], ["-Pf"], ["-f", "mydestination"]],
    ),
    "master-forms": (
        "myhostname = host.example\n",
        "# comment\n"
        "smtp      inet  n       -       n       -       -       smtpd\n"
        "  -o { smtpd_tls_security_level = may }\n"
        "  -o smtpd_client_restrictions=\n"
        "  -o { syslog_name = postfix/with space }\n"
        "# comment between entries\n"
        "[::1]:2525 inet n - n - - smtpd\n"
        "127.0.0.1:2526 inet n - n - 0 smtpd\n"
        "  # indented comment inside an entry\n"
        "  -o smtpd_banner=$myhostname\n"
        "pickup    unix  n       -       n       60?     1       pickup\n"
        "qmgr      unix  n       -       n       300     1       qmgr\n"
        "split     unix  -       -\n"
        "  n       -       -       smtp\n"
        "\n"
        "  -o syslog_name=split\n"
        "pipe1     unix  -       n       n       -       -       pipe\n"
        "  flags=R user=nobody argv=/bin/echo { argument with spaces } ${user} $nexthop\n"
        "postlog   unix-dgram n  -       n       -       1       postlogd\n"
        "pass1     pass  -       -       n       -       -       smtpd\n"
        "fifo1     fifo  n       -       n       60      1       pickup\n",
        [["-M"], ["-Mf"], ["-Mx"], ["-F"], ["-P"], ["-Px"], ["-M", "smtp"],
         ["-M", "[::1]:2525/inet"], ["-M", "127.0.0.1:2526"], ["-F", "pickup/unix/wakeup"],
         ["-F", "*/*/command"], ["-P", "*/*/syslog_name"], ["-M", "nosuch/inet"],
         ["-M", "smtp/bogus"], ["-F", "smtp/inet/bogus"], ["-n"]],
    ),
    "master-unbalanced-braces": (
        "",
        "smtp      inet  n       -       n       -       -       smtpd\n"
        "  -o { smtpd_tls_security_level = may\n"
        "relay     unix  -       -       n       -       -       smtp { unclosed argument\n"
        "other     unix  -       -       n       -       -       smtp closing } only\n",
        [["-M"], ["-P"], ["-F"]],
    ),
    "master-o-forms": (
        "",
        "smtp      inet  n       -       n       -       -       smtpd\n"
        "  -o content_filter=\n"
        "  -o smtpd_helo_restrictions=permit_mynetworks,reject\n"
        "  -o mynetworks=127.0.0.0/8,[::1]/128\n"
        "  -o\n"
        "  -o novalue\n"
        "  -o user_defined_thing=1\n",
        [["-M"], ["-P"], ["-Pf"], ["-n"], ["-P", "smtp/inet/content_filter"]],
    ),
    "empty-files": (
        "",
        "",
        [["-n"], ["-M"], ["-F"], ["-P"], ["-h", "mydestination"]],
    ),
    "unknown-and-user-parameters": (
        "myhostname = host.example\n"
        "used_by_me = x\n"
        "smtpd_banner = $used_by_me\n"
        "not_used_by_anyone = y\n",
        MASTER_MIN + "  -o service_user_param=z\n",
        [["-n"], ["no_such_parameter"], ["used_by_me"], ["-h", "not_used_by_anyone"],
         ["-C", "builtin", "-n"], ["-C", "user", "-n"], ["-H", "-n"]],
    ),
    "override-o": (
        "myhostname = host.example\n"
        "mydomain = example\n",
        MASTER_MIN,
        [["-o", "mydomain=other.example", "-x", "myorigin", "mydomain"],
         ["-o", "myhostname=", "-h", "myhostname"],
         ["-o", "newparam=1", "-n"]],
    ),
}
