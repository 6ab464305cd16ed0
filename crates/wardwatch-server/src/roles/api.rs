//! The api role: `/api/v1` and the console over the cluster's shared state — incidents,
//! exceptions, accounts, tokens and the audit log in PostgreSQL, events and alerts in
//! ClickHouse, through the storage seam like the single binary's console. Any number of API
//! nodes serve the same state (behind a load balancer: sessions live in the shared store).
//!
//! What differs from the single binary is what the node tells about itself: it has no pipeline,
//! so its figures (`/api/v1/stats`, `/metrics`, `/healthz`, the console's overview) are the
//! cluster's as NATS reports them — the backlog, each partition's lag and the worker holding
//! it, the incident stage's holder — read every few seconds in the background (a request never
//! waits on NATS). Console sign-ins go to the events stream like any other event, so the detect
//! workers fold them into the identity ledger.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use wardwatch_cluster::{NatsSink, Status};
use wardwatch_console::{ApiState, OpenStore, RulesInfo, SignIn, Telemetry};

use crate::ServeError;
use crate::config::Config;
use crate::metrics::Metrics;

/// How often the node reads the cluster's status from NATS.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// The cluster's status as last read.
#[derive(Default)]
struct Snapshot {
    status: Option<Status>,
    /// Why the last read failed (NATS down, the stream not made).
    error: Option<String>,
    at: Option<jiff::Timestamp>,
}

/// What an API node tells about the cluster.
pub(crate) struct ClusterTelemetry {
    metrics: Arc<Metrics>,
    rules: RulesInfo,
    ctx: Arc<wardwatch_incidents::Context>,
    snapshot: Arc<RwLock<Snapshot>>,
    sink: NatsSink,
    host: Option<String>,
    /// The partners' feeds' health, read from the shared state (`watch_feeds`).
    feeds: Arc<crate::intel_feeds::FeedHealth>,
}

impl ClusterTelemetry {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// The JSON of a status for `/api/v1/stats` and the overview: the backlog, per partition its lag
/// and holder, the incident stage's holder, the workers present.
fn status_json(s: &Status) -> serde_json::Value {
    let partitions: Vec<serde_json::Value> = s
        .partitions
        .iter()
        .map(|p| {
            serde_json::json!({
                "partition": p.partition,
                "lag": p.pending,
                "unacknowledged": p.ack_pending,
                "redelivered": p.redelivered,
                "acknowledged_up_to": p.ack_floor,
                "worker": s.holder(&wardwatch_cluster::worker::part_key(p.partition)),
                "consumer_exists": p.exists,
            })
        })
        .collect();
    let workers: Vec<&str> = s
        .leases
        .iter()
        .filter(|l| l.key.starts_with("worker."))
        .map(|l| l.owner.as_str())
        .collect();
    serde_json::json!({
        "nats": s.nats,
        "backlog": {
            "messages": s.stream.messages,
            "bytes": s.stream.bytes,
            "fill": s.stream.fill,
            "last_seq": s.stream.last_seq,
            "replicas": s.stream.replicas,
        },
        "lag": s.partitions.iter().map(|p| p.pending).sum::<u64>(),
        "partitions": partitions,
        "workers": workers,
        "incident_stage": s.holder(wardwatch_cluster::incidents::LEASE),
        "notifier": s.holder(super::NOTIFY_LEASE),
        "alerts_waiting": s.alerts_pending,
    })
}

impl Telemetry for ClusterTelemetry {
    fn metrics(&self) -> String {
        use std::fmt::Write;
        let mut out = self.metrics.render_sources();
        let snap = self.read();
        let _ = writeln!(
            out,
            "# HELP wardwatch_cluster_up Whether NATS answered the last status read (every 5 s).\n# TYPE wardwatch_cluster_up gauge\nwardwatch_cluster_up {}",
            u8::from(snap.status.is_some())
        );
        let Some(s) = &snap.status else {
            return out;
        };
        for (name, help, v) in [
            (
                "wardwatch_cluster_backlog_messages",
                "Batches in the events stream not yet acknowledged by a worker.",
                s.stream.messages as f64,
            ),
            (
                "wardwatch_cluster_backlog_bytes",
                "Bytes in the events stream not yet acknowledged by a worker.",
                s.stream.bytes as f64,
            ),
            (
                "wardwatch_cluster_backlog_fill",
                "The backlog's share of cluster.max_backlog_mb (ingest refuses near 1).",
                s.stream.fill,
            ),
            (
                "wardwatch_cluster_alerts_waiting",
                "Alert batches waiting for the incident stage.",
                s.alerts_pending as f64,
            ),
            (
                "wardwatch_cluster_incident_stage_active",
                "Whether a process holds the incident stage.",
                f64::from(u8::from(
                    s.holder(wardwatch_cluster::incidents::LEASE).is_some(),
                )),
            ),
            (
                "wardwatch_cluster_notifier_active",
                "Whether a process holds the notification worker's lease.",
                f64::from(u8::from(s.holder(super::NOTIFY_LEASE).is_some())),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        for (name, help, get) in [
            (
                "wardwatch_cluster_partition_lag",
                "Batches of the partition not yet delivered to a worker.",
                (|p: &wardwatch_cluster::ConsumerStatus| p.pending) as fn(_) -> u64,
            ),
            (
                "wardwatch_cluster_partition_unacknowledged",
                "Batches of the partition delivered and not yet acknowledged.",
                |p| p.ack_pending as u64,
            ),
            (
                "wardwatch_cluster_partition_redelivered",
                "Batches of the partition delivered more than once.",
                |p| p.redelivered as u64,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for p in &s.partitions {
                let _ = writeln!(out, "{name}{{partition=\"{}\"}} {}", p.partition, get(p));
            }
        }
        let name = "wardwatch_cluster_partition_held";
        let _ = writeln!(
            out,
            "# HELP {name} Whether a worker holds the partition.\n# TYPE {name} gauge"
        );
        for p in &s.partitions {
            let held = s
                .holder(&wardwatch_cluster::worker::part_key(p.partition))
                .is_some();
            let _ = writeln!(
                out,
                "{name}{{partition=\"{}\"}} {}",
                p.partition,
                u8::from(held)
            );
        }
        out.push_str(&self.feeds.render());
        out
    }

    fn stats(&self) -> serde_json::Value {
        let snap = self.read();
        serde_json::json!({
            "role": "api",
            "feeds": self.feeds.json(),
            "sources": self.metrics.sources_json(),
            "cluster": snap.status.as_ref().map(status_json),
            "cluster_error": snap.error,
            "cluster_read_at": snap.at.map(|t| t.to_string()),
            "problem": self.problem_of(&snap),
        })
    }

    fn problem(&self) -> Option<String> {
        self.problem_of(&self.read())
    }

    fn rules(&self) -> RulesInfo {
        self.rules.clone()
    }

    fn context(&self) -> Arc<wardwatch_incidents::Context> {
        self.ctx.clone()
    }

    fn sign_in(&self, attempt: SignIn) {
        crate::console_sign_in::record(&self.sink, &attempt, self.host.as_deref());
    }
}

impl ClusterTelemetry {
    /// What stops the deployment from storing what it receives: NATS not answering (ingest
    /// nodes answer 503), or the backlog full (429). Workers missing or behind are not a
    /// failure of storing: the stream keeps the events, the overview shows the lag.
    fn problem_of(&self, snap: &Snapshot) -> Option<String> {
        if let Some(e) = &snap.error {
            return Some(format!(
                "the events stream does not answer: {e}; ingest nodes refuse events until it does"
            ));
        }
        let s = snap.status.as_ref()?;
        (s.stream.fill >= 0.95).then(|| {
            format!(
                "the events stream is {:.0}% full (cluster.max_backlog_mb): the detect workers are behind and ingest nodes refuse events",
                s.stream.fill * 100.0
            )
        })
    }
}

/// Read the cluster's status from NATS every [`STATUS_EVERY`] until `done`.
fn watch_status(
    sink: NatsSink,
    snapshot: Arc<RwLock<Snapshot>>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let read = tokio::time::timeout(Duration::from_secs(10), sink.status()).await;
            let (status, error) = match read {
                Ok(Ok(s)) => (Some(s), None),
                Ok(Err(e)) => (None, Some(e.to_string())),
                Err(_) => (None, Some("NATS did not answer within 10 s".to_string())),
            };
            if let Ok(mut snap) = snapshot.write() {
                // A failed read keeps the last figures for the overview, said to be stale.
                if status.is_some() {
                    snap.status = status;
                }
                snap.error = error;
                snap.at = Some(jiff::Timestamp::now());
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(STATUS_EVERY) => {}
            }
        }
    })
}

/// Read the configured feeds' health from the shared state every [`STATUS_EVERY`] until
/// `stop` (the node polling them is another; what it stored is what every API node tells).
fn watch_feeds(
    open: OpenStore,
    feeds: Vec<crate::intel_feeds::Feed>,
    health: Arc<crate::intel_feeds::FeedHealth>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let feeds = Arc::new(feeds);
    tokio::spawn(async move {
        loop {
            let (open, f, h) = (open.clone(), feeds.clone(), health.clone());
            let read = tokio::task::spawn_blocking(move || {
                let statuses = open()?.feed_statuses()?;
                h.load(&f, &statuses);
                Ok::<(), wardwatch_store::StoreError>(())
            })
            .await;
            if let Ok(Err(e)) = read {
                tracing::debug!(error = %e, "cannot read the feeds' state; the last one stays");
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(STATUS_EVERY) => {}
            }
        }
    })
}

/// The API's and console's router over the shared state `open` reaches, with `rules` on the
/// rules page; `sink` takes the console's sign-ins and reads the cluster's status. Sharing
/// incidents with partners writes to the shared TAXII collections, and with `taxii.enabled`
/// the TAXII server answers from them (any API node: its state is the shared one).
#[allow(clippy::too_many_arguments)]
pub async fn api_router(
    config: &Config,
    api_tokens: &[String],
    open: OpenStore,
    rules: RulesInfo,
    sink: NatsSink,
    metrics: Arc<Metrics>,
    stop: &watch::Sender<bool>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<axum::Router, ServeError> {
    let ctx = crate::setup::incident_setup(config)?.ctx;
    let snapshot = Arc::new(RwLock::new(Snapshot::default()));
    tasks.push(watch_status(
        sink.clone(),
        snapshot.clone(),
        stop.subscribe(),
    ));
    let topology = Arc::new(crate::context::topology(&ctx));
    let taxii = config.taxii.setup().map_err(ServeError::Config)?;
    let share_settings = crate::taxii::publish::ShareSettings {
        producer: config.taxii.producer.clone(),
        own_domains: config.mail.own_domains.clone(),
        ctx: ctx.clone(),
        unmarked: taxii.unmarked,
    };
    let taxii_state = {
        let (open, https) = (open.clone(), crate::setup::http_tls(config)?.is_some());
        tokio::task::spawn_blocking(move || crate::taxii::TaxiiState::new(taxii, open, https))
            .await
            .map_err(|e| ServeError::Config(format!("taxii start failed: {e}")))?
            .map_err(|e| ServeError::Config(format!("taxii: {}", e.description)))?
    };
    tasks.push(crate::taxii::spawn_retention(
        taxii_state.clone(),
        stop.subscribe(),
    ));
    let feeds = Arc::new(crate::intel_feeds::FeedHealth::default());
    let configured = crate::intel_feeds::check(&config.intel.feeds).map_err(ServeError::Config)?;
    if !configured.is_empty() {
        tasks.push(watch_feeds(
            open.clone(),
            configured,
            feeds.clone(),
            stop.subscribe(),
        ));
    }
    let telemetry = Arc::new(ClusterTelemetry {
        metrics,
        rules,
        ctx,
        snapshot,
        sink,
        host: crate::console_sign_in::this_host(),
        feeds,
    });
    let mut router = wardwatch_console::router(
        ApiState::with_store(open, api_tokens, telemetry)
            .with_search_limits(config.search.limits())
            .metrics_open(config.http.metrics_open)
            .with_network_summary(crate::network::summariser(topology))
            .with_sharing(Arc::new(crate::taxii::publish::ServerSharing(
                share_settings,
            ))),
    );
    if config.taxii.enabled {
        router = router.merge(crate::taxii::router(taxii_state));
    }
    Ok(router)
}
