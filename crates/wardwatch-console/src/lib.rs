//! The REST API: event search, alerts, statistics, health and metrics, as JSON under
//! `/api/v1` (Bearer API token), plus `/healthz` and `/metrics` (Prometheus text).
//!
//! Handlers are tested without a socket (`Router::oneshot`). Store access is blocking SQLite,
//! so it runs on tokio's blocking pool with connections taken from a small pool.
//!
//! **Architecture Invariant:** the console reads through the store; it knows nothing about
//! decoding, listeners or rule evaluation.

mod error;
mod incidents;
mod time;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use wardwatch_core::Severity;
use wardwatch_store::{Db, DbOptions, SearchRequest, token_hash};

pub use error::ApiError;

/// The view of a stored incident (both sides laid together), for the API and the CLI.
pub fn incident_view(
    s: &wardwatch_store::StoredIncident,
) -> Result<wardwatch_incidents::IncidentView, String> {
    wardwatch_incidents::IncidentView::from_json(&s.id, &s.doc, s.lifecycle.as_deref())
}

/// Extra figures the server adds to `/api/v1/stats` and `/metrics` (the console does not know
/// the pipeline).
pub trait Telemetry: Send + Sync + 'static {
    /// Prometheus text of the server's counters.
    fn metrics(&self) -> String;
    /// JSON of live pipeline figures (queued, processed, per-source counters).
    fn stats(&self) -> serde_json::Value;
}

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
    search: SearchLimits,
}

/// Bounds on event search, so one request cannot hold a thread and a store connection for
/// minutes: the time range searched when the request names none, and the time budget after
/// which a search returns what it has with `"partial": true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchLimits {
    /// A search without `from` covers this long before `to` (or now). Default 24 hours.
    pub default_window: std::time::Duration,
    /// How long a search may run. Default 5 seconds.
    pub budget: std::time::Duration,
}

impl Default for SearchLimits {
    fn default() -> Self {
        SearchLimits {
            default_window: std::time::Duration::from_secs(24 * 3600),
            budget: std::time::Duration::from_secs(5),
        }
    }
}

struct Inner {
    data_dir: PathBuf,
    pool: Mutex<Vec<Db>>,
    /// SHA-256 of the API tokens from the environment; stored tokens are checked in the store.
    env_tokens: HashSet<String>,
    telemetry: Arc<dyn Telemetry>,
}

impl ApiState {
    /// State over the store in `data_dir`; `api_tokens` are accepted besides stored API tokens.
    pub fn new(data_dir: PathBuf, api_tokens: &[String], telemetry: Arc<dyn Telemetry>) -> Self {
        ApiState {
            inner: Arc::new(Inner {
                data_dir,
                pool: Mutex::new(Vec::new()),
                env_tokens: api_tokens.iter().map(|t| token_hash(t)).collect(),
                telemetry,
            }),
            search: SearchLimits::default(),
        }
    }

    /// The same state with these search bounds.
    pub fn with_search_limits(mut self, limits: SearchLimits) -> Self {
        self.search = limits;
        self
    }

    /// Run `f` with a store connection on the blocking pool.
    async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Db) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.with_db_mut(move |db| f(db)).await
    }

    /// [`ApiState::with_db`] for writes.
    async fn with_db_mut<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let db = inner.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut db = match db {
                Some(db) => db,
                None => Db::open(&inner.data_dir, &DbOptions::default())?,
            };
            let out = f(&mut db);
            let mut pool = inner.pool.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < 8 {
                pool.push(db);
            }
            out
        })
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?
    }

    async fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(ApiError::Unauthorized(
                "missing `Authorization: Bearer <API token>`",
            ))?;
        let hash = token_hash(token);
        if self.inner.env_tokens.contains(&hash) {
            return Ok(());
        }
        let stored = self
            .with_db(|db| Ok(db.token_hashes(wardwatch_store::TokenKind::Api)?))
            .await?;
        if stored.contains(&hash) {
            Ok(())
        } else {
            Err(ApiError::Unauthorized("unknown API token"))
        }
    }
}

/// The API router: `/healthz`, `/metrics`, `/api/v1/...`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/events", get(events))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/{id}", get(alert))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::detail))
        .route("/api/v1/incidents/{id}/actions", post(incidents::act))
        .route(
            "/api/v1/exceptions",
            get(incidents::exceptions).post(incidents::add_exception),
        )
        .route(
            "/api/v1/exceptions/{id}",
            delete(incidents::delete_exception),
        )
        .with_state(state)
}

async fn healthz(State(s): State<ApiState>) -> Result<Json<serde_json::Value>, ApiError> {
    s.with_db(|db| Ok(db.last_seq()?)).await?;
    Ok(Json(json!({"status": "ok"})))
}

async fn metrics(State(s): State<ApiState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.inner.telemetry.metrics(),
    )
        .into_response()
}

/// Query parameters of the list endpoints.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListParams {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
    min_level: Option<String>,
    rule_id: Option<String>,
    host: Option<String>,
}

impl ListParams {
    fn request(&self) -> Result<SearchRequest, ApiError> {
        let now = jiff::Timestamp::now();
        Ok(SearchRequest {
            q: self.q.clone().unwrap_or_default(),
            from: self
                .from
                .as_deref()
                .map(|t| time::parse(t, now, "from"))
                .transpose()?,
            to: self
                .to
                .as_deref()
                .map(|t| time::parse(t, now, "to"))
                .transpose()?,
            limit: self.limit.unwrap_or(100),
            cursor: self.cursor.clone(),
            budget: None,
        })
    }

    /// The request for event search: bounded in time (without `from`, the default window
    /// before `to` or now) and in effort (the budget). Returns the note that says which
    /// window was chosen, when the caller did not choose it.
    fn event_search(
        &self,
        limits: SearchLimits,
    ) -> Result<(SearchRequest, Option<String>), ApiError> {
        let mut req = self.request()?;
        req.budget = Some(limits.budget);
        let mut note = None;
        if req.from.is_none() {
            let window = jiff::SignedDuration::try_from(limits.default_window)
                .unwrap_or(jiff::SignedDuration::MAX);
            let end = req.to.unwrap_or_else(jiff::Timestamp::now);
            req.from = Some(end.checked_sub(window).unwrap_or(jiff::Timestamp::MIN));
            let hours = limits.default_window.as_secs_f64() / 3600.0;
            note = Some(format!(
                "no `from` given: searched the {hours} hours before {}; give `from` (and `to`) for another range",
                if self.to.is_some() { "`to`" } else { "now" }
            ));
        }
        Ok((req, note))
    }
}

async fn events(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> Result<Json<wardwatch_store::EventPage>, ApiError> {
    s.authorize(&headers).await?;
    let (req, note) = p.event_search(s.search)?;
    let mut page = s.with_db(move |db| Ok(db.search_events(&req)?)).await?;
    page.note = note;
    Ok(Json(page))
}

async fn alerts(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> Result<Json<wardwatch_store::AlertPage>, ApiError> {
    s.authorize(&headers).await?;
    let req = p.request()?;
    let min_level: Severity = match &p.min_level {
        Some(l) => l.parse().map_err(|e: wardwatch_core::ParseSeverityError| {
            ApiError::BadRequest(format!("min_level: {e}"))
        })?,
        None => Severity::Informational,
    };
    let (rule, host) = (p.rule_id.clone(), p.host.clone());
    Ok(Json(
        s.with_db(move |db| {
            Ok(db.list_alerts(&req, min_level, rule.as_deref(), host.as_deref())?)
        })
        .await?,
    ))
}

async fn alert(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    s.authorize(&headers).await?;
    let key = id.clone();
    let found = s.with_db(move |db| Ok(db.alert(&key)?)).await?;
    match found {
        Some((alert, event)) => Ok(Json(json!({"alert": alert, "event": event}))),
        None => Err(ApiError::NotFound(format!("no alert `{id}`"))),
    }
}

async fn stats(
    State(s): State<ApiState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    s.authorize(&headers).await?;
    let store = s.with_db(|db| Ok(db.stats()?)).await?;
    Ok(Json(
        json!({"store": store, "pipeline": s.inner.telemetry.stats()}),
    ))
}

#[cfg(test)]
mod tests;
