#!/usr/bin/env bash
# Network benchmark (issue 11): how fast the network analytics keep pace with a sensor's Zeek
# logs, in `hunt` (files) and live in `serve` (posted over `_bulk`), and how much memory they
# take at 1x and 4x the records (their state expires: serve's memory must not grow with them).
#
# Data: the generated network week (`wardwatch demo --network-week`: the demo hospital's Zeek
# conn, dns, dce_rpc, smb_mapping, kerberos, rdp and dhcp logs with every planted case), written
# for DAYS days (1x) and for 4 x DAYS days (4x: four times the records, at the same rate).
#
# Side by side, on the same file:
#   floor      hunt reading the Zeek log with one rule that matches nothing and no analytics
#              (decoding, the reader threads and the output: Zeek-log reading alone)
#   analytics  the same plus the analytics with the context (inventory, zones)
#   full       the built-in rule pack plus the analytics with the context (what `hunt` runs)
#   serve      `serve` with the context, the Zeek records posted over `_bulk` (5,000 a request,
#              4 at a time) until detection has processed every one. One shipper sends them
#              all, so the per-sender budget is lifted (`source_budget_events_per_sec = 0`):
#              its default, 20,000 events/s, is what capped serve at 20,000 records/s (about
#              13,000 conn/s) before; a sensor this busy needs its budget raised likewise
# Each prints wall seconds, conn records/s, all records/s, peak RSS (/usr/bin/time -v; for
# serve VmHWM), the CPU seconds the process used (user + system: on a machine others share,
# the wall time is noisy, the CPU time much less) and the ratio to the floor. Targets: 50,000
# conn records/s in hunt, 20,000/s live in serve.
#
# Environment:
#   SCALE=1          volume (`--scale`; 1.0 is about 40 records per workstation and working hour)
#   DAYS=7           days generated for 1x (4x: 4 x DAYS)
#   RUNS=1           timed runs of each hunt (the median is reported)
#   WARDWATCH_BIN    use this wardwatch binary instead of building one (release)
#   KEEP=1           keep the generated data (in bench/.network-data)
# The machine is shared: say so with the figures (others' builds make them noisy).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SCALE=${SCALE:-1}
DAYS=${DAYS:-7}
RUNS=${RUNS:-1}
HUNT_TARGET=50000
SERVE_TARGET=20000
for tool in curl /usr/bin/time bc split python3; do
    command -v "$tool" >/dev/null || { echo "bench/network.sh needs $tool" >&2; exit 2; }
done
if [[ -n ${WARDWATCH_BIN:-} ]]; then
    WW=$WARDWATCH_BIN
else
    echo "building wardwatch (release)..." >&2
    (cd "$ROOT" && nice -n 10 cargo build --release -p wardwatch --quiet)
    WW=$ROOT/target/release/wardwatch
fi
WORK=$ROOT/bench/.network-data
rm -rf "$WORK"
mkdir -p "$WORK"
cleanup() {
    [[ -n ${SERVE_PID:-} ]] && kill "$SERVE_PID" 2>/dev/null || true
    [[ ${KEEP:-0} == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT

# A rule for a log source the Zeek records are not: the floor decodes and checks, nothing fires.
mkdir -p "$WORK/none"
cat >"$WORK/none/none.yml" <<'EOF'
title: Never Matches A Network Record
id: 9a0c4d7e-5b1f-4e8a-9c2d-3f6b7a8e1d05
status: test
description: The floor of bench/network.sh.
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: 999999
    condition: selection
level: low
EOF

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# hunt LABEL DIR ARGS...: median wall seconds and peak RSS of `hunt ARGS DIR/zeek.json`.
hunt() {
    local label=$1 dir=$2
    shift 2
    local walls=() rss=0 cpu=0
    for _ in $(seq 1 "$RUNS"); do
        /usr/bin/time -v "$WW" hunt -q --format jsonl -o /dev/null "$@" "$dir/zeek.json" \
            2>"$WORK/time.txt" || { cat "$WORK/time.txt" >&2; exit 1; }
        walls+=("$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$WORK/time.txt")")
        rss=$(awk -F': ' '/Maximum resident set size/ {print int($2 / 1024)}' "$WORK/time.txt")
        cpu=$(awk -F': ' '/(User|System) time \(seconds\)/ {s += $2} END {print s}' "$WORK/time.txt")
    done
    local wall
    wall=$(printf '%s\n' "${walls[@]}" | median)
    echo "$label $wall $rss $cpu"
}

# serve_run DIR: seconds from the first post until detection has processed every record, and
# the server's peak memory (VmHWM).
serve_run() {
    local dir=$1 data port=18211
    data=$(mktemp -d "$WORK/serve.XXXX")
    printf '[pipeline]\nsource_budget_events_per_sec = 0\n[incidents]\ncontext = "%s"\n' \
        "$dir/context" >"$data.toml"
    # The bulk bodies: 5,000 records each.
    mkdir -p "$data.bulk"
    awk '{print "{\"index\":{}}"; print}' "$dir/zeek.json" | split -l 10000 - "$data.bulk/b."
    WARDWATCH_INGEST_TOKEN=bench WARDWATCH_API_TOKEN=bench "$WW" serve --data "$data" \
        --config "$data.toml" --http "127.0.0.1:$port" --syslog "" >"$data.log" 2>&1 &
    SERVE_PID=$!
    for _ in $(seq 1 150); do
        curl -s "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        sleep 0.2
    done
    stat() { # SECTION KEY of /api/v1/stats
        curl -s -H 'Authorization: Bearer bench' "http://127.0.0.1:$port/api/v1/stats" |
            python3 -c "import json, sys; print(json.load(sys.stdin)['$1']['$2'])" 2>/dev/null || echo '?'
    }
    local t0 t1
    t0=$(date +%s.%N)
    # shellcheck disable=SC2016
    ls "$data.bulk"/b.* | xargs -P 4 -I{} sh -c '
        until code=$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer bench" \
            -H "Content-Type: application/x-ndjson" --data-binary @"$1" "http://127.0.0.1:'"$port"'/_bulk") \
            && [ "$code" = 200 ]; do sleep 0.2; done' _ {}
    while :; do
        local queued
        queued=$(stat pipeline queued)
        [[ $queued == 0 ]] && break
        sleep 0.1
    done
    t1=$(date +%s.%N)
    local hwm cpu
    hwm=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$SERVE_PID/status")
    cpu=$(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$SERVE_PID/stat")
    local stored
    stored=$(stat store events)
    kill "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=
    echo "serve $(echo "$t1 - $t0" | bc -l) $hwm $cpu $stored"
    rm -rf "$data" "$data.bulk" "$data.toml" "$data.log"
}

for mult in 1 4; do
    days=$((DAYS * mult))
    dir=$WORK/x$mult
    "$WW" demo --network-week "$dir" --scale "$SCALE" --days "$days" 2>/dev/null
    records=$(wc -l <"$dir/zeek.json")
    conns=$(grep -c '"_path":"conn"' "$dir/zeek.json")
    echo
    echo "== ${mult}x: scale $SCALE, $days days: $records Zeek records ($conns conn), $(du -m "$dir/zeek.json" | cut -f1) MB"
    rows=()
    rows+=("$(hunt floor "$dir" --no-analytics -r "$WORK/none")")
    rows+=("$(hunt analytics "$dir" -r "$WORK/none" --context "$dir/context")")
    rows+=("$(hunt full "$dir" --context "$dir/context")")
    rows+=("$(serve_run "$dir")")
    floor_wall=$(echo "${rows[0]}" | cut -d' ' -f2)
    printf '%-10s %9s %14s %14s %9s %8s %12s\n' what seconds conn/s records/s peak_MiB cpu_s vs_floor
    for row in "${rows[@]}"; do
        read -r label wall rss cpu _ <<<"$row"
        printf '%-10s %9.2f %14.0f %14.0f %9s %8.2f %11.2fx\n' "$label" "$wall" \
            "$(echo "$conns / $wall" | bc -l)" "$(echo "$records / $wall" | bc -l)" "$rss" "$cpu" \
            "$(echo "$wall / $floor_wall" | bc -l)"
    done
    serve_stored=$(echo "${rows[3]}" | cut -d' ' -f5)
    [[ $serve_stored == "$records" ]] || echo "serve stored $serve_stored of $records records"
done
echo
echo "targets: hunt $HUNT_TARGET conn records/s (analytics, full), serve $SERVE_TARGET/s live;"
echo "memory: the peaks should stay flat from 1x to 4x: the analytics' state expires, and hunt"
echo "keeps its reduced copies for the ordered stage within a budget (past it, sorted runs on disk)."
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared)"
