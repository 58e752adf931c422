#!/usr/bin/env bash
# run.sh - Posthorn's main job: build, create a private instance, show its
# configuration, and run the mail system in the foreground.
#
# Usage (as root, on Debian 12, with a Swift 6 toolchain on PATH):
#     scripts/run.sh
#
# Steps:
#   1. Install the apt packages the build links against, if any is missing
#      (checked with dpkg-query; apt is not touched when all are present).
#   2. Build release binaries with a static Swift standard library, so the
#      installed programs need no toolchain at run time.
#   3. Create (or refresh) a private instance directory, by default
#      <repo>/instance, or $POSTHORN_INSTANCE when set:
#          instance/etc/      main.cf, master.cf and the table files, copied
#                             from the repo's etc/
#          instance/bin/      the release binaries (command and daemon directory)
#          instance/spool/    queue_directory
#          instance/data/     data_directory
#          instance/log/      room for a log file (allowed by maillog_file_prefixes)
#      Re-rooting is done with sed on the copied main.cf: every line of the
#      form "queue_directory = ...", "data_directory = ...",
#      "command_directory = ...", "daemon_directory = ...",
#      "meta_directory = ...", "maillog_file = ..." (set to /dev/stdout) and
#      "maillog_file_prefixes = ..." is replaced by one that points inside
#      the instance; a name missing from main.cf is appended instead.
#      config_directory is never written to main.cf: programs get it from
#      "-c instance/etc" (or MAIL_CONFIG), as with Postfix.
#      The configuration files are regenerated from etc/ on every run: edit
#      etc/ (or use POSTHORN_INSTANCE for a scratch copy), not instance/etc/.
#      The sqlite_*.cf table files get "dbpath" pointed at
#      instance/data/postfixadmin.sqlite, which is created from
#      etc/postfixadmin-schema.sql when it does not exist yet (the embedded
#      default user database: PostfixAdmin's schema, no MySQL needed).
#      As root, the mail_owner account (postfix) and the setgid_group
#      (postdrop) are created when the system has none.
#   4. Print the instance's effective configuration: postconf -c instance/etc -n
#   5. Start the mail system in the foreground: postfix -c instance/etc start-fg
#      (master with -d; log lines go to standard output). Stop it with
#      Ctrl-C or SIGTERM; as root, services run as $mail_owner, otherwise
#      as the invoking user (unprivileged mode).
#
# Environment:
#   POSTHORN_INSTANCE  instance directory (default: <repo>/instance)
#   POSTHORN_SCRATCH   SwiftPM scratch path (default: <repo>/.build)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
SCRATCH=${POSTHORN_SCRATCH:-$REPO/.build}
INSTANCE=${POSTHORN_INSTANCE:-$REPO/instance}

BUILD_PACKAGES=(libstdc++-12-dev libssl-dev libmariadb-dev libdb-dev liblmdb-dev libpcre2-dev libsqlite3-dev sqlite3)

log() { printf 'run.sh: %s\n' "$*" >&2; }

# need_packages PKG...: install whatever is not installed yet, quietly.
need_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
            || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "missing packages: ${missing[*]} (run as root to install them)"
        exit 1
    fi
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    local apt_install=(apt-get install -y -qq --no-install-recommends -o=Dpkg::Use-Pty=0)
    # apt-get update only when there are no package lists yet, or when the
    # install fails with the lists we have.
    if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
        apt-get update -qq
    fi
    if ! "${apt_install[@]}" "${missing[@]}" >/dev/null; then
        apt-get update -qq
        "${apt_install[@]}" "${missing[@]}" >/dev/null
    fi
}

if ! command -v swift >/dev/null 2>&1; then
    log "no 'swift' on PATH: install a Swift 6 toolchain first (see README.md)"
    exit 1
fi

need_packages "${BUILD_PACKAGES[@]}"

log "building release binaries"
swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH"
BIN=$(swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --show-bin-path)

mkdir -p "$INSTANCE"
INSTANCE=$(cd "$INSTANCE" && pwd)
log "instance: $INSTANCE"
mkdir -p "$INSTANCE"/{etc,bin,spool,data,log}

# Binaries: every executable file at the top of the bin path.
find "$BIN" -maxdepth 1 -type f -perm -u+x ! -name '*.so' -print0 |
    while IFS= read -r -d '' f; do
        install -m 0755 "$f" "$INSTANCE/bin/"
    done

for f in "$REPO"/etc/*.cf; do
    install -m 0644 "$f" "$INSTANCE/etc/"
done
DB="$INSTANCE/data/postfixadmin.sqlite"
sed -i "s|^dbpath[[:space:]]*=.*\$|dbpath = $DB|" "$INSTANCE"/etc/sqlite_*.cf
if [ ! -f "$DB" ]; then
    sqlite3 "$DB" <"$REPO/etc/postfixadmin-schema.sql"
    chmod 0644 "$DB"
fi

# reroot NAME VALUE: set NAME = VALUE in the instance's main.cf.
reroot() {
    local cf="$INSTANCE/etc/main.cf" name=$1 value=$2
    if grep -q "^$name[[:space:]]*=" "$cf"; then
        # "|" cannot occur in our instance paths' replacement safely unless the
        # path contains it; refuse such paths instead of corrupting main.cf.
        case $value in *'|'*|*'&'*|*'\'*) log "unsupported character in $value"; exit 1 ;; esac
        sed -i "s|^$name[[:space:]]*=.*\$|$name = $value|" "$cf"
    else
        printf '%s = %s\n' "$name" "$value" >>"$cf"
    fi
}
reroot queue_directory "$INSTANCE/spool"
reroot data_directory "$INSTANCE/data"
reroot command_directory "$INSTANCE/bin"
reroot daemon_directory "$INSTANCE/bin"
reroot meta_directory "$INSTANCE/etc"
reroot maillog_file /dev/stdout
reroot maillog_file_prefixes "/var, /dev/stdout, $INSTANCE/log"

log "effective configuration (postconf -c $INSTANCE/etc -n):"
"$INSTANCE/bin/postconf" -c "$INSTANCE/etc" -n

# As root: the accounts Postfix's layout needs, and data_directory belongs
# to mail_owner (postfix check warns otherwise).
if [ "$(id -u)" -eq 0 ]; then
    owner=$("$INSTANCE/bin/postconf" -c "$INSTANCE/etc" -h mail_owner)
    group=$("$INSTANCE/bin/postconf" -c "$INSTANCE/etc" -h setgid_group)
    getent group "$group" >/dev/null || groupadd --system "$group"
    getent passwd "$owner" >/dev/null ||
        useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$owner"
    chown "$owner" "$INSTANCE/data"
fi

log "starting the mail system in the foreground (postfix -c $INSTANCE/etc start-fg)"
exec "$INSTANCE/bin/postfix" -c "$INSTANCE/etc" start-fg
