#!/usr/bin/env bash
# Benchmark of the scale-out roles (docs/SCALE.md) on this machine, with the real servers the
# tests use (nats-server -js from target/py-cluster, ClickHouse from Debian; `bash .ci/run`
# installs them): Sysmon process creations posted through `_bulk` with the built-in rules.
#   1. ingest: events/s acknowledged through one ingest node, then two (no worker runs: the
#      stream holds what they accept);
#   2. detect: events/s from the stream into ClickHouse with one detect worker, then two, and
#      the consumer lag (messages not yet delivered, and held) sampled every 5 s;
#   3. the incident stage: how long the alerts stream takes to drain after the last event.
# Release build (crates/wardwatch/tests/cluster_bench.rs, ignored by `cargo test`).
# Usage: bench/cluster.sh [EVENTS]   (default 200000)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
export WARDWATCH_BENCH_EVENTS="${1:-200000}"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); load now: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo test --release -p wardwatch --test cluster_bench -- --ignored --nocapture --test-threads 1 2>&1 \
    | grep -E '^(cluster bench|ingest|detect|incidents|  detect|skipped|test result)'
