//! Starting and stopping a server: the pipeline, the HTTP listener (bulk ingest + API), and the
//! syslog listeners, all bound before `start` returns so callers (and tests on ephemeral ports)
//! know the addresses.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use wardwatch_console::{ApiState, Telemetry};
use wardwatch_detect::{Correlator, Detector, RulePack};
use wardwatch_listen as listen;
use wardwatch_store::{DbOptions, token_hash};

use crate::ServeError;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::{Pipeline, Shared};
use crate::setup::{
    PRIVACY_SECRET, console_and_ingest, http_limits, http_tls, incident_setup, ingest_tokens,
    parse_addr, plain_http_allowed, privacy_setup, refresh_tokens, rules_info, start_syslog_tls,
    syslog_config,
};

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
    tasks.push(
        crate::notify::spawn(
            crate::notify::Setup {
                cfg: config.notify.clone(),
                ctx: notify_ctx,
                open: crate::roles::sqlite_state(data_dir.clone()),
                metrics: notify_metrics.clone(),
                clock: notify_clock,
                turn: crate::notify::always(),
            },
            stop.subscribe(),
        )
        .await?,
    );

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
