//! Why a bulk request was refused, and the one place where that becomes an HTTP answer.
//!
//! Every refusal has the Elasticsearch error shape shippers log —
//! `{"error": {"root_cause": [..], "type": .., "reason": ..}, "status": N}` — with a reason a
//! hospital's IT team can act on. Internals (a store failure) are logged here once and the
//! sender gets a safe message.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::{error, warn};

/// The value of `WWW-Authenticate` on 401 answers.
pub(crate) const WWW_AUTHENTICATE: &str = "Basic realm=\"wardwatch\", ApiKey, Bearer";

/// A refused request.
#[derive(Debug)]
pub(crate) enum BulkError {
    /// No credentials, or credentials that are not a valid ingest token.
    Unauthorized(String),
    /// A FHIR request whose `Content-Type` is neither FHIR JSON nor NDJSON.
    UnsupportedMediaType(String),
    /// The body (as sent, or once decompressed) is over `max_body_bytes`.
    TooLarge { limit: usize },
    /// `Content-Encoding` other than gzip, deflate or identity.
    UnsupportedEncoding(String),
    /// The body cannot be read as a bulk request (broken gzip, a malformed action line...).
    BadRequest(String),
    /// The body did not arrive within `body_timeout_secs`; nothing was stored.
    BodyTimeout(u64),
    /// The pipeline is behind; nothing was stored.
    Busy(Duration),
    /// The token sends more than its budget (events a second); nothing was stored.
    Throttled { budget: u64, wait: Duration },
    /// The pipeline is shutting down; nothing was stored.
    Closed,
    /// The store failed; nothing was stored. The reason is logged, not sent.
    StoreFailed(String),
    /// What stores events cannot be reached (a cluster's NATS); nothing was stored. The reason
    /// is logged, not sent.
    Unavailable { reason: String, wait: Duration },
    /// No such API here.
    NotFound { method: String, uri: String },
}

fn body(status: StatusCode, kind: &str, reason: &str) -> serde_json::Value {
    json!({
        "error": {
            "root_cause": [{"type": kind, "reason": reason}],
            "type": kind,
            "reason": reason,
        },
        "status": status.as_u16(),
    })
}

impl BulkError {
    /// The status, the Elasticsearch error type and the reason sent for this refusal (the FHIR
    /// endpoint words the same refusals as OperationOutcomes).
    pub(crate) fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            BulkError::Unauthorized(reason) => (
                StatusCode::UNAUTHORIZED,
                "security_exception",
                reason.clone(),
            ),
            BulkError::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "content_too_long_exception",
                format!(
                    "request body is larger than the limit of {limit} bytes (`max_body_bytes`); \
                     send smaller batches (Beats: `bulk_max_size`, Fluent Bit: `Buffer_Size`, \
                     Vector: `batch.max_bytes`, Logstash: `pipeline.batch.size`)"
                ),
            ),
            BulkError::UnsupportedEncoding(enc) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "illegal_argument_exception",
                format!("unsupported Content-Encoding `{enc}` (use gzip, deflate or none)"),
            ),
            BulkError::UnsupportedMediaType(media) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "illegal_argument_exception",
                format!(
                    "unsupported Content-Type `{media}` (send application/fhir+json, or application/fhir+ndjson for one resource a line)"
                ),
            ),
            BulkError::BadRequest(reason) => (
                StatusCode::BAD_REQUEST,
                "illegal_argument_exception",
                reason.clone(),
            ),
            BulkError::BodyTimeout(secs) => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout_exception",
                format!(
                    "the request body did not arrive within {secs} s (`body_timeout_secs`); nothing of this request was stored, send it again"
                ),
            ),
            BulkError::Busy(wait) => (
                StatusCode::TOO_MANY_REQUESTS,
                "es_rejected_execution_exception",
                format!(
                    "Wardwatch is behind on detection; nothing of this request was stored, retry in {} s",
                    retry_secs(*wait)
                ),
            ),
            BulkError::Throttled { budget, wait } => (
                StatusCode::TOO_MANY_REQUESTS,
                "es_rejected_execution_exception",
                format!(
                    "this ingest token sends more than its budget of {budget} documents a second \
                     (`source_budget_events_per_sec`), or more than half of it while detection is \
                     behind; nothing of this request was stored, retry in {} s",
                    retry_secs(*wait)
                ),
            ),
            BulkError::Closed => (
                StatusCode::SERVICE_UNAVAILABLE,
                "node_closed_exception",
                "Wardwatch is shutting down; nothing of this request was stored, retry later"
                    .to_string(),
            ),
            BulkError::StoreFailed(internal) => {
                error!(reason = %internal, "storing a bulk request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store_exception",
                    "the event store failed; nothing of this request was stored, retry later"
                        .to_string(),
                )
            }
            BulkError::Unavailable { reason, wait } => {
                warn!(%reason, "bulk request refused: the event transport is unreachable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable_shards_exception",
                    format!(
                        "Wardwatch cannot reach its event transport; nothing of this request was stored, retry in {} s",
                        retry_secs(*wait)
                    ),
                )
            }
            BulkError::NotFound { method, uri } => (
                StatusCode::BAD_REQUEST,
                "illegal_argument_exception",
                format!(
                    "no handler found for uri [{uri}] and method [{method}] (Wardwatch implements the `_bulk` ingest API and the calls shippers make at start-up)"
                ),
            ),
        }
    }

    /// How long the sender should wait before sending again, for a refusal that says so.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        match self {
            BulkError::Busy(wait)
            | BulkError::Throttled { wait, .. }
            | BulkError::Unavailable { wait, .. } => Some(retry_secs(*wait)),
            _ => None,
        }
    }
}

impl IntoResponse for BulkError {
    fn into_response(self) -> Response {
        let (status, kind, reason) = self.parts();
        let mut response = (status, axum::Json(body(status, kind, &reason))).into_response();
        let headers = response.headers_mut();
        match self {
            BulkError::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(WWW_AUTHENTICATE),
                );
            }
            BulkError::Busy(wait) | BulkError::Throttled { wait, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_secs(wait)));
            }
            _ => {}
        }
        response
    }
}

/// Whole seconds to wait, at least one (`Retry-After` has no fractions).
fn retry_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}
