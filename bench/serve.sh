#!/usr/bin/env bash
# Benchmark of `wardwatch serve`: Windows events (the dense EVTX set, as EVTX JSON documents)
# posted through `/_bulk` with the SigmaHQ rules loaded and the store on.
#   1. sustained events/s at the highest rate the server accepts (posting as fast as acknowledged);
#   2. ingest-to-alert latency p50/p99 at a steady 20,000 events/s;
#   3. peak memory of the server (VmHWM) in each run.
# When an `rsigma` binary is on PATH, its daemon is run on the same events and rules and the
# ratio is printed.
# Usage: bench/serve.sh [SECONDS]   (default 20 per run; BENCH_BIN=PATH: another binary)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
shared="${WARDWATCH_SHARED_DATA:-$root/../shared/data}"
secs="${1:-20}"
if [ ! -d "$shared/evtx/dense-samples" ] || [ ! -d "$shared/sigma/rules" ]; then
    echo "bench/serve.sh: $shared/evtx/dense-samples or sigma/rules is missing; nothing to measure"
    exit 0
fi
cd "$root"
# BENCH_BIN=PATH measures another wardwatch binary (an older build kept aside, for before/after
# figures on the same machine); otherwise target/release/wardwatch is built.
if [ -n "${BENCH_BIN:-}" ]; then
    bin="$BENCH_BIN"
else
    cargo build --release -p wardwatch >/dev/null
    bin="$root/target/release/wardwatch"
fi
CARGO_TARGET_DIR="$root/target" cargo build --release --manifest-path bench/loadgen/Cargo.toml >/dev/null
loadgen="$root/target/release/wardwatch-loadgen"
port=18181

run() { # $1 rate (0 = max), $2 events a request, $3 connections; prints loadgen figures + peak MiB
    local data; data="$(mktemp -d)"
    WARDWATCH_INGEST_TOKEN=bench WARDWATCH_API_TOKEN=bench "$bin" serve --data "$data" \
        --http "127.0.0.1:$port" --syslog "" -r "$shared/sigma/rules" >"$data.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do
        curl -s "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        sleep 0.2
    done
    "$loadgen" "127.0.0.1:$port" bench bench "$shared/evtx/dense-samples" "$1" "$secs" "$2" "$3" 2>/dev/null
    echo "peak_mib $(( $(awk '/VmHWM/ {print $2}' "/proc/$pid/status") / 1024 ))"
    # The full-text index runs on idle CPU only (search checks unindexed events directly):
    # how far behind it is when detection has caught up, and how long it takes to catch up.
    local t0 left; t0=$(date +%s.%N)
    unindexed() { curl -s -H 'Authorization: Bearer bench' "http://127.0.0.1:$port/metrics" |
        awk '/^wardwatch_unindexed_events/ {print $2}'; }
    left="$(unindexed)"; echo "unindexed_at_end ${left:-?}"
    for _ in $(seq 1 600); do [ "$(unindexed)" = 0 ] && break; sleep 0.2; done
    echo "index_caught_up_s $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    rm -rf "$data" "$data.log"
}

echo "== wardwatch serve, SigmaHQ rules ($(find "$shared/sigma/rules" -name '*.yml' | wc -l) files), store on, fsync on, ${secs}s per run"
echo "-- as fast as acknowledged: 4 connections x 500 events a request"
max="$(run 0 500 4)"; echo "$max"
echo "-- as fast as acknowledged: 16 connections x 1,600 events (many shippers; Beats' default bulk_max_size)"
many="$(run 0 1600 16)"; echo "$many"
echo "-- steady 20,000 events/s"
steady="$(run 20000 500 4)"; echo "$steady"
ours=$(echo "$max" | awk '/sustained_rate/ {print $2}')
ours_many=$(echo "$many" | awk '/sustained_rate/ {print $2}')
echo
echo "sustained: $ours events/s with 4 x 500, $ours_many events/s with 16 x 1,600 (target 50,000)"
# Only items the server accepted one by one count as acked (loadgen reads each _bulk item).
echo "bulk items rejected: $(echo "$max" | awk '/items_rejected/ {print $2}') (4 x 500), $(echo "$many" | awk '/items_rejected/ {print $2}') (16 x 1,600), $(echo "$steady" | awk '/items_rejected/ {print $2}') (steady)"
echo "latency at 20k/s: p50 <= $(echo "$steady" | awk '/latency_p50/ {print $2}') s, p99 <= $(echo "$steady" | awk '/latency_p99/ {print $2}') s (histogram bucket bounds; target p99 < 1 s)"
echo "full-text index after the 4 x 500 run: $(echo "$max" | awk '/unindexed_at_end/ {print $2}') events behind, caught up in $(echo "$max" | awk '/index_caught_up_s/ {print $2}') s"
# Peer: rsigma's daemon (`engine daemon --input http`) on the same events, pre-flattened to the
# flat JSON it reads (evtx_dump + bench/flatten_evtx_jsonl.py, untimed), with the same rules.
# It detects only: no storage, no index, no acknowledgement after commit.
if command -v rsigma >/dev/null 2>&1 && rsigma engine daemon --help >/dev/null 2>&1 \
    && command -v evtx_dump >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
    flat="$(mktemp)"
    for f in "$shared"/evtx/dense-samples/*.evtx; do evtx_dump -o jsonl "$f" 2>/dev/null; done |
        python3 "$here/flatten_evtx_jsonl.py" >"$flat"
    echo "-- rsigma $(rsigma --version | awk 'NR==1{print $2}') engine daemon, as fast as it accepts"
    peer="$(python3 "$here/rsigma_daemon.py" "$flat" "$shared/sigma/rules" "$secs")"
    echo "$peer"
    rm -f "$flat"
    theirs=$(echo "$peer" | awk '/sustained_rate/ {print $2}')
    awk -v o="$ours" -v m="$ours_many" -v t="$theirs" 'BEGIN { if (t > 0) printf "ratio wardwatch/rsigma-daemon: %.2f (4 x 500), %.2f (16 x 1,600); wardwatch also stores, indexes and acknowledges after commit\n", o / t, m / t }'
else
    echo "rsigma daemon not available (needs rsigma built with its daemon feature, evtx_dump and python3): no peer ratio for serve"
fi
