//! Partners' feeds on a cluster, on real servers (`wardwatch-peers`: `nats-server -js`,
//! ClickHouse, PostgreSQL) and a real TAXII 2.1 server (`medallion`, PyPI, in `target/py-intel`
//! from `.ci/run`): one of two incidents-role nodes polls (the `intel-feeds` lease), the
//! detection worker on another node matches what it polled (its indicators reloaded from the
//! shared state), the retro-hunt finds an old event in ClickHouse, the standby takes the
//! polling over when the poller is killed, and the sightings owed — counted by the incident
//! stage from the alerts stream — reach medallion once per alert; an API node tells the
//! feed's health from the shared state.

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;
#[path = "common/feeds.rs"]
mod feeds_common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cluster_common::{Node, clickhouse};
use common::request;
use feeds_common::{IND_A, indicator};
use serde_json::{Value, json};
use wardwatch_peers::Peer;
use wardwatch_store::FeedStore;

const IND_B: &str = "indicator--0b7f0d4e-5d6c-4d1e-9a49-2f6f3c0e7a11";
const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";

/// One TAXII 2.1 request to medallion (HTTP Basic, TAXII media types).
fn taxii(port: u16, method: &str, path: &str, body: &str) -> (u16, Value) {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, Value::Null);
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic d2FyZHdhdGNoOnBhcnRuZXItcGFzcw==\r\nAccept: application/taxii+json;version=2.1\r\nContent-Type: application/taxii+json;version=2.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn wait_until<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn post(addr: std::net::SocketAddr, docs: &[Value]) {
    let body: String = docs
        .iter()
        .map(|d| format!("{{\"index\":{{}}}}\n{d}\n"))
        .collect();
    let (status, v) = request(addr, "POST", "/_bulk", &body, Some("test-ingest")).unwrap();
    assert_eq!((status, &v["errors"]), (200, &json!(false)), "{v}");
}

fn count(ch: u16, sql: &str) -> u64 {
    clickhouse(ch, sql).trim().parse().unwrap_or(0)
}

/// Sightings medallion holds, by indicator: the sum of their counts (each sighting id once).
fn sightings(port: u16) -> BTreeMap<String, u64> {
    let coll = format!("/api1/collections/{COLLECTION}/objects/?match[type]=sighting");
    let (_, env) = taxii(port, "GET", &coll, "");
    let mut by_id: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for s in env["objects"].as_array().into_iter().flatten() {
        by_id.insert(
            s["id"].as_str().unwrap_or_default().to_string(),
            (
                s["sighting_of_ref"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                s["count"].as_u64().unwrap_or(1),
            ),
        );
    }
    let mut out = BTreeMap::new();
    for (ind, n) in by_id.into_values() {
        *out.entry(ind).or_default() += n;
    }
    out
}

#[test]
fn one_node_polls_every_worker_matches_and_the_standby_takes_over() {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/py-intel/bin");
    let medallion = venv.join("medallion");
    if !medallion.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but target/py-intel/bin/medallion is absent (.ci/run installs it)"
        );
        eprintln!("skipped: target/py-intel/bin/medallion is absent (.ci/run installs it)");
        return;
    }
    let Some(nats) = Peer::nats("cluster_feeds") else {
        return;
    };
    let Some(ch) = Peer::clickhouse("cluster_feeds") else {
        return;
    };
    let Some(pg) = Peer::postgres("cluster_feeds") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = json!({
        "/discovery": {"title": "partner", "default": "http://127.0.0.1/api1/",
            "api_roots": ["http://127.0.0.1/api1/"]},
        "api1": {
            "information": {"title": "partner", "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 9_765_625},
            "status": [],
            "collections": [{"id": COLLECTION, "title": "shared",
                "can_read": true, "can_write": true,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": [], "manifest": []}]
        }
    });
    std::fs::write(dir.path().join("data.json"), data.to_string()).unwrap();
    std::fs::write(
        dir.path().join("medallion.json"),
        json!({"backend": {"module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend", "filename": dir.path().join("data.json")},
            "users": {"wardwatch": "partner-pass"}, "taxii": {"max_page_size": 100}})
        .to_string(),
    )
    .unwrap();
    let port = common::free_port();
    /// Stops medallion (by its own process id) however the test ends.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _medallion = Kill(
        Command::new(&medallion)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg(dir.path().join("medallion.json"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start medallion"),
    );
    wait_until(60, "medallion", || {
        (taxii(port, "GET", "/taxii2/", "").0 == 200).then_some(())
    });
    let add = |obj: Value| {
        let coll = format!("/api1/collections/{COLLECTION}/objects/");
        let (status, resp) = taxii(port, "POST", &coll, &json!({"objects": [obj]}).to_string());
        assert_eq!(status, 202, "{resp}");
    };

    let rules_dir = dir.path().join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    let config = dir.path().join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nnats = \"{}\"\npartitions = 2\nack_wait_secs = 5\nmax_backlog_mb = 256\n\n\
             [store]\nevents = \"clickhouse://127.0.0.1:{}/wardwatch\"\nstate = \"{}\"\n\n\
             [rules]\nbuiltin = false\nfolders = [{:?}]\n\n\
             [intel]\nproducer = \"Region Hospital\"\n\
             [[intel.feeds]]\nname = \"medallion-partner\"\nurl = \"http://127.0.0.1:{port}/api1/\"\n\
             collection = \"{COLLECTION}\"\nuser = \"wardwatch\"\npassword = \"partner-pass\"\n\
             interval_secs = 1\nsightings = true\n",
            nats.url(),
            ch.port,
            pg.url(),
            rules_dir.display().to_string()
        ),
    )
    .unwrap();
    let init = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["cluster", "init", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let state = wardwatch_store_postgres::Postgres::connect(&pg.url()).unwrap();
    let feed = |state: &wardwatch_store_postgres::Postgres| {
        state
            .feed_status("medallion-partner")
            .unwrap()
            .unwrap_or_default()
    };

    // The poller first (it takes the lease), then the worker and the standby.
    let mut poller = Node::start(
        &config,
        &dir.path().join("p1"),
        "incidents",
        "127.0.0.1:0",
        "",
    );
    wait_until(60, "the first poll", || feed(&state).succeeded.map(|_| ()));
    let worker = Node::start(
        &config,
        &dir.path().join("w"),
        "ingest,detect,api",
        "127.0.0.1:0",
        "",
    );
    let ingest = worker.http.unwrap();
    let _standby = Node::start(
        &config,
        &dir.path().join("p2"),
        "incidents",
        "127.0.0.1:0",
        "",
    );

    // An old event, stored before the indicator exists: the retro-hunt's to find.
    let old = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(240)).to_string();
    post(
        ingest,
        &[json!({"@timestamp": old, "host": {"name": "ws-er-02"},
            "dns": {"question": {"name": "portal.billing-portal.example"}}})],
    );
    wait_until(60, "the old event in ClickHouse", || {
        (count(
            ch.port,
            "SELECT count() FROM wardwatch.events WHERE host = 'ws-er-02'",
        ) == 1)
            .then_some(())
    });

    add(indicator(
        IND_A,
        "[domain-name:value = 'billing-portal.example']",
        "2026-12-01T00:00:00.000Z",
        false,
    ));
    let stored = wait_until(60, "the indicator in the shared state", || {
        (feed(&state).indicators == 1).then(Instant::now)
    });
    // How long until an event on the detection node matches what the poller stored.
    let mut probes = 0u32;
    let matched = wait_until(30, "a live match on the worker", || {
        probes += 1;
        post(
            ingest,
            &[json!({"@timestamp": jiff::Timestamp::now().to_string(),
                "host": {"name": format!("ws-probe-{}", probes % 4)},
                "dns": {"question": {"name": "www.billing-portal.example"}}})],
        );
        std::thread::sleep(Duration::from_millis(250));
        (count(
            ch.port,
            "SELECT count() FROM wardwatch.alerts WHERE rule_id = 'intel:medallion-partner:domain' AND host LIKE 'ws-probe-%'",
        ) > 0)
            .then(Instant::now)
    });
    eprintln!(
        "an indicator stored by the poller matched on the worker {:.1} s later ({probes} probes)",
        (matched - stored).as_secs_f64()
    );
    // The retro-hunt found the old event (ClickHouse, through the store seam).
    wait_until(60, "the retro-hunt's alert", || {
        (count(
            ch.port,
            "SELECT count() FROM wardwatch.alerts WHERE rule_id = 'intel:medallion-partner:domain' AND host = 'ws-er-02'",
        ) == 1)
            .then_some(())
    });
    wait_until(60, "the retro-hunt marked done", || {
        (feed(&state).retro_pending == 0).then_some(())
    });

    // The poller dies: the standby polls within the lease's time, and the worker matches.
    poller.kill();
    add(indicator(
        IND_B,
        "[ipv4-addr:value = '203.0.113.9']",
        "2026-12-02T00:00:00.000Z",
        false,
    ));
    wait_until(90, "the standby's poll", || {
        (feed(&state).indicators == 2).then_some(())
    });
    wait_until(60, "the second indicator matched", || {
        post(
            ingest,
            &[json!({"@timestamp": jiff::Timestamp::now().to_string(),
                "host": {"name": "ws-rad-4"},
                "source": {"ip": "10.2.2.2"}, "destination": {"ip": "203.0.113.9"}})],
        );
        std::thread::sleep(Duration::from_millis(500));
        (count(
            ch.port,
            "SELECT count() FROM wardwatch.alerts WHERE rule_id = 'intel:medallion-partner:ip'",
        ) > 0)
            .then_some(())
    });

    // Every alert on the partner's indicators is counted in exactly one sighting.
    let alerts_of = |rule: &str| {
        count(
            ch.port,
            &format!("SELECT count() FROM wardwatch.alerts WHERE rule_id = '{rule}'"),
        )
    };
    let expected = || {
        BTreeMap::from([
            (
                IND_A.to_string(),
                alerts_of("intel:medallion-partner:domain"),
            ),
            (IND_B.to_string(), alerts_of("intel:medallion-partner:ip")),
        ])
    };
    let got = wait_until(90, "every sighting at medallion", || {
        let got = sightings(port);
        (got == expected()).then_some(got)
    });
    eprintln!("sightings at medallion by indicator: {got:?}");
    // Nothing more comes later (no sighting sent twice).
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(sightings(port), expected());
    let f = feed(&state);
    assert_eq!(f.sightings_unsent, 0, "{f:?}");

    // An API node (here the worker's process, which polls nothing) tells the feed's health from
    // the shared state.
    let metrics = wait_until(30, "the feed's health on the API node", || {
        let m = common::http_get(ingest, "/metrics", Some("test-api")).1;
        let m = m.as_str().unwrap_or_default().to_string();
        m.contains("wardwatch_intel_feed_indicators{feed=\"medallion-partner\"} 2")
            .then_some(m)
    });
    assert!(
        metrics.contains("wardwatch_intel_feed_up{feed=\"medallion-partner\"} 1"),
        "{metrics}"
    );
    // `wardwatch intel feeds -c` reads the same from the configuration's [store].
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["intel", "feeds", "--json", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            &listed["feed"],
            &listed["indicators"],
            &listed["sightings_unsent"]
        ),
        (&json!("medallion-partner"), &json!(2), &json!(0)),
        "{listed}"
    );
    let (_, stats) = common::http_get(ingest, "/api/v1/stats", Some("test-api"));
    assert_eq!(
        stats["pipeline"]["feeds"]["medallion-partner"]["up"],
        json!(true),
        "{stats}"
    );
}
