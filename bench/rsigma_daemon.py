#!/usr/bin/env python3
"""Sustained events/s of rsigma's daemon (`rsigma engine daemon --input http`), the peer of
`wardwatch serve` in bench/serve.sh.

Usage: rsigma_daemon.py FLAT_NDJSON RULES_DIR SECONDS [PORT]

Starts the daemon on loopback with the rules, posts the flattened events (bench/
flatten_evtx_jsonl.py output) to `POST /api/v1/events` in batches of 1,000 lines (its body limit
is about 2 MiB) over 4 keep-alive connections for SECONDS, as fast as it accepts them, then
waits until `rsigma_events_processed_total` reaches the number posted (a 200 only means queued)
and prints `sustained_rate N` (processed / time from the first post to the last processed),
`peak_mib N` (VmHWM). The daemon does detection only: no storage, no index, no durability.
"""

import http.client
import os
import subprocess
import sys
import threading
import time


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    c.close()
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def main():
    flat, rules, secs = sys.argv[1], os.path.abspath(sys.argv[2]), float(sys.argv[3])
    port = int(sys.argv[4]) if len(sys.argv) > 4 else 19090
    lines = [l for l in open(flat, "rb").read().split(b"\n") if l.strip()]
    if not lines:
        sys.exit("no events in " + flat)
    batch = 1000
    bodies = []
    for i in range(0, len(lines), batch):
        chunk = lines[i:i + batch]
        if len(chunk) < batch:  # wrap around so every body has `batch` events
            chunk = chunk + lines[: batch - len(chunk)]
        bodies.append(b"\n".join(chunk) + b"\n")
    daemon = subprocess.Popen(
        ["rsigma", "engine", "daemon", "-r", rules, "--input", "http", "--input-format", "json",
         "--api-addr", f"127.0.0.1:{port}", "--output", "file:///dev/null"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp")
    try:
        for _ in range(300):
            if daemon.poll() is not None:
                sys.exit(f"rsigma daemon exited with {daemon.returncode} before it was ready")
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/readyz")
                if b'"rules_loaded":true' in c.getresponse().read():
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            sys.exit("rsigma daemon did not become ready")
        posted = [0]
        lock = threading.Lock()
        start = time.time()
        deadline = start + secs

        def sender(k):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            i = k
            while time.time() < deadline:
                c.request("POST", "/api/v1/events", body=bodies[i % len(bodies)],
                          headers={"Content-Type": "application/x-ndjson"})
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    sys.exit(f"rsigma answered {r.status}")
                with lock:
                    posted[0] += batch
                i += 4

        threads = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = posted[0]
        while metric(port, "rsigma_events_processed_total") < total:
            if time.time() - start > secs * 10 + 60:
                break
            time.sleep(0.05)
        elapsed = time.time() - start
        processed = metric(port, "rsigma_events_processed_total")
        with open(f"/proc/{daemon.pid}/status") as f:
            hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
        print(f"events_posted {total}")
        print(f"events_processed {int(processed)}")
        print(f"sustained_rate {processed / elapsed:.0f}")
        print(f"peak_mib {hwm // 1024}")
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


if __name__ == "__main__":
    main()
