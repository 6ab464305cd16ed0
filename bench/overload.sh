#!/usr/bin/env bash
# Overload for `wardwatch serve`: first the sustainable rate (numbered `_bulk` documents as fast
# as acknowledged, 4 connections, 20 s), then 60 s at 10x that rate offered: `_bulk` over 32
# connections as fast as the server takes them (each batch retried until acknowledged, as a
# shipper does) plus a syslog UDP flood of 10x the sustainable rate (UDP cannot be pushed
# back: what is not taken must be dropped, and counted). Prints the server's peak memory
# against the bound its configuration sets, every drop and refusal it counted, and checks
# that every acknowledged document is stored exactly once. The server runs with the default
# per-sender budget (20,000 events/s): the sustainable rate one shipper gets is the lower of that
# and what the machine can store and detect, and it is what the overload is a multiple of.
# OVERLOAD_BUDGET=N sets `source_budget_events_per_sec` (0: no per-sender budget, so the
# sustainable rate is the machine's and only the pipeline's own backpressure acts).
# Usage: bench/overload.sh [SECONDS]   (default 60)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
secs="${1:-60}"
cd "$root"
# BENCH_PROFILE=debug uses debug builds (slower: lower the rate), e.g. on a machine busy compiling.
profile="${BENCH_PROFILE:-release}"
flag=--release; [ "$profile" = debug ] && flag=
cargo build $flag -p wardwatch >/dev/null
CARGO_TARGET_DIR="$root/target" cargo build $flag --manifest-path bench/loadgen/Cargo.toml --bin faults >/dev/null
bin="$root/target/$profile/wardwatch"
faults="$root/target/$profile/faults"
http=18291
syslog=18292
work="$(mktemp -d)"
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
# The bounds that hold memory: request bodies read at once, the journal writer's queue, the
# resend window; events waiting for detection wait on disk, not in memory.
cat >"$work/config.toml" <<TOML
[http]
max_body_mb = 16
max_concurrent_bulk = 8
[pipeline]
max_queued_events = 500000
writer_queue_batches = 64
source_budget_events_per_sec = ${OVERLOAD_BUDGET:-20000}
[resend]
max_documents = 500000
TOML
bodies_mib=$(( 16 * 8 ))

start() {
    WARDWATCH_INGEST_TOKEN=load WARDWATCH_API_TOKEN=load "$bin" serve --config "$work/config.toml" \
        --data "$work/data" --http "127.0.0.1:$http" --syslog "127.0.0.1:$syslog" >>"$work/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$http/healthz" && return 0; sleep 0.1; done
    echo "server did not start"; tail "$work/server.log"; exit 1
}
metrics() { curl -s -H 'Authorization: Bearer load' "http://127.0.0.1:$http/metrics"; }
stored() { metrics | awk '/^wardwatch_stored_total/ {print $2}'; }
drain() {
    for _ in $(seq 1 3000); do
        [ "$(metrics | awk '/^wardwatch_queued_events/ {print $2}')" = 0 ] && return 0
        sleep 0.2
    done
}

start
base=$(awk '/VmRSS/ {printf "%d", $2 / 1024}' "/proc/$pid/status")
echo "== sustainable: as fast as acknowledged, 4 connections x 1,000 documents, 20 s"
FAULTS_UDP_RATE=0 "$faults" send "127.0.0.1:$http" load "" 0 20 "$work/warm" 1000 4 | tee "$work/warm.txt"
rate=$(awk '/^bulk_rate/ {print $2}' "$work/warm.txt")
drain
echo
echo "== overload: ${secs} s, _bulk as fast as taken over 32 connections + syslog UDP flood at $(( rate * 10 ))/s (10x the sustainable $rate/s)"
peak=0
# Every half second: resident memory, the WAL's size, the space left where the data is.
( while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {printf "%d", $2 / 1024}' "/proc/$pid/status" 2>/dev/null)
    wal=$(( $(stat -c %s "$work/data/wardwatch.db-wal" 2>/dev/null || echo 0) / 1048576 ))
    free=$(( $(df --output=avail "$work" | tail -1) / 1024 ))
    echo "$rss $wal $free"
    sleep 0.5
  done ) >"$work/samples" &
sampler=$!
stored0=$(stored)
t0=$(date +%s.%N)
FAULTS_BASE=1000000000000 FAULTS_UDP_RATE=$(( rate * 10 )) "$faults" send "127.0.0.1:$http" load "127.0.0.1:$syslog" 0 "$secs" "$work/over" 1000 32 | tee "$work/over.txt"
t1=$(date +%s.%N)
stored1=$(stored)
drain
kill "$sampler" 2>/dev/null || true
peak=$(awk '{print $1}' "$work/samples" | sort -n | tail -1)
wal=$(awk '{print $2}' "$work/samples" | sort -n | tail -1)
low=$(awk '{print $3}' "$work/samples" | sort -n | head -1)
hwm=$(awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$pid/status")
echo
echo "stored while overloaded: $(( stored1 - stored0 )) events in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s = $(awk -v n=$(( stored1 - stored0 )) -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }') events/s (sustainable: $rate/s)"
echo "memory: resident at start $base MiB; during overload peak $peak MiB (VmHWM $hwm MiB); request bodies being read are bounded by max_concurrent_bulk x max_body_mb = $bodies_mib MiB; events waiting for detection wait on disk"
echo "memory every 10 s from the start of the overload, through the drain (MiB): $(awk 'NR % 20 == 1 {printf "%s ", $1}' "$work/samples")"
echo "disk: WAL at most $wal MiB; at least $low MiB free on the data folder's file system"
echo "what the server counted:"
metrics | grep -E '^wardwatch_(dropped|rejected|received|resends|throttled|time_skewed)_total|^wardwatch_stored_total|^wardwatch_journal_commit_failures_total' | sed 's/^/  /'
if grep -q "journal commit failed" "$work/server.log"; then
    echo "journal commit failures in the server's log:"; grep "journal commit failed" "$work/server.log" | sort | uniq -c | head -5 | cut -c1-400
fi
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
"$faults" verify "$work/data" "$work/over" || true
