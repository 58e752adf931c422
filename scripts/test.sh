#!/usr/bin/env bash
# test.sh - install test dependencies, build, and run every Posthorn test.
#
# Usage (as root, on Debian 12, with a Swift 6 toolchain on PATH):
#     scripts/test.sh [extra pytest arguments]
#
# Steps:
#   1. Install what the tests need, if anything is missing (checked with
#      dpkg-query; apt is skipped entirely when all are installed, and
#      "apt-get update" runs at most once, only when needed):
#        - the -dev libraries the build links against,
#        - Debian's postfix, installed UNCONFIGURED, as the oracle the
#          differential tests compare against (/usr/sbin/postconf),
#        - python3-pytest, and the independent peers the system tests run
#          against our logs and sockets: pflogsumm, swaks, fail2ban,
#          dovecot-core (a real Dovecot for SASL, started by the tests),
#          postgrey (a real policy server, started privately by the tests).
#   2. swift build --build-tests, then swift test (unit tests).
#   3. scripts/fuzz-smtpd.sh: libFuzzer over smtpd's command parser and
#      DATA/BDAT framing for POSTHORN_FUZZ_SECONDS (default 45) seconds.
#   4. pytest -q Tests/System (system tests), with POSTHORN_BIN pointing at
#      the debug binaries just built and POSTHORN_DIALOGS=1 (the SMTP dialog
#      corpus recorded from Postfix is replayed against our smtpd).
# Exits non-zero when the build fails or any test fails; the system tests
# run even when a unit test failed, so one run shows everything.
#
# Environment:
#   POSTHORN_SCRATCH   SwiftPM scratch path (default: <repo>/.build)
#   POSTHORN_FUZZ_SECONDS  how long the fuzzer runs (default 45)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
SCRATCH=${POSTHORN_SCRATCH:-$REPO/.build}

TEST_PACKAGES=(libssl-dev libmariadb-dev libdb-dev liblmdb-dev libpcre2-dev libsqlite3-dev
               postfix postfix-mysql postfix-pcre postfix-lmdb postfix-sqlite
               mariadb-server mariadb-client time python3-pytest
               pflogsumm swaks fail2ban dovecot-core postgrey)

log() { printf 'test.sh: %s\n' "$*" >&2; }

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
    # The oracle must stay unconfigured: no main.cf, no running daemon.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    local apt_install=(apt-get install -y -qq --no-install-recommends -o=Dpkg::Use-Pty=0)
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

need_packages "${TEST_PACKAGES[@]}"

log "building (debug, with tests)"
swift build --build-tests --scratch-path "$SCRATCH"
BIN=$(swift build --scratch-path "$SCRATCH" --show-bin-path)

status=0

log "unit tests"
if ! swift test --skip-build --scratch-path "$SCRATCH"; then
    log "unit tests FAILED"
    status=1
fi

log "fuzzing smtpd's command parser and DATA/BDAT framing (bounded)"
if ! scripts/fuzz-smtpd.sh "${POSTHORN_FUZZ_SECONDS:-45}"; then
    log "fuzzing FAILED"
    status=1
fi

if /usr/bin/python3 -c 'import pytest' 2>/dev/null; then
    PYTEST=(/usr/bin/python3 -m pytest)
else
    PYTEST=(python3 -m pytest)
fi

log "system tests (POSTHORN_BIN=$BIN)"
if ! POSTHORN_DIALOGS=1 POSTHORN_BIN="$BIN" "${PYTEST[@]}" -q -p no:cacheprovider Tests/System "$@"; then
    log "system tests FAILED"
    status=1
fi

if [ "$status" -eq 0 ]; then
    log "all tests passed"
else
    log "some tests FAILED"
fi
exit "$status"
