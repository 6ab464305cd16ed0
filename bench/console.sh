#!/usr/bin/env bash
# The console with the demo week stored: p50/p95 server-side render times of the overview and of
# an incident page (the phishing story's), measured from a client on loopback (curl's total
# time, a signed-in session, sequential requests after one warm-up), and the event search: a
# word, a field value, a host by its short name, an AND of two and a user name — each through
# the search page (the last 7 days, 100 events listed, facets from a sample of the newest
# 1,000) and the API (50), with the total and whether it is exact, an estimate or a lower bound.
#
# Usage: bench/console.sh [SCALE] [RUNS]   (defaults: 1.0, 100)
#   BENCH_DATA=DIR  keep the store in DIR: the first run feeds the demo week into it (`demo
#                   --data DIR`), later runs serve it as it is (`serve --data DIR`), so a large
#                   store (--scale 30: 5.2 million events, ~7 GB) is fed once. Remove DIR after.
#   BENCH_BIN=PATH  the binary to measure (default: build target/release/wardwatch), e.g. an
#                   older build kept aside, for before/after figures on the same store.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
scale="${1:-1.0}"
runs="${2:-100}"
cd "$root"
if [ -n "${BENCH_BIN:-}" ]; then
    bin="$BENCH_BIN"
else
    cargo build --release -p wardwatch >/dev/null
    bin="$root/target/release/wardwatch"
fi
work="$(mktemp -d)"
data="${BENCH_DATA:-$work/data}"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
if [ -e "$data/wardwatch.db" ]; then
    echo "serving the store kept in $data (fed by an earlier run)"
    WARDWATCH_API_TOKEN=demo "$bin" serve --data "$data" --http "127.0.0.1:$port" --syslog "" >"$work/demo.log" 2>&1 &
    ready="wardwatch: serving with"
else
    "$bin" demo --data "$data" --http "127.0.0.1:$port" --syslog "" --scale "$scale" >"$work/demo.log" 2>&1 &
    ready="^Console:"
fi
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 18000); do
    grep -q "$ready" "$work/demo.log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/demo.log"; exit 1; }
    sleep 0.2
done
grep -q "$ready" "$work/demo.log" || { echo "the server did not get ready:"; tail "$work/demo.log"; exit 1; }
grep -o "fed [0-9]* records in [0-9.]* s" "$work/demo.log" | sed 's/^/demo week: /' || true
# Search is measured with the full-text index caught up (it is built behind the journal, at the
# lowest CPU priority; until then search checks the unindexed events one by one).
for _ in $(seq 1 3600); do
    left=$(curl -s -H "Authorization: Bearer demo" "$base/metrics" | awk '/^wardwatch_unindexed_events /{print $2}')
    [ "${left:-1}" = "0" ] && break
    sleep 1
done
echo "events stored: $(curl -s -H 'Authorization: Bearer demo' "$base/api/v1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["store"].get("events", "?"))'); not yet indexed: ${left:-?}"

# Sign in like a browser: the form's token and its cookie, then the session cookie. (The
# cookies are `Secure`, which curl keeps only for https, so they are carried by hand here.)
curl -s -D "$work/h1" -o "$work/p1" "$base/login"
token=$(grep -o 'name="csrf_token" value="[^"]*"' "$work/p1" | sed 's/.*value="//; s/"$//')
login_cookie=$(grep -i '^set-cookie: *ww_login_csrf=' "$work/h1" | sed 's/^[^:]*: *//; s/;.*//')
curl -s -D "$work/h2" -o /dev/null -H "Cookie: $login_cookie" --data "username=demo&password=demo&csrf_token=$token" "$base/login"
session=$(grep -i '^set-cookie: *ww_session=' "$work/h2" | sed 's/^[^:]*: *//; s/;.*//')
[ -n "$session" ] || { echo "sign-in failed:"; cat "$work/h2"; exit 1; }
# A browser's request: the session cookie, and `Accept: text/html` (`GET /` answers shippers
# with the Elasticsearch root otherwise).
browser=(-H "Cookie: $session" -H "Accept: text/html")

# The phishing incident: the medium-and-above incident whose narrative speaks of mail.
incident=$(curl -s -H 'Authorization: Bearer demo' "$base/api/v1/incidents?min_severity=medium" | python3 -c '
import json, sys
inc = json.load(sys.stdin)["incidents"]
mail = [i for i in inc if "mail" in i.get("narrative", "").lower()]
print((mail or inc)[0]["id"])')

# p50 / p95 / max in ms of `runs` GETs of a page (after one warm-up request).
measure() {
    local name="$1" url="$2"
    curl -s "${browser[@]}" -o /dev/null "$url"
    for _ in $(seq 1 "$runs"); do
        curl -s "${browser[@]}" -o /dev/null -w "%{http_code} %{time_total}\n" "$url"
    done >"$work/times"
    if grep -qv '^200 ' "$work/times"; then
        echo "$name: not every answer was 200:"; sort "$work/times" | uniq -c | head; exit 1
    fi
    awk '{print $2 * 1000}' "$work/times" | sort -n | awk -v name="$name" '
        {v[NR] = $1} END {
            p50 = v[int(NR * 0.50 + 0.5)]; p95 = v[int(NR * 0.95 + 0.5)];
            printf "%-28s p50 %7.1f ms   p95 %7.1f ms   max %7.1f ms   (%d requests)\n", name, p50, p95, v[NR], NR }'
}

echo "== page render times (loopback, signed in, sequential; shared 2-core machine)"
measure "overview (24 h)" "$base/"
measure "overview (7 d)" "$base/?range=7d"
measure "incident page ($incident)" "$base/incidents/$incident"
measure "incident list" "$base/incidents"

echo "== search over the last 7 days: page (100 listed, facets from a sample of 1,000) and API (50)"
search_runs=$(( runs / 5 > 10 ? runs / 5 : 10 ))
for q in 'powershell' 'event.code:4625' 'host.name:PACS01' 'host.name:PACS01 AND event.code:4624' 'mnguyen' 'user.name:mnguyen'; do
    enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$q")
    page=$(curl -s "${browser[@]}" "$base/search?q=$enc&range=7d")
    total=$(echo "$page" | grep -o '[a-z ]*<b>[0-9]*</b> event(s) match[^·]*' | sed 's/<[^>]*>//g' | head -1 || true)
    old_runs=$runs; runs=$search_runs
    measure "search page: $q" "$base/search?q=$enc&range=7d"
    measure "search API:  $q" "$base/api/v1/events?q=$enc&from=now-7d&limit=50"
    runs=$old_runs
    echo "    page: $total"
    curl -s -H 'Authorization: Bearer demo' "$base/api/v1/events?q=$enc&from=now-7d&limit=50" | python3 -c '
import json, sys
v = json.load(sys.stdin)
print("    API: total %s (%s)%s" % (v["total"], v.get("total_relation", "exact"), " partial" if v.get("partial") else ""))'
done
