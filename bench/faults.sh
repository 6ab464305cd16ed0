#!/usr/bin/env bash
# Fault injection for `wardwatch serve` (needs root: tmpfs and loop mounts, chattr).
#   1. 20 x kill -9 while RATE events/s arrive (4/5 over `_bulk` without `_id`, 1/5 over syslog TCP);
#   2. disk full: the data folder on a small tmpfs, filled mid-ingest, then grown;
#   3. the database files made read-only (chattr +i) mid-ingest, then writable again.
# Every time: the shipper (bench/loadgen `faults`) retries each bulk batch until acknowledged;
# afterwards the journal is read and every acknowledged document must be there exactly once.
# What the server said while the fault lasted (HTTP answers, /healthz, its log) is printed.
# `_bulk`, the API and /healthz are served over HTTPS, with a CA and a certificate for
# 127.0.0.1 made here by openssl (as a hospital's own PKI would issue them).
# Usage: bench/faults.sh [RATE] [KILLS]   (defaults 20000 and 20)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
rate="${1:-20000}"
kills="${2:-20}"
if [ "$(id -u)" != 0 ]; then
    echo "bench/faults.sh: needs root (tmpfs and loop mounts, chattr); nothing measured"
    exit 0
fi
cd "$root"
# BENCH_PROFILE=debug uses debug builds (slower: lower the rate), e.g. on a machine busy compiling.
profile="${BENCH_PROFILE:-release}"
flag=--release; [ "$profile" = debug ] && flag=
cargo build $flag -p wardwatch >/dev/null
CARGO_TARGET_DIR="$root/target" cargo build $flag --manifest-path bench/loadgen/Cargo.toml --bin faults >/dev/null
bin="$root/target/$profile/wardwatch"
faults="$root/target/$profile/faults"
http=18281
syslog=18282
work="$(mktemp -d)"
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    chattr -i "$work"/ext/data/* 2>/dev/null || true
    umount "$work/tmpfs" 2>/dev/null || true
    umount "$work/ext" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# HTTPS: a CA, and a server certificate it signs for 127.0.0.1 (P-256).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Wardwatch faults CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >"$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
    -extfile "$work/server.ext" -out "$work/server.pem" 2>/dev/null
cat >"$work/config.toml" <<TOML
[http]
tls_cert = "$work/server.pem"
tls_key = "$work/server.key"
TOML
export FAULTS_CA="$work/ca.pem"
url="https://127.0.0.1:$http"
get() { curl -s --cacert "$work/ca.pem" "$@"; }

start() { # $1 data dir; sets pid, waits for /healthz
    WARDWATCH_LOG=info WARDWATCH_INGEST_TOKEN=faults WARDWATCH_API_TOKEN=faults "$bin" serve --config "$work/config.toml" --data "$1" \
        --http "127.0.0.1:$http" --syslog "127.0.0.1:$syslog" >>"$work/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do
        get -o /dev/null "$url/healthz" && return 0
        sleep 0.1
    done
    echo "server did not come up; its log:"; tail -20 "$work/server.log"; exit 1
}
stop() { # graceful: what was received is committed
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
}
health() { get -m 2 -w ' (%{http_code})' "$url/healthz" 2>/dev/null || echo "(no answer)"; }
drain() { # until detection has caught up
    for _ in $(seq 1 600); do
        q=$(get -H 'Authorization: Bearer faults' "$url/metrics" | awk '/^wardwatch_queued_events/ {print $2}')
        [ "${q:-1}" = 0 ] && return 0
        sleep 0.2
    done
}
peak() { awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$pid/status" 2>/dev/null || echo "?"; }
resends() { # retries recognized as resends since this server started
    get -H 'Authorization: Bearer faults' "$url/metrics" | awk '/^wardwatch_resends_total/ {n += $2} END {print n + 0}'
}

echo "== 1. $kills x kill -9 at $rate events/s (bulk over HTTPS + syslog TCP)"
data="$work/kill9"
: >"$work/server.log"
start "$data"
secs=$(( kills * 3 + 5 ))
"$faults" send "$url" faults "127.0.0.1:$syslog" "$rate" "$secs" "$work/out1" >"$work/send1.txt" 2>&1 &
sender=$!
restarts=()
resent=0
for i in $(seq 1 "$kills"); do
    sleep 3
    resent=$(( resent + $(resends) ))
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
    t0=$(date +%s.%N)
    start "$data"
    restarts+=("$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')")
done
wait "$sender"
drain
resent=$(( resent + $(resends) ))
stop
cat "$work/send1.txt"
echo "restart to /healthz (s): ${restarts[*]}"
"$faults" verify "$data" "$work/out1" || true
echo "restarts that refilled the resend window: $(grep -c "resend window refilled" "$work/server.log" || true) (at most $(grep "resend window refilled" "$work/server.log" | sed 's/\x1b\[[0-9;]*m//g' | grep -oE 'documents=[0-9]+' | cut -d= -f2 | sort -n | tail -1 || true) keys)"
echo "batches resent by the shipper after a kill and recognized (not stored again): $resent documents"

echo
echo "== 2. disk full: the data folder on a 24 MiB tmpfs, at $(( rate / 4 )) events/s"
mkdir -p "$work/tmpfs"
mount -t tmpfs -o size=24m tmpfs "$work/tmpfs"
data="$work/tmpfs/data"
: >"$work/server.log"
start "$data"
"$faults" send "$url" faults "127.0.0.1:$syslog" "$(( rate / 4 ))" 60 "$work/out2" >"$work/send2.txt" 2>&1 &
sender=$!
full_at=
for _ in $(seq 1 600); do
    if [ "$(df --output=avail "$work/tmpfs" | tail -1)" -lt 1024 ]; then full_at=$(date +%s.%N); break; fi
    sleep 0.1
done
if [ -n "$full_at" ]; then
    sleep 5
    echo "full: /healthz says: $(health)"
    echo "full: the server's log says:"; grep -iE "full|refused|failed" "$work/server.log" | sort | uniq -c | sort -rn | head -5 | cut -c1-300
    mount -o remount,size=1g "$work/tmpfs"
    t0=$(date +%s.%N)
    before=$(get -H 'Authorization: Bearer faults' "$url/metrics" | awk '/^wardwatch_stored_total/ {print $2}')
    for _ in $(seq 1 600); do
        now=$(get -H 'Authorization: Bearer faults' "$url/metrics" | awk '/^wardwatch_stored_total/ {print $2}')
        [ "${now:-0}" -gt "${before:-0}" ] && break
        sleep 0.1
    done
    echo "space back: ingest resumed after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s; /healthz: $(health)"
else
    echo "the tmpfs did not fill within a minute"
fi
wait "$sender"
drain; stop
cat "$work/send2.txt"
"$faults" verify "$data" "$work/out2" || true
umount "$work/tmpfs"

echo
echo "== 3. the database made read-only (chattr +i on the database and its WAL) at $(( rate / 4 )) events/s"
truncate -s 1G "$work/ext.img"
mkfs.ext4 -q -F "$work/ext.img"
mkdir -p "$work/ext"
mount -o loop "$work/ext.img" "$work/ext"
data="$work/ext/data"
: >"$work/server.log"
start "$data"
"$faults" send "$url" faults "127.0.0.1:$syslog" "$(( rate / 4 ))" 30 "$work/out3" >"$work/send3.txt" 2>&1 &
sender=$!
sleep 5
chattr +i "$data/wardwatch.db" "$data/wardwatch.db-wal"
sleep 10
echo "read-only: /healthz says: $(health)"
echo "read-only: the server's log says:"; grep -iE "readonly|read-only|permitted|refused|failed" "$work/server.log" | sort | uniq -c | sort -rn | head -5 | cut -c1-300
chattr -i "$data/wardwatch.db" "$data/wardwatch.db-wal"
t0=$(date +%s.%N)
before=$(get -H 'Authorization: Bearer faults' "$url/metrics" | awk '/^wardwatch_stored_total/ {print $2}')
for _ in $(seq 1 600); do
    now=$(get -H 'Authorization: Bearer faults' "$url/metrics" | awk '/^wardwatch_stored_total/ {print $2}')
    [ "${now:-0}" -gt "${before:-0}" ] && break
    sleep 0.1
done
echo "writable again: ingest resumed after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s; /healthz: $(health)"
wait "$sender"
drain; stop
cat "$work/send3.txt"
"$faults" verify "$data" "$work/out3" || true
