//! Starting and stopping a server: the pipeline, the HTTP listener (bulk ingest + API), and the
//! syslog listeners, all bound before `start` returns so callers (and tests on ephemeral ports)
//! know the addresses.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use wardwatch_console::{ApiState, Telemetry};
use wardwatch_detect::{Correlator, Detector, RulePack};
use wardwatch_incidents::{Context, GroupConfig, Inventory, Roster};
use wardwatch_listen::{self as listen, SyslogConfig};
use wardwatch_store::{Db, DbOptions, TokenKind, token_hash};

use crate::ServeError;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::{IncidentSetup, Pipeline, Shared};

/// Tokens given at start (from `WARDWATCH_INGEST_TOKEN` / `WARDWATCH_API_TOKEN`); more live in
/// the store (`wardwatch tokens`).
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub ingest: Vec<String>,
    pub api: Vec<String>,
}

/// A running server.
pub struct Running {
    /// The API address (and bulk ingest's, unless `ingest` is set).
    pub http: SocketAddr,
    /// The separate bulk ingest address, when configured.
    pub ingest: Option<SocketAddr>,
    /// Whether the HTTP listeners speak HTTPS.
    pub https: bool,
    /// UDP and TCP syslog address, when enabled.
    pub syslog: Option<SocketAddr>,
    pub syslog_tls: Option<SocketAddr>,
    /// The SMTP journaling listener's address, when enabled.
    pub smtp: Option<SocketAddr>,
    pub rules: usize,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    pipeline: Option<Pipeline>,
}

struct ServerTelemetry {
    metrics: Arc<Metrics>,
    shared: Arc<Shared>,
    /// The rules and load problems, for the console's rules page.
    rules: wardwatch_console::RulesInfo,
    /// Inventory and roster, for the console's host and user pages.
    ctx: Arc<wardwatch_incidents::Context>,
    notify: Arc<crate::notify::NotifyMetrics>,
    feeds: Arc<crate::intel_feeds::FeedHealth>,
    /// Where the console's sign-ins go in as identity events, and this machine's name for them.
    sink: crate::pipeline::JournalSink,
    host: Option<String>,
}

impl Telemetry for ServerTelemetry {
    fn rules(&self) -> wardwatch_console::RulesInfo {
        self.rules.clone()
    }
    fn context(&self) -> Arc<wardwatch_incidents::Context> {
        self.ctx.clone()
    }
    fn metrics(&self) -> String {
        self.metrics.render(
            self.shared.queued(),
            self.shared
                .processed
                .load(std::sync::atomic::Ordering::Relaxed),
            self.shared.unindexed(),
        ) + &self.notify.render()
            + &self.feeds.render()
    }

    fn stats(&self) -> serde_json::Value {
        serde_json::json!({
            "queued": self.shared.queued(),
            "processed": self.shared.processed.load(std::sync::atomic::Ordering::Relaxed),
            "last_seq": self.shared.last_seq.load(std::sync::atomic::Ordering::Relaxed),
            "cursor": self.shared.cursor.load(std::sync::atomic::Ordering::Relaxed),
            "unindexed": self.shared.unindexed(),
            "latency_p50_s": self.metrics.latency_quantile(0.5),
            "latency_p99_s": self.metrics.latency_quantile(0.99),
            "sources": self.metrics.sources_json(),
            "problem": self.shared.problem(),
            "feeds": self.feeds.json(),
        })
    }

    fn problem(&self) -> Option<String> {
        self.shared.problem()
    }

    fn sign_in(&self, attempt: wardwatch_console::SignIn) {
        crate::console_sign_in::record(&self.sink, &attempt, self.host.as_deref());
    }
}

pub(crate) fn parse_addr(what: &str, text: &str) -> Result<Option<SocketAddr>, ServeError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.trim().parse().map(Some).map_err(|_| {
        ServeError::Config(format!(
            "{what}: `{text}` is not an address like 0.0.0.0:5514"
        ))
    })
}

/// One HTTP app for the console, the API and bulk ingest. The console's routes come first and
/// everything else goes to the Elasticsearch-compatible router. Both answer `GET /`: a browser
/// (it asks for `text/html`) gets the console's overview, a shipper's start-up probe gets the
/// Elasticsearch answer it expects.
pub(crate) fn console_and_ingest(console: axum::Router, bulk: axum::Router) -> axum::Router {
    let probe = bulk.clone();
    console
        .fallback_service(bulk)
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let probe = probe.clone();
                async move {
                    let root = req.uri().path() == "/"
                        && matches!(
                            *req.method(),
                            axum::http::Method::GET | axum::http::Method::HEAD
                        );
                    let browser = req
                        .headers()
                        .get(axum::http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|a| a.contains("text/html"));
                    if root && !browser {
                        use tower::ServiceExt;
                        match probe.oneshot(req).await {
                            Ok(resp) => resp,
                            Err(never) => match never {},
                        }
                    } else {
                        next.run(req).await
                    }
                }
            },
        ))
}

fn nonempty(path: &str) -> Option<PathBuf> {
    (!path.trim().is_empty()).then(|| PathBuf::from(path.trim()))
}

/// The HTTPS acceptor, when `http.tls_cert` is set.
pub(crate) fn http_tls(config: &Config) -> Result<Option<tokio_rustls::TlsAcceptor>, ServeError> {
    let h = &config.http;
    match (h.tls_cert.trim().is_empty(), h.tls_key.trim().is_empty()) {
        (true, true) => Ok(None),
        (false, false) => {
            let files = listen::TlsFiles {
                cert: h.tls_cert.trim().into(),
                key: h.tls_key.trim().into(),
                client_ca: nonempty(&h.tls_client_ca),
                client_auth: h.tls_client_auth,
            };
            Ok(Some(tokio_rustls::TlsAcceptor::from(
                listen::tls::server_config(&files)?,
            )))
        }
        _ => Err(ServeError::Config(
            "http.tls_cert and http.tls_key go together: set both for HTTPS, or neither".into(),
        )),
    }
}

/// Plain HTTP on a non-loopback address is an explicit choice.
pub(crate) fn plain_http_allowed(
    config: &Config,
    addr: SocketAddr,
    tls: bool,
) -> Result<(), ServeError> {
    if tls || addr.ip().is_loopback() {
        return Ok(());
    }
    if !config.http.allow_plain_http {
        return Err(ServeError::Config(format!(
            "HTTP would listen on {addr} without TLS: ingest and API tokens and the events would cross the network in clear text. Set http.tls_cert and http.tls_key (HTTPS), listen on 127.0.0.1 behind a TLS proxy, or set http.allow_plain_http = true to accept the risk"
        )));
    }
    tracing::warn!(%addr, "plain HTTP on a non-loopback address (http.allow_plain_http = true): tokens and events cross the network in clear text");
    Ok(())
}

/// The HTTP listeners' limits from the configuration.
pub(crate) fn http_limits(config: &Config) -> Result<listen::http::HttpLimits, ServeError> {
    let h = &config.http;
    Ok(listen::http::HttpLimits {
        conn: listen::ConnLimits {
            max_connections: h.max_connections,
            max_connections_per_peer: h.max_connections_per_peer,
            idle_timeout: Duration::from_secs(h.idle_timeout_secs.max(1)),
            allow: listen::Allow::parse(&h.allowed_networks, "http.allowed_networks")?,
        },
        header_timeout: Duration::from_secs(h.header_timeout_secs.max(1)),
    })
}

/// The syslog listeners' settings from the configuration, sharing `budgets` with the others.
pub(crate) fn syslog_config(
    config: &Config,
    budgets: Arc<listen::Budgets>,
) -> Result<SyslogConfig, ServeError> {
    Ok(SyslogConfig {
        max_message_bytes: (config.syslog.max_message_kb * 1024) as usize,
        max_connections: config.syslog.max_connections,
        max_connections_per_peer: config.syslog.max_connections_per_peer,
        idle_timeout_secs: config.syslog.idle_timeout_secs,
        allow: listen::Allow::parse(&config.syslog.allowed_networks, "syslog.allowed_networks")?,
        budgets: listen::SharedBudgets(budgets),
        ..SyslogConfig::default()
    })
}

/// Syslog over TLS (RFC 5425) on `syslog.tls_listen` into `sink`, when set; its address.
pub(crate) async fn start_syslog_tls<S: listen::Sink>(
    config: &Config,
    sink: Arc<S>,
    counters: Arc<listen::SourceCounters>,
    syslog_cfg: &SyslogConfig,
    done: impl std::future::Future<Output = ()> + Send + 'static,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<Option<SocketAddr>, ServeError> {
    let Some(addr) = parse_addr("syslog.tls_listen", &config.syslog.tls_listen)? else {
        return Ok(None);
    };
    if config.syslog.tls_cert.is_empty() || config.syslog.tls_key.is_empty() {
        return Err(ServeError::Config(
            "syslog.tls_listen is set but syslog.tls_cert or syslog.tls_key is empty".into(),
        ));
    }
    let files = listen::TlsFiles {
        cert: config.syslog.tls_cert.clone().into(),
        key: config.syslog.tls_key.clone().into(),
        client_ca: nonempty(&config.syslog.tls_client_ca),
        client_auth: config.syslog.tls_client_auth,
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(listen::tls::server_config(&files)?);
    let tcp = listen::bind_tcp(addr).await?;
    let bound = tcp
        .local_addr()
        .map_err(|e| ServeError::Bind(e.to_string()))?;
    let cfg = SyslogConfig {
        allow: listen::Allow::parse(
            &config.syslog.tls_allowed_networks,
            "syslog.tls_allowed_networks",
        )?,
        ..syslog_cfg.clone()
    };
    tasks.push(tokio::spawn(listen::syslog_tls::serve_tls(
        tcp, acceptor, sink, counters, cfg, done,
    )));
    Ok(Some(bound))
}

/// Ingest token hashes and the organization each token's events go to: the ones given at
/// start (the default organization) plus the store's (`wardwatch tokens add --org`).
fn ingest_tokens(data_dir: &Path, given: &[String]) -> Result<HashMap<String, String>, ServeError> {
    let db = Db::open(data_dir, &DbOptions::default())?;
    Ok(token_set(&db, given)?)
}

/// [`ingest_tokens`] from any token store (a cluster's ingest nodes read the shared one).
pub(crate) fn token_set(
    store: &(impl wardwatch_store::TokenStore + ?Sized),
    given: &[String],
) -> Result<HashMap<String, String>, wardwatch_store::StoreError> {
    let mut set: HashMap<String, String> = given
        .iter()
        .map(|t| {
            (
                token_hash(t),
                wardwatch_core::DEFAULT_ORGANIZATION.to_string(),
            )
        })
        .collect();
    for (hash, grant) in store.token_grants(TokenKind::Ingest)? {
        let org = grant
            .org
            .unwrap_or_else(|| wardwatch_core::DEFAULT_ORGANIZATION.to_string());
        set.insert(hash, org);
    }
    Ok(set)
}

/// The ingest tokens a listener checks, shared with the task that refreshes them.
pub(crate) type TokenSet = Arc<RwLock<HashMap<String, String>>>;

/// Re-read the ingest tokens with `read` every 10 s until `done`, so `wardwatch tokens add`
/// (or a token removed) takes effect without a restart; a read that fails keeps the last set.
pub(crate) fn refresh_tokens<F>(
    set: TokenSet,
    read: F,
    done: impl std::future::Future<Output = ()> + Send + 'static,
) -> JoinHandle<()>
where
    F: Fn() -> Result<HashMap<String, String>, ServeError> + Send + Sync + 'static,
{
    let read = Arc::new(read);
    tokio::spawn(async move {
        tokio::pin!(done);
        loop {
            tokio::select! {
                _ = &mut done => break,
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            }
            let read = read.clone();
            match tokio::task::spawn_blocking(move || read()).await {
                Ok(Ok(fresh)) => {
                    if let Ok(mut s) = set.write() {
                        *s = fresh;
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot re-read ingest tokens; keeping the last set")
                }
                Err(_) => {}
            }
        }
    })
}

/// The incident stage's settings and context files, read now so a bad file stops the start
/// with its name and line.
pub(crate) fn incident_setup(config: &Config) -> Result<IncidentSetup, ServeError> {
    let read = |path: &std::path::Path| -> Result<Option<(String, String)>, ServeError> {
        if path.as_os_str().is_empty() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServeError::Config(format!("cannot read {}: {e}", path.display())))?;
        Ok(Some((path.display().to_string(), text)))
    };
    // A bad row is reported with its file and line and skipped; the rest loads (an inventory
    // with one typo must not leave every asset "unknown"). The folder first; a single-file key
    // given as well replaces that file of the folder.
    let mut ctx = Context::default();
    if !config.incidents.context.as_os_str().is_empty() {
        let (folder, problems) = crate::context::load_dir(&config.incidents.context)
            .map_err(|e| ServeError::Config(format!("cannot read the context folder: {e}")))?;
        for p in problems {
            tracing::warn!(problem = %p, "context row skipped");
        }
        ctx = folder;
    }
    if let Some((name, text)) = read(&config.incidents.inventory)? {
        let (inventory, problems) = Inventory::load_partial(&name, &text);
        for p in problems {
            tracing::warn!(problem = %p, "inventory row skipped");
        }
        ctx.inventory = inventory;
    }
    if let Some((name, text)) = read(&config.incidents.roster)? {
        let (roster, problems) = Roster::load_partial(&name, &text);
        for p in problems {
            tracing::warn!(problem = %p, "roster row skipped");
        }
        ctx.roster = roster;
    }
    Ok(IncidentSetup {
        group: GroupConfig {
            window: Duration::from_secs(config.incidents.window_minutes.max(1) * 60),
            quiet: Duration::from_secs(config.incidents.quiet_minutes.max(1) * 60),
        },
        ctx: Arc::new(ctx),
        privacy: None,
        intel: intel_setup(&config.intel.paths)?,
        directory: None,
    })
}

/// The shared indicators of `[intel] paths` as the live set (the feeds add theirs to it).
fn intel_setup(paths: &[std::path::PathBuf]) -> Result<crate::intel::LiveIntel, ServeError> {
    if paths.is_empty() {
        return Ok(crate::intel::LiveIntel::default());
    }
    let set = crate::intel::load(paths).map_err(ServeError::Config)?;
    tracing::info!(indicators = set.len(), "threat intelligence loaded");
    Ok(crate::intel::LiveIntel::new(Some(set)))
}

/// The name of the privacy key among the store's secrets: names and addresses of the roster
/// and the patients are compared as keyed hashes under it (made once, random, never logged).
pub(crate) const PRIVACY_SECRET: &str = "privacy";

/// The privacy analytics' context from the context folder, keyed with the store's privacy
/// key (`key` reads it); `None` without a folder or when it has neither patients nor
/// encounters.
pub(crate) fn privacy_setup(
    folder: &std::path::Path,
    key: impl FnOnce() -> Result<[u8; 32], wardwatch_store::StoreError>,
) -> Result<Option<Arc<wardwatch_privacy::PrivacyContext>>, ServeError> {
    if folder.as_os_str().is_empty() {
        return Ok(None);
    }
    // Only open the store for its key when there is something to key.
    let has = |names: &[&str]| names.iter().any(|n| folder.join(n).exists());
    if !has(&[
        "patients.csv",
        "patients.yaml",
        "patients.yml",
        "encounters.csv",
        "encounters.yaml",
        "encounters.yml",
    ]) {
        return Ok(None);
    }
    let key = wardwatch_incidents::PrivacyKey::new(&key()?);
    let Some((ctx, problems)) = crate::context::privacy_context(folder, &key)
        .map_err(|e| ServeError::Config(format!("cannot read the context folder: {e}")))?
    else {
        return Ok(None);
    };
    for p in problems {
        tracing::warn!(problem = %p, "privacy context row skipped");
    }
    tracing::info!(
        staff = ctx.roster.people().len(),
        patients = ctx.patients.len(),
        encounters = ctx.encounters.len(),
        "privacy analytics on"
    );
    Ok(Some(Arc::new(ctx)))
}

/// What the console's rules page shows: every rule of `pack` and the problems found loading
/// it (`problems`: the detector's and correlator's, besides the pack's own).
pub(crate) fn rules_info(
    pack: &RulePack,
    problems: &[impl std::fmt::Display],
) -> wardwatch_console::RulesInfo {
    wardwatch_console::RulesInfo {
        rules: pack
            .metas()
            .map(|m| wardwatch_console::RuleInfo {
                id: m.id.clone(),
                title: m.title.clone(),
                level: m.level.as_str().to_string(),
                pack: m
                    .origin
                    .rsplit_once('/')
                    .map_or_else(|| m.origin.clone(), |(dir, _)| dir.to_string()),
                enabled: true,
            })
            .collect(),
        problems: pack
            .problems()
            .iter()
            .map(|p| p.to_string())
            .chain(problems.iter().map(|p| p.to_string()))
            .collect(),
    }
}

/// Start everything the configuration asks for.
pub async fn start(config: Config, pack: RulePack, tokens: Tokens) -> Result<Running, ServeError> {
    start_with_clock(config, pack, tokens, crate::notify::Clock::System).await
}

/// [`start`], with the notification worker on `clock` (tests move it through quiet hours and
/// rate-limit windows; see [`crate::notify::Clock`]).
pub async fn start_with_clock(
    config: Config,
    pack: RulePack,
    tokens: Tokens,
    notify_clock: crate::notify::Clock,
) -> Result<Running, ServeError> {
    let data_dir = config.data.dir.clone();
    let (detector, mut problems) = Detector::build(&pack);
    let (correlator, corr_problems) = Correlator::build(&pack);
    problems.extend(corr_problems);
    for p in &problems {
        tracing::warn!(problem = %p, "rule not loaded");
    }
    let rules = detector.rule_count() + pack.correlation_count();
    let rules_info = rules_info(&pack, &problems);
    drop(pack);
    let metrics = Arc::new(Metrics::default());
    config
        .notify
        .validate()
        .map_err(|e| ServeError::Config(e.to_string()))?;
    let feeds = crate::intel_feeds::check(&config.intel.feeds).map_err(ServeError::Config)?;
    let taxii = config.taxii.setup().map_err(ServeError::Config)?;
    let mut incidents = incident_setup(&config)?;
    let live_intel = incidents.intel.clone();
    let directory = Arc::new(
        crate::identity::directory(&incidents.ctx, &config.identity).map_err(ServeError::Config)?,
    );
    incidents.directory = Some(directory.clone());
    let mut correlator = correlator;
    if let Some(c) = correlator.as_mut() {
        c.set_topology(Arc::new(crate::context::topology(&incidents.ctx)));
        c.set_directory(directory);
    }
    let ctx = incidents.ctx.clone();
    let share_settings = crate::taxii::publish::ShareSettings {
        producer: config.taxii.producer.clone(),
        own_domains: config.mail.own_domains.clone(),
        ctx: incidents.ctx.clone(),
        unmarked: taxii.unmarked,
    };
    let notify_ctx = incidents.ctx.clone();
    let pipeline = {
        let dir = data_dir.clone();
        let cfg = config.pipeline();
        let m = metrics.clone();
        let folder = config.incidents.context.clone();
        tokio::task::spawn_blocking(move || -> Result<Pipeline, ServeError> {
            let mut incidents = incidents;
            incidents.privacy = privacy_setup(&folder, || {
                wardwatch_store::Db::open(&dir, &DbOptions::default())?.secret(PRIVACY_SECRET)
            })?;
            Ok(Pipeline::start(
                &dir,
                &cfg,
                Arc::new(detector),
                correlator,
                incidents,
                m,
            )?)
        })
        .await
        .map_err(|e| ServeError::Config(format!("pipeline start failed: {e}")))??
    };
    let (stop, stopped) = watch::channel(false);
    let shutdown = move || {
        let mut rx = stopped.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut tasks = Vec::new();
    let feed_health = Arc::new(crate::intel_feeds::FeedHealth::default());
    if !feeds.is_empty() {
        let files = live_intel
            .current()
            .map(|d| d.set().indicators().to_vec())
            .unwrap_or_default();
        crate::intel_feeds::start(
            crate::intel_feeds::Start {
                feeds,
                open: crate::roles::sqlite_state(data_dir.clone()),
                sightings: Some(crate::intel_feeds::sqlite_sightings(data_dir.clone())),
                files,
                live: live_intel,
                health: feed_health.clone(),
                producer: config.intel.producer.clone(),
                retro: pipeline.retro.clone(),
                stop: stop.subscribe(),
            },
            &mut tasks,
        )
        .map_err(ServeError::Config)?;
    }
    let notify_metrics = Arc::new(crate::notify::NotifyMetrics::default());
    tasks.push(crate::notify::spawn(
        config.notify.clone(),
        notify_ctx,
        &data_dir,
        notify_metrics.clone(),
        notify_clock,
        stop.subscribe(),
    )?);

    // Ingest tokens: given + stored, refreshed every 10 s so `wardwatch tokens add` takes effect.
    let token_set = Arc::new(RwLock::new(ingest_tokens(&data_dir, &tokens.ingest)?));
    {
        let (dir, given) = (data_dir.clone(), tokens.ingest.clone());
        tasks.push(refresh_tokens(
            token_set.clone(),
            move || ingest_tokens(&dir, &given),
            shutdown(),
        ));
    }

    // HTTP: the API, and bulk ingest on the same or its own address.
    let net_topology = Arc::new(crate::context::topology(&ctx));
    let telemetry: Arc<dyn Telemetry> = Arc::new(ServerTelemetry {
        metrics: metrics.clone(),
        shared: pipeline.shared.clone(),
        rules: rules_info,
        ctx,
        notify: notify_metrics,
        feeds: feed_health,
        sink: pipeline.sink.clone(),
        host: crate::console_sign_in::this_host(),
    });
    let http_tls = http_tls(&config)?;
    let mut api = wardwatch_console::router(
        ApiState::new(data_dir.clone(), &tokens.api, telemetry)
            .with_search_limits(config.search.limits())
            .metrics_open(config.http.metrics_open)
            .with_network_summary(crate::network::summariser(net_topology))
            .with_sharing(Arc::new(crate::taxii::publish::ServerSharing(
                share_settings,
            ))),
    );
    // TAXII: the collections are written to the store either way (publishing needs them);
    // served only when enabled.
    {
        let (open, setup, https) = (
            crate::roles::sqlite_state(data_dir.clone()),
            taxii,
            http_tls.is_some(),
        );
        let enabled = setup.section.enabled;
        let state =
            tokio::task::spawn_blocking(move || crate::taxii::TaxiiState::new(setup, open, https))
                .await
                .map_err(|e| ServeError::Config(format!("taxii start failed: {e}")))?
                .map_err(|e| ServeError::Config(format!("taxii: {}", e.description)))?;
        tasks.push(crate::taxii::spawn_retention(
            state.clone(),
            stop.subscribe(),
        ));
        if enabled {
            api = api.merge(crate::taxii::router(state));
        }
    }
    // One budget table for every listener: a sender is the same sender on UDP and TCP.
    let budgets = Arc::new(listen::Budgets::new(
        config.pipeline.source_budget_events_per_sec,
    ));
    let check: listen::bulk::TokenCheck = {
        let set = token_set.clone();
        Arc::new(move |t: &str| set.read().ok().and_then(|s| s.get(&token_hash(t)).cloned()))
    };
    let bulk_cfg = listen::bulk::BulkConfig {
        max_body_bytes: (config.http.max_body_mb * 1024 * 1024) as usize,
        es_version: config.http.es_version.clone(),
        max_concurrent_requests: config.http.max_concurrent_bulk,
        body_timeout_secs: config.http.body_timeout_secs,
    };
    let bulk = listen::bulk::router(
        listen::bulk::BulkState::new(
            Arc::new(pipeline.sink.clone()),
            metrics.source("bulk"),
            check.clone(),
            bulk_cfg,
        )
        .with_budgets(budgets.clone()),
    );
    let ingest_addr = parse_addr("http.ingest_listen", &config.http.ingest_listen)?;
    for addr in std::iter::once(config.http.listen).chain(ingest_addr) {
        plain_http_allowed(&config, addr, http_tls.is_some())?;
    }
    let limits = http_limits(&config)?;
    let (api_app, ingest_app) = match ingest_addr {
        Some(_) => (api, Some(bulk)),
        None => (console_and_ingest(api, bulk), None),
    };
    let mut serve_http = |listener: tokio::net::TcpListener, app: axum::Router, name: &str| {
        let (tls, limits, done) = (http_tls.clone(), limits.clone(), shutdown());
        let counters = metrics.source(name);
        tasks.push(tokio::spawn(listen::http::serve_http(
            listener, app, tls, limits, counters, done,
        )));
    };
    let http = listen::bind_tcp(config.http.listen).await?;
    let http_addr = http
        .local_addr()
        .map_err(|e| ServeError::Bind(e.to_string()))?;
    serve_http(http, api_app, "http");
    let mut ingest_bound = None;
    if let (Some(addr), Some(app)) = (ingest_addr, ingest_app) {
        let listener = listen::bind_tcp(addr).await?;
        ingest_bound = Some(
            listener
                .local_addr()
                .map_err(|e| ServeError::Bind(e.to_string()))?,
        );
        serve_http(listener, app, "http-ingest");
    }

    // Syslog.
    let syslog_cfg = syslog_config(&config, budgets.clone())?;
    let sink = Arc::new(pipeline.sink.clone());
    let syslog = parse_addr("syslog.listen", &config.syslog.listen)?;
    let mut syslog_addr = None;
    if let Some(addr) = syslog {
        let tcp = listen::bind_tcp(addr).await?;
        let bound = tcp
            .local_addr()
            .map_err(|e| ServeError::Bind(e.to_string()))?;
        // UDP on the same port as TCP (matters when the port was 0: take the one TCP got).
        let udp = listen::bind_udp(bound).await?;
        syslog_addr = Some(bound);
        let (s, c, cfg, done) = (
            sink.clone(),
            metrics.source(listen::syslog_udp::SOURCE),
            syslog_cfg.clone(),
            shutdown(),
        );
        tasks.push(tokio::spawn(listen::syslog_udp::serve_udp(
            udp, s, c, cfg, done,
        )));
        let (s, c, cfg, done) = (
            sink.clone(),
            metrics.source(listen::syslog_tcp::SOURCE),
            syslog_cfg.clone(),
            shutdown(),
        );
        tasks.push(tokio::spawn(listen::syslog_tcp::serve_tcp(
            tcp, s, c, cfg, done,
        )));
    }
    let tls_addr = start_syslog_tls(
        &config,
        sink.clone(),
        metrics.source(listen::syslog_tls::SOURCE),
        &syslog_cfg,
        shutdown(),
        &mut tasks,
    )
    .await?;
    let smtp = config
        .mail
        .start_smtp(
            sink.clone(),
            metrics.source(listen::smtp::SOURCE),
            check.clone(),
            shutdown(),
            &mut tasks,
        )
        .await?;
    Ok(Running {
        smtp,
        http: http_addr,
        ingest: ingest_bound,
        https: http_tls.is_some(),
        syslog: syslog_addr,
        syslog_tls: tls_addr,
        rules,
        stop,
        tasks,
        pipeline: Some(pipeline),
    })
}

impl Running {
    /// The journal's door, for feeding events from inside the process (`wardwatch demo`):
    /// the same durable path the listeners use.
    pub fn sink(&self) -> Option<crate::pipeline::JournalSink> {
        self.pipeline.as_ref().map(|p| p.sink.clone())
    }

    /// Events committed but not yet through detection.
    pub fn queued(&self) -> i64 {
        self.pipeline.as_ref().map_or(0, |p| p.shared.queued())
    }

    /// Stop listening, let listeners hand over what they hold, then stop the pipeline after it
    /// has committed everything it was given.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        if let Some(p) = self.pipeline.take() {
            let _ = tokio::task::spawn_blocking(move || p.stop()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_files_load_what_they_can_and_a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let inventory = dir.path().join("inventory.csv");
        std::fs::write(
            &inventory,
            "match,class,criticality,zone,name\nPACS01,pacs,5,clinical,\n10.99.0.0/16,guest-wifi,1,guest,\nEPR01,epr-server,nine,servers,\n",
        )
        .unwrap();
        let roster = dir.path().join("roster.csv");
        std::fs::write(
            &roster,
            "user,display_name,department,role,privileged,email\njsmith,Jane Smith,Radiology,radiographer,false,j.smith@hospital.example\n",
        )
        .unwrap();
        let mut config = Config::default();
        config.incidents.inventory = inventory;
        config.incidents.roster = roster;
        let setup = incident_setup(&config).unwrap();
        // The row with a bad criticality is skipped, the others load.
        assert_eq!(setup.ctx.inventory.assets().len(), 2);
        assert_eq!(setup.ctx.roster.people().len(), 1);
        config.incidents.roster = dir.path().join("nope.csv");
        let err = incident_setup(&config).err().unwrap().to_string();
        assert!(err.contains("nope.csv"), "{err}");
    }

    #[test]
    fn the_context_folder_is_read_and_single_file_keys_replace_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("context");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("inventory.csv"),
            "match,class,criticality,zone
10.9.0.5,scanner,3,admin
10.0.0.0/8,workstation,2,clinical
",
        )
        .unwrap();
        std::fs::write(
            folder.join("zones.csv"),
            "from_zone,to_zone,ports,note
clinical,servers,443,
",
        )
        .unwrap();
        let mut config = Config::default();
        config.incidents.context = folder.clone();
        let setup = incident_setup(&config).unwrap();
        assert_eq!(setup.ctx.inventory.assets().len(), 2);
        assert!(setup.ctx.zones.is_some());
        let topo = crate::context::topology(&setup.ctx);
        assert_eq!(
            topo.class("10.9.0.5"),
            wardwatch_detect::analytics::network::NetClass::Scanner
        );
        let single = dir.path().join("inventory.csv");
        std::fs::write(
            &single,
            "match,class
PACS01,pacs
",
        )
        .unwrap();
        config.incidents.inventory = single;
        let setup = incident_setup(&config).unwrap();
        assert_eq!(setup.ctx.inventory.assets().len(), 1);
        assert!(setup.ctx.zones.is_some(), "the folder's other files stay");
        config.incidents.context = dir.path().join("nope");
        let err = incident_setup(&config).err().unwrap().to_string();
        assert!(err.contains("nope"), "{err}");
    }
}
