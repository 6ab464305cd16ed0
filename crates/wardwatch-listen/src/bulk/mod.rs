//! The Elasticsearch-compatible bulk ingest API.
//!
//! # What it does
//! [`router`] answers `POST /_bulk` and `POST /{index}/_bulk` (also `PUT`) in the Elasticsearch
//! bulk format — NDJSON pairs of an action line (`index` or `create`) and a document — and the
//! start-up calls shippers make (`GET /`, licence, x-pack, template, ILM and pipeline probes; see
//! `probes.rs`). Each document is decoded by [`wardwatch_ingest::jsonl::decode_line`] (Winlogbeat/ECS,
//! Suricata EVE, flat Windows, EVTX JSON, or any JSON object), with `origin.source =
//! "bulk:<index>"` and the document itself kept unchanged as `raw`.
//!
//! A request is answered only once its events are committed: 200 with the bulk response shape
//! (`took`, `errors`, one item per action with `status` 201, `result: created`, `_seq_no`...);
//! documents that are not JSON objects fail alone with a 400 item (`mapper_parsing_exception`)
//! and the others are stored. The whole request is refused, with nothing stored, when:
//!
//! | status | when | shippers then |
//! |---|---|---|
//! | 401 + `WWW-Authenticate` | no valid ingest token (Bearer, ApiKey or Basic, see `auth.rs`) | stop and log the reason |
//! | 413 | the body, as sent or decompressed, is over `max_body_bytes` | Beats split the batch; others log it |
//! | 415 | `Content-Encoding` other than gzip, deflate or none | log it |
//! | 400 | a broken gzip stream or action line | log it |
//! | 408 | the body did not arrive within `body_timeout_secs` | retry |
//! | 429 + `Retry-After` | the token is over its budget ([`crate::fair`], counted in `throttled`), or the pipeline is behind ([`Sink::busy`] or `SinkError::Busy`) | retry later |
//! | 503 / 500 | the pipeline is shutting down or (a cluster's ingest) NATS is unreachable, with `Retry-After` then / the store failed | retry later |
//!
//! Every answer carries `X-Elastic-Product: Elasticsearch`, which Beats 8, Logstash and the
//! official clients check. Counters: `received` — documents read from request bodies;
//! `rejected` — documents refused (failed items, or every document of a request refused after
//! reading it) plus one per request refused before its body was read (401, 413, 415, 429 seen
//! before reading); `throttled` — documents of requests refused for the token's budget, or one
//! per request refused for it before its body was read (a batch like the token's last one
//! would not fit, [`crate::fair::Budgets::reserve`]); `bytes` — request bodies as
//! sent.
//!
//! The same listener answers `POST /fhir/AuditEvent` and `POST /fhir` as a FHIR server would
//! (EHR audit trails; see `fhir.rs`), behind the same tokens, budgets and pipeline.
//!
//! # Why it matters
//! Winlogbeat, Filebeat, Fluent Bit (`es` output), Vector (`elasticsearch` sink) and Logstash
//! already run on hospital hosts; speaking their output protocol means they ship to Wardwatch by
//! changing one host name, with their own retry and back-off doing the right thing on 429.
//!
//! # Example
//! ```text
//! POST /_bulk                      Authorization: ApiKey <base64(id:token)>
//! {"create":{"_index":"winlogbeat-8.17.0"}}
//! {"@timestamp":"2024-05-14T08:12:01.512Z","winlog":{"channel":"Security","event_id":"4624",...}}
//!
//! 200 {"took":3,"errors":false,"items":[{"create":{"_index":"winlogbeat-8.17.0","_id":"...","_version":1,
//!      "result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}}]}
//! ```
//!
//! # References
//! Elasticsearch REST API: bulk (`docs-bulk`), info, licence, index templates, ILM; Beats
//! `libbeat/esleg/eslegclient` and `libbeat/template`; Fluent Bit `plugins/out_es`; Vector
//! `src/sinks/elasticsearch`; `logstash-output-elasticsearch`.

mod auth;
mod body;
mod error;
mod fhir;
mod ndjson;
mod probes;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

pub use auth::TokenCheck;
use error::BulkError;
use ndjson::Parsed;

use super::fair::{Budgets, SourceKey};
use crate::{Sink, SinkError, SourceCounters};

/// `Retry-After` for a token over its budget.
const THROTTLE_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Bodies larger than this (as sent) are decompressed and parsed off the async threads.
const INLINE_PARSE_BYTES: usize = 64 * 1024;

/// Settings of the bulk API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BulkConfig {
    /// Largest request body accepted, in bytes, both as sent and once decompressed (default
    /// 104857600, 100 MiB, Elasticsearch's own `http.max_content_length`). Larger requests are
    /// refused with 413, and Beats then split their batch.
    pub max_body_bytes: usize,
    /// The Elasticsearch version announced at `GET /` (default "8.17.0"). Beats 8.1 to 8.10
    /// refuse a server older than themselves (8.11 and later allow it): raise it if such a Beat
    /// logs "Elasticsearch is too old".
    pub es_version: String,
    /// Most bulk requests decoded and stored at once (default 8). A request takes its slot only
    /// once its body has fully arrived, so a slow sender holds none; bodies being read share a
    /// memory budget of this times `max_body_bytes`, so memory stays bounded whatever the
    /// number of senders.
    pub max_concurrent_requests: usize,
    /// A request body must arrive within this many seconds (default 60), or the request is
    /// refused with 408 and counted in `body_timeouts`.
    pub body_timeout_secs: u64,
}

impl Default for BulkConfig {
    fn default() -> Self {
        BulkConfig {
            max_body_bytes: 100 * 1024 * 1024,
            es_version: "8.17.0".to_string(),
            max_concurrent_requests: 8,
            body_timeout_secs: 60,
        }
    }
}

/// What the bulk handlers share.
pub struct BulkState<S> {
    sink: Arc<S>,
    counters: Arc<SourceCounters>,
    tokens: TokenCheck,
    config: Arc<BulkConfig>,
    /// The next `_seq_no` to hand out.
    seq_no: Arc<AtomicU64>,
    /// Permits for requests being decoded and stored (`max_concurrent_requests`).
    in_flight: Arc<tokio::sync::Semaphore>,
    /// KiB that bodies being read may hold in all.
    body_budget: Arc<tokio::sync::Semaphore>,
    /// Per-source (per-token) budgets.
    budgets: Arc<Budgets>,
}

impl<S> Clone for BulkState<S> {
    fn clone(&self) -> Self {
        BulkState {
            sink: self.sink.clone(),
            counters: self.counters.clone(),
            tokens: self.tokens.clone(),
            config: self.config.clone(),
            seq_no: self.seq_no.clone(),
            in_flight: self.in_flight.clone(),
            body_budget: self.body_budget.clone(),
            budgets: self.budgets.clone(),
        }
    }
}

impl<S: Sink> BulkState<S> {
    /// The state of a bulk API that stores into `sink`, counts into `counters` and accepts the
    /// tokens `tokens` says are valid.
    pub fn new(
        sink: Arc<S>,
        counters: Arc<SourceCounters>,
        tokens: TokenCheck,
        config: BulkConfig,
    ) -> Self {
        let permits = config.max_concurrent_requests.max(1);
        let budget_kib = (permits as u64 * config.max_body_bytes.div_ceil(1024).max(1) as u64)
            .min(tokio::sync::Semaphore::MAX_PERMITS as u64) as usize;
        BulkState {
            body_budget: Arc::new(tokio::sync::Semaphore::new(budget_kib)),
            budgets: Arc::new(Budgets::unlimited()),
            sink,
            counters,
            tokens,
            config: Arc::new(config),
            seq_no: Arc::new(AtomicU64::new(0)),
            in_flight: Arc::new(tokio::sync::Semaphore::new(permits)),
        }
    }
}

impl<S> BulkState<S> {
    /// The refusal of a token over its budget.
    fn throttled(&self) -> BulkError {
        BulkError::Throttled {
            budget: self.budgets.rate(),
            wait: THROTTLE_RETRY,
        }
    }

    /// Take each token's documents from `budgets` (fair backpressure, see
    /// [`crate::fair`]); a token over its budget gets 429 and `throttled` counts it.
    pub fn with_budgets(mut self, budgets: Arc<Budgets>) -> Self {
        self.budgets = budgets;
        self
    }
}

/// Read a (decompressed) `_bulk` body as the listener does, without a sink: how many items it
/// holds and the events of the good ones, or why the whole request is refused. For fuzzing
/// (`fuzz/fuzz_targets/bulk_body.rs`) and tests.
pub fn parse_body(
    body: &[u8],
    path_index: Option<&str>,
) -> Result<(usize, Vec<wardwatch_core::Event>), String> {
    ndjson::parse(body, path_index)
        .map(|p| (p.items.len(), p.events))
        .map_err(|e| format!("{e:?}"))
}

/// The bulk API and the start-up calls, every route behind the token check.
pub fn router<S: Sink>(state: BulkState<S>) -> Router {
    let ack = probes::acknowledged;
    Router::new()
        .route("/", get(probes::root::<S>))
        .route("/_bulk", post(bulk::<S>).put(bulk::<S>))
        .route(
            "/{index}/_bulk",
            post(bulk_in_index::<S>).put(bulk_in_index::<S>),
        )
        .route("/fhir", post(fhir::create::<S>))
        .route("/fhir/AuditEvent", post(fhir::create::<S>))
        .route("/_license", get(probes::license))
        .route("/_xpack", get(probes::xpack))
        .route("/_xpack/usage", get(probes::xpack_usage))
        .route(
            "/_template/{name}",
            get(probes::legacy_template).put(ack).post(ack),
        )
        .route(
            "/_index_template/{name}",
            get(probes::index_template).put(ack).post(ack),
        )
        .route(
            "/_component_template/{name}",
            get(probes::component_template).put(ack).post(ack),
        )
        .route("/_ilm/policy", get(probes::empty_object))
        .route("/_ilm/policy/{name}", get(probes::ilm_policy).put(ack))
        .route("/_ingest/pipeline", get(probes::empty_object))
        .route(
            "/_ingest/pipeline/{name}",
            get(probes::ingest_pipeline).put(ack),
        )
        .route("/_cat/templates", get(probes::cat_templates))
        .route("/_cat/templates/{name}", get(probes::cat_templates))
        .route("/_cluster/health", get(probes::cluster_health))
        .route("/_cluster/health/{index}", get(probes::cluster_health))
        .route("/_nodes", get(probes::nodes::<S>))
        .route("/_nodes/{*rest}", get(probes::nodes::<S>))
        .route(
            "/{index}",
            get(probes::index_info).put(probes::create_index),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard::<S>))
        .with_state(state)
}

/// Every request: the token check, and the product header on every answer.
async fn guard<S: Sink>(
    State(state): State<BulkState<S>>,
    request: Request,
    next: Next,
) -> Response {
    let mut request = request;
    let checked = auth::authorize(request.headers(), &state.tokens, request.uri().path());
    let credentials = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| SourceKey::token(&String::from_utf8_lossy(v.as_bytes())));
    let mut response = match checked {
        Ok(org) => {
            // The token names the organization the events go to, and its budget is kept per
            // token (the credentials as sent stand for it; the token itself is not kept).
            request.extensions_mut().insert(TokenOrg(org));
            if let Some(key) = credentials {
                request.extensions_mut().insert(key);
            }
            next.run(request).await
        }
        Err(refused) => {
            SourceCounters::add(&state.counters.rejected, 1);
            refused.into_response()
        }
    };
    response.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

/// The organization of the request's ingest token.
#[derive(Debug, Clone)]
struct TokenOrg(String);

async fn not_found(method: Method, uri: Uri) -> BulkError {
    BulkError::NotFound {
        method: method.to_string(),
        uri: uri.path().to_string(),
    }
}

async fn bulk<S: Sink>(
    State(state): State<BulkState<S>>,
    org: Option<axum::Extension<TokenOrg>>,
    key: Option<Extension<SourceKey>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, BulkError> {
    ingest(
        state,
        None,
        org.map(|o| o.0.0),
        key.map(|k| k.0),
        headers,
        body,
    )
    .await
}

async fn bulk_in_index<S: Sink>(
    State(state): State<BulkState<S>>,
    Path(index): Path<String>,
    org: Option<axum::Extension<TokenOrg>>,
    key: Option<Extension<SourceKey>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, BulkError> {
    ingest(
        state,
        Some(index),
        org.map(|o| o.0.0),
        key.map(|k| k.0),
        headers,
        body,
    )
    .await
}

/// Read, decode, store, answer (see the module documentation).
async fn ingest<S: Sink>(
    state: BulkState<S>,
    index: Option<String>,
    org: Option<String>,
    key: Option<SourceKey>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, BulkError> {
    let started = Instant::now();
    let counters = &state.counters;
    let refuse = |e: BulkError, documents: usize| {
        SourceCounters::add(&counters.rejected, documents.max(1) as u64);
        e
    };
    let Admitted {
        wire,
        encoding,
        reservation,
        _memory,
        _permit,
    } = admit(&state, key, &headers, body).await?;
    let limit = state.config.max_body_bytes;
    let decode = move || -> Result<Parsed, BulkError> {
        let plain = body::decompress(wire, encoding, limit)?;
        ndjson::parse(&plain, index.as_deref())
    };
    let parsed = if small_enough(&headers, encoding) {
        decode()
    } else {
        tokio::task::spawn_blocking(decode)
            .await
            .map_err(|e| BulkError::StoreFailed(format!("the bulk decoding task failed: {e}")))?
    }
    .map_err(|e| refuse(e, 0))?;
    SourceCounters::add(&counters.received, parsed.items.len() as u64);
    let failed = parsed.failed();
    if failed > 0 {
        SourceCounters::add(&counters.rejected, failed as u64);
    }
    let Parsed { items, mut events } = parsed;
    if let Some(org) = org {
        for e in &mut events {
            e.organization.clone_from(&org);
        }
    }
    let stored = commit(&state, reservation, events)
        .await
        .map_err(|(e, n)| refuse(e, n))?;
    let first_seq = state.seq_no.fetch_add(stored as u64, Ordering::Relaxed);
    Ok(axum::Json(respond(items, first_seq, started)).into_response())
}

/// Settle a request's reservation with the documents it holds and hand them to the sink: the
/// one commit step of `_bulk` and FHIR requests. Resolves once they are durable, with how many
/// were stored; a refusal comes with the documents it refused (a token over its budget is
/// counted in `throttled`).
pub(crate) async fn commit<S: Sink>(
    state: &BulkState<S>,
    reservation: Option<crate::fair::Reservation>,
    events: Vec<wardwatch_core::Event>,
) -> Result<usize, (BulkError, usize)> {
    let stored = events.len();
    if let Some(r) = reservation
        && !r.settle(stored, state.sink.pressure())
    {
        SourceCounters::add(&state.counters.throttled, stored as u64);
        return Err((state.throttled(), stored));
    }
    if stored > 0 {
        state.sink.submit(events).await.map_err(|e| {
            let e = match e {
                SinkError::Busy { retry_after } => BulkError::Busy(retry_after),
                SinkError::Closed => BulkError::Closed,
                SinkError::Failed(reason) => BulkError::StoreFailed(reason),
                SinkError::Unavailable {
                    reason,
                    retry_after,
                } => BulkError::Unavailable {
                    reason,
                    wait: retry_after,
                },
            };
            (e, stored)
        })?;
    }
    Ok(stored)
}

/// Whether the body is small enough to decode on the async thread: known to be under
/// [`INLINE_PARSE_BYTES`] and not compressed.
/// A request body let in: it arrived in time and within the limits, the sender was within its
/// budget (its batch reserved), and the request holds a decoding slot.
pub(crate) struct Admitted {
    pub(crate) wire: bytes::Bytes,
    pub(crate) encoding: body::Encoding,
    pub(crate) reservation: Option<crate::fair::Reservation>,
    /// The memory the body holds, returned when the request is done.
    pub(crate) _memory: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The decoding slot.
    pub(crate) _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Let a request's body in, or refuse it (counted in `rejected`, `throttled`,
/// `body_timeouts`): behind already or the token over its budget, refused before anything is
/// read (a shipper resends the same batch; decoding each retry to refuse it after would spend on
/// refusals what storing needs); then the body must arrive in time (a slow sender loses its
/// request, not anyone else's slot); only a request whose body is here takes a decoding slot.
pub(crate) async fn admit<S: Sink>(
    state: &BulkState<S>,
    key: Option<SourceKey>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Admitted, BulkError> {
    let counters = &state.counters;
    let refuse = |e: BulkError| {
        SourceCounters::add(&counters.rejected, 1);
        e
    };
    if let Some(wait) = state.sink.busy() {
        return Err(refuse(BulkError::Busy(wait)));
    }
    let reservation = match key {
        Some(key) => match state.budgets.reserve(key, state.sink.pressure()) {
            Some(r) => Some(r),
            None => {
                SourceCounters::add(&counters.throttled, 1);
                return Err(refuse(state.throttled()));
            }
        },
        None => None,
    };
    let limit = state.config.max_body_bytes;
    let encoding = body::encoding(headers).map_err(refuse)?;
    let body_timeout = std::time::Duration::from_secs(state.config.body_timeout_secs.max(1));
    let read = body::collect(body, headers, limit, &state.body_budget);
    let (wire, memory) = match tokio::time::timeout(body_timeout, read).await {
        Ok(read) => read.map_err(refuse)?,
        Err(_) => {
            SourceCounters::add(&counters.body_timeouts, 1);
            return Err(refuse(BulkError::BodyTimeout(
                state.config.body_timeout_secs.max(1),
            )));
        }
    };
    let permit = state
        .in_flight
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| refuse(BulkError::Closed))?;
    SourceCounters::add(&counters.bytes, wire.len() as u64);
    Ok(Admitted {
        wire,
        encoding,
        reservation,
        _memory: memory,
        _permit: permit,
    })
}

fn small_enough(headers: &HeaderMap, encoding: body::Encoding) -> bool {
    encoding == body::Encoding::Identity
        && headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|n| n <= INLINE_PARSE_BYTES)
}

/// The bulk response for committed `items`, the good ones numbered from `first_seq`.
fn respond(items: Vec<ndjson::Item>, first_seq: u64, started: Instant) -> BulkResponse {
    let mut seq = first_seq;
    let millis = jiff::Timestamp::now().as_millisecond().max(0) as u64;
    let errors = items.iter().any(|i| i.error.is_some());
    let items = items
        .into_iter()
        .map(|item| {
            let body = match item.error {
                None => {
                    let seq_no = seq;
                    seq += 1;
                    ItemBody {
                        id: item.id.unwrap_or_else(|| new_id(millis, seq_no)),
                        index: item.index,
                        version: Some(1),
                        result: Some("created"),
                        shards: Some(Shards {
                            total: 1,
                            successful: 1,
                            failed: 0,
                        }),
                        seq_no: Some(seq_no),
                        primary_term: Some(1),
                        status: 201,
                        error: None,
                    }
                }
                Some(e) => ItemBody {
                    id: item.id.unwrap_or_default(),
                    index: item.index,
                    version: None,
                    result: None,
                    shards: None,
                    seq_no: None,
                    primary_term: None,
                    status: e.status,
                    error: Some(ItemErrorBody {
                        kind: e.kind,
                        reason: e.reason,
                    }),
                },
            };
            ItemOut {
                action: item.action.as_str(),
                body,
            }
        })
        .collect();
    BulkResponse {
        took: started.elapsed().as_millis() as u64,
        errors,
        items,
    }
}

/// An Elasticsearch-like generated `_id`: 20 URL-safe characters from the time and the sequence
/// number, unique within a run and practically across runs.
fn new_id(millis: u64, seq_no: u64) -> String {
    let mut bytes = [0u8; 15];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6..14].copy_from_slice(&seq_no.to_be_bytes());
    bytes[14] = 0x77;
    URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Serialize)]
struct BulkResponse {
    took: u64,
    errors: bool,
    items: Vec<ItemOut>,
}

/// One item: `{"<action>": {..}}`.
struct ItemOut {
    action: &'static str,
    body: ItemBody,
}

impl Serialize for ItemOut {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.action, &self.body)?;
        map.end()
    }
}

#[derive(Serialize)]
struct ItemBody {
    #[serde(rename = "_index")]
    index: String,
    #[serde(rename = "_id")]
    id: String,
    #[serde(rename = "_version", skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'static str>,
    #[serde(rename = "_shards", skip_serializing_if = "Option::is_none")]
    shards: Option<Shards>,
    #[serde(rename = "_seq_no", skip_serializing_if = "Option::is_none")]
    seq_no: Option<u64>,
    #[serde(rename = "_primary_term", skip_serializing_if = "Option::is_none")]
    primary_term: Option<u64>,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ItemErrorBody>,
}

#[derive(Serialize)]
struct Shards {
    total: u32,
    successful: u32,
    failed: u32,
}

#[derive(Serialize)]
struct ItemErrorBody {
    #[serde(rename = "type")]
    kind: &'static str,
    reason: String,
}
