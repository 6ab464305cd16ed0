//! Incident notifications on a cluster, on real servers (`wardwatch-peers`: `nats-server -js`,
//! ClickHouse, PostgreSQL) and a loopback webhook receiver: with two processes running the
//! incidents role (and so the notification worker, active under the `notify` lease in one of
//! them), an incident made on the cluster is notified exactly once; the lease holder killed
//! with SIGKILL, the other takes over and the next incident is notified, nothing twice; the
//! killed node started again stands by and the third incident is notified once as well.

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cluster_common::Node;
use common::{Received, http_get, receiver, request};
use serde_json::{Value, json};
use wardwatch_peers::Peer;

const MARKER: &str = "5e0c8a47-2b1d-4f3e-9a6c-8d7b1e2f4c90";

fn rules(dir: &std::path::Path) {
    cluster_common::marker_rule(
        dir,
        "Cluster notify marker",
        MARKER,
        "cluster-notify-marker",
    );
}

/// A marker on `host` (by its own user): an incident of its own.
fn incident_on(ingest: SocketAddr, host: &str, n: u64) {
    let doc = json!({
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": host,
        "TimeCreated": jiff::Timestamp::now().to_string(),
        "Image": "C:\\Windows\\System32\\cmd.exe",
        "CommandLine": format!("cmd /c cluster-notify-marker {n}"),
        "User": format!("HOSP\\nurse{n}")
    });
    let body = format!("{{\"index\":{{}}}}\n{doc}\n");
    let (status, v) = request(ingest, "POST", "/_bulk", &body, Some("test-ingest")).unwrap();
    assert_eq!((status, &v["errors"]), (200, &json!(false)), "{v}");
}

/// The webhook bodies received so far.
fn bodies(got: &Received) -> Vec<Value> {
    got.lock()
        .unwrap()
        .iter()
        .map(|(_, body)| serde_json::from_str(body).unwrap_or(Value::Null))
        .collect()
}

/// Wait until `n` webhooks arrived, then a while longer (several of the worker's passes, past a
/// lease's time) to see that no more come; the bodies.
fn exactly(got: &Received, n: usize, what: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while bodies(got).len() < n {
        assert!(
            Instant::now() < deadline,
            "{what}: {} webhook(s) of {n}: {:?}",
            bodies(got).len(),
            bodies(got)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(6));
    let all = bodies(got);
    assert_eq!(all.len(), n, "{what}: nothing sent twice: {all:#?}");
    all
}

/// The process id in the name (`host-pid`) of the notification lease's holder, once `ok`
/// accepts it (the API node reads the leases every 5 s).
fn notifier(api: SocketAddr, ok: impl Fn(u32) -> bool) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, v) = http_get(api, "/api/v1/stats", Some("test-api"));
        let holder = v["pipeline"]["cluster"]["notifier"].as_str().unwrap_or("");
        if status == 200
            && let Some(pid) = holder.rsplit('-').next().and_then(|p| p.parse().ok())
            && ok(pid)
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "notifier: {status} {v}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn one_notification_per_incident_across_a_killed_lease_holder() {
    let Some(nats) = Peer::nats("cluster_notify") else {
        return;
    };
    let Some(ch) = Peer::clickhouse("cluster_notify") else {
        return;
    };
    let Some(pg) = Peer::postgres("cluster_notify") else {
        return;
    };
    let (hook_port, got) = receiver();
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("rules");
    rules(&rules_dir);
    let config = dir.path().join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nnats = \"{}\"\npartitions = 2\nack_wait_secs = 5\nmax_backlog_mb = 64\n\n\
             [store]\nevents = \"clickhouse://127.0.0.1:{}/wardwatch\"\nstate = \"{}\"\n\n\
             [rules]\nbuiltin = false\nfolders = [{:?}]\n\n\
             [notify]\nconsole_url = \"https://wardwatch.region.example\"\nrate_limit_per_hour = 0\nretry_secs = 1\n\
             [[notify.webhooks]]\nname = \"soc\"\nurl = \"http://127.0.0.1:{hook_port}/hook\"\n\
             [[notify.routes]]\nwebhooks = [\"soc\"]\nmin_severity = \"medium\"\n",
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
    let front = Node::start(
        &config,
        &dir.path().join("front"),
        "ingest,detect,api",
        "127.0.0.1:0",
        "",
    );
    let http = front.http.expect("bulk and the API on one address");
    let mut nodes = [
        Node::start(
            &config,
            &dir.path().join("i1"),
            "incidents",
            "127.0.0.1:0",
            "",
        ),
        Node::start(
            &config,
            &dir.path().join("i2"),
            "incidents",
            "127.0.0.1:0",
            "",
        ),
    ];

    // Two processes run the worker; the incident is notified once.
    incident_on(http, "ws-ward-1", 1);
    let first = exactly(&got, 1, "the first incident");
    assert_eq!(first[0]["event"], "incident.opened", "{first:?}");
    let hosts = first[0]["hosts"].to_string().to_lowercase();
    assert!(hosts.contains("ws-ward-1"), "{hosts}");
    let (_, queue) = http_get(http, "/api/v1/notifications", Some("test-api"));
    assert_eq!(queue["counts"]["sent"], 1, "{queue}");
    assert_eq!(queue["counts"]["queued"], 0, "{queue}");

    // The holder killed: the other takes over, the next incident is notified once.
    let pids: Vec<u32> = nodes.iter().map(|n| n.child.id()).collect();
    let holder = notifier(http, |pid| pids.contains(&pid));
    let killed = nodes
        .iter()
        .position(|n| n.child.id() == holder)
        .unwrap_or_else(|| panic!("the notifier (pid {holder}) is one of the incidents nodes"));
    nodes[killed].kill();
    let killed_at = Instant::now();
    incident_on(http, "ws-ward-2", 2);
    let second = exactly(&got, 2, "the incident after the takeover");
    eprintln!(
        "notifier pid {holder} killed; the next incident notified by the other within {:.1} s (of which 6 s watching for more)",
        killed_at.elapsed().as_secs_f64()
    );
    let hosts = second[1]["hosts"].to_string().to_lowercase();
    assert!(hosts.contains("ws-ward-2"), "{second:?}");
    assert_ne!(second[0]["id"], second[1]["id"]);
    let survivor = nodes[1 - killed].child.id();
    notifier(http, |pid| pid == survivor);

    // The killed node back as a standby: still one message per incident.
    nodes[killed].restart();
    incident_on(http, "ws-ward-3", 3);
    let third = exactly(&got, 3, "the incident with both nodes back");
    let ids: std::collections::BTreeSet<String> = third
        .iter()
        .map(|b| b["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids.len(), 3, "three incidents, three messages: {third:#?}");
    let (_, queue) = http_get(http, "/api/v1/notifications", Some("test-api"));
    assert_eq!(queue["counts"]["sent"], 3, "{queue}");
    let (_, metrics) = http_get(http, "/metrics", Some("test-api"));
    assert!(
        metrics
            .as_str()
            .unwrap_or_default()
            .contains("wardwatch_cluster_notifier_active 1"),
        "{metrics}"
    );
}
