//! The scale-out promise on one machine with real servers (`wardwatch-peers`: `nats-server -js`,
//! ClickHouse, PostgreSQL), set up by `wardwatch cluster init`: two ingest nodes and two detect nodes (each also a candidate incident stage:
//! one active, one standby), 100,000 numbered events over `_bulk` and syslog, while one ingest
//! node and one detect node are killed with SIGKILL and restarted. Afterwards every
//! acknowledged event is in ClickHouse exactly once, and the alerts and incidents equal those
//! of a single-binary `wardwatch serve` fed the same events.

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cluster_common::{Node, clickhouse};
use common::{Server, http_get, request};
use wardwatch_cluster::ClusterConfig;
use wardwatch_core::Severity;
use wardwatch_peers::Peer;
use wardwatch_store::{Db, DbOptions, IncidentFilter, IncidentStore, PrivacyScope};

const EVENTS: u64 = 100_000;
const BATCH: u64 = 500;
const MARKER: &str = "0c6a1f9e-5b7d-4e0a-9c3b-2d8e7f6a5b41";

/// A marker rule, and a correlation on it per host (the ordered stage).
fn rules(dir: &std::path::Path) {
    cluster_common::marker_rule(dir, "Cluster test marker", MARKER, "cluster-marker");
    std::fs::write(
        dir.join("burst.yml"),
        format!(
            "title: Cluster test marker burst\nid: 7d2e9a41-3c6b-4f8e-a1d5-9b0c2e4f6a83\n\
             correlation:\n  type: event_count\n  rules:\n    - {MARKER}\n  group-by:\n    - Computer\n  timespan: 10m\n  condition:\n    gte: 3\nlevel: critical\n"
        ),
    )
    .unwrap();
}

/// Event `n`'s time: a tenth of a second apart (the 100,000 span about three hours), ending
/// about two hours ago (inside the trusted window).
fn time(base: i64, n: u64) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(i128::from(base) * 1_000_000_000 + i128::from(n) * 100_000_000)
        .unwrap()
}

/// Whether event `n` goes over syslog (every tenth), else over `_bulk`.
fn by_syslog(n: u64) -> bool {
    n % 10 == 9
}

/// Event `n` as a Sysmon process creation; hosts in blocks of 500 events; four markers in a
/// row every hundred events (a burst the correlation sees on one host).
fn doc(base: i64, n: u64) -> String {
    let cmd = if n % 100 < 4 {
        format!("cmd /c cluster-marker {n}")
    } else {
        format!("cmd /c echo {n}")
    };
    serde_json::json!({
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": format!("ws-{:02}", (n / 500) % 40),
        "TimeCreated": time(base, n).to_string(),
        "Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": cmd, "n": n
    })
    .to_string()
}

fn syslog_line(base: i64, n: u64) -> String {
    format!(
        "<134>1 {} ws-sys-{} app 100 - - cluster syslog {n}\n",
        time(base, n),
        n % 5
    )
}

fn bulk_body(base: i64, from: u64) -> Option<String> {
    let body: String = (from..(from + BATCH).min(EVENTS))
        .filter(|n| !by_syslog(*n))
        .map(|n| format!("{{\"index\":{{}}}}\n{}\n", doc(base, n)))
        .collect();
    (!body.is_empty()).then_some(body)
}

/// Send every event: `_bulk` batches to the ingest nodes in turn (each retried, on the other
/// node too, until answered 200), syslog lines over TCP to `syslog`. Returns the number of
/// retried requests.
fn send(
    base: i64,
    bulk: [std::net::SocketAddr; 2],
    syslog: std::net::SocketAddr,
    acked: &AtomicUsize,
) -> usize {
    let mut retries = 0;
    let mut tcp = std::net::TcpStream::connect(syslog).unwrap();
    for (i, from) in (0..EVENTS).step_by(BATCH as usize).enumerate() {
        let lines: String = (from..(from + BATCH).min(EVENTS))
            .filter(|n| by_syslog(*n))
            .map(|n| syslog_line(base, n))
            .collect();
        tcp.write_all(lines.as_bytes()).unwrap();
        if let Some(body) = bulk_body(base, from) {
            let mut node = i % 2;
            loop {
                match request(bulk[node], "POST", "/_bulk", &body, Some("test-ingest")) {
                    Ok((200, v)) if v["errors"] == false => break,
                    _ => {
                        retries += 1;
                        node = 1 - node;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }
        acked.store(((from + BATCH).min(EVENTS)) as usize, Ordering::SeqCst);
    }
    tcp.flush().unwrap();
    retries
}

/// (rule, time ns, host) of every alert: what both deployments must agree on.
type AlertKey = (String, i64, String);
/// (first seen, last seen, alerts, hosts, severity) of every incident.
type IncidentKey = (i64, i64, u64, Vec<String>, String);

fn incident_key(doc: &str) -> IncidentKey {
    let v: serde_json::Value = serde_json::from_str(doc).unwrap();
    let i = &v["incident"];
    let ns = |t: &serde_json::Value| {
        t.as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map_or(0, |t| t.as_nanosecond() as i64)
    };
    let mut hosts: Vec<String> = i["hosts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    hosts.sort();
    (
        ns(&i["first_seen"]),
        ns(&i["last_seen"]),
        i["alert_count"].as_u64().unwrap_or(0),
        hosts,
        i["severity"].to_string(),
    )
}

/// Every incident (merged ones left out) of a store, through the seam.
fn incidents_of(store: &dyn IncidentStore) -> Vec<IncidentKey> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_incidents(&IncidentFilter {
                status: None,
                min_severity: Severity::Informational,
                include_merged: false,
                from: None,
                to: None,
                limit: 500,
                cursor: cursor.take(),
                orgs: None,
                max_severity: None,
                assignee: None,
                privacy: PrivacyScope::With,
            })
            .unwrap();
        out.extend(page.incidents.iter().map(|i| incident_key(&i.doc)));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out.sort();
    out
}

/// Alerts and incidents of a SQLite store (the single binary's).
fn sqlite_results(dir: &std::path::Path) -> (Vec<AlertKey>, Vec<IncidentKey>) {
    let conn = rusqlite::Connection::open(dir.join("wardwatch.db")).unwrap();
    let mut alerts: Vec<AlertKey> = conn
        .prepare("SELECT rule_id, ts, COALESCE(host, '') FROM alerts")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    alerts.sort();
    let db = Db::open(dir, &DbOptions::default()).unwrap();
    (alerts, incidents_of(&db))
}

/// The same events through the single binary.
fn single_binary(base: i64, rules_dir: &std::path::Path) -> (Vec<AlertKey>, Vec<IncidentKey>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("single.toml");
    std::fs::write(
        &cfg,
        format!(
            "[rules]\nbuiltin = false\nfolders = [{:?}]\n",
            rules_dir.display().to_string()
        ),
    )
    .unwrap();
    let server = Server::start_in(
        &data,
        "127.0.0.1:0",
        "127.0.0.1:0",
        &["-c", cfg.to_str().unwrap()],
    );
    let acked = AtomicUsize::new(0);
    send(base, [server.http, server.http], server.syslog, &acked);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (_, s) = http_get(server.http, "/api/v1/stats", Some("test-api"));
        if s["pipeline"]["queued"] == 0 && s["store"]["events"].as_u64() >= Some(EVENTS) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the single binary did not finish: {s}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let the last commit of the incident stage land, then read the store.
    std::thread::sleep(Duration::from_millis(500));
    drop(server);
    sqlite_results(&data)
}

#[test]
fn a_cluster_killed_mid_stream_stores_each_event_once_and_detects_like_one_machine() {
    let Some(nats) = Peer::nats("a_cluster_killed_mid_stream") else {
        return;
    };
    let Some(ch) = Peer::clickhouse("a_cluster_killed_mid_stream") else {
        return;
    };
    let Some(pg) = Peer::postgres("a_cluster_killed_mid_stream") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("rules");
    rules(&rules_dir);
    let base = jiff::Timestamp::now().as_second() - (EVENTS / 10) as i64 - 7200;
    let cfg = ClusterConfig {
        nats: nats.url(),
        partitions: 4,
        ack_wait_secs: 5,
        max_backlog_mb: 512,
        ..ClusterConfig::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let events_url = format!("clickhouse://127.0.0.1:{}/wardwatch", ch.port);
    let state_url = pg.url();
    let config = dir.path().join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nnats = \"{}\"\npartitions = 4\nack_wait_secs = 5\nmax_backlog_mb = 512\n\n\
             [store]\nevents = \"{events_url}\"\nstate = \"{state_url}\"\n\n\
             [rules]\nbuiltin = false\nfolders = [{:?}]\n",
            nats.url(),
            rules_dir.display().to_string()
        ),
    )
    .unwrap();
    // The stream, ClickHouse's tables and PostgreSQL's schema, as an operator makes them.
    let init = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["cluster", "init", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}{}",
        String::from_utf8_lossy(&init.stdout),
        String::from_utf8_lossy(&init.stderr)
    );
    // The nodes' own folder (nothing is kept in it: the state is PostgreSQL's).
    let data = dir.path().join("node");
    let mut ingest1 = Node::start(&config, &data, "ingest", "127.0.0.1:0", "");
    let ingest2 = Node::start(&config, &data, "ingest", "127.0.0.1:0", "127.0.0.1:0");
    let mut detect1 = Node::start(&config, &data, "detect,incidents", "127.0.0.1:0", "");
    let _detect2 = Node::start(&config, &data, "detect,incidents", "127.0.0.1:0", "");

    let acked = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sender = {
        let (acked, done) = (acked.clone(), done.clone());
        let bulk = [ingest1.http.unwrap(), ingest2.http.unwrap()];
        let syslog = ingest2.syslog.unwrap();
        std::thread::spawn(move || {
            let retries = send(base, bulk, syslog, &acked);
            done.store(true, Ordering::SeqCst);
            retries
        })
    };
    // Mid-stream: SIGKILL one ingest node and one detect node, then start them again.
    while acked.load(Ordering::SeqCst) < (EVENTS / 3) as usize {
        assert!(!done.load(Ordering::SeqCst));
        std::thread::sleep(Duration::from_millis(20));
    }
    ingest1.kill();
    detect1.kill();
    std::thread::sleep(Duration::from_millis(1500));
    ingest1.restart();
    detect1.restart();
    let retries = sender.join().unwrap();
    eprintln!("cluster: sender retried {retries} request(s) around the kills");

    // Wait until ClickHouse has every event and the incident stage has every alert.
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let stored: u64 = clickhouse(ch.port, "SELECT count() FROM wardwatch.events")
            .trim()
            .parse()
            .unwrap_or(0);
        let status = rt.block_on(wardwatch_cluster::status(&cfg)).unwrap();
        let idle = status.stream.messages == 0 && status.alerts_pending == 0;
        if stored >= EVENTS && idle {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not catch up: {stored} events stored, {status:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_millis(1500));

    // Every acknowledged event exactly once.
    let rows = clickhouse(
        ch.port,
        "SELECT visitParamExtractUInt(original, 'n'), extract(original, 'cluster syslog ([0-9]+)') \
         FROM wardwatch.events FORMAT TabSeparated",
    );
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    for line in rows.lines() {
        let (n, s) = line.split_once('\t').unwrap_or((line, ""));
        let n = if s.is_empty() {
            n.parse::<u64>().unwrap()
        } else {
            s.parse::<u64>().unwrap()
        };
        *seen.entry(n).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).take(10).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    assert_eq!(seen.len() as u64, EVENTS, "events missing");
    assert_eq!(seen.keys().next_back(), Some(&(EVENTS - 1)));

    // Alerts and incidents as one machine finds them.
    let mut alerts: Vec<AlertKey> = clickhouse(
        ch.port,
        "SELECT rule_id, ts, host FROM wardwatch.alerts FORMAT TabSeparated",
    )
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split('\t').collect();
        (f[0].to_string(), f[1].parse().unwrap(), f[2].to_string())
    })
    .collect();
    alerts.sort();
    let state = wardwatch_store_postgres::Postgres::connect(&state_url).unwrap();
    let cluster_incidents = incidents_of(&state);
    let (single_alerts, single_incidents) = single_binary(base, &rules_dir);
    eprintln!(
        "cluster: {} alerts and {} incidents in ClickHouse and the shared state; the single binary: {} and {}",
        alerts.len(),
        cluster_incidents.len(),
        single_alerts.len(),
        single_incidents.len()
    );
    // The correlation (the ordered stage, per host) fires on each marker past the second
    // within ten minutes on a host: 3,600 times.
    assert!(single_alerts.len() >= 3000, "{}", single_alerts.len());
    assert_eq!(alerts.len(), single_alerts.len(), "alert count");
    assert_eq!(alerts, single_alerts);
    assert!(single_incidents.len() >= 20, "{}", single_incidents.len());
    assert_eq!(cluster_incidents, single_incidents);
}
