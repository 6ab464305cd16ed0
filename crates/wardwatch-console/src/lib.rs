//! The console: the web pages the hospital team and analysts use (server-rendered HTML, SVG
//! charts drawn here, no JavaScript build) and the REST API (JSON under `/api/v1`), over the
//! store; plus `/healthz` and `/metrics` (Prometheus text; behind a token or a sign-in unless
//! the server opens it with `metrics_open`).
//!
//! Every route is in one table (`routes.rs`) with the access it requires; one guard
//! (`auth.rs`) stands in front of all of them: sessions (browser) or Bearer tokens (API),
//! roles, CSRF on every form, organizations. Every analyst and admin action is appended to the
//! hash-chained audit log.
//!
//! Handlers are tested without a socket (`Router::oneshot`). Store access goes through the
//! store's seam (`wardwatch_store::Store`: SQLite on one machine, other engines in a cluster)
//! and is blocking, so it runs on tokio's blocking pool with connections taken from a small
//! pool.
//!
//! **Architecture Invariant:** the console reads through the store; it knows nothing about
//! decoding, listeners or rule evaluation.

pub mod auth;
mod error;
mod identities;
mod incidents;
mod intel;
mod login;
mod network;
mod notifications;
pub mod page;
mod pages;
pub mod routes;
mod time;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use wardwatch_core::Severity;
use wardwatch_store::{AuditRecord, Db, DbOptions, SearchRequest, Store, StoreError, token_hash};

pub use auth::{Principal, Role};
pub use error::ApiError;
pub use intel::sighting_summary;
pub use network::NetworkSummariser;
pub use routes::router;

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
    /// The loaded rule packs for the rules page: each rule's id, title, level, pack and
    /// whether it is enabled, and the problems found at load.
    fn rules(&self) -> RulesInfo {
        RulesInfo::default()
    }
    /// The inventory and roster the incidents were told with (host and user pages).
    fn context(&self) -> Arc<wardwatch_incidents::Context> {
        Arc::new(wardwatch_incidents::Context::default())
    }
    /// What stops the server from storing what it receives right now (the disk is full, the
    /// database is read-only...), in plain words; `None` when it is storing.
    fn problem(&self) -> Option<String> {
        None
    }
    /// Someone tried to sign in to the console. The server records it as an authentication
    /// event like any other, so the console is one more place where an identity's use is kept in
    /// the ledger and watched by the identity analytics (guessing, a new country, a new device).
    /// Called on the request's task: it must not block. The default records nothing.
    fn sign_in(&self, _attempt: SignIn) {}
}

/// One attempt to sign in to the console (see [`Telemetry::sign_in`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// The account name as typed (at most 200 characters).
    pub account: String,
    /// The peer address the attempt came from (`auth::peer`).
    pub address: String,
    pub outcome: SignInOutcome,
    pub at: jiff::Timestamp,
}

/// How a sign-in attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInOutcome {
    /// The password was right: a session was opened.
    Succeeded,
    /// The account is unknown, disabled, or the password was wrong.
    Failed,
    /// Too many failures from this account or address: the password was not even checked.
    Refused,
}

/// Publishing an incident to partner hospitals (the server's TAXII collections): the server
/// knows the sanitizer's context (inventory, roster, own domains) and the collections; the
/// console decides who may share which incident, and audits it.
pub trait Sharing: Send + Sync + 'static {
    /// Share `incident` (the caller may see it) at `tlp`: add its bundle to `collection`, or,
    /// when `collection` is `None`, only make it (a dry run). The answer's JSON: the bundle
    /// exactly as published and what was withheld.
    fn share(
        &self,
        db: &mut dyn Store,
        incident: &wardwatch_store::StoredIncident,
        collection: Option<&str>,
        tlp: &str,
    ) -> Result<serde_json::Value, ApiError>;
}

/// What the server tells the console about its rules.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RulesInfo {
    pub rules: Vec<RuleInfo>,
    /// Problems found loading the packs, one line each (file and reason).
    pub problems: Vec<String>,
}

/// One loaded rule.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub level: String,
    /// Built-in or the folder it came from.
    pub pack: String,
    pub enabled: bool,
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

/// Opens a connection to the store the console reads (the pool keeps a few open).
pub type OpenStore = Arc<dyn Fn() -> Result<Box<dyn Store>, StoreError> + Send + Sync>;

struct Inner {
    open: OpenStore,
    pool: Mutex<Vec<Box<dyn Store>>>,
    /// SHA-256 of the API tokens from the environment; stored tokens are checked in the store.
    env_tokens: HashSet<String>,
    telemetry: Arc<dyn Telemetry>,
    /// Failed sign-ins per account and address.
    limiter: auth::Limiter,
    /// How long a session lasts.
    session_ttl: std::time::Duration,
    /// Who sends what, for the overview.
    health: Mutex<pages::health::Cache>,
    /// `/metrics` answers without an API token.
    metrics_open: bool,
    /// What answers `/api/v1/network/summary`.
    network: Option<NetworkSummariser>,
    /// Publishing incidents to partners; `None`: not set up.
    sharing: Option<Arc<dyn Sharing>>,
}

impl ApiState {
    /// Let `/metrics` answer without an API token or sign-in (`http.metrics_open`); by default
    /// it asks for one (the counters tell an attacker which sources are blind and when ingest is
    /// behind). Call before the state is shared.
    pub fn metrics_open(mut self, open: bool) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.metrics_open = open;
        }
        self
    }

    /// Answer `/api/v1/network/summary` with `summarise` (the server's, over its context's
    /// topology). Call before the state is shared.
    pub fn with_network_summary(mut self, summarise: NetworkSummariser) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.network = Some(summarise);
        }
        self
    }

    /// Let analysts publish incidents to partners through `sharing`. Call before the state
    /// is shared.
    pub fn with_sharing(mut self, sharing: Arc<dyn Sharing>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.sharing = Some(sharing);
        }
        self
    }

    /// Whether `/metrics` answers anyone.
    pub(crate) fn metrics_are_open(&self) -> bool {
        self.inner.metrics_open
    }

    /// State over the SQLite store in `data_dir`; `api_tokens` are accepted besides stored API
    /// tokens.
    pub fn new(data_dir: PathBuf, api_tokens: &[String], telemetry: Arc<dyn Telemetry>) -> Self {
        let open: OpenStore = Arc::new(move || {
            Ok(Box::new(Db::open(&data_dir, &DbOptions::default())?) as Box<dyn Store>)
        });
        ApiState::with_store(open, api_tokens, telemetry)
    }

    /// State over the store `open` connects to (any implementation of the seam).
    pub fn with_store(
        open: OpenStore,
        api_tokens: &[String],
        telemetry: Arc<dyn Telemetry>,
    ) -> Self {
        ApiState {
            inner: Arc::new(Inner {
                open,
                pool: Mutex::new(Vec::new()),
                env_tokens: api_tokens.iter().map(|t| token_hash(t)).collect(),
                telemetry,
                limiter: auth::Limiter::default(),
                session_ttl: std::time::Duration::from_secs(8 * 3600),
                health: Mutex::new(pages::health::Cache::default()),
                metrics_open: false,
                network: None,
                sharing: None,
            }),
            search: SearchLimits::default(),
        }
    }

    /// The same state with these search bounds.
    pub fn with_search_limits(mut self, limits: SearchLimits) -> Self {
        self.search = limits;
        self
    }

    /// Append to the audit log what `p` did (`target` in `org`).
    async fn audit(
        &self,
        p: &Principal,
        action: &str,
        target: &str,
        org: &str,
        detail: &str,
    ) -> Result<(), ApiError> {
        let rec = AuditRecord {
            actor: p.name.clone(),
            action: action.to_string(),
            target: target.to_string(),
            org: org.to_string(),
            addr: p.addr.clone(),
            detail: detail.to_string(),
        };
        self.with_db_mut(move |db| Ok(db.audit(&rec)?)).await?;
        Ok(())
    }

    /// Run `f` with a store connection on the blocking pool.
    async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.with_db_mut(move |db| f(db)).await
    }

    /// [`ApiState::with_db`] for writes.
    async fn with_db_mut<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let db = inner.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut db = match db {
                Some(db) => db,
                None => (inner.open)()?,
            };
            let out = f(&mut *db);
            let mut pool = inner.pool.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < 8 {
                pool.push(db);
            }
            out
        })
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?
    }
}

/// `200 {"status":"ok"}`, or `503 {"status":"failing","problem":...}` while the server cannot
/// store what it receives (so a load balancer or a monitor sees it, with the reason).
pub(crate) async fn healthz(State(s): State<ApiState>) -> Result<Response, ApiError> {
    s.with_db(|db| Ok(db.last_seq()?)).await?;
    if let Some(problem) = s.inner.telemetry.problem() {
        let body = json!({"status": "failing", "problem": problem});
        return Ok((axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response());
    }
    Ok(Json(json!({"status": "ok"})).into_response())
}

pub(crate) async fn metrics(State(s): State<ApiState>) -> Response {
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
    fn request(&self, p: &Principal) -> Result<SearchRequest, ApiError> {
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
            orgs: p.orgs(),
            count_time: None,
            sample: 0,
            privacy: p.privacy_scope(),
        })
    }

    /// The request for event search: bounded in time (without `from`, the default window
    /// before `to` or now) and in effort (the budget). Returns the note that says which
    /// window was chosen, when the caller did not choose it.
    fn event_search(
        &self,
        limits: SearchLimits,
        p: &Principal,
    ) -> Result<(SearchRequest, Option<String>), ApiError> {
        let mut req = self.request(p)?;
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

pub(crate) async fn events(
    State(s): State<ApiState>,
    who: Principal,
    Query(p): Query<ListParams>,
) -> Result<Json<wardwatch_store::EventPage>, ApiError> {
    let (req, note) = p.event_search(s.search, &who)?;
    s.audit(&who, "search", "events", &who.home_org(), &req.q)
        .await?;
    let mut page = s.with_db(move |db| Ok(db.search_events(&req)?)).await?;
    page.note = note;
    Ok(Json(page))
}

pub(crate) async fn alerts(
    State(s): State<ApiState>,
    who: Principal,
    Query(p): Query<ListParams>,
) -> Result<Json<wardwatch_store::AlertPage>, ApiError> {
    let req = p.request(&who)?;
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

pub(crate) async fn alert(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = id.clone();
    let found = s.with_db(move |db| Ok(db.alert(&key)?)).await?;
    match found {
        Some((alert, mut event)) if who.sees_alert(&alert.organization, &alert.rule_id) => {
            if !who.may(auth::Access::Search) {
                // The raw event is for those who may search raw events.
                event = None;
            }
            Ok(Json(json!({"alert": alert, "event": event})))
        }
        _ => Err(ApiError::NotFound(format!("no alert `{id}`"))),
    }
}

pub(crate) async fn stats(
    State(s): State<ApiState>,
    _who: Principal,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = s.with_db(|db| Ok(db.stats()?)).await?;
    Ok(Json(
        json!({"store": store, "pipeline": s.inner.telemetry.stats()}),
    ))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod access_tests;
