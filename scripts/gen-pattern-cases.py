#!/usr/bin/env python3
"""Generate Tests/TablesTests/Fixtures/pattern-cases.tsv from Debian's Postfix.

Each case is a regexp:, pcre: or cidr: table text and one lookup key. The
script writes the table to a temporary file, runs the ORACLE
(`/usr/sbin/postmap -c <empty config> -q KEY type:FILE`) and records what it
answered. PatternTableOracleTests.swift loads the file and checks that our
tables give the same answers and the same table warnings.

Columns (tab-separated; fields escaped with \\n \\t \\r \\\\):
  type      regexp, pcre or cidr
  table     the table file's text
  key       the lookup key
  result    the value postmap printed, or NOTFOUND
  exit      postmap's exit status (0 found, 1 not found)
  warnings  the table's warnings, one per line, without the "postmap:
            warning: " prefix, the table path written as {path}; postmap's
            own "table type:name ..." warnings about empty results are left out

Usage: scripts/gen-pattern-cases.py [--postmap /usr/sbin/postmap]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "Tests" / "TablesTests" / "Fixtures" / "pattern-cases.tsv"

# (type, table text, [keys]); every key becomes one row.
CASES: list[tuple[str, str, list[str]]] = []


def case(kind: str, text: str, *keys: str) -> None:
    CASES.append((kind, text, list(keys)))


def both(text: str, *keys: str) -> None:
    case("regexp", text, *keys)
    case("pcre", text, *keys)


# --- basic matching, case sensitivity, flags common to both ------------------
both("/^postmaster@/ OK\n", "postmaster@example.com", "POSTMASTER@x", "x-postmaster@y")
both("/^(a)(b)$/ x$1-${2}-$(1)-$$\n", "ab", "AB", "abc")
both("/^(a)(b)$/i x$1\n", "ab", "AB")
both("/a/ii y\n", "A")
both("/[%!@].*[%!@]/ 550 Sender-specified routing rejected\n", "a@b@c", "a@b", "x%y!z")
both("/^Subject: make money fast/ REJECT\n/^To: friend@public\\.com/ REJECT\n",
     "Subject: make money fast", "subject: MAKE MONEY FAST now", "To: friend@public.com", "To: friend@publicXcom")
both("/^(foo|bar)\\.example$/ DUNNO\n", "foo.example", "bar.example", "baz.example")
both("/^[[:digit:]]+$/ digits\n/^[a-c]+$/ abc\n", "12345", "abcab", "abcd")
both("/(x+)(y*)/ [$1][$2]\n", "axxxb", "xyy")
both("/(a)|(b)/ [$1][$2]\n", "a", "b")
both("/(a)(b)(c)(d)(e)(f)(g)(h)(i)/ $9$8$7$6$5$4$3$2$1\n", "abcdefghi")
both("/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)/ $10-${10}\n", "abcdefghij")
both("/(a)/ ${1}${1} $01 {$1}\n", "a")
both("/(a)/ $$1 $$$1 $$$$\n", "a")
both("/(a)/ \\$1\n", "a")
both("/^(.*)-outgoing@(.*)$/ 550 Use ${1}@${2} instead\n", "list-outgoing@example.org")
both("/^/ IGNORE\n", "anything", "")
both("/./ PREPEND X-Seen: yes\n", "hello")
both("/^From: .*spam/ REJECT spam not wanted here\n", "From: spammer", "From: friend")
both("/^(.+)@example\\.com$/ FILTER smtp:[$1.internal]\n", "joe@example.com")
both("/a/ first\n/a/ second\n", "a")
both("/^$/ empty-key\n", "", "x")
both("/b/ y\n  z\n", "b")
both("/b/ y\t\n\tz \n", "b")
both("/a/ x\n\n  \n# comment\n/b/ y\n# c\n  z\n", "b", "a")
both("/a/ y\r\n", "a")
both("#a# y\n|a| y\n", "a")
both("|a| y\n", "a")
both("{a{ y\n", "a")
both("(a( y\n", "a")
both("\"a\" y\n", "a")
both("_a_ y\n", "a")
both(".a\\.b. y\n", "axb", "a.b")
both("/a\\/b/ y\n", "a/b")
both("/a\\\\/ y\n", "a\\")
both("$a$ y\n", "a")
both("/a b/ space\n", "a b", "ab")
both("/^b$/m y\n", "a\nb")
both("/^b$/ y\n", "a\nb")
both("/a.b/ y\n", "a\nb")
both("/é/ y\n", "é", "É")

# --- negation -----------------------------------------------------------------
both("!/a/ not-a\n", "b", "a")
both("! /a/ y\n", "b")
both("!!/a/ y\n", "a", "b")
both("!xax y\n", "b")
both("!/(a)/ $$ ok\n", "b")
both("!/^owner-/ 550 rejected\n/./ fallback\n", "owner-list", "other")

# --- if / endif --------------------------------------------------------------
both("if !/^owner-/\n/^(.*)-outgoing@(.*)$/ 550 Use ${1}@${2} instead\nendif\n",
     "list-outgoing@example.org", "owner-list-outgoing@example.org")
both("if /a/\nif /b/\n/c/ y\nendif\nendif\n", "abc", "ac", "bc")
both("if /a/\nif !/b/\n/c/ y\nendif\n/c/ z\nendif\n", "abc", "ac")
both("IF /a/\n/a/ y\nENDIF\n", "a")
both("If /a/\n/a/ y\nEndIf\n/./ out\n", "a", "b")
both("if/a/\n/a/ y\nendif\n", "a")
both("if  !/a/\n/b/ y\nendif\n", "b")
both("if ! /a/\n/b/ y\nendif\n", "b")
both("if!/a/\n/b/ y\nendif\n", "b")
both("if\t/a/\n/a/ y\nendif\n", "a")
both("if !!/a/\n/b/ y\nendif\n", "b")
both("if /a/\n/a/ y\nendif  \n", "a")
both("if /a/\nendif\nendif\n/a/ y\n", "ab")
both("if /(a)/\n/c/ $1\nendif\n", "abc")
both("if /x/\n/./ inside\nendif\n/./ outside\n", "x", "y")

# --- warnings: rules skipped or repaired -------------------------------------
both("/a(/ x\n/a/ y\n", "a")
both("/a/q x\n", "a")
both("a/ x\n", "a")
both("/a x\n/a/ y\n", "a")
both("/a/\n", "a")
both("/a/ \n", "a")
both("/a/iy\n", "a")
both("/a/I y\n", "a")
both("/a/i/ y\n", "a")
both("/a/b/ y\n", "a")
both("\\a\\ y\n", "a")
both("xax y\n", "a")
both("1a1 y\n", "a")
both(" /a/ y\n", "a")
both("!a! y\n", "a")
both("/a/!y\n", "a")
both("if /a/ x\n/a/ y\nendif\n", "a")
both("if /a/\n/a/ y\nendif x\n", "a")
both("if /a/\n/a/ y\nendif#\n", "a")
both("if\n/a/ y\nendif\n", "a")
both("if /a/\n/b/ y\n", "ab")
both("if /a/\nif /b/\n/a/ y\nendif\n", "ab")
both("endif\n/b/ y\n", "ab")
both("if /a/\n/a/ y\nendifx\n", "a")
both("ifx /a/ y\n", "a")
both("if# /a/\n/a/ y\nendif\n", "a")
both("if /a(/\n/a/ y\nendif\n", "a")
both("if /a/q\n/a/ y\nendif\n", "a")
both("if /a/\n /b/ z\n/a/ y\nendif\n", "a")
both("if /a/\n/a/ y\n endif\n", "a")
both("/^(a)(b)$/ x$3\n", "ab")
both("/(a)/ $0\n", "a")
both("/(a)/ $10\n", "a")
both("/(a)/ $1x\n", "a")
both("/(a)/ $1.$1-$1@$1_\n", "a")
both("/(a)/ ${1?yes}\n", "a")
both("/(a)/ ${1:no}\n", "a")
both("/(a)/ ${ 1 }\n", "a")
both("/(a)/ $(1}\n", "a")
both("/(a)/ ${}\n", "a")
both("/(a)/ ${1\n", "a")
both("/(a)/ ${x}\n", "a")
both("/(a)/ $x $y\n", "a")
both("/(a)/ $x $(1\n", "a")
both("/(a)/ $3 $4\n", "a")
both("/(a)/ $ 1\n", "a")
both("/(a)/ a$\n", "a")
both("/(a)/ ${{1}}\n", "a")
both("/(a)/ ${1}}$((1)\n", "a")
both("!/a/ y$1\n", "b")
both("!/(a)/ $3\n", "b")
both("!/(a)/ $0\n", "b")
both("/(a)|(b)/ $1\n", "b")
both("/(a)|(b)/ $1\n/b/ next\n", "b")
both("/(x)?/ [$1]\n", "a")

both("/A/i case\n/B/ nocase\n", "a", "A", "b")
both("if /a/\nif /b/\n/c/ y\n", "abc", "ac")
both("endif x\n/a/ y\n", "a")
both("/a/ $1\n", "a")
both("/a/\t\tREJECT\ttabs  inside\n", "a")
both("/(a)(b)?/ [$2]\n", "a")
both("/^(.*)$/ $1\n", "Mixed Case Key", "")
both("/[[:upper:]]/ upper\n", "abc", "ABC")

# --- regexp only: x toggles POSIX extended syntax, two-pattern rules --------
case("regexp", "/a+/x y\n", "aa", "a+")
case("regexp", "/a\\(b\\)c/x y$1\n", "abc")
case("regexp", "/a{2}/ two\n", "aa", "a")
case("regexp", "/(ab)\\1/x y\n", "abab")
case("regexp", "/\\(ab\\)\\1/x rep\n", "abab", "abcd")
case("regexp", "/a/!/b/ y\n", "a", "ab")
case("regexp", "/(a)/!/(b)/ $1\n", "ac")
case("regexp", "/(a)/!/(b)/ $2\n", "ac")
case("regexp", "!/a/!/b/ y\n", "ab", "a", "b", "c")
case("regexp", "!/a/!!/b/ y\n", "ab", "b", "c")
case("regexp", "/a/! /b/ y\n", "ac")
case("regexp", "/a/ !/b/ y\n", "ac")
case("regexp", "/a/!/b( y\n", "ac")
case("regexp", "/a/!/b/q y\n", "ac")
case("regexp", "/a(/!/b/ y\n", "ac")
case("regexp", "/a/!/[/ y\n", "ac")
case("regexp", "!/(a)/!/b/ $1\n", "c")
case("regexp", "if /a/!/b/\n/a/ y\nendif\n", "ab")
case("regexp", "/a.b/s y\n", "a\nb")
case("regexp", "/[/ y\n", "a")
case("regexp", "/a**/ y\n", "a")
case("regexp", "/^b$/m y\n/^a.b$/ z\n", "a\nb")
case("regexp", "/^a.b$/m z\n", "a\nb")

# --- pcre only: s, x, A, E, U, X flags, perl syntax --------------------------
case("pcre", "/a.b/s y\n", "a\nb", "axb")
case("pcre", "/a b/x y\n", "ab", "a b")
case("pcre", "/a\\ b/x y\n", "a b")
case("pcre", "/^a/A y\n/b/A z\n", "ab", "ba")
case("pcre", "/a$/ y\n", "a\n")
case("pcre", "/a$/E y\n", "a\n", "a")
case("pcre", "/(a+)/ y$1\n", "aaa")
case("pcre", "/(a+)/U y$1\n", "aaa")
case("pcre", "/(a+?)/U y$1\n", "aaa")
case("pcre", "/\\qa/X y\n", "qa")
case("pcre", "/\\qa/ y\n", "qa")
case("pcre", "/\\d+/ digits\n", "abc123")
case("pcre", "/(\\w+)@(?!my\\.domain$)(.*)/ 550 ${1} at $2\n", "friend@other.org", "friend@my.domain")
case("pcre", "/^(?i)ABC$/i y\n", "abc")
case("pcre", "/(?<user>\\w+)@/ $1\n", "joe@x")
case("pcre", "/(a)\\1/ double\n", "aa", "ab")
case("pcre", "/a\\d/ y\n", "a1")
case("pcre", "%a\\%b% y\n", "a%b")
case("pcre", "/a{,2}/ y\n", "a{,2}")
case("pcre", "/(?:a)(b)/ $1\n", "ab")
case("pcre", "/(?:a)(b)/ $2\n", "ab")
case("pcre", "/a*+a/ y\n", "aaa")
case("pcre", "/\\bword\\b/ w\n", "a word here", "swordfish")
case("pcre", "/a(?=b)/ y\n", "ab", "ac")
case("pcre", "/[/ y\n", "a")
case("pcre", "/a)/ y\n", "a")
case("pcre", "/(?<n/ y\n", "a")

# --- cidr -----------------------------------------------------------------------
case("cidr", "192.168.1.1 OK\n192.168.0.0/16 REJECT\n2001:db8::1 OK\n2001:db8::/32 REJECT\n",
     "192.168.1.1", "192.168.7.9", "10.0.0.1", "2001:db8::1", "2001:db8:1::5", "2001:db9::1", "[192.168.1.1]")
case("cidr", "0.0.0.0/0 any4\n::/0 any6\n", "1.2.3.4", "::1", "::ffff:1.2.3.4", "0.0.0.0", "::")
case("cidr", "::ffff:0:0/96 mapped\n", "1.2.3.4", "::ffff:1.2.3.4", "::FFFF:1.2.3.9")
case("cidr", "2001:DB8::/32 a\n", "2001:0db8:0::1", "2001:0DB8::abcd")
case("cidr", "2001:db8::/33 a\n", "2001:db8:8000::1", "2001:db8:7fff::1")
case("cidr", "1.2.3.4/32 a\n1.2.3.0/24 b\n1.2.0.0/15 c\n", "1.2.3.4", "1.2.3.5", "1.3.9.9", "1.4.0.0")
case("cidr", "1.0.0.0/08 a\n", "1.2.3.4")
case("cidr", "::1 a\n", "0:0:0:0:0:0:0:1", "::1", "[::1]", "ipv6:::1")
case("cidr", "1.2.3.4 a\n", "1.2.3.04", "010.0.0.1", " 1.2.3.4", "1.2.3.4.5", "1.2.3.4/32", "foo", "")
case("cidr", "fe80::/10 a\n", "fe80::1%eth0", "fe80::1")
case("cidr", "[192.168.0.0]/16 a\n[10.0.0.0/8] b\n[1.2.3.4] c\n[::1]/128 d\n[::2] e\n",
     "192.168.3.4", "10.9.9.9", "1.2.3.4", "::1", "::2")
case("cidr", "!192.168.0.0/16 not-private\n", "10.1.1.1", "192.168.1.1", "2001:db8::1")
case("cidr", "! 192.168.0.0/16 a\n", "10.1.1.1")
case("cidr", "!!1.2.3.4 a\n", "1.2.3.4", "1.2.3.5")
case("cidr", "!!!1.2.3.4 a\n", "1.2.3.4", "1.2.3.5")
case("cidr", "1.2.3.4 $1 $$\n", "1.2.3.4")
case("cidr", "1.2.3.4 a\n b\n", "1.2.3.4")
case("cidr", "1.2.3.4\ta b \n", "1.2.3.4")
case("cidr", "1.2.3.4 REJECT go away\n1.2.3.4 second\n", "1.2.3.4")
case("cidr", "if 10.0.0.0/8\n10.1.0.0/16 a\nendif\n10.0.0.0/8 b\n", "10.1.2.3", "10.2.2.3", "11.0.0.1")
case("cidr", "if !10.0.0.0/8\n0.0.0.0/0 a\nendif\n", "11.2.2.3", "10.0.0.1")
case("cidr", "if !10.0.0.0/8\n::/0 a\nendif\n", "::1")
case("cidr", "if 2001:db8::/32\nif !2001:db8:1::/48\n::/0 inner\nendif\nendif\n::/0 outer\n",
     "2001:db8::1", "2001:db8:1::1", "::1")
case("cidr", "IF 10.0.0.0/8\n10.1.0.0/16 a\nENDIF\n", "10.1.2.3")
case("cidr", "if!1.2.3.4\n1.2.3.4 a\nendif\n", "1.2.3.4")
case("cidr", "if [1.2.3.4]\n1.2.3.4 a\nendif\n", "1.2.3.4")
case("cidr", "if !!1.2.3.4\n1.2.3.4 a\nendif\n", "1.2.3.4")
case("cidr", "192.168.0.1/16 a\n", "192.168.3.4")
case("cidr", "1.2.3.4/0 a\n", "1.2.3.4")
case("cidr", "255.255.255.255/1 a\n", "1.2.3.4")
case("cidr", "2001:db8::1/32 a\n", "2001:db8::1")
case("cidr", "2001:db8::1:0:0:1/64 a\n", "2001:db8::1")
case("cidr", "::ffff:1.2.3.4/96 a\n", "::ffff:1.2.3.4")
case("cidr", "192.168.0.0/33 a\n", "192.168.3.4")
case("cidr", "2001:db8::/129 a\n", "2001:db8::1")
case("cidr", "1.2.3.4/99999999999999999999 a\n", "1.2.3.4")
case("cidr", "192.168.0.0/ a\n", "192.168.3.4")
case("cidr", "1.0.0.0/8x a\n1.0.0.0/-1 b\n1.0.0.0/+8 c\n1.2.3.4/32/3 d\n", "1.2.3.4")
case("cidr", "192.168.0 a\n", "192.168.3.4")
case("cidr", "010.0.0.1 a\n", "8.0.0.1", "10.0.0.1")
case("cidr", "1:2:3:4:5:6:7:8:9 a\n", "::1")
case("cidr", "1.2.3/8 a\n1.2.3/99 b\n1.2.3/8x c\n/8 d\n", "1.2.3.4")
case("cidr", "[1.2.3.4]/x a\n[1.2.3.0]/40 b\n[1.2.3.1]/24 c\n[1.2.3]/24 d\n", "1.2.3.4")
case("cidr", "[1.2.3.4 a\n[1.2.3.4]] b\n[1.2.3.4]x c\n[] d\n1.2.3.4]/32 e\n", "1.2.3.4")
case("cidr", "192.168.0.0/16\n! 1.2.3.4\n!1.2.3.4\n1.2.3.4 \n", "192.168.3.4")
case("cidr", "foo a\n! a\nfoo\nifx 1.2.3.4\n", "1.2.3.4")
case("cidr", "!/8 a\n", "1.2.3.4")
case("cidr", "if 10.0.0.0/8 x\n10.1.0.0/16 a\nendif x\n", "10.1.2.3")
case("cidr", "if 10.0.0.1/8\n10.1.0.0/16 a\nendif\n", "10.1.2.3")
case("cidr", "if 10.0.0.0/8\n10.1.0.0/16 a\n", "10.1.2.3")
case("cidr", "endif\n1.2.3.4 a\n", "1.2.3.4")
case("cidr", "if\n1.2.3.4 a\n", "1.2.3.4")
case("cidr", "if 1.2.3.4\n1.2.3.4 a\nendifx\n", "1.2.3.4")
case("cidr", "if 1.2.3.4\n1.2.3.4 a\nendif#\n", "1.2.3.4")
case("cidr", "if 1.2.3.4 a\n1.2.3.4 a\nendif\n", "1.2.3.4")
case("cidr", " 1.2.3.4 a\n1.2.3.4 b\n", "1.2.3.4")
case("cidr", "endif x\n1.2.3.4 a\n", "1.2.3.4")
case("cidr", "if 1.2.3.0/24\nif 1.2.3.4\n1.2.3.4 a\n", "1.2.3.4")
case("cidr", "1.2.3.4 a\n", "1.2.3.4 ", "1.2.3.4\n")
case("cidr", "# only a comment\n\n", "1.2.3.4")


def escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r"))


def run(postmap: str, config: str, kind: str, text: str, key: str, workdir: str) -> tuple[str, int, list[str]]:
    path = os.path.join(workdir, "table")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    proc = subprocess.run([postmap, "-c", config, "-q", key, f"{kind}:{path}"],
                          capture_output=True, env={"PATH": "/usr/sbin:/usr/bin:/bin", "LANG": "C"})
    out = proc.stdout.decode("utf-8", "surrogateescape")
    if proc.returncode not in (0, 1):
        raise SystemExit(f"oracle failed ({proc.returncode}) on {kind} {text!r} {key!r}: {proc.stderr!r}")
    result = "NOTFOUND"
    if proc.returncode == 0:
        assert out.endswith("\n"), out
        result = out[:-1]
    warnings = []
    for line in proc.stderr.decode("utf-8", "surrogateescape").splitlines():
        prefix = "postmap: warning: "
        if not line.startswith(prefix):
            raise SystemExit(f"unexpected oracle message on {kind} {text!r}: {line}")
        line = line[len(prefix):]
        if line.startswith("table "):
            continue  # postmap's own complaint about an empty result
        warnings.append(line.replace(path, "{path}"))
    return result, proc.returncode, warnings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postmap", default="/usr/sbin/postmap")
    parser.add_argument("--output", default=str(OUT))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        config = os.path.join(workdir, "config")
        os.mkdir(config)
        for name in ("main.cf", "master.cf"):
            open(os.path.join(config, name), "w").close()
        for kind, text, keys in CASES:
            for key in keys:
                result, status, warnings = run(args.postmap, config, kind, text, key, workdir)
                rows.append("\t".join([kind, escape(text), escape(key), escape(result), str(status),
                                       escape("\n".join(warnings))]))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write("# type\ttable\tkey\tresult\texit\twarnings  (generated by scripts/gen-pattern-cases.py; do not edit)\n")
        f.write("\n".join(rows) + "\n")
    print(f"{len(rows)} cases written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
