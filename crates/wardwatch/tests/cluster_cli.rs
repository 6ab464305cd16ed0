//! The operator's commands with `-c` naming a cluster's `[store]`, on real servers
//! (`wardwatch-peers`: `nats-server -js`, ClickHouse, PostgreSQL): events sent to a node taking
//! every role make an incident; `wardwatch incidents list|show -c` read it from the shared
//! state, `incidents ack -c` acknowledges it and the API node sees that at once (and its audit
//! log names the command line); `wardwatch report -c` tells the figures the API tells
//! (incidents, alerts per rule, acknowledged); `wardwatch identity usage -c` reads the ledger
//! the detect worker wrote; `intel share -c` publishes to the cluster's TAXII collection, which a
//! partner reads from the API node; `intel retro -c` searches ClickHouse's events; `intel
//! sightings -c` and `doctor -c` read the shared state too; an
//! unreachable store is an error naming the server and the file,
//! never the password; `--data` beside such a configuration is refused.

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::time::{Duration, Instant};

use cluster_common::{Node, cli, ok};
use common::{http_get, request};
use serde_json::{Value, json};
use wardwatch_peers::Peer;

const MARKER: &str = "5d0c2f7e-1b8a-4c3e-9f61-2a7d4e8b0c93";
const RULE: &str = "CLI cluster test marker";
const EVENTS: u64 = 30;

/// Event `n`: a Sysmon process creation; every tenth a marker the rule fires on.
fn doc(base: jiff::Timestamp, n: u64) -> String {
    let cmd = if n.is_multiple_of(10) {
        format!("cmd /c cli-node-marker {n}")
    } else {
        format!("cmd /c echo {n}")
    };
    json!({
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": "ws-cli-1",
        "TimeCreated": (base + jiff::SignedDuration::from_secs(n as i64)).to_string(),
        "Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": cmd, "n": n
    })
    .to_string()
}

/// A remote-desktop logon of `N.Jansen`: one use in the identity ledger.
fn logon(base: jiff::Timestamp) -> String {
    json!({
        "EventID": 4624, "Channel": "Security", "Computer": "EPR01",
        "TimeCreated": base.to_string(), "LogonType": "10", "WorkstationName": "WS-ICU-07",
        "TargetUserName": "N.Jansen", "TargetDomainName": "HOSP", "IpAddress": "10.20.7.44"
    })
    .to_string()
}

/// Poll `GET path` until `done` says so (or fail after `secs`, showing the answer).
fn wait_for(
    addr: std::net::SocketAddr,
    path: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (status, v) = http_get(addr, path, Some("test-api"));
        if status == 200 && done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "GET {path}: {status} {v}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn incidents_report_and_identity_usage_read_and_change_a_cluster() {
    let Some(nats) = Peer::nats("cluster_cli") else {
        return;
    };
    let Some(ch) = Peer::clickhouse("cluster_cli") else {
        return;
    };
    let Some(pg) = Peer::postgres("cluster_cli") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("rules");
    cluster_common::marker_rule(&rules_dir, RULE, MARKER, "cli-node-marker");
    let config = dir.path().join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nnats = \"{}\"\npartitions = 2\nack_wait_secs = 5\nmax_backlog_mb = 64\n\n\
             [store]\nevents = \"clickhouse://127.0.0.1:{}/wardwatch\"\nstate = \"{}\"\n\n\
             [rules]\nbuiltin = false\nfolders = [{:?}]\n\n\
             [taxii]\nenabled = true\nproducer = \"Cluster Hospital\"\n\
             [[taxii.collections]]\nalias = \"incidents\"\n\
             [[taxii.partners]]\nname = \"st-north\"\nread = [\"incidents\"]\nmax_tlp = \"amber\"\n",
            nats.url(),
            ch.port,
            pg.url(),
            rules_dir.display().to_string()
        ),
    )
    .unwrap();
    cluster_common::init(&config);
    let node = Node::start(
        &config,
        &dir.path().join("node"),
        "ingest,detect,incidents,api",
        "127.0.0.1:0",
        "",
    );
    let http = node.http.expect("bulk and the API on one address");

    let base = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let mut body: String = (0..EVENTS)
        .map(|n| format!("{{\"index\":{{}}}}\n{}\n", doc(base, n)))
        .collect();
    body.push_str(&format!("{{\"index\":{{}}}}\n{}\n", logon(base)));
    let (status, v) = request(http, "POST", "/_bulk", &body, Some("test-ingest")).unwrap();
    assert_eq!((status, &v["errors"]), (200, &json!(false)), "{v}");
    let markers = EVENTS / 10;
    let alerts = wait_for(http, "/api/v1/alerts", 120, |v| {
        v["total"].as_u64() == Some(markers)
    });
    let api_list = wait_for(http, "/api/v1/incidents", 60, |v| {
        v["total"].as_u64() >= Some(1)
    });

    // `incidents list -c`: the incidents the API lists, from the shared state.
    let listed: Value = serde_json::from_str(&ok(&cli(
        &["incidents", "list", "--format", "json"],
        &config,
        "",
    )))
    .unwrap();
    assert_eq!(listed["total"], api_list["total"], "{listed} vs {api_list}");
    let id = api_list["incidents"][0]["id"].as_str().unwrap().to_string();
    let ids: Vec<&str> = listed["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert!(ids.contains(&id.as_str()), "{id} not in {ids:?}");
    let text = ok(&cli(&["incidents", "list"], &config, ""));
    assert!(
        text.contains(&id) && text.contains("new") && text.contains("the cluster's stores"),
        "{text}"
    );
    let shown = ok(&cli(&["incidents", "show", &id], &config, ""));
    let title = api_list["incidents"][0]["title"].as_str().unwrap();
    assert!(shown.contains(title), "{shown}");

    // `incidents ack -c`: the API node sees it at once, with who did it, in the audit log too.
    let acked = ok(&cli(
        &["incidents", "ack", &id, "--actor", "kim"],
        &config,
        "",
    ));
    assert!(acked.starts_with(&format!("{id}\tacknowledged")), "{acked}");
    let (s, d) = http_get(http, &format!("/api/v1/incidents/{id}"), Some("test-api"));
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["incident"]["status"], "acknowledged", "{d}");
    assert!(
        d.to_string().contains("kim"),
        "the history names the actor: {d}"
    );
    let audit = http_get(http, "/api/v1/audit?limit=100", Some("test-api")).1;
    let a = audit.to_string();
    assert!(
        a.contains("incident.acknowledge") && a.contains(&format!("incident:{id}")),
        "{audit}"
    );
    let again = cli(&["incidents", "ack", &id], &config, "");
    assert!(!again.status.success(), "acknowledging twice is refused");
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already"), "{err}");
    let missing = cli(&["incidents", "ack", "no-such-incident"], &config, "");
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no incident `no-such-incident`"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    // `report -c`: the figures the API tells (incidents, alerts per rule, acknowledged).
    let end = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24))
        .strftime("%Y-%m-%d")
        .to_string();
    let report = ok(&cli(
        &["report", "--period", "week", "--end", &end],
        &config,
        "",
    ));
    let total = api_list["total"].as_u64().unwrap();
    let headline = format!(
        "{total} incident{} this week",
        if total == 1 { "" } else { "s" }
    );
    assert!(report.starts_with(&headline), "{headline}: {report}");
    assert_eq!(alerts["total"].as_u64(), Some(markers));
    assert!(
        report.contains(&format!("{RULE}: {markers} alerts")),
        "{report}"
    );
    assert!(report.contains("(1 acknowledged)"), "{report}");
    assert!(report.contains(title), "{report}");

    // `identity usage -c`: the ledger the detect worker wrote in the shared state.
    let usage = wait_until(|| {
        let o = cli(
            &["identity", "usage", "n.jansen", "--format", "json"],
            &config,
            "",
        );
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    });
    assert!(usage.contains("10.20.7.44"), "{usage}");
    let none = cli(&["identity", "usage", "nobody"], &config, "");
    assert_eq!(none.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("the cluster's stores"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );

    // `intel retro -c`: a partner's indicator against the events in ClickHouse.
    let iocs = dir.path().join("partner.txt");
    std::fs::write(&iocs, "10.20.7.44\n").unwrap();
    let retro = cli(
        &[
            "intel",
            "retro",
            iocs.to_str().unwrap(),
            "--format",
            "jsonl",
        ],
        &config,
        "",
    );
    let found = ok(&retro);
    let err = String::from_utf8_lossy(&retro.stderr);
    assert!(
        found.lines().count() == 1 && found.contains("10.20.7.44"),
        "{found}\n{err}"
    );
    assert!(
        err.contains(&format!("over {} stored event(s)", EVENTS + 1)),
        "{err}"
    );

    // `intel share -c`: published to the cluster's collection, read by a partner from the
    // API node's TAXII server with a token the command line made.
    let secret = ok(&cli(
        &["tokens", "add", "st-north", "--kind", "taxii"],
        &config,
        "",
    ));
    let shared = cli(
        &[
            "intel",
            "share",
            &id,
            "--collection",
            "incidents",
            "--tlp",
            "green",
        ],
        &config,
        "",
    );
    ok(&shared);
    let said = String::from_utf8_lossy(&shared.stderr);
    let added: u64 = said
        .split("): ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(
        added >= 1 && said.contains("published to collection `incidents`"),
        "{said}"
    );
    let (s, v) = cluster_common::taxii_get(http, "/taxii2/intel/collections/", &secret);
    assert_eq!(s, 200, "{v}");
    let collection = v["collections"][0]["id"].as_str().unwrap().to_string();
    let (s, v) = cluster_common::taxii_get(
        http,
        &format!("/taxii2/intel/collections/{collection}/objects/?limit=100"),
        &secret,
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["objects"].as_array().map_or(0, |o| o.len() as u64),
        added,
        "the partner reads what the command line shared: {v}"
    );

    // `intel sightings -c`: the partners' sightings the API tells (none were sent here).
    let sightings = cli(&["intel", "sightings", "--format", "jsonl"], &config, "");
    ok(&sightings);
    let api_sightings = http_get(http, "/api/v1/intel/sightings", Some("test-api")).1;
    assert_eq!(api_sightings["total"], 0, "{api_sightings}");
    assert!(
        String::from_utf8_lossy(&sightings.stderr).contains("0 sighting(s)"),
        "{}",
        String::from_utf8_lossy(&sightings.stderr)
    );

    // `doctor -c`: the shared state answers, and the tokens counted are the shared state's.
    ok(&cli(
        &["tokens", "add", "shipper-9", "--kind", "ingest"],
        &config,
        "",
    ));
    let doctor = cli(&["doctor"], &config, "");
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        said.contains("store.state: the cluster's shared state answers")
            && said.contains("ingest tokens: 1"),
        "{said}"
    );

    // `--data` beside `[store]` is refused; an unreachable store is named, its password not.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["incidents", "list", "--data", "/tmp/elsewhere", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("leave out --data"));
    let port = common::free_port();
    let bad = dir.path().join("unreachable.toml");
    std::fs::write(
        &bad,
        format!(
            "[store]\nevents = \"clickhouse://127.0.0.1:{}/wardwatch\"\nstate = \"postgres://postgres:s3cret@127.0.0.1:{port}/wardwatch\"\n",
            ch.port
        ),
    )
    .unwrap();
    for args in [
        &["incidents", "list"][..],
        &["report"][..],
        &["identity", "usage", "n.jansen"][..],
        &["intel", "sightings"][..],
        &["incidents", "ack", "x"][..],
    ] {
        let o = cli(args, &bad, "");
        assert!(!o.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("127.0.0.1:{port}")) && err.contains("unreachable.toml"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("s3cret"), "no password in messages: {err}");
    }
    let doctor = cli(&["doctor"], &bad, "");
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{said}");
    assert!(
        said.contains("FIX   store.state") && said.contains(&format!("127.0.0.1:{port}")),
        "{said}"
    );
    assert!(!said.contains("s3cret"), "no password in messages: {said}");
    drop(node);
}

/// Poll `probe` until it gives a value (the detect worker commits the ledger with its batch).
fn wait_until(probe: impl Fn() -> Option<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "no answer in time");
        std::thread::sleep(Duration::from_millis(500));
    }
}
