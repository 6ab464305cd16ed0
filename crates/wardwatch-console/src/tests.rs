use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use wardwatch_core::{Alert, AlertId, Event, EventRef, Severity, SourceKind};
use wardwatch_store::{Db, DbOptions, TokenKind, index_text};

use super::*;
use axum::Router;

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
    // The incident the detection worker would make of it.
    let ctx = wardwatch_incidents::Context::default();
    let mut grouper = wardwatch_incidents::Grouper::new(Default::default(), Vec::new());
    let incident = grouper.add(&alert, &ctx, alert.timestamp).remove(0);
    let narrative = wardwatch_incidents::narrate(&incident, &ctx);
    let row = wardwatch_store::IncidentRow {
        id: incident.id.clone(),
        org: incident.organization.clone(),
        opened: incident.opened.as_nanosecond() as i64,
        first_seen: incident.first_seen.as_nanosecond() as i64,
        last_seen: incident.last_seen.as_nanosecond() as i64,
        severity: incident.severity,
        score: incident.score,
        closed: false,
        merged_into: None,
        title: incident.title.clone(),
        doc: serde_json::to_string(&wardwatch_incidents::IncidentDoc {
            incident,
            narrative,
        })
        .unwrap(),
    };
    db.commit_detection(&wardwatch_store::DetectionCommit {
        worker: "detect",
        cursor: last,
        alerts: &[(alert, 3, 5)],
        incidents: &[row],
        ..Default::default()
    })
    .unwrap();
    wardwatch_store::IndexDb::open(dir.path(), &DbOptions::default())
        .unwrap()
        .commit(last, &index)
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
        "/api/v1/events?q=appname:sshd%20AND%20root&limit=2&from=2026-03-01T00:00:00Z",
        Some("env-secret"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["total"], 3);
    assert_eq!(v["events"].as_array().unwrap().len(), 2);
    let cursor = v["next_cursor"].as_str().unwrap().to_string();
    let (_, v2) = get(
        &app,
        &format!("/api/v1/events?limit=2&q=root&cursor={cursor}&from=2026-03-01T00:00:00Z"),
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
    assert_eq!(v3["partial"], false);
    assert!(v3.get("note").is_none(), "the caller chose the range: {v3}");
}

#[tokio::test]
async fn a_search_without_from_covers_the_last_day_and_says_so() {
    // Failed before: no `from` read (and parsed) the whole journal.
    let (_dir, app) = seeded();
    let (s, v) = get(&app, "/api/v1/events?q=root", Some("env-secret")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // The seeded events are from March: outside the last 24 hours.
    assert_eq!(v["total"], 0, "{v}");
    let note = v["note"].as_str().unwrap();
    assert!(note.contains("24 hours before now"), "{note}");
    let from: jiff::Timestamp = v["from"].as_str().unwrap().parse().unwrap();
    let age = jiff::Timestamp::now().duration_since(from);
    assert!((age.as_secs() - 86_400).abs() < 60, "{age}");
    assert!(v["to"].is_null());
    // With `to` only, the day before `to`.
    let (_, v) = get(
        &app,
        "/api/v1/events?q=root&to=2026-03-01T12:00:00Z",
        Some("env-secret"),
    )
    .await;
    assert_eq!(v["total"], 3, "{v}");
    assert_eq!(v["from"], "2026-02-28T12:00:00Z");
    assert!(v["note"].as_str().unwrap().contains("before `to`"));
}

#[tokio::test]
async fn a_query_nested_8000_deep_is_a_400_and_the_api_goes_on() {
    // Failed before: the parser recursed once per `(` and the stack overflow aborted the
    // process (ingest included).
    let (_dir, app) = seeded();
    let deep = format!("{}a{}", "(".repeat(8000), ")".repeat(8000));
    let uri = format!(
        "/api/v1/events?from=0&q={}",
        deep.replace('(', "%28").replace(')', "%29")
    );
    let (s, v) = get(&app, &uri, Some("env-secret")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let reason = v["error"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("q: ") && reason.contains("4096 characters"),
        "{reason}"
    );
    // Short enough to pass the length limit, still far too deep.
    let deep = format!("{}a{}", "(".repeat(1500), ")".repeat(1500));
    let uri = format!(
        "/api/v1/events?from=0&q={}",
        deep.replace('(', "%28").replace(')', "%29")
    );
    let (s, v) = get(&app, &uri, Some("env-secret")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("deeper than 32 levels"),
        "{v}"
    );
    let (s, v) = get(&app, "/api/v1/events?from=0&q=root", Some("env-secret")).await;
    assert_eq!((s, v["total"].as_u64()), (StatusCode::OK, Some(3)));
}

#[tokio::test]
async fn relative_times_that_overflow_are_a_400() {
    let (_dir, app) = seeded();
    for t in [
        "now-99999999999999999d",
        "now-106751991167301d",
        "now%2B9223372036854775807s",
    ] {
        let (s, v) = get(
            &app,
            &format!("/api/v1/events?from={t}"),
            Some("env-secret"),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{t}: {v}");
        assert!(
            v["error"]["reason"]
                .as_str()
                .unwrap()
                .contains("out of range"),
            "{v}"
        );
    }
}

#[tokio::test]
async fn a_search_out_of_time_is_partial() {
    let (dir, _) = seeded();
    let state = ApiState::new(
        dir.path().to_path_buf(),
        &["env-secret".to_string()],
        Arc::new(Fixed),
    )
    .with_search_limits(SearchLimits {
        budget: std::time::Duration::ZERO,
        ..SearchLimits::default()
    });
    let app = router(state);
    let (s, v) = get(
        &app,
        "/api/v1/events?from=0&q=root&limit=1",
        Some("env-secret"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["partial"], true, "{v}");
    assert!(v["next_cursor"].is_string(), "{v}");
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
    // `/metrics` asks for an API token unless opened.
    let (s, _) = get(&app, "/metrics", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, m) = get(&app, "/metrics", Some("env-secret")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(m.as_str().unwrap().contains("wardwatch_queued_events"));
    let (_, st) = get(&app, "/api/v1/stats", Some("env-secret")).await;
    assert_eq!(st["store"]["events"], 3);
    assert_eq!(st["store"]["alerts"], 1);
    assert_eq!(st["pipeline"]["queued"], 0);
}

async fn send(app: &Router, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("Authorization", "Bearer env-secret")
        .header("Content-Type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn incidents_list_detail_and_the_analyst_workflow() {
    let (_dir, app) = seeded();
    let (s, v) = get(&app, "/api/v1/incidents", Some("env-secret")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["total"], 1);
    // Every severity unless asked (the console's queue starts at medium), and the answer
    // names the filter it applied.
    assert_eq!(v["min_severity"], "informational");
    let (_, high) = get(
        &app,
        "/api/v1/incidents?min_severity=high",
        Some("env-secret"),
    )
    .await;
    assert_eq!(
        (&high["min_severity"], &high["total"]),
        (&json!("high"), &json!(1))
    );
    let (_, critical) = get(
        &app,
        "/api/v1/incidents?min_severity=critical",
        Some("env-secret"),
    )
    .await;
    assert_eq!(
        (&critical["min_severity"], &critical["total"]),
        (&json!("critical"), &json!(0))
    );
    let inc = &v["incidents"][0];
    for key in [
        "id",
        "title",
        "severity",
        "score",
        "status",
        "alert_count",
        "hosts",
        "users",
        "narrative",
        "recommendations",
    ] {
        assert!(!inc[key].is_null(), "{key} missing in {inc}");
    }
    assert_eq!(inc["status"], "new");
    assert_eq!(inc["hosts"][0], "gw1");
    assert!(
        inc["narrative"]
            .as_str()
            .unwrap()
            .contains("Block the source."),
        "{inc}"
    );
    let id = inc["id"].as_str().unwrap().to_string();

    let (s, d) = get(&app, &format!("/api/v1/incidents/{id}"), Some("env-secret")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(d["incident"]["timeline"].as_array().unwrap().len(), 1);

    let uri = format!("/api/v1/incidents/{id}/actions");
    let act = |body: Value| send(&app, "POST", &uri, body);
    let (s, v) = act(json!({"action": "acknowledge", "actor": "kim"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["incident"]["status"], "acknowledged");
    let (s, v) = act(json!({"action": "acknowledge", "actor": "kim"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("acknowledged")
    );
    let (s, _) = act(json!({"action": "resolve", "actor": "kim"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = act(json!({"action": "dance", "actor": "kim"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) =
        act(json!({"action": "comment", "actor": "kim", "text": "test account of the vendor"}))
            .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) =
        act(json!({"action": "resolve", "actor": "kim", "resolution": "false-positive"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let actions: Vec<&str> = v["incident"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["created", "acknowledged", "commented", "resolved"]
    );
    let (_, v) = get(
        &app,
        "/api/v1/incidents?status=resolved",
        Some("env-secret"),
    )
    .await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["incidents"][0]["resolution"], "false-positive");
    let (_, v) = get(&app, "/api/v1/incidents?status=new", Some("env-secret")).await;
    assert_eq!(v["total"], 0);
    let (s, _) = get(&app, "/api/v1/incidents?status=open", Some("env-secret")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = get(&app, "/api/v1/incidents/nope", Some("env-secret")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = get(&app, "/api/v1/incidents", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn exceptions_are_made_from_an_alert_listed_and_removed() {
    let (_dir, app) = seeded();
    let (_, v) = get(&app, "/api/v1/alerts", Some("env-secret")).await;
    let alert = v["alerts"][0]["id"].as_str().unwrap().to_string();
    let body = |expires: &str, alert: &str| {
        json!({"alert_id": alert, "scope_host": true, "expires": expires,
               "justification": "vendor scanner", "author": "kim"})
    };
    let (s, v) = send(&app, "POST", "/api/v1/exceptions", body("now-1h", &alert)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["reason"].as_str().unwrap().contains("past"));
    let (s, _) = send(
        &app,
        "POST",
        "/api/v1/exceptions",
        body("now+30d", "no-such-alert"),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = send(
        &app,
        "POST",
        "/api/v1/exceptions",
        json!({"alert_id": alert}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = send(&app, "POST", "/api/v1/exceptions", body("now+30d", &alert)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["exception"]["rule_id"], "r1");
    assert_eq!(v["exception"]["host"], "gw1");
    let id = v["exception"]["id"].as_str().unwrap().to_string();
    let (_, v) = get(&app, "/api/v1/exceptions", Some("env-secret")).await;
    assert_eq!(v["total"], 1);
    let (s, _) = send(
        &app,
        "DELETE",
        &format!("/api/v1/exceptions/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = send(
        &app,
        "DELETE",
        &format!("/api/v1/exceptions/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_analysts_commenting_at_once_both_land() {
    let (_dir, app) = seeded();
    let (_, v) = get(&app, "/api/v1/incidents", Some("env-secret")).await;
    let uri = format!(
        "/api/v1/incidents/{}/actions",
        v["incidents"][0]["id"].as_str().unwrap()
    );
    let mut tasks = Vec::new();
    for who in ["kim", "lee", "max", "noa"] {
        let (app, uri) = (app.clone(), uri.clone());
        tasks.push(tokio::spawn(async move {
            send(
                &app,
                "POST",
                &uri,
                json!({"action": "comment", "actor": who, "text": format!("seen by {who}")}),
            )
            .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().0, StatusCode::OK);
    }
    let id = v["incidents"][0]["id"].as_str().unwrap();
    let (_, d) = get(&app, &format!("/api/v1/incidents/{id}"), Some("env-secret")).await;
    assert_eq!(
        d["incident"]["comments"].as_array().unwrap().len(),
        4,
        "{d}"
    );
}

#[tokio::test]
async fn healthz_says_what_keeps_the_server_from_storing() {
    struct DiskFull;
    impl Telemetry for DiskFull {
        fn metrics(&self) -> String {
            String::new()
        }
        fn stats(&self) -> Value {
            json!({})
        }
        fn problem(&self) -> Option<String> {
            Some("journal commit failed: database or disk is full".into())
        }
    }
    let (dir, app) = seeded();
    let (s, v) = get(&app, "/healthz", None).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let failing = router(ApiState::new(
        dir.path().to_path_buf(),
        &[],
        Arc::new(DiskFull),
    ));
    let (s, v) = get(&failing, "/healthz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["status"], "failing");
    assert!(v["problem"].as_str().unwrap().contains("disk is full"));
}

#[tokio::test]
async fn metrics_can_be_opened_to_anyone() {
    let dir = tempfile::tempdir().unwrap();
    let state = ApiState::new(dir.path().to_path_buf(), &[], Arc::new(Fixed)).metrics_open(true);
    let (s, m) = get(&router(state), "/metrics", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(m.as_str().unwrap().contains("wardwatch_queued_events"));
}
