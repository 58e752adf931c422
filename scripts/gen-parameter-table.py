#!/usr/bin/env python3
"""Generate Sources/Global/ParameterTable.swift, the typed parameter registry.

Usage (from the package root):

    python3 scripts/gen-parameter-table.py            # writes the Swift file
    python3 scripts/gen-parameter-table.py --check    # exit 1 if it is stale

Inputs
------
scripts/data/postconf-defaults-3.7.txt
    Verbatim output of Postfix 3.7.11's `postconf -d` on Debian 12, one
    `name = value` line per parameter (an empty value prints as `name =`).
    Re-capture from an EMPTY configuration directory, so that no parameters
    derived from master.cf service names (bsmtp_*, relay_*, ...) creep in,
    and put back the compiled-in config_directory:
        mkdir -p /tmp/empty && : > /tmp/empty/main.cf && : > /tmp/empty/master.cf
        /usr/sbin/postconf -c /tmp/empty -d 2>/dev/null \
          | sed 's#^config_directory = /tmp/empty#config_directory = /etc/postfix#' \
          > scripts/data/postconf-defaults-3.7.txt
    A few values belong to the capturing machine (myhostname, mydomain,
    mynetworks, process_id, process_name); Posthorn computes those on the
    running machine (Sources/Global/DerivedDefaults.swift).

scripts/data/parameter-facts.tsv
    Hand-maintained, one row per parameter of the defaults file:
        name <TAB> kind <TAB> min <TAB> max <TAB> summary
    kind: string | raw | bool | int | long | time:U  (U = s, m, h, d or w)
    min/max: decimal, empty when there is none.
    summary: our own one-line description (not text from Postfix's manual).

Rules used to fill in the facts file
------------------------------------
Kind
  * The kind is the storage class Postfix 3.7 gives the parameter (its
    CONFIG_*_TABLE: str, raw, bool, int, long, time).  Postfix's "nint" and
    "nbool" classes (an int or bool whose default is an expression such as
    `${stress?{1}:{20}}` or `$smtpd_use_tls`) are recorded as int and bool.
  * raw: the value is used verbatim, without `$name` expansion when the
    configuration is read (e.g. forward_path, mailbox_command, luser_relay,
    default_rbl_reply, smtpd_expansion_filter, *_reject_footer); the
    consuming program expands its own `$attribute` names at delivery time.
  * long: 64-bit sizes in bytes (message_size_limit, mailbox_size_limit,
    virtual_mailbox_limit, queue_minfree, lmdb_map_size).
  * Some parameters that look numeric are strings in Postfix and stay
    strings here: *_tls_loglevel (a level name or number), the
    *_concurrency_{positive,negative}_feedback ratios ("1", "1/concurrency"),
    compatibility_level (a version such as 3.6), milter_protocol.
  * time:U -- U is the unit a bare number means.  Postfix takes it from the
    unit suffix of the compiled-in default (maximal_queue_lifetime "5d" -> d,
    delay_warning_time "0h" -> h); wherever postconf(5) states "The default
    time unit is ..." it agrees.
  * Per-transport parameters (<service>_destination_concurrency_limit, ...,
    <service>_time_limit) take the kind and range of the global parameter
    their default refers to (default_destination_concurrency_limit, ...,
    command_time_limit).
  * process_id, process_name and service_name are read-only values that
    Postfix fills in at run time; they are recorded as strings.
Range (int, long and time kinds only; time limits are in seconds)
  * min is Postfix's own lower bound where it has one (1 for most time
    limits and counts where zero makes no sense, 10 for the watchdog
    timeouts, 512 for line_length_limit, 200/500 for SMTP reply codes, ...).
  * Where Postfix declares no lower bound the value is still a count, size
    or duration that cannot be negative, so min is 0.
  * max is given only where Postfix enforces one (e.g. in_flow_delay <= 10s,
    delay_logging_resolution_limit <= 6, qmgr_fudge_factor <= 100,
    *_queue_lifetime and TLS session cache timeouts <= 100 days, reply codes
    200..499/599); otherwise it is left empty (no upper bound).
  * string, raw and bool kinds have no range.

Posthorn parameters
-------------------
The VDA quota parameters below are appended with origin .posthorn; they are
not known to Postfix 3.7 and so are not in the defaults capture.

Output: Sources/Global/ParameterTable.swift, an extension of ParameterRegistry
holding `static let table: [ParameterSpec]`, sorted by name (assembled once
from temporary chunks of 32 entries, which keeps type-checking fast).
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULTS = os.path.join(ROOT, "scripts", "data", "postconf-defaults-3.7.txt")
FACTS = os.path.join(ROOT, "scripts", "data", "parameter-facts.tsv")
OUTPUT = os.path.join(ROOT, "Sources", "Global", "ParameterTable.swift")

# name, kind, default, summary (no ranges: none of them is numeric).
POSTHORN = [
    ("virtual_mailbox_limit_maps", "string", "",
     "Tables giving a mailbox size limit in bytes per recipient or per @domain (VDA quota)"),
    ("virtual_mailbox_limit_inbox", "bool", "no",
     "Apply the virtual mailbox size limit to the maildir inbox only, not all folders"),
    ("virtual_mailbox_limit_override", "bool", "no",
     "Let virtual_mailbox_limit_maps take precedence over virtual_mailbox_limit"),
    ("virtual_overquota_bounce", "bool", "no",
     "Bounce mail for an over-quota virtual mailbox instead of deferring it"),
]

# Postfix parameters whose default Posthorn changes on purpose (documented in
# docs/compatibility.md, "Deliberate differences"; the postconf -d oracle test
# allows exactly these in DELIBERATE_DEFAULTS). Issue 6 point 6: SMTP
# smuggling must not work and unauthorized pipelining is refused, so smtpd
# runs with Postfix 3.9's defaults; `postconf -d` shows what Posthorn does.
DEFAULT_OVERRIDES = {
    "smtpd_forbid_bare_newline": "normalize",
    "smtpd_forbid_unauth_pipelining": "yes",
}

KIND_RE = re.compile(r"^(string|raw|bool|int|long|time:[smhdw])$")
NUMBER_RE = re.compile(r"^-?[0-9]+$")
TIME_RE = re.compile(r"^([0-9]+)([smhdw]?)$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def fail(message):
    sys.stderr.write("gen-parameter-table: %s\n" % message)
    sys.exit(1)


def read_defaults(path):
    defaults = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            if " =" not in line:
                fail("%s:%d: not a 'name = value' line" % (path, lineno))
            name, _, value = line.partition(" =")
            if value.startswith(" "):
                value = value[1:]
            if name in defaults:
                fail("%s:%d: duplicate %s" % (path, lineno, name))
            defaults[name] = value
    return defaults


def read_facts(path):
    facts = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 5:
                fail("%s:%d: expected 5 tab-separated fields" % (path, lineno))
            name, kind, lo, hi, summary = fields
            if not KIND_RE.match(kind):
                fail("%s:%d: bad kind %r" % (path, lineno, kind))
            for bound in (lo, hi):
                if bound and not NUMBER_RE.match(bound):
                    fail("%s:%d: bad bound %r" % (path, lineno, bound))
            if (lo or hi) and kind in ("string", "raw", "bool"):
                fail("%s:%d: range on a %s parameter" % (path, lineno, kind))
            if not summary.strip():
                fail("%s:%d: empty summary" % (path, lineno))
            if name in facts:
                fail("%s:%d: duplicate %s" % (path, lineno, name))
            facts[name] = (kind, int(lo) if lo else None, int(hi) if hi else None, summary)
    return facts


def check_default(name, kind, value, lo, hi):
    """Sanity-check a literal default against its kind and range."""
    if "$" in value:
        return  # an expression; it is checked after expansion, not here
    if kind == "bool":
        if value not in ("yes", "no"):
            fail("%s: bool default %r" % (name, value))
    elif kind in ("int", "long"):
        if not NUMBER_RE.match(value):
            fail("%s: numeric default %r" % (name, value))
        number = int(value)
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            fail("%s: default %s outside [%s, %s]" % (name, value, lo, hi))
    elif kind.startswith("time:"):
        m = TIME_RE.match(value)
        if not m:
            fail("%s: time default %r" % (name, value))
        seconds = int(m.group(1)) * UNIT_SECONDS[m.group(2) or kind[5]]
        if (lo is not None and seconds < lo) or (hi is not None and seconds > hi):
            fail("%s: default %s outside [%s, %s] seconds" % (name, value, lo, hi))


def swift_string(text):
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def swift_kind(kind):
    if kind.startswith("time:"):
        return '.time(defaultUnit: "%s")' % kind[5]
    return "." + kind


# The table is split into small array literals: the Swift type checker's cost
# grows faster than linearly with the size of one literal (one literal of
# ~1050 calls took ~8 s to type-check; chunks of 32 take well under 1 s in all).
CHUNK = 32


def render(entries):
    lines = [
        "// ParameterTable: every main.cf parameter Postfix 3.7 knows, plus Posthorn's own.",
        "//",
        "// GENERATED FILE - DO NOT EDIT.",
        "// Produced by scripts/gen-parameter-table.py from",
        "// scripts/data/postconf-defaults-3.7.txt and scripts/data/parameter-facts.tsv;",
        "// change those and re-run the script instead.",
        "",
        "extension ParameterRegistry {",
    ]
    chunk_names = []
    for start in range(0, len(entries), CHUNK):
        chunk_name = "chunk%02d" % (start // CHUNK)
        chunk_names.append(chunk_name)
        lines.append("    private static let %s: [ParameterSpec] = [" % chunk_name)
        for name, kind, value, lo, hi, origin, summary in entries[start:start + CHUNK]:
            args = [swift_string(name), swift_kind(kind), swift_string(value)]
            if lo is not None:
                args.append("min: %d" % lo)
            if hi is not None:
                args.append("max: %d" % hi)
            if origin != "postfix":
                args.append("origin: .%s" % origin)
            args.append(swift_string(summary))
            lines.append("        ParameterSpec(%s)," % ", ".join(args))
        lines.append("    ]")
        lines.append("")
    lines.append("    /// The first name of each chunk: a lookup makes only the chunk that")
    lines.append("    /// can hold the name (a daemon's start-up made and joined all of them).")
    lines.append("    static let chunkFirstNames: [StaticString] = [")
    for start in range(0, len(entries), CHUNK):
        lines.append("        %s," % swift_string(entries[start][0]))
    lines.append("    ]")
    lines.append("")
    lines.append("    /// Chunk `index` (each made on first use).")
    lines.append("    static func chunk(_ index: Int) -> [ParameterSpec] {")
    lines.append("        switch index {")
    for i, c in enumerate(chunk_names):
        lines.append("        case %d: return %s" % (i, c))
    lines.append("        default: return []")
    lines.append("        }")
    lines.append("    }")
    lines.append("")
    lines.append("    /// Every parameter, sorted by name, in one array (postconf's listings).")
    lines.append("    static let table: [ParameterSpec] = {")
    lines.append("        var all: [ParameterSpec] = []")
    lines.append("        all.reserveCapacity(%d)" % len(entries))
    lines.append("        for index in chunkFirstNames.indices { all += chunk(index) }")
    lines.append("        return all")
    lines.append("    }()")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv):
    check_only = "--check" in argv[1:]
    defaults = read_defaults(DEFAULTS)
    facts = read_facts(FACTS)

    unknown = sorted(set(DEFAULT_OVERRIDES) - set(defaults))
    if unknown:
        fail("DEFAULT_OVERRIDES for unknown parameters: " + ", ".join(unknown))
    missing = sorted(set(defaults) - set(facts))
    extra = sorted(set(facts) - set(defaults))
    if missing:
        fail("no facts row for: " + ", ".join(missing))
    if extra:
        fail("facts rows for unknown parameters: " + ", ".join(extra))

    entries = []
    for name in defaults:
        kind, lo, hi, summary = facts[name]
        value = DEFAULT_OVERRIDES.get(name, defaults[name])
        check_default(name, kind, value, lo, hi)
        entries.append((name, kind, value, lo, hi, "postfix", summary))
    for name, kind, value, summary in POSTHORN:
        if name in defaults:
            fail("%s is a Postfix parameter, not a Posthorn one" % name)
        check_default(name, kind, value, None, None)
        entries.append((name, kind, value, None, None, "posthorn", summary))
    entries.sort(key=lambda e: e[0])

    text = render(entries)
    if check_only:
        try:
            with open(OUTPUT, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            fail("%s is out of date; re-run the script" % os.path.relpath(OUTPUT, ROOT))
        return 0
    with open(OUTPUT, "w", encoding="utf-8") as f:
        f.write(text)
    sys.stderr.write("gen-parameter-table: wrote %d parameters to %s\n"
                     % (len(entries), os.path.relpath(OUTPUT, ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
