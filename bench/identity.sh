#!/usr/bin/env bash
# Identity and privacy benchmark (issue 14): how fast the privacy analytics judge EHR audit
# events, and how fast the identity ledger answers the usage question. See bench/README.md.
#
# What it measures: `wardwatch hunt` over COPIES copies of a generated month of EHR access
# (FHIR AuditEvent NDJSON, `wardwatch demo --ehr-month`), once without and once with
# `--context` (the privacy analytics with roster, patients and encounters). The privacy
# analytics' own rate is the events they judged over the time they added; the target is 20,000
# audit events a second. Decoding is measured too (the run without --context).
#
# The identity ledger: a month of the generated hospital (`wardwatch demo --generate-only
# --days 30`: Windows logons and Kerberos/NTLM, sshd/sudo, VPN and the rest of the background
# with the spray story) is read into a store with `wardwatch identity load`, then the usage
# question ("where and how was this account used") is asked over the whole month for
# LEDGER_USERS accounts of the roster with `wardwatch identity usage --format json`, each run
# timed whole (process start and store open included). The target is 200 ms an answer.
#
# Environment:
#   PART=all         `privacy`, `ledger` or `all`
#   COPIES=10        copies of the month (about 30,000 accesses each)
#   RUNS=3           timed runs of each (the median is reported)
#   LEDGER_USERS=40  accounts asked about (spread over the roster)
#   LEDGER_SCALE=1   volume of the month's background (`demo --scale`)
#   WARDWATCH_BIN    use this wardwatch binary instead of building one (release)
#   STRICT=1         exit 1 when the target is missed
#   KEEP=1           keep the temporary folder (its path is printed)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
COPIES=${COPIES:-10}
RUNS=${RUNS:-3}
TARGET=20000
PART=${PART:-all}
LEDGER_USERS=${LEDGER_USERS:-40}
LEDGER_SCALE=${LEDGER_SCALE:-1}
LEDGER_TARGET_MS=200

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

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
MISSED=

if [[ $PART == all || $PART == privacy ]]; then
"$WW" demo --ehr-month "$WORK/month" --seed 14 2>/dev/null
mkdir -p "$WORK/audit"
for i in $(seq 1 "$COPIES"); do
    cp "$WORK/month/audit.ndjson" "$WORK/audit/audit-$i.ndjson"
done
EVENTS=$(( $(wc -l <"$WORK/month/audit.ndjson") * COPIES ))

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
if (( RATE < TARGET )); then
    MISSED=1
fi
fi

if [[ $PART == all || $PART == ledger ]]; then
"$WW" demo --generate-only "$WORK/hospital" --days 30 --scale "$LEDGER_SCALE" --seed 14 2>/dev/null
start=$(date +%s.%N)
"$WW" identity load "$WORK/hospital" --data "$WORK/ledger" 2>"$WORK/load.txt"
T_LOAD=$(echo "$(date +%s.%N) - $start" | bc)
LOADED=$(tail -1 "$WORK/load.txt")
TO=$(date -u +%Y-%m-%d)
FROM=$(date -u -d "$TO - 30 days" +%Y-%m-%d)
WEEK=$(date -u -d "$TO - 7 days" +%Y-%m-%d)
# Accounts spread over the roster (its first column, header skipped).
mapfile -t ACCOUNTS < <(tail -n +2 "$WORK/hospital/roster.csv" | cut -d, -f1 |
    awk -v n="$LEDGER_USERS" '{a[NR]=$1} END {step = NR / n; if (step < 1) step = 1;
        for (i = 1; i <= NR && c < n; i += step) {print a[int(i)]; c++}}')
ask() {
    local s e
    s=$(date +%s%N)
    "$WW" identity usage "$1" --data "$WORK/ledger" --from "$2" --to "$TO" --format json >"$WORK/usage.json" || true
    e=$(date +%s%N)
    echo $(( (e - s) / 1000000 ))
}
month=()
week=()
for _ in $(seq 1 "$RUNS"); do
    for u in "${ACCOUNTS[@]}"; do
        month+=("$(ask "$u" "$FROM")")
        week+=("$(ask "$u" "$WEEK")")
    done
done
M_MED=$(printf '%s\n' "${month[@]}" | median)
M_MAX=$(printf '%s\n' "${month[@]}" | sort -n | tail -1)
W_MED=$(printf '%s\n' "${week[@]}" | median)
W_MAX=$(printf '%s\n' "${week[@]}" | sort -n | tail -1)
PLACES=$(grep -o '"value"' "$WORK/usage.json" | wc -l)
echo "identity ledger bench: a month of the generated hospital ($FROM to $TO, scale $LEDGER_SCALE), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo "  load: $LOADED"
printf '  identity load           %8.2f s\n' "$T_LOAD"
echo "  usage over the month    median $M_MED ms, slowest $M_MAX ms (${#ACCOUNTS[@]} accounts x $RUNS runs; whole command; target $LEDGER_TARGET_MS ms)"
echo "  usage over the last week median $W_MED ms, slowest $W_MAX ms"
echo "  (the last answer listed $PLACES places)"
if (( M_MAX > LEDGER_TARGET_MS )); then
    MISSED=1
fi
fi

if [[ -n ${STRICT:-} && -n $MISSED ]]; then
    echo "target missed" >&2
    exit 1
fi
