//! The incident stage's watermark on real servers (`wardwatch-peers`: `nats-server -js`,
//! ClickHouse, PostgreSQL): a partition held back (its lease taken by the test, as a worker
//! that stalls would) while another partition's alert hours later in event time reaches the
//! incident stage; the held partition's late alert still joins the incident one machine makes
//! from the same events, the open incident was not closed meanwhile, and once nothing waits it
//! closes as on one machine.

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cluster_common::Node;
use common::{Server, request};
use serde_json::{Value, json};
use wardwatch_cluster::ClusterConfig;
use wardwatch_core::Severity;
use wardwatch_peers::Peer;
use wardwatch_store::{IncidentFilter, IncidentStore, PrivacyScope};

const MARKER: &str = "6f0c2d9e-1b7a-4e53-9c2d-3a8e5b7f1d40";

fn rules(dir: &std::path::Path) {
    cluster_common::marker_rule(dir, "Watermark test marker", MARKER, "watermark-marker");
}

fn doc(host: &str, at: jiff::Timestamp, n: u32) -> String {
    json!({
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": host, "TimeCreated": at.to_string(),
        "Image": "C:\\Windows\\System32\\cmd.exe",
        "CommandLine": format!("cmd /c watermark-marker {n}"), "n": n
    })
    .to_string()
}

fn post(addr: std::net::SocketAddr, docs: &[String]) {
    let body: String = docs
        .iter()
        .map(|d| format!("{{\"index\":{{}}}}\n{d}\n"))
        .collect();
    let (status, v) = request(addr, "POST", "/_bulk", &body, Some("test-ingest")).unwrap();
    assert_eq!((status, &v["errors"]), (200, &json!(false)), "{v}");
}

/// (hosts, alerts, closed) of every incident of the shared state, merged ones left out.
fn incidents(state: &dyn IncidentStore) -> Vec<(Vec<String>, u64, bool)> {
    let page = state
        .list_incidents(&IncidentFilter {
            status: None,
            min_severity: Severity::Informational,
            include_merged: false,
            from: None,
            to: None,
            limit: 100,
            cursor: None,
            orgs: None,
            max_severity: None,
            assignee: None,
            privacy: PrivacyScope::With,
        })
        .unwrap();
    let mut out: Vec<(Vec<String>, u64, bool)> = page
        .incidents
        .iter()
        .map(|i| {
            let v: Value = serde_json::from_str(&i.doc).unwrap();
            let i = &v["incident"];
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
                hosts,
                i["alert_count"].as_u64().unwrap_or(0),
                i["closed"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    out.sort();
    out
}

fn wait_until<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_lagging_partitions_late_alert_joins_the_incident_one_machine_makes() {
    let Some(nats) = Peer::nats("a_lagging_partition") else {
        return;
    };
    let Some(ch) = Peer::clickhouse("a_lagging_partition") else {
        return;
    };
    let Some(pg) = Peer::postgres("a_lagging_partition") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("rules");
    rules(&rules_dir);
    let incidents_cfg = "[incidents]\nwindow_minutes = 30\nquiet_minutes = 60\n";
    let config = dir.path().join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nnats = \"{}\"\npartitions = 2\nack_wait_secs = 5\nmax_backlog_mb = 256\n\n\
             [store]\nevents = \"clickhouse://127.0.0.1:{}/wardwatch\"\nstate = \"{}\"\n\n\
             [rules]\nbuiltin = false\nfolders = [{:?}]\n\n{incidents_cfg}",
            nats.url(),
            ch.port,
            pg.url(),
            rules_dir.display().to_string()
        ),
    )
    .unwrap();
    let init = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["cluster", "init", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );

    // Two hosts on different partitions.
    let fast = "ws-fast";
    let part_of = |h: &str| wardwatch_cluster::partition("default", Some(h), 2);
    let lag = (0..64)
        .map(|i| format!("ws-lag-{i}"))
        .find(|h| part_of(h) != part_of(fast))
        .unwrap();
    let t0 = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(10);
    let min = |m: i64| t0 + jiff::SignedDuration::from_mins(m);
    let first = doc(&lag, min(0), 1);
    let late = doc(&lag, min(20), 2);
    let later_elsewhere = doc(fast, min(180), 3);

    let front = Node::start(
        &config,
        &dir.path().join("front"),
        "ingest,incidents,api",
        "127.0.0.1:0",
        "",
    );
    let ingest = front.http.unwrap();
    let mut worker = Node::start(&config, &dir.path().join("w"), "detect", "127.0.0.1:0", "");
    let state = wardwatch_store_postgres::Postgres::connect(&pg.url()).unwrap();

    post(ingest, std::slice::from_ref(&first));
    wait_until(120, "the first incident", || {
        (incidents(&state).len() == 1).then_some(())
    });

    // The lagging partition: its worker dies and the test holds its lease, as a worker stalled
    // for hours would; the worker comes back and takes only the other partition.
    worker.kill();
    let cfg = ClusterConfig {
        nats: nats.url(),
        partitions: 2,
        ack_wait_secs: 5,
        ..ClusterConfig::default()
    };
    // A runtime of its own for the test's NATS client (its connection runs on it).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let link = rt
        .block_on(wardwatch_cluster::lease::Singleton::connect(
            &cfg,
            "test-stalled-worker",
            Duration::from_secs(5),
        ))
        .unwrap();
    let key = wardwatch_cluster::worker::part_key(part_of(&lag));
    let held = wait_until(60, "the dead worker's lease to expire", || {
        rt.block_on(link.leases.take(&key))
    });
    let release = Arc::new(AtomicBool::new(false));
    let holder = {
        let (release, leases, rt) = (release.clone(), link.leases.clone(), rt.handle().clone());
        std::thread::spawn(move || {
            let mut held = held;
            while !release.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(500));
                held = rt
                    .block_on(leases.renew(&held))
                    .expect("the test keeps its lease");
            }
            rt.block_on(leases.release(&held));
        })
    };
    worker.restart();

    post(ingest, std::slice::from_ref(&late));
    post(ingest, std::slice::from_ref(&later_elsewhere));
    // The other partition's alert, three hours later in event time, is grouped...
    wait_until(120, "the other partition's incident", || {
        (incidents(&state).len() == 2).then_some(())
    });
    // ...and, its partition's late alert still pending, the first incident stays open.
    std::thread::sleep(Duration::from_secs(3));
    let meanwhile = incidents(&state);
    assert!(
        meanwhile.iter().all(|(_, _, closed)| !closed),
        "an incident closed past the lagging partition's time: {meanwhile:?}"
    );

    // The partition comes back: its late alert joins the open incident.
    release.store(true, Ordering::Release);
    holder.join().unwrap();
    wait_until(120, "the late alert grouped", || {
        let now = incidents(&state);
        (now.iter().map(|i| i.1).sum::<u64>() == 3).then_some(now)
    });
    // Nothing waits any more: the next alert lets the incident close as on one machine (a
    // partition with no backlog holds nothing back).
    std::thread::sleep(wardwatch_cluster::watermark::MEASURE_EVERY);
    let next = doc(fast, min(181), 4);
    post(ingest, std::slice::from_ref(&next));
    let cluster = wait_until(120, "the first incident closed", || {
        let now = incidents(&state);
        (now.iter().map(|i| i.1).sum::<u64>() == 4 && now.iter().any(|i| i.2)).then_some(now)
    });

    // One machine, the same events in event-time order.
    let one = tempfile::tempdir().unwrap();
    let one_cfg = one.path().join("single.toml");
    std::fs::write(
        &one_cfg,
        format!(
            "[rules]\nbuiltin = false\nfolders = [{:?}]\n\n{incidents_cfg}",
            rules_dir.display().to_string()
        ),
    )
    .unwrap();
    let server = Server::start_in(
        &one.path().join("data"),
        "127.0.0.1:0",
        "",
        &["-c", one_cfg.to_str().unwrap()],
    );
    post(server.http, &[first, late, later_elsewhere, next]);
    server.wait_alerts("from=0", 4);
    std::thread::sleep(Duration::from_millis(500));
    drop(server);
    let db = wardwatch_store::Db::open(
        &one.path().join("data"),
        &wardwatch_store::DbOptions::default(),
    )
    .unwrap();
    let single = incidents(&db);
    eprintln!("cluster: {cluster:?}; one machine: {single:?}");
    assert_eq!(
        cluster,
        vec![
            (vec![fast.to_string()], 2, false),
            (vec![lag.clone()], 2, true)
        ]
    );
    assert_eq!(cluster, single);
}
