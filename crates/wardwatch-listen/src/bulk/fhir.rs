//! `POST /fhir/AuditEvent` and `POST /fhir`: an EHR or integration engine records its audit
//! trail here as it would on any FHIR server.
//!
//! # What it does
//! Beside the bulk API, on the same listener, tokens, budgets and pipeline:
//! - `POST /fhir/AuditEvent` with one AuditEvent (R4 or R5, `application/fhir+json` or
//!   `application/json`) → `201 Created`, `Location: <base>/AuditEvent/<id>/_history/1`, and
//!   the resource as stored (with its new `id` and `meta`); `Prefer: return=minimal` gives no
//!   body, `return=OperationOutcome` an informational outcome;
//! - a `Bundle` (`batch` or `transaction`, posted to `/fhir` or `/fhir/AuditEvent`) or NDJSON
//!   (`application/fhir+ndjson`, one resource a line) → `200` with a `batch-response` Bundle:
//!   one entry per resource, `201 Created` with its location, or `400 Bad Request` with an
//!   OperationOutcome naming what is wrong. The good ones are stored, the bad ones alone
//!   refused. A `transaction` is all or nothing: one bad entry refuses it with `400` and
//!   nothing is stored (FHIR's rule for transactions).
//! - Everything else is an OperationOutcome with the status that says why: `400` for a
//!   resource that is not a valid AuditEvent (the element named, e.g.
//!   `AuditEvent.recorded is required`) or is not JSON, `415` for another media type, `413`,
//!   `408`, `429` (with `Retry-After`), `503`, `500` as on the bulk API.
//!
//! Events are stored with `origin.source = "fhir:AuditEvent"`, decoded by
//! [`wardwatch_ingest::fhir`]; the answer is sent only once they are committed.
//!
//! # Why it matters
//! EHRs, PACS and integration engines (Epic, HiX, Mirth, HAPI-based systems) can send their
//! audit events to a FHIR `AuditEvent` endpoint (IHE BALP, "RESTful ATNA"); answering like a
//! FHIR server means pointing their audit repository URL at Wardwatch is all it takes.
//!
//! # References
//! FHIR R4/R5 RESTful API: create (`201`, `Location`, `Prefer: return=`), batch and
//! transaction (`batch-response`), OperationOutcome (issue `severity`, `code`,
//! `diagnostics`, `expression`); FHIR NDJSON format; IHE ITI-20 (Record Audit Event, FHIR
//! feed).

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use wardwatch_core::{Event, Origin};
use wardwatch_ingest::fhir::{self, FhirError};

use super::error::BulkError;
use super::{BulkState, TokenOrg, body, new_id};
use crate::fair::SourceKey;
use crate::{Sink, SourceCounters};

const FHIR_JSON: &str = "application/fhir+json";

/// An OperationOutcome with one error issue.
fn outcome(code: &str, diagnostics: &str, expression: Option<&str>) -> Value {
    let mut issue = json!({"severity": "error", "code": code, "diagnostics": diagnostics});
    if let Some(e) = expression {
        issue["expression"] = json!([e]);
    }
    json!({"resourceType": "OperationOutcome", "issue": [issue]})
}

fn fhir_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    r
}

/// A refusal of the whole request as an OperationOutcome.
fn refused(e: BulkError) -> Response {
    let (status, _, reason) = e.parts();
    let code = match status {
        StatusCode::UNAUTHORIZED => "security",
        StatusCode::PAYLOAD_TOO_LARGE => "too-costly",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "not-supported",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::TOO_MANY_REQUESTS => "throttled",
        StatusCode::SERVICE_UNAVAILABLE => "transient",
        StatusCode::INTERNAL_SERVER_ERROR => "exception",
        _ => "invalid",
    };
    let mut r = fhir_response(status, &outcome(code, &reason, None));
    if let Some(secs) = e.retry_after() {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

/// The OperationOutcome of a resource that is not a valid AuditEvent.
fn invalid_resource(e: &FhirError) -> Value {
    let (code, expression) = match e {
        FhirError::NotAnObject => ("structure", None),
        FhirError::WrongType(_) => ("not-supported", Some("resourceType".to_string())),
        FhirError::Missing(path) => ("required", Some(format!("AuditEvent.{path}"))),
        FhirError::Invalid { path, .. } => ("value", Some(format!("AuditEvent.{path}"))),
    };
    outcome(code, &e.to_string(), expression.as_deref())
}

/// How the body holds its resources.
enum Shape {
    One(Value),
    Batch {
        transaction: bool,
        resources: Vec<Value>,
    },
    Lines(Vec<Result<Value, String>>),
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/fhir+json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn read_shape(headers: &HeaderMap, body: &[u8]) -> Result<Shape, BulkError> {
    let media = media_type(headers);
    let text = std::str::from_utf8(body).map_err(|e| {
        BulkError::BadRequest(format!(
            "the body is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    match media.as_str() {
        "application/fhir+ndjson" | "application/ndjson" | "application/x-ndjson" => {
            Ok(Shape::Lines(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| serde_json::from_str(l).map_err(|e| format!("invalid JSON: {e}")))
                    .collect(),
            ))
        }
        "application/fhir+json" | "application/json" | "application/json+fhir" | "" => {
            let v: Value = serde_json::from_str(text)
                .map_err(|e| BulkError::BadRequest(format!("the body is not JSON: {e}")))?;
            if v.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
                let transaction = v.get("type").and_then(Value::as_str) == Some("transaction");
                let resources = fhir::bundle_entries(&v).unwrap_or_default();
                Ok(Shape::Batch {
                    transaction,
                    resources,
                })
            } else {
                Ok(Shape::One(v))
            }
        }
        other => Err(BulkError::UnsupportedMediaType(other.to_string())),
    }
}

/// The resource as stored: with the server's id and meta.
fn stored_resource(mut v: Value, id: &str, now: &str) -> Value {
    if let Value::Object(o) = &mut v {
        o.insert("id".into(), Value::String(id.to_string()));
        let meta = o.entry("meta").or_insert_with(|| json!({}));
        if let Value::Object(m) = meta {
            m.insert("versionId".into(), json!("1"));
            m.insert("lastUpdated".into(), json!(now));
        }
    }
    v
}

/// `POST /fhir/AuditEvent` and `POST /fhir`.
pub(super) async fn create<S: Sink>(
    State(state): State<BulkState<S>>,
    org: Option<Extension<TokenOrg>>,
    key: Option<Extension<SourceKey>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match store(state, org.map(|o| o.0.0), key.map(|k| k.0), headers, body).await {
        Ok(r) | Err(r) => r,
    }
}

async fn store<S: Sink>(
    state: BulkState<S>,
    org: Option<String>,
    key: Option<SourceKey>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Response> {
    let counters = state.counters.clone();
    let refuse = |e: BulkError, documents: usize| {
        SourceCounters::add(&counters.rejected, documents.max(1) as u64);
        refused(e)
    };
    let super::Admitted {
        wire,
        encoding,
        reservation,
        _memory,
        _permit,
    } = super::admit(&state, key, &headers, body)
        .await
        .map_err(refused)?;
    let limit = state.config.max_body_bytes;
    let plain = body::decompress(wire, encoding, limit).map_err(|e| refuse(e, 0))?;
    let shape = read_shape(&headers, &plain).map_err(|e| refuse(e, 0))?;

    let now = jiff::Timestamp::now();
    let now_text = now.to_string();
    let millis = now.as_millisecond().max(0) as u64;
    // Each resource: its event, or the OperationOutcome of why not.
    let (single, transaction, inputs) = match shape {
        Shape::One(v) => (true, false, vec![Ok(v)]),
        Shape::Batch {
            transaction,
            resources,
        } => (false, transaction, resources.into_iter().map(Ok).collect()),
        Shape::Lines(lines) => (false, false, lines),
    };
    SourceCounters::add(&counters.received, inputs.len() as u64);
    let first_seq = state
        .seq_no
        .fetch_add(inputs.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let mut results: Vec<Result<(String, Value), Value>> = Vec::with_capacity(inputs.len());
    let mut events: Vec<Event> = Vec::new();
    for (i, input) in inputs.into_iter().enumerate() {
        let id = new_id(millis, first_seq + i as u64);
        let decoded = input
            .map_err(|m| outcome("structure", &m, None))
            .and_then(|v| {
                fhir::check(&v).map_err(|e| invalid_resource(&e))?;
                Ok(v)
            });
        match decoded {
            Ok(v) => {
                let origin = Origin {
                    source: "fhir:AuditEvent".into(),
                    record_id: Some(i as u64 + 1),
                    offset: None,
                    id: Some(id.clone()),
                };
                let resource = stored_resource(v.clone(), &id, &now_text);
                match fhir::decode(v, origin) {
                    Ok(mut e) => {
                        if let Some(org) = &org {
                            e.organization.clone_from(org);
                        }
                        events.push(e);
                        results.push(Ok((id, resource)));
                    }
                    Err(e) => results.push(Err(invalid_resource(&e))),
                }
            }
            Err(oo) => results.push(Err(oo)),
        }
    }
    let failed = results.iter().filter(|r| r.is_err()).count();
    if failed > 0 {
        SourceCounters::add(&counters.rejected, failed as u64);
    }
    if single && let Some(Err(oo)) = results.first() {
        return Err(fhir_response(StatusCode::BAD_REQUEST, oo));
    }
    if transaction && failed > 0 {
        let (i, oo) = results
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.as_ref().err().map(|oo| (i, oo)))
            .expect("a failed entry");
        let reason = oo["issue"][0]["diagnostics"].as_str().unwrap_or("invalid");
        return Err(fhir_response(
            StatusCode::BAD_REQUEST,
            &outcome(
                "invalid",
                &format!(
                    "transaction refused, nothing stored: entry {}: {reason}",
                    i + 1
                ),
                Some(&format!("Bundle.entry[{i}].resource")),
            ),
        ));
    }
    super::commit(&state, reservation, events)
        .await
        .map_err(|(e, n)| refuse(e, n))?;
    if single {
        let Some(Ok((id, resource))) = results.into_iter().next() else {
            unreachable!("a single resource was stored");
        };
        return Ok(created(&headers, &id, resource));
    }
    let entries: Vec<Value> = results
        .into_iter()
        .map(|r| match r {
            Ok((id, _)) => json!({"response": {
                "status": "201 Created",
                "location": format!("AuditEvent/{id}/_history/1"),
                "etag": "W/\"1\"", "lastModified": now_text,
            }}),
            Err(oo) => json!({"response": {"status": "400 Bad Request", "outcome": oo}}),
        })
        .collect();
    let kind = if transaction {
        "transaction-response"
    } else {
        "batch-response"
    };
    Ok(fhir_response(
        StatusCode::OK,
        &json!({"resourceType": "Bundle", "type": kind, "entry": entries}),
    ))
}

/// `201 Created` for one stored resource, as `Prefer: return=` asks.
fn created(headers: &HeaderMap, id: &str, resource: Value) -> Response {
    let prefer = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body = if prefer.contains("return=minimal") {
        None
    } else if prefer.contains("return=operationoutcome") {
        Some(
            json!({"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational", "diagnostics": format!("AuditEvent/{id} stored")}]}),
        )
    } else {
        Some(resource)
    };
    let mut r = match body {
        Some(b) => fhir_response(StatusCode::CREATED, &b),
        None => StatusCode::CREATED.into_response(),
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("AuditEvent/{id}/_history/1")) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::ETAG, HeaderValue::from_static("W/\"1\""));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_resources_name_the_element() {
        let oo = invalid_resource(&FhirError::Missing("recorded"));
        assert_eq!(oo["issue"][0]["code"], "required");
        assert_eq!(oo["issue"][0]["expression"][0], "AuditEvent.recorded");
        assert_eq!(
            oo["issue"][0]["diagnostics"],
            "AuditEvent.recorded is required"
        );
        let oo = invalid_resource(&FhirError::WrongType("`Patient`".into()));
        assert_eq!(oo["issue"][0]["code"], "not-supported");
    }

    #[test]
    fn media_types_choose_the_shape() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/fhir+ndjson"),
        );
        let Ok(Shape::Lines(lines)) = read_shape(&h, b"{\"a\":1}\n\nnot json\n") else {
            panic!("ndjson");
        };
        assert_eq!(lines.len(), 2);
        assert!(lines[1].is_err());
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(matches!(
            read_shape(&h, b"{}"),
            Err(BulkError::UnsupportedMediaType(_))
        ));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/fhir+json; charset=utf-8"),
        );
        assert!(matches!(
            read_shape(
                &h,
                br#"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{}}]}"#
            ),
            Ok(Shape::Batch {
                transaction: true,
                ..
            })
        ));
        assert!(matches!(
            read_shape(&h, b"{nope"),
            Err(BulkError::BadRequest(_))
        ));
    }
}
