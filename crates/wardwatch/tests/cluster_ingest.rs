//! `wardwatch serve --role ingest` on a real `nats-server -js` (`wardwatch-peers`): `_bulk` and
//! syslog batches are answered only once JetStream has them; with NATS down a sender gets 503
//! (and TCP syslog is not read) and is answered 200 again once NATS is back; with the stream
//! full (the workers behind) a sender gets 429.

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use cluster_common::Node;
use common::request;
use wardwatch_cluster::ClusterConfig;
use wardwatch_peers::Peer;

fn bulk(from: usize, n: usize, pad: usize) -> String {
    (from..from + n)
        .map(|i| {
            format!(
                "{{\"index\":{{}}}}\n{}\n",
                serde_json::json!({
                    "@timestamp": "2026-11-02T08:00:00Z", "host": {"name": format!("ws-{}", i % 7)},
                    "message": format!("cluster ingest {i} {}", "x".repeat(pad)), "n": i
                })
            )
        })
        .collect()
}

fn post(node: &Node, body: &str) -> (u16, serde_json::Value) {
    request(
        node.http.unwrap(),
        "POST",
        "/_bulk",
        body,
        Some("test-ingest"),
    )
    .expect("POST /_bulk")
}

fn stream_events(rt: &tokio::runtime::Runtime, cfg: &ClusterConfig) -> u64 {
    rt.block_on(wardwatch_cluster::status(cfg))
        .unwrap()
        .stream
        .messages
}

#[test]
fn ingest_answers_after_jetstream_and_refuses_with_503_and_429() {
    let Some(mut nats) = Peer::nats("ingest_answers_after_jetstream") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cfg = ClusterConfig {
        nats: nats.url(),
        partitions: 2,
        max_backlog_mb: 2,
        publish_timeout_secs: 2,
        ..ClusterConfig::default()
    };
    rt.block_on(wardwatch_cluster::init(&cfg)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nnats = \"{}\"\npartitions = 2\nmax_backlog_mb = 2\npublish_timeout_secs = 2\n",
            nats.url()
        ),
    )
    .unwrap();
    let node = Node::start(
        &config,
        &dir.path().join("data"),
        "ingest",
        "127.0.0.1:0",
        "127.0.0.1:0",
    );

    // Accepted: answered 200, and JetStream holds the batch (one message per partition).
    let (status, resp) = post(&node, &bulk(0, 100, 0));
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["errors"], false, "{resp}");
    assert_eq!(resp["items"].as_array().map(Vec::len), Some(100));
    let held = stream_events(&rt, &cfg);
    assert!((1..=2).contains(&held), "{held} messages");
    // A wrong token is refused before anything is published.
    let (status, _) = request(
        node.http.unwrap(),
        "POST",
        "/_bulk",
        &bulk(0, 1, 0),
        Some("nope"),
    )
    .unwrap();
    assert_eq!(status, 401);
    // Syslog over TCP lands in the stream too.
    let mut tcp = std::net::TcpStream::connect(node.syslog.unwrap()).unwrap();
    for i in 0..20 {
        writeln!(
            tcp,
            "<134>Nov  2 08:00:{i:02} ws-1 app[1]: cluster syslog {i}"
        )
        .unwrap();
    }
    tcp.flush().unwrap();
    drop(tcp);
    let deadline = Instant::now() + Duration::from_secs(20);
    while stream_events(&rt, &cfg) == held {
        assert!(Instant::now() < deadline, "syslog never reached the stream");
        std::thread::sleep(Duration::from_millis(100));
    }

    // NATS down: 503, nothing stored; back up: 200 again.
    nats.kill();
    std::thread::sleep(Duration::from_millis(300));
    let (status, resp) = post(&node, &bulk(1000, 10, 0));
    assert_eq!(status, 503, "{resp}");
    assert!(resp.to_string().contains("unavailable"), "{resp}");
    nats.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, resp) = post(&node, &bulk(1000, 10, 0));
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{resp}");
        assert!(
            Instant::now() < deadline,
            "not accepted again after NATS came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Nobody drains the stream: past its 2 MiB backlog, senders hear 429.
    let mut refused = None;
    for round in 0..200 {
        let (status, resp) = post(&node, &bulk(10_000 + round * 200, 200, 400));
        if status != 200 {
            refused = Some((status, resp));
            break;
        }
    }
    let (status, resp) = refused.expect("a full stream refuses");
    assert_eq!(status, 429, "{resp}");
}
