use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use wardwatch_core::{Alert, AlertId, Event, EventRef, Severity, SourceKind};
use wardwatch_store::{Db, DbOptions, TokenKind, index_text};

use super::*;

struct Fixed;
impl Telemetry for Fixed {
    fn metrics(&self) -> String {
        "wardwatch_queued_events 0\n".into()
    }
    fn stats(&self) -> Value {
        json!({"queued": 0})
    }
}

fn seeded() -> (tempfile::TempDir, Router) {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(
        dir.path(),
        &DbOptions {
            fsync_every_commit: false,
            ..Default::default()
        },
    )
    .unwrap();
    let mut events = Vec::new();
    for i in 0..3 {
        let mut e = Event::new(
            SourceKind::Syslog,
            jiff::Timestamp::from_second(1_772_359_200 + i).unwrap(),
            json!({"appname": "sshd", "message": format!("Failed password for root from 10.0.0.{i}")}),
        );
        e.ecs.host_name = Some("gw1".into());
        e.origin.source = "syslog-udp".into();
        e.origin.record_id = Some(i as u64);
        events.push(e);
    }
    let last = db.append(std::slice::from_ref(&events)).unwrap();
    let read = db.read_after(0, 10).unwrap();
    let index: Vec<(i64, String)> = read.iter().map(|r| (r.seq, index_text(&r.event))).collect();
    let alert = Alert {
        id: AlertId::derive("r1", &events[2].origin, events[2].timestamp),
        rule_id: "r1".into(),
        rule_title: "SSH brute force".into(),
        level: Severity::High,
        tags: vec!["attack.t1110".into()],
        timestamp: events[2].timestamp,
        organization: "default".into(),
        host: Some("gw1".into()),
        entities: vec![],
        event: EventRef {
            origin: events[2].origin.clone(),
            event_code: None,
            channel: None,
        },
        recommendation: Some("Block the source.".into()),
        awareness: None,
        facts: Default::default(),
    };
    db.commit_detection(&wardwatch_store::DetectionCommit {
        worker: "detect",
        cursor: last,
        alerts: &[(alert, 3, 5)],
        index: &index,
        ..Default::default()
    })
        .unwrap();
    db.add_token("ops", TokenKind::Api, "stored-secret")
        .unwrap();
    let state = ApiState::new(
        dir.path().to_path_buf(),
        &["env-secret".to_string()],
        Arc::new(Fixed),
    );
    (dir, router(state))
}

async fn get(app: &Router, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::get(uri);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

#[tokio::test]
async fn events_search_with_query_range_and_paging() {
    let (_dir, app) = seeded();
    let (s, v) = get(
        &app,
        "/api/v1/events?q=appname:sshd%20AND%20root&limit=2",
        Some("env-secret"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["total"], 3);
    assert_eq!(v["events"].as_array().unwrap().len(), 2);
    let cursor = v["next_cursor"].as_str().unwrap().to_string();
    let (_, v2) = get(
        &app,
        &format!("/api/v1/events?limit=2&q=root&cursor={cursor}"),
        Some("stored-secret"),
    )
    .await;
    assert_eq!(v2["events"].as_array().unwrap().len(), 1);
    assert!(v2["next_cursor"].is_null());
    let (_, v3) = get(
        &app,
        "/api/v1/events?from=2026-03-01T10:00:01Z&to=2026-03-01T10:00:02Z",
        Some("env-secret"),
    )
    .await;
    assert_eq!(v3["total"], 1);
    assert_eq!(v3["events"][0]["ecs"]["host.name"], "gw1");
}

#[tokio::test]
async fn alerts_list_and_detail() {
    let (_dir, app) = seeded();
    let (s, v) = get(&app, "/api/v1/alerts?min_level=medium", Some("env-secret")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 1);
    let id = v["alerts"][0]["id"].as_str().unwrap().to_string();
    let (s, d) = get(&app, &format!("/api/v1/alerts/{id}"), Some("env-secret")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["alert"]["rule_title"], "SSH brute force");
    assert!(
        d["event"]["raw"]["message"]
            .as_str()
            .unwrap()
            .contains("10.0.0.2")
    );
    let (s, _) = get(&app, "/api/v1/alerts/nope", Some("env-secret")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, v) = get(
        &app,
        "/api/v1/alerts?min_level=critical",
        Some("env-secret"),
    )
    .await;
    assert_eq!(v["total"], 0);
}

#[tokio::test]
async fn bad_input_and_tokens_get_clear_errors() {
    let (_dir, app) = seeded();
    let (s, v) = get(&app, "/api/v1/events", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["type"], "unauthorized");
    let (s, _) = get(&app, "/api/v1/events", Some("wrong")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = get(&app, "/api/v1/events?q=host.name:", Some("env-secret")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("character 10"),
        "{v}"
    );
    let (s, v) = get(&app, "/api/v1/events?from=yesterday", Some("env-secret")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["reason"].as_str().unwrap().contains("from"));
    let (s, _) = get(&app, "/api/v1/events?bogus=1", Some("env-secret")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = get(&app, "/api/v1/alerts?min_level=severe", Some("env-secret")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn health_metrics_and_stats() {
    let (_dir, app) = seeded();
    let (s, v) = get(&app, "/healthz", None).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, m) = get(&app, "/metrics", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(m.as_str().unwrap().contains("wardwatch_queued_events"));
    let (_, st) = get(&app, "/api/v1/stats", Some("env-secret")).await;
    assert_eq!(st["store"]["events"], 3);
    assert_eq!(st["store"]["alerts"], 1);
    assert_eq!(st["pipeline"]["queued"], 0);
}
