//! Replays of what each shipper sends, written from its documentation and source:
//! `tests/fixtures/bulk/<shipper>/request.json` (start-up calls, the bulk request's method, path
//! and headers, the events expected) and `request.ndjson` (the bulk body, gzipped here when the
//! shipper compresses). Each replay makes the start-up calls, then the bulk request, and checks
//! the answers and the decoded events.

mod listen_common;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use listen_common::{TestSink, counts, get};
use serde_json::Value;
use tower::ServiceExt;
use wardwatch_listen::SourceCounters;
use wardwatch_listen::bulk::{self, BulkConfig, BulkState, TokenCheck};

/// The ingest token the fixtures' credentials carry.
const TOKEN: &str = "wardwatch-test-token";

fn fixture(shipper: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bulk")
        .join(shipper)
}

async fn replay(shipper: &str) {
    let dir = fixture(shipper);
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("request.json")).unwrap()).unwrap();
    let ndjson = std::fs::read(dir.join("request.ndjson")).unwrap();
    let sink = TestSink::new();
    let counters = Arc::new(SourceCounters::default());
    let tokens: TokenCheck = Arc::new(|t| (t == TOKEN).then(|| "default".to_string()));
    let router = bulk::router(BulkState::new(
        sink.clone(),
        counters.clone(),
        tokens,
        BulkConfig::default(),
    ));
    let headers = spec["bulk"]["headers"].as_object().unwrap();
    let with_headers = |mut req: axum::http::request::Builder, all: bool| {
        for (name, value) in headers {
            let keep = all || matches!(name.as_str(), "Authorization" | "User-Agent" | "Accept");
            if keep {
                req = req.header(name.as_str(), value.as_str().unwrap());
            }
        }
        req
    };

    for probe in spec["probes"].as_array().unwrap() {
        let method = probe["method"].as_str().unwrap();
        let path = probe["path"].as_str().unwrap();
        let req = with_headers(Request::builder().method(method).uri(path), false)
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(req).await.unwrap();
        assert_eq!(
            response.status().as_u16(),
            probe["status"].as_u64().unwrap() as u16,
            "{shipper}: {method} {path}"
        );
        assert_eq!(
            response.headers()["x-elastic-product"],
            "Elasticsearch",
            "{shipper}: {method} {path}"
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        if method == "GET" && path == "/" {
            let root: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(root["version"]["number"], "8.17.0", "{shipper}");
            assert_eq!(root["version"]["build_flavor"], "default", "{shipper}");
        }
        if path.starts_with("/_license") {
            let license: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(license["license"]["status"], "active", "{shipper}");
        }
    }

    let gzip = headers.get("Content-Encoding").is_some_and(|e| e == "gzip");
    let body = if gzip {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&ndjson).unwrap();
        gz.finish().unwrap()
    } else {
        ndjson.clone()
    };
    let req = with_headers(
        Request::builder()
            .method(spec["bulk"]["method"].as_str().unwrap())
            .uri(spec["bulk"]["path"].as_str().unwrap()),
        true,
    )
    .header("Content-Length", body.len())
    .body(Body::from(body))
    .unwrap();
    let response = router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let answer: Value = serde_json::from_slice(
        &axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(status, StatusCode::OK, "{shipper}: {answer}");
    assert_eq!(answer["errors"], false, "{shipper}: {answer}");

    let expected = spec["expect"].as_array().unwrap();
    let items = answer["items"].as_array().unwrap();
    assert_eq!(items.len(), expected.len(), "{shipper}: {answer}");
    for item in items {
        let (_, result) = item.as_object().unwrap().iter().next().unwrap();
        assert_eq!(result["status"], 201, "{shipper}: {item}");
    }
    let events = sink.events();
    assert_eq!(events.len(), expected.len(), "{shipper}");
    let documents: Vec<Value> = ndjson
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .skip(1)
        .step_by(2)
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    for (i, (event, want)) in events.iter().zip(expected).enumerate() {
        let what = format!("{shipper}: document {i}");
        assert_eq!(
            event.source_kind.as_str(),
            want["source_kind"].as_str().unwrap(),
            "{what}"
        );
        assert_eq!(
            event.origin.source,
            want["source"].as_str().unwrap(),
            "{what}"
        );
        assert_eq!(
            event.ecs.host_name.as_deref(),
            want["host"].as_str(),
            "{what}: host"
        );
        assert_eq!(
            event.ecs.user_name.as_deref(),
            want["user"].as_str(),
            "{what}: user"
        );
        assert_eq!(
            event.ecs.event_code.as_deref(),
            want["event_code"].as_str(),
            "{what}: event code"
        );
        assert_ne!(
            event.timestamp,
            jiff::Timestamp::UNIX_EPOCH,
            "{what}: a time"
        );
        assert_eq!(
            event.raw, documents[i],
            "{what}: the document is kept unchanged"
        );
    }
    assert_eq!(
        get(&counters.received),
        expected.len() as u64,
        "{}",
        counts(&counters)
    );
    assert_eq!(get(&counters.rejected), 0, "{}", counts(&counters));
}

#[tokio::test]
async fn winlogbeat() {
    replay("winlogbeat").await;
}

#[tokio::test]
async fn filebeat_suricata_eve() {
    replay("filebeat").await;
}

#[tokio::test]
async fn fluent_bit() {
    replay("fluent-bit").await;
}

#[tokio::test]
async fn vector() {
    replay("vector").await;
}

#[tokio::test]
async fn logstash() {
    replay("logstash").await;
}

/// Every fixture folder has a test above.
#[test]
fn every_fixture_is_replayed() {
    let mut found: Vec<String> = std::fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(
        found,
        ["filebeat", "fluent-bit", "logstash", "vector", "winlogbeat"]
    );
}
