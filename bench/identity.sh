#!/usr/bin/env bash
# Identity and privacy benchmark (issue 14): how fast the privacy analytics judge EHR audit
# events. See bench/README.md.
#
# What it measures: `wardwatch hunt` over COPIES copies of a generated month of EHR access
# (FHIR AuditEvent NDJSON, `wardwatch demo --ehr-month`), once without and once with
# `--context` (the privacy analytics with roster, patients and encounters). The privacy
# analytics' own rate is the events they judged over the time they added; the target is 20,000
# audit events a second. Decoding is measured too (the run without --context).
#
# Not measured yet: the identity ledger's usage question (the ledger is not built; see
# /work/notes/issue14.md).
#
# Environment:
#   COPIES=10        copies of the month (about 30,000 accesses each)
#   RUNS=3           timed runs of each (the median is reported)
#   WARDWATCH_BIN    use this wardwatch binary instead of building one (release)
#   STRICT=1         exit 1 when the target is missed
#   KEEP=1           keep the temporary folder (its path is printed)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
COPIES=${COPIES:-10}
RUNS=${RUNS:-3}
TARGET=20000

if [[ -n ${WARDWATCH_BIN:-} ]]; then
    WW=$WARDWATCH_BIN
else
    echo "building wardwatch (release)..." >&2
    (cd "$ROOT" && nice -n 10 cargo build --release -p wardwatch --quiet)
    WW=$ROOT/target/release/wardwatch
fi

WORK=$(mktemp -d)
if [[ -z ${KEEP:-} ]]; then
    trap 'rm -rf "$WORK"' EXIT
else
    echo "keeping $WORK" >&2
fi

"$WW" demo --ehr-month "$WORK/month" --seed 14 2>/dev/null
mkdir -p "$WORK/audit"
for i in $(seq 1 "$COPIES"); do
    cp "$WORK/month/audit.ndjson" "$WORK/audit/audit-$i.ndjson"
done
EVENTS=$(( $(wc -l <"$WORK/month/audit.ndjson") * COPIES ))

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_run() {
    local start end
    start=$(date +%s.%N)
    "$WW" hunt "$WORK/audit" --format jsonl -q -o "$WORK/out.jsonl" "$@"
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

plain=()
ctx=()
for _ in $(seq 1 "$RUNS"); do
    plain+=("$(time_run)")
    ctx+=("$(time_run --context "$WORK/month/context")")
done
T_PLAIN=$(printf '%s\n' "${plain[@]}" | median)
T_CTX=$(printf '%s\n' "${ctx[@]}" | median)
ALERTS=$(grep -c '"analytic-privacy-' "$WORK/out.jsonl" || true)
ADDED=$(echo "$T_CTX - $T_PLAIN" | bc)
RATE=$(echo "if ($ADDED <= 0.001) 999999999 else $EVENTS / $ADDED" | bc)
HUNT_RATE=$(echo "$EVENTS / $T_CTX" | bc)

echo "identity bench: $EVENTS EHR audit events ($COPIES copies of a month), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
printf '  hunt without --context  %8.2f s  (decode + rules)\n' "$T_PLAIN"
printf '  hunt with --context     %8.2f s  (%s privacy alerts)\n' "$T_CTX" "$ALERTS"
echo "  privacy analytics       $RATE events/s judged (target $TARGET; ratio $(echo "scale=1; $RATE / $TARGET" | bc)x)"
echo "  end to end with context $HUNT_RATE events/s (decode, rules and privacy)"
if [[ -n ${STRICT:-} ]] && (( RATE < TARGET )); then
    echo "target missed" >&2
    exit 1
fi
