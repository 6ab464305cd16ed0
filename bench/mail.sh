#!/usr/bin/env bash
# Mail benchmark (issue 16): messages scored per second by `wardwatch mail scan` (parse, URLs,
# attachments opened, authentication, impersonation, wording, verdict, one JSON row each),
# side by side with mail-parser parsing the same messages alone (the floor: nothing judged),
# and the ratio. See bench/README.md.
#
# Corpus: ../shared/data/email (phishing_pot, SpamAssassin ham and spam, mail-parser's odd and
# malformed messages, the AV test files scanned as attachments), read in place and listed
# REPEAT times, so the run is long enough to time. Both sides read the same files.
#
# Environment:
#   REPEAT=10        times the corpus is listed
#   RUNS=3           timed runs of each (the median is reported)
#   THREADS=1        threads for `mail scan` (RAYON_NUM_THREADS); the floor is one thread
#   WARDWATCH_BIN    use this wardwatch binary instead of building one (release)
#   STRICT=1         exit 1 when the target (500 messages/s) is missed
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DATA=${DATA:-$ROOT/../shared/data/email}
REPEAT=${REPEAT:-10}
RUNS=${RUNS:-3}
THREADS=${THREADS:-1}
TARGET=500

if [[ ! -d $DATA ]]; then
    echo "no corpus at $DATA (../shared/data/email)" >&2
    exit 2
fi
if [[ -n ${WARDWATCH_BIN:-} ]]; then
    WW=$WARDWATCH_BIN
else
    echo "building wardwatch (release)..." >&2
    (cd "$ROOT" && nice -n 10 cargo build --release -p wardwatch --quiet)
    WW=$ROOT/target/release/wardwatch
fi
echo "building the mail-parser floor (release)..." >&2
(cd "$ROOT" && nice -n 10 cargo build --release -p wardwatch-mail --example parse_floor --quiet)
FLOOR=$ROOT/target/release/examples/parse_floor

DIRS=()
for d in phishing_pot spamassassin/ham spamassassin/spam mail-parser attachments-clamav-testfiles; do
    [[ -d $DATA/$d ]] && DIRS+=("$DATA/$d")
done
ARGS=()
for _ in $(seq 1 "$REPEAT"); do ARGS+=("${DIRS[@]}"); done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

scan_times=()
messages=0
for _ in $(seq 1 "$RUNS"); do
    t0=$(now)
    messages=$(RAYON_NUM_THREADS=$THREADS "$WW" mail scan --format jsonl "${ARGS[@]}" | wc -l)
    t1=$(now)
    scan_times+=("$(echo "$t1 - $t0" | bc -l)")
done
floor_times=()
floor_messages=0
for _ in $(seq 1 "$RUNS"); do
    read -r floor_messages secs < <("$FLOOR" "${ARGS[@]}" 2>/dev/null)
    floor_times+=("$secs")
done
scan_s=$(printf '%s\n' "${scan_times[@]}" | median)
floor_s=$(printf '%s\n' "${floor_times[@]}" | median)
scan_rate=$(echo "$messages / $scan_s" | bc -l)
floor_rate=$(echo "$floor_messages / $floor_s" | bc -l)
ratio=$(echo "$scan_s / $floor_s" | bc -l)

printf '%-44s %9s %9s %12s %7s\n' "" "messages" "median s" "messages/s" "ratio"
printf '%-44s %9d %9.3f %12.0f %6.1fx\n' "wardwatch mail scan ($THREADS thread(s), scored)" "$messages" "$scan_s" "$scan_rate" "$ratio"
printf '%-44s %9d %9.3f %12.0f %6.1fx\n' "mail-parser 0.11.9 alone (1 thread, floor)" "$floor_messages" "$floor_s" "$floor_rate" 1
if (( $(echo "$scan_rate >= $TARGET" | bc -l) )); then
    printf 'target %d messages/s: met (%.1fx)\n' "$TARGET" "$(echo "$scan_rate / $TARGET" | bc -l)"
else
    printf 'target %d messages/s: MISSED\n' "$TARGET"
    [[ -n ${STRICT:-} ]] && exit 1
fi
