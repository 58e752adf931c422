#!/usr/bin/env bash
# fuzz-smtpd.sh - build smtpd's input-handling fuzz target with libFuzzer and
# run it for a bounded time over the checked-in corpus.
#
# Usage: scripts/fuzz-smtpd.sh [SECONDS] [extra libFuzzer options]
#   SECONDS defaults to 60 (-max_total_time). The corpus under
#   Tests/Fuzz/corpus/smtpd/ is only read; new inputs the run finds go to a
#   scratch directory (copy interesting ones into the corpus by hand).
#   A crash leaves crash-* in $POSTHORN_FUZZ_DIR (default /tmp/posthorn-fuzz)
#   and makes the script exit non-zero.
#
# What is compiled: Sources/smtpd/SmtpdCommand.swift, SmtpdTransport.swift,
# SmtpdDataFraming.swift, Sources/DNS/DNSMessage.swift and the harness
# Tests/Fuzz/SmtpdFuzz.swift, with `swiftc -sanitize=fuzzer,address`
# (SwiftPM cannot build a libFuzzer target with the rest of the package).
# SmtpdTransport.swift imports Util without using it; an empty stand-in
# module satisfies the import.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_LIMIT=${1:-60}
shift || true
WORK=${POSTHORN_FUZZ_DIR:-/tmp/posthorn-fuzz}
mkdir -p "$WORK/new"
CORPUS=Tests/Fuzz/corpus/smtpd

log() { printf 'fuzz-smtpd.sh: %s\n' "$*" >&2; }

printf '// stand-in for the Util import of SmtpdTransport.swift\n' > "$WORK/Util.swift"
swiftc -parse-as-library -emit-module -module-name Util "$WORK/Util.swift" -emit-module-path "$WORK/Util.swiftmodule"

log "building the fuzz target"
swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name SmtpdFuzz -I "$WORK" \
    Sources/smtpd/SmtpdCommand.swift Sources/smtpd/SmtpdTransport.swift Sources/smtpd/SmtpdDataFraming.swift \
    Sources/DNS/DNSMessage.swift Tests/Fuzz/SmtpdFuzz.swift \
    -o "$WORK/fuzz-smtpd" 2> >(grep -v 'Cannot export local symbol' >&2)

log "running for ${SECONDS_LIMIT}s over $CORPUS"
cd "$WORK"
if ! ./fuzz-smtpd -max_total_time="$SECONDS_LIMIT" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "$@" "$WORK/new" "$OLDPWD/$CORPUS" > "$WORK/fuzz.log" 2>&1; then
    tail -40 "$WORK/fuzz.log" >&2
    log "FAILED (crash inputs in $WORK)"
    exit 1
fi
grep -E '^stat::number_of_executed_units|^Done' "$WORK/fuzz.log" >&2 || true
log "no crash"
