//! `serve --role api` on real servers (`wardwatch-peers`: `nats-server -js`, ClickHouse,
//! PostgreSQL): one process taking every role (`ingest,detect,incidents,api`, bulk ingest and
//! the API on one address) detects what it is sent; two API-only nodes then answer searches and
//! incident listings over what the detect worker wrote, an analyst acts on one node (an
//! incident acknowledged and commented, an exception made) and the other node sees it; both
//! tell the cluster's figures (partitions, their workers, the incident stage); an incident
//! shared on one node is read by a partner from the other node's TAXII server; a console
//! sign-in on an API node reaches the events stream and ClickHouse like any other event.

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::time::{Duration, Instant};

use cluster_common::{Node, clickhouse, taxii_get as taxii};
use common::{http_get, request};
use serde_json::{Value, json};
use wardwatch_peers::Peer;

const MARKER: &str = "3b1f6e2a-9c4d-4e7b-8a15-6d2c0f9e4b71";
const EVENTS: u64 = 40;

fn rules(dir: &std::path::Path) {
    cluster_common::marker_rule(dir, "API node test marker", MARKER, "api-node-marker");
}

/// Event `n`: a Sysmon process creation on one of two hosts; every tenth a marker.
fn doc(base: jiff::Timestamp, n: u64) -> String {
    let cmd = if n.is_multiple_of(10) {
        format!("cmd /c api-node-marker {n}")
    } else {
        format!("cmd /c echo {n}")
    };
    json!({
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": format!("ws-api-{}", n % 2),
        "TimeCreated": (base + jiff::SignedDuration::from_secs(n as i64)).to_string(),
        "Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": cmd, "n": n
    })
    .to_string()
}

fn api(addr: std::net::SocketAddr, method: &str, path: &str, body: Value) -> (u16, Value) {
    request(addr, method, path, &body.to_string(), Some("test-api")).unwrap()
}

/// Poll `GET path` on `addr` until `done` says so (or fail after `secs`, showing the answer).
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

/// A failed console sign-in (an unknown account), with the double-submit token the sign-in page
/// would have set; the status code.
fn sign_in(http: std::net::SocketAddr, user: &str) -> u16 {
    use std::io::{Read, Write};
    let body = format!("username={user}&password=wrong&csrf_token=tok");
    let mut s = std::net::TcpStream::connect(http).unwrap();
    write!(
        s,
        "POST /login HTTP/1.1\r\nHost: {http}\r\nCookie: ww_login_csrf=tok\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn api_nodes_serve_and_change_the_shared_state_the_workers_wrote() {
    let Some(nats) = Peer::nats("api_nodes_serve") else {
        return;
    };
    let Some(ch) = Peer::clickhouse("api_nodes_serve") else {
        return;
    };
    let Some(pg) = Peer::postgres("api_nodes_serve") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("rules");
    rules(&rules_dir);
    let config = dir.path().join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nnats = \"{}\"\npartitions = 2\nack_wait_secs = 5\nmax_backlog_mb = 256\n\n\
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

    // One process with every role: bulk ingest and the API share its address.
    let all = Node::start(
        &config,
        &dir.path().join("all"),
        "ingest,detect,incidents,api",
        "127.0.0.1:0",
        "",
    );
    let (Some(ingest), Some(all_api)) = (all.http, all.api) else {
        panic!("the all-roles node did not say where it listens");
    };
    assert_eq!(ingest, all_api, "bulk and the API share http.listen");
    let api1 = Node::start(&config, &dir.path().join("a1"), "api", "127.0.0.1:0", "");
    let api2 = Node::start(&config, &dir.path().join("a2"), "api", "127.0.0.1:0", "");
    let (a1, a2) = (api1.api.unwrap(), api2.api.unwrap());
    assert!(api1.http.is_none(), "an API-only node takes no events");

    let base = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let body: String = (0..EVENTS)
        .map(|n| format!("{{\"index\":{{}}}}\n{}\n", doc(base, n)))
        .collect();
    let (status, v) = request(ingest, "POST", "/_bulk", &body, Some("test-ingest")).unwrap();
    assert_eq!((status, &v["errors"]), (200, &json!(false)), "{v}");

    // The detect worker's results, read through an API-only node.
    let markers = EVENTS / 10;
    let alerts = wait_for(a1, "/api/v1/alerts", 120, |v| {
        v["total"].as_u64() == Some(markers)
    });
    let incidents = wait_for(a1, "/api/v1/incidents", 60, |v| {
        v["total"].as_u64() >= Some(1)
    });
    let from = (base - jiff::SignedDuration::from_mins(1)).to_string();
    let to = jiff::Timestamp::now().to_string();
    let search = wait_for(
        a1,
        &format!(
            "/api/v1/events?q=api-node-marker&from={}&to={}",
            common::urlencode(&from),
            common::urlencode(&to)
        ),
        30,
        |v| v["total"].as_u64() == Some(markers),
    );
    assert_eq!(search["events"].as_array().unwrap().len() as u64, markers);
    let all_hits = http_get(
        a2,
        &format!(
            "/api/v1/events?q=&from={}&to={}&limit=1000",
            common::urlencode(&from),
            common::urlencode(&to)
        ),
        Some("test-api"),
    )
    .1;
    assert_eq!(all_hits["total"], EVENTS, "{all_hits}");

    // An analyst acts on one API node...
    let id = incidents["incidents"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let actions = format!("/api/v1/incidents/{id}/actions");
    let (s, v) = api(
        a1,
        "POST",
        &actions,
        json!({"action": "acknowledge", "actor": "kim"}),
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = api(
        a1,
        "POST",
        &actions,
        json!({"action": "comment", "actor": "kim", "text": "the imaging team's script"}),
    );
    assert_eq!(s, 200, "{v}");
    let alert = alerts["alerts"][0]["id"].as_str().unwrap().to_string();
    let (s, v) = api(
        a1,
        "POST",
        "/api/v1/exceptions",
        json!({"alert_id": alert, "fields": ["Image"], "scope_host": true, "expires": "now+1d",
               "justification": "the imaging team's maintenance script", "author": "kim"}),
    );
    assert_eq!(s, 201, "{v}");

    // ...and the other sees it, as does the all-roles node.
    for node in [a2, all_api] {
        let (s, d) = http_get(node, &format!("/api/v1/incidents/{id}"), Some("test-api"));
        assert_eq!(s, 200, "{d}");
        assert_eq!(d["incident"]["status"], "acknowledged", "{d}");
        assert_eq!(
            d["incident"]["comments"][0]["text"],
            "the imaging team's script"
        );
        let ex = http_get(node, "/api/v1/exceptions", Some("test-api")).1;
        assert_eq!(ex["total"], 1, "{ex}");
    }
    let audit = http_get(a2, "/api/v1/audit", Some("test-api")).1;
    let text = audit.to_string();
    assert!(
        text.contains("exception") && text.contains(&id),
        "the audit log of the shared state names both actions: {audit}"
    );

    // Shared on one node, read by a partner from the other's TAXII server (the partner's
    // token made in the shared state, as `wardwatch tokens add --kind taxii` makes it on one
    // machine).
    {
        use wardwatch_store::TokenStore;
        let mut state = wardwatch_store_postgres::Postgres::connect(&pg.url()).unwrap();
        state
            .add_token(
                "st-north",
                wardwatch_store::TokenKind::Taxii,
                "north-secret",
            )
            .unwrap();
        state
            .set_token_grant("st-north", None, Some("default"))
            .unwrap();
    }
    let (s, v) = api(
        a1,
        "POST",
        &format!("/api/v1/incidents/{id}/share"),
        json!({"collection": "incidents", "tlp": "green"}),
    );
    assert_eq!(s, 200, "{v}");
    let added = v["added"].as_u64().unwrap_or(0);
    assert!(added >= 1, "{v}");
    let (s, v) = taxii(a2, "/taxii2/intel/collections/", "north-secret");
    assert_eq!(s, 200, "{v}");
    let collection = v["collections"][0]["id"].as_str().unwrap().to_string();
    let (s, v) = taxii(
        a2,
        &format!("/taxii2/intel/collections/{collection}/objects/?limit=100"),
        "north-secret",
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["objects"].as_array().map_or(0, |o| o.len() as u64),
        added,
        "the partner reads what was shared: {v}"
    );

    // The cluster's figures: every partition held (by the all-roles node), the incident stage
    // active, nothing waiting.
    let stats = wait_for(a2, "/api/v1/stats", 30, |v| {
        let c = &v["pipeline"]["cluster"];
        c["partitions"]
            .as_array()
            .is_some_and(|p| p.len() == 2 && p.iter().all(|p| p["worker"].is_string()))
            && c["incident_stage"].is_string()
            && c["lag"] == 0
    });
    assert_eq!(stats["pipeline"]["role"], "api");
    assert_eq!(stats["pipeline"]["problem"], Value::Null, "{stats}");
    let metrics = http_get(a2, "/metrics", Some("test-api")).1;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    for line in [
        "wardwatch_cluster_up 1",
        "wardwatch_cluster_partition_held{partition=\"0\"} 1",
        "wardwatch_cluster_partition_held{partition=\"1\"} 1",
        "wardwatch_cluster_incident_stage_active 1",
    ] {
        assert!(metrics.contains(line), "`{line}` missing:\n{metrics}");
    }
    assert_eq!(http_get(a2, "/healthz", None).0, 200);
    let (s, page) = http_get(a2, "/", Some("test-api"));
    assert_eq!(s, 200);
    let page = page.to_string();
    assert!(
        page.contains("<h2>Cluster</h2>") && page.contains("<th>Partition</th>"),
        "the overview shows the cluster: {page}"
    );
    let (s, page) = http_get(a1, "/rules", Some("test-api"));
    assert_eq!(s, 200);
    assert!(
        page.to_string().contains("API node test marker"),
        "the rules page lists the pack"
    );

    // A console sign-in on an API node is an event in the stream, detected and stored.
    assert_ne!(sign_in(a2, "n.jansen"), 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: u64 = clickhouse(
            ch.port,
            "SELECT count() FROM wardwatch.events WHERE original LIKE '%wardwatch-console%' AND original LIKE '%n.jansen%'",
        )
        .trim()
        .parse()
        .unwrap_or(0);
        if n == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sign-in never reached ClickHouse ({n})"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
