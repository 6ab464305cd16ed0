//! The scale-out benchmark (run by `bench/cluster.sh`, ignored by `cargo test`): per-role
//! throughput and consumer lag with one and two nodes per role on this machine, real servers
//! from `wardwatch-peers`, the built-in rule pack.
//!
//! Ingest: half the events through one ingest node, the other half through two (no worker
//! runs, the stream holds them). Detect: one worker (with the incident stage) until half the
//! events are in ClickHouse, then a second worker joins; throughput and lag are sampled each
//! second. `WARDWATCH_BENCH_EVENTS` sets the count (default 200,000).

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cluster_common::{Node, clickhouse};
use common::request;
use wardwatch_cluster::ClusterConfig;
use wardwatch_peers::Peer;

const BATCH: usize = 1000;
const SENDERS: usize = 4;

/// A varied Windows process creation; every 400th looks like an attack the built-in rules
/// know (encoded PowerShell), every 1,000th like credential dumping.
fn doc(base: i64, n: usize) -> String {
    let host = format!("ws-{:03}", n % 200);
    let (image, cmd) = match n % 1000 {
        0 => (
            "C:\\Windows\\System32\\rundll32.exe",
            "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 624 C:\\temp\\l.dmp full"
                .to_string(),
        ),
        k if k % 400 == 0 => (
            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA"
                .to_string(),
        ),
        k => (
            "C:\\Program Files\\Epic\\Hyperspace.exe",
            format!("Hyperspace.exe /session {k} /ward {}", n % 37),
        ),
    };
    serde_json::json!({
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": host,
        "TimeCreated": jiff::Timestamp::from_second(base + (n / 10) as i64).unwrap().to_string(),
        "Image": image, "CommandLine": cmd, "ParentImage": "C:\\Windows\\explorer.exe",
        "User": format!("HOSP\\user{}", n % 300), "n": n
    })
    .to_string()
}

/// Post events `range` over `nodes` with `SENDERS` threads; returns the seconds taken.
fn ingest(base: i64, range: std::ops::Range<usize>, nodes: &[std::net::SocketAddr]) -> f64 {
    let next = Arc::new(AtomicUsize::new(range.start));
    let started = Instant::now();
    let threads: Vec<_> = (0..SENDERS)
        .map(|t| {
            let (next, nodes, end) = (next.clone(), nodes.to_vec(), range.end);
            std::thread::spawn(move || {
                let mut node = t % nodes.len();
                loop {
                    let from = next.fetch_add(BATCH, Ordering::SeqCst);
                    if from >= end {
                        break;
                    }
                    let body: String = (from..(from + BATCH).min(end))
                        .map(|n| format!("{{\"index\":{{}}}}\n{}\n", doc(base, n)))
                        .collect();
                    loop {
                        match request(nodes[node], "POST", "/_bulk", &body, Some("test-ingest")) {
                            Ok((200, _)) => break,
                            _ => std::thread::sleep(Duration::from_millis(100)),
                        }
                    }
                    node = (node + 1) % nodes.len();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    started.elapsed().as_secs_f64()
}

fn stored(port: u16) -> usize {
    clickhouse(port, "SELECT count() FROM wardwatch.events")
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Wait until ClickHouse holds `target` events; print throughput and lag each few seconds.
/// Returns (seconds, events stored meanwhile).
fn detect_until(
    label: &str,
    rt: &tokio::runtime::Runtime,
    cfg: &ClusterConfig,
    ch: u16,
    target: usize,
) -> (f64, usize) {
    let started = Instant::now();
    let from = stored(ch);
    let mut last_print = Instant::now();
    loop {
        let now = stored(ch);
        if last_print.elapsed() >= Duration::from_secs(5) || now >= target {
            let st = rt.block_on(wardwatch_cluster::status(cfg)).unwrap();
            let pending: u64 = st.partitions.iter().map(|p| p.pending).sum();
            let held: usize = st.partitions.iter().map(|p| p.ack_pending).sum();
            println!(
                "  {label}: {:>6.1} s  stored {now:>8}  lag {pending:>5} messages + {held} held ({:.0} MiB backlog), alerts waiting {}",
                started.elapsed().as_secs_f64(),
                st.stream.bytes as f64 / 1048576.0,
                st.alerts_pending
            );
            last_print = Instant::now();
        }
        if now >= target {
            return (started.elapsed().as_secs_f64(), now - from);
        }
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "{label}: no progress"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
#[ignore = "a benchmark: bench/cluster.sh runs it (release build)"]
fn cluster_throughput_per_role_with_one_and_two_nodes() {
    let events: usize = std::env::var("WARDWATCH_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let half = events / 2;
    let Some(nats) = Peer::nats("cluster_bench") else {
        return;
    };
    let Some(ch) = Peer::clickhouse("cluster_bench") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = ClusterConfig {
        nats: nats.url(),
        partitions: 4,
        max_backlog_mb: 2048,
        ..ClusterConfig::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(wardwatch_cluster::init(&cfg)).unwrap();
    let events_url = format!("clickhouse://127.0.0.1:{}/wardwatch", ch.port);
    wardwatch_store_clickhouse::ClickHouse::connect(&events_url)
        .unwrap()
        .init(&wardwatch_store_clickhouse::Layout::default())
        .unwrap();
    let config = dir.path().join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nnats = \"{}\"\npartitions = 4\nmax_backlog_mb = 2048\n\n[store]\nevents = \"{events_url}\"\n\n[pipeline]\nsource_budget_events_per_sec = 0\n",
            nats.url()
        ),
    )
    .unwrap();
    let data = dir.path().join("state");
    let base = jiff::Timestamp::now().as_second() - (events / 10) as i64 - 3600;
    println!(
        "cluster bench: {events} events (Sysmon process creations, built-in rules), 4 partitions, {} cores, {SENDERS} senders x {BATCH}-event _bulk batches",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Ingest: one node, then two.
    let i1 = Node::start(&config, &data, "ingest", "127.0.0.1:0", "");
    let secs = ingest(base, 0..half, &[i1.http.unwrap()]);
    println!(
        "ingest  1 node : {half} events in {secs:.1} s = {:.0} events/s",
        half as f64 / secs
    );
    let i2 = Node::start(&config, &data, "ingest", "127.0.0.1:0", "");
    let secs = ingest(base, half..events, &[i1.http.unwrap(), i2.http.unwrap()]);
    println!(
        "ingest  2 nodes: {} events in {secs:.1} s = {:.0} events/s",
        events - half,
        (events - half) as f64 / secs
    );
    drop((i1, i2));

    // Detect: one worker for the first half, two for the second.
    let _w1 = Node::start(&config, &data, "detect,incidents", "127.0.0.1:0", "");
    let (secs, n) = detect_until("detect 1 worker ", &rt, &cfg, ch.port, half);
    println!(
        "detect  1 worker : {n} events in {secs:.1} s = {:.0} events/s",
        n as f64 / secs
    );
    let _w2 = Node::start(&config, &data, "detect,incidents", "127.0.0.1:0", "");
    let (secs, n) = detect_until("detect 2 workers", &rt, &cfg, ch.port, events);
    println!(
        "detect  2 workers: {n} events in {secs:.1} s = {:.0} events/s",
        n as f64 / secs
    );
    let started = Instant::now();
    loop {
        let st = rt.block_on(wardwatch_cluster::status(&cfg)).unwrap();
        if st.alerts_pending == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600));
        std::thread::sleep(Duration::from_millis(250));
    }
    let alerts = clickhouse(ch.port, "SELECT count() FROM wardwatch.alerts");
    println!(
        "incidents: {} alerts grouped; the alerts stream drained {:.1} s after the last event was stored",
        alerts.trim(),
        started.elapsed().as_secs_f64()
    );
}
