//! Incidents through a real `serve`: alerts become an incident, analysts act on it, an
//! exception made from a false-positive alert stops the same alert next time and expires, and
//! a kill -9 and restart keep incidents, their history and exceptions.

mod common;

use std::time::{Duration, Instant};

use common::{Server, http_get, http_post, request};
use serde_json::{Value, json};

const RULE: &str = "title: Failed logon (test)\nid: 6b0d3f4e-7a1c-4e2b-9d5f-0c1a2b3c4d5e\n\
    logsource: {product: windows, service: security}\ndetection:\n  sel: {EventID: 4625}\n  condition: sel\nlevel: medium\n\
    wardwatch: {recommendation: Ask the user whether they mistyped.}\n";

fn post_failure(server: &Server, second: u32) {
    let doc = json!({"EventID": 4625, "Channel": "Security", "Computer": "ws-rad-014",
        "TimeCreated": format!("2026-11-24T10:00:{second:02}Z"), "TargetUserName": "jsmith",
        "IpAddress": "10.20.2.14", "LogonType": 3});
    let (status, v) = http_post(
        server.http,
        "/_bulk",
        &format!("{{\"index\":{{}}}}\n{doc}\n"),
        Some("test-ingest"),
    );
    assert_eq!(status, 200, "{v}");
}

/// Wait until detection has processed `events` stored events.
fn settled(server: &Server, events: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, s) = http_get(server.http, "/api/v1/stats", Some("test-api"));
        if s["pipeline"]["queued"] == 0 && s["store"]["events"].as_u64() >= Some(events) {
            // The incident commits with the cursor; give the commit a moment to land.
            std::thread::sleep(Duration::from_millis(200));
            return;
        }
        assert!(Instant::now() < deadline, "detection did not catch up: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn api(server: &Server, method: &str, path: &str, body: Value) -> (u16, Value) {
    request(
        server.http,
        method,
        path,
        &body.to_string(),
        Some("test-api"),
    )
    .unwrap()
}

fn incidents(server: &Server) -> Value {
    http_get(server.http, "/api/v1/incidents", Some("test-api")).1
}

#[test]
fn incidents_history_and_exceptions_survive_a_restart_and_exceptions_expire() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("failed.yml"), RULE).unwrap();
    let data = dir.path().join("data");
    let args = ["--rules", rules.to_str().unwrap()];
    let mut server = Server::start_in(&data, "127.0.0.1:0", "", &args);

    post_failure(&server, 1);
    settled(&server, 1);
    let v = incidents(&server);
    assert_eq!(v["total"], 1, "{v}");
    let id = v["incidents"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(v["incidents"][0]["hosts"], json!(["ws-rad-014"]));
    assert_eq!(v["incidents"][0]["users"], json!(["jsmith"]));
    assert!(
        v["incidents"][0]["narrative"]
            .as_str()
            .unwrap()
            .contains("Ask the user whether they mistyped."),
        "{v}"
    );

    // An analyst takes it, then calls it a false positive and makes an exception from the
    // alert that expires in a few seconds.
    let actions = format!("/api/v1/incidents/{id}/actions");
    let (s, v) = api(
        &server,
        "POST",
        &actions,
        json!({"action": "acknowledge", "actor": "kim"}),
    );
    assert_eq!(s, 200, "{v}");
    let (s, _) = api(
        &server,
        "POST",
        &actions,
        json!({"action": "comment", "actor": "kim", "text": "jsmith's old phone"}),
    );
    assert_eq!(s, 200);
    let (s, _) = api(
        &server,
        "POST",
        &actions,
        json!({"action": "resolve", "actor": "kim", "resolution": "false-positive"}),
    );
    assert_eq!(s, 200);
    let alerts = http_get(server.http, "/api/v1/alerts", Some("test-api")).1;
    let alert = alerts["alerts"][0]["id"].as_str().unwrap().to_string();
    let made = Instant::now();
    let (s, v) = api(
        &server,
        "POST",
        "/api/v1/exceptions",
        json!({"alert_id": alert, "fields": ["TargetUserName", "IpAddress"], "scope_host": true,
               "expires": "now+6s", "justification": "jsmith's old phone retries a stale password",
               "author": "kim"}),
    );
    assert_eq!(s, 201, "{v}");

    // The same alert again: suppressed, and counted.
    std::thread::sleep(Duration::from_millis(1500)); // the worker re-reads exceptions each second
    post_failure(&server, 2);
    settled(&server, 2);
    let alerts = http_get(server.http, "/api/v1/alerts", Some("test-api")).1;
    assert_eq!(
        alerts["total"], 1,
        "the exception must stop the same alert: {alerts}"
    );
    let ex = http_get(server.http, "/api/v1/exceptions", Some("test-api")).1;
    assert_eq!(ex["exceptions"][0]["suppressed"], 1, "{ex}");
    let metrics = http_get(server.http, "/metrics", Some(&server.api_token)).1;
    let metrics = metrics.as_str().unwrap_or_default();
    for line in [
        "wardwatch_alerts_suppressed_total 1",
        "wardwatch_incidents_opened_total 1",
    ] {
        assert!(
            metrics.contains(line),
            "`{line}` missing from /metrics:\n{metrics}"
        );
    }

    // kill -9 and restart: the incident keeps its status, comments and history; the
    // exception and its counter are still there.
    server.kill();
    let server = Server::start_in(&data, "127.0.0.1:0", "", &args);
    let (s, d) = http_get(
        server.http,
        &format!("/api/v1/incidents/{id}"),
        Some("test-api"),
    );
    assert_eq!(s, 200, "{d}");
    let inc = &d["incident"];
    assert_eq!(inc["status"], "resolved");
    assert_eq!(inc["resolution"], "false-positive");
    assert_eq!(inc["comments"][0]["text"], "jsmith's old phone");
    let actions: Vec<&str> = inc["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["created", "acknowledged", "commented", "resolved"]
    );
    let ex = http_get(server.http, "/api/v1/exceptions", Some("test-api")).1;
    assert_eq!(ex["total"], 1);
    assert_eq!(ex["exceptions"][0]["suppressed"], 1);

    // After it expires, the alert comes back.
    let left = Duration::from_secs(7).saturating_sub(made.elapsed());
    std::thread::sleep(left);
    post_failure(&server, 3);
    let alerts = server.wait_alerts("", 2);
    assert_eq!(
        alerts["total"], 2,
        "an expired exception must not suppress: {alerts}"
    );
    settled(&server, 3);
    let v = incidents(&server);
    let total_alerts: u64 = v["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["alert_count"].as_u64().unwrap())
        .sum();
    assert_eq!(total_alerts, 2, "{v}");
}
