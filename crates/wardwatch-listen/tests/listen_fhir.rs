//! `POST /fhir/AuditEvent` and `POST /fhir` answer as a FHIR server would (issue 14): 201 with
//! `Location` for a resource, a `batch-response` Bundle for a batch or NDJSON, an
//! OperationOutcome naming the element for a malformed resource; nothing valid is lost and a
//! transaction is all or nothing. Through `oneshot`, no socket.

mod listen_common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use listen_common::TestSink;
use serde_json::{Value, json};
use tower::ServiceExt;
use wardwatch_listen::SourceCounters;
use wardwatch_listen::bulk::{self, BulkConfig, BulkState, TokenCheck};

const TOKEN: &str = "fhir-t0ken";

fn app() -> (Router, Arc<TestSink>) {
    let sink = TestSink::new();
    let tokens: TokenCheck = Arc::new(|t| (t == TOKEN).then(|| "site-a".to_string()));
    let router = bulk::router(BulkState::new(
        sink.clone(),
        Arc::new(SourceCounters::default()),
        tokens,
        BulkConfig::default(),
    ));
    (router, sink)
}

async fn post(
    router: &Router,
    path: &str,
    media: &str,
    body: &str,
    prefer: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, media)
        .header(header::CONTENT_LENGTH, body.len());
    if let Some(p) = prefer {
        req = req.header("Prefer", p);
    }
    let response = router
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, headers, v)
}

fn audit(user: &str, patient: &str) -> Value {
    json!({
        "resourceType": "AuditEvent",
        "type": {"code": "rest"}, "subtype": [{"code": "read"}], "action": "R",
        "recorded": "2026-11-02T10:15:00Z", "outcome": "0",
        "agent": [{"who": {"identifier": {"value": user}}, "requestor": true,
                   "network": {"address": "10.20.7.44", "type": "2"}}],
        "source": {"observer": {"display": "epr01"}},
        "entity": [{"what": {"reference": format!("Patient/{patient}")}}]
    })
}

#[tokio::test]
async fn one_audit_event_is_created_with_its_location() {
    let (router, sink) = app();
    let (status, headers, body) = post(
        &router,
        "/fhir/AuditEvent",
        "application/fhir+json",
        &audit("n.jansen", "P-1").to_string(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let location = headers[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with("AuditEvent/") && location.ends_with("/_history/1"),
        "{location}"
    );
    assert_eq!(headers[header::CONTENT_TYPE], "application/fhir+json");
    assert_eq!(body["resourceType"], "AuditEvent");
    assert_eq!(
        format!("AuditEvent/{}/_history/1", body["id"].as_str().unwrap()),
        location
    );
    assert_eq!(body["meta"]["versionId"], "1");
    let events = sink.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].origin.source, "fhir:AuditEvent");
    assert_eq!(events[0].organization, "site-a");
    assert_eq!(events[0].ecs.patient_id.as_deref(), Some("P-1"));
    assert_eq!(events[0].ecs.user_name.as_deref(), Some("n.jansen"));
    // return=minimal: no body, still the location.
    let (status, headers, body) = post(
        &router,
        "/fhir/AuditEvent",
        "application/json",
        &audit("a", "P-2").to_string(),
        Some("return=minimal"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(headers.contains_key(header::LOCATION));
    assert_eq!(body, Value::Null);
}

#[tokio::test]
async fn malformed_resources_get_an_operation_outcome_and_nothing_is_stored() {
    let (router, sink) = app();
    let mut no_time = audit("a", "P-1");
    no_time.as_object_mut().unwrap().remove("recorded");
    let cases = [
        (
            no_time.to_string(),
            "application/fhir+json",
            StatusCode::BAD_REQUEST,
            "required",
            "AuditEvent.recorded is required",
        ),
        (
            json!({"resourceType": "Patient"}).to_string(),
            "application/fhir+json",
            StatusCode::BAD_REQUEST,
            "not-supported",
            "expected resourceType `AuditEvent`, found `Patient`",
        ),
        (
            "{not json".to_string(),
            "application/fhir+json",
            StatusCode::BAD_REQUEST,
            "invalid",
            "the body is not JSON",
        ),
        (
            audit("a", "b").to_string(),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            "text/plain",
        ),
    ];
    for (body, media, want_status, want_code, want_text) in cases {
        let (status, headers, oo) = post(&router, "/fhir/AuditEvent", media, &body, None).await;
        assert_eq!(status, want_status, "{oo}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/fhir+json");
        assert_eq!(oo["resourceType"], "OperationOutcome", "{oo}");
        assert_eq!(oo["issue"][0]["severity"], "error");
        assert_eq!(oo["issue"][0]["code"], want_code, "{oo}");
        assert!(
            oo["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains(want_text),
            "{oo}"
        );
    }
    assert_eq!(sink.len(), 0);
}

#[tokio::test]
async fn a_batch_and_ndjson_keep_the_good_resources_and_say_which_failed() {
    let (router, sink) = app();
    let bad =
        json!({"resourceType": "AuditEvent", "recorded": "2026-11-02T10:15:00Z", "agent": []});
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": audit("a", "P-1")}, {"resource": bad}, {"resource": audit("b", "P-2")}]});
    let (status, _, resp) = post(
        &router,
        "/fhir",
        "application/fhir+json",
        &batch.to_string(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["type"], "batch-response");
    let statuses: Vec<&str> = resp["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec!["201 Created", "400 Bad Request", "201 Created"]
    );
    assert_eq!(
        resp["entry"][1]["response"]["outcome"]["issue"][0]["expression"][0],
        "AuditEvent.agent"
    );
    assert_eq!(sink.len(), 2);
    let ndjson = format!("{}\n{{oops\n{}\n", audit("c", "P-3"), audit("d", "P-4"));
    let (status, _, resp) = post(
        &router,
        "/fhir/AuditEvent",
        "application/fhir+ndjson",
        &ndjson,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["entry"].as_array().unwrap().len(), 3);
    assert_eq!(resp["entry"][1]["response"]["status"], "400 Bad Request");
    assert_eq!(sink.len(), 4);
}

#[tokio::test]
async fn a_transaction_with_one_bad_entry_stores_nothing() {
    let (router, sink) = app();
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": audit("a", "P-1")}, {"resource": {"resourceType": "AuditEvent"}}]});
    let (status, _, oo) = post(
        &router,
        "/fhir",
        "application/fhir+json",
        &tx.to_string(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{oo}");
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert!(
        oo["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("entry 2"),
        "{oo}"
    );
    assert_eq!(oo["issue"][0]["expression"][0], "Bundle.entry[1].resource");
    assert_eq!(sink.len(), 0);
    let ok = json!({"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": audit("a", "P-1")}]});
    let (status, _, resp) = post(
        &router,
        "/fhir",
        "application/fhir+json",
        &ok.to_string(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resp["type"], "transaction-response");
    assert_eq!(sink.len(), 1);
}

#[tokio::test]
async fn a_busy_pipeline_answers_429_as_an_operation_outcome() {
    let (router, sink) = app();
    sink.set_busy(Some(std::time::Duration::from_secs(2)));
    let (status, headers, oo) = post(
        &router,
        "/fhir/AuditEvent",
        "application/fhir+json",
        &audit("a", "P").to_string(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers[header::RETRY_AFTER], "2");
    assert_eq!(oo["issue"][0]["code"], "throttled");
}
