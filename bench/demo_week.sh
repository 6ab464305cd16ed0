#!/usr/bin/env bash
# The generated hospital week as a benchmark: how long `wardwatch hunt` takes over it (files
# from `wardwatch demo --generate-only`) and how long `wardwatch demo` takes to feed it through
# the live pipeline (decode, journal, detection, incidents), with the incidents it ends with.
# Usage: bench/demo_week.sh [SCALE]   (default 1.0: about 173,000 records)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
scale="${1:-1.0}"
cd "$root"
cargo build --release -p wardwatch >/dev/null
bin="$root/target/release/wardwatch"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$bin" demo --generate-only "$work/week" --scale "$scale" 2>/dev/null
records=$(cat "$work"/week/*.jsonl "$work"/week/*.log "$work"/week/eve.json | wc -l)
echo "== generated week: $records records (scale $scale)"
start=$(date +%s.%N)
/usr/bin/time -f "hunt_peak_mib %M" "$bin" hunt "$work/week" --format csv -q -o "$work/findings.csv" 2>"$work/hunt.err" || true
end=$(date +%s.%N)
echo "hunt_seconds $(echo "$end - $start" | bc -l | cut -c1-6)"
awk '/hunt_peak_mib/ {printf "hunt_peak_mib %d\n", $2 / 1024}' "$work/hunt.err"
echo "hunt_findings $(($(wc -l <"$work/findings.csv") - 1))"

port=18390
"$bin" demo --data "$work/data" --http "127.0.0.1:$port" --syslog "" --scale "$scale" >"$work/demo.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q "Still serving" "$work/demo.log" && break; kill -0 "$pid" 2>/dev/null || { cat "$work/demo.log"; exit 1; }; sleep 0.2; done
grep -o "fed [0-9]* records in [0-9.]* s" "$work/demo.log" | sed 's/^/demo_/'
echo "demo_peak_mib $(( $(awk '/VmHWM/ {print $2}' "/proc/$pid/status") / 1024 ))"
curl -s -H 'Authorization: Bearer demo' "http://127.0.0.1:$port/api/v1/incidents?limit=1000" >"$work/incidents.json"
python3 - "$work/incidents.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
inc = v["incidents"]
above = [i for i in inc if i["severity"] not in ("informational", "low")]
alerts = sum(i["alert_count"] for i in inc)
print("incidents %d (%d above low), alerts in them %d" % (v["total"], len(above), alerts))
for i in above:
    print("  %-8s score %6.1f alerts %3d  %s" % (i["severity"], i["score"], i["alert_count"], i["title"]))
PY
kill "$pid"; wait "$pid" 2>/dev/null || true
while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
