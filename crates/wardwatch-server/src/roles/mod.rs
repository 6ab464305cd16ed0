//! `serve --role`: the parts of a scale-out deployment one process takes (docs/SCALE.md).
//!
//! - `ingest`: the listeners (`_bulk`, syslog) with the events stream as their sink
//!   (`wardwatch_cluster::NatsSink`): a sender hears "stored" once JetStream has the batch.
//! - `detect`: a detection worker holding its share of the events stream's partitions
//!   (`detect.rs`): the single binary's stages, results into ClickHouse, then acknowledged.
//! - `incidents`: the incident stage, active in one process at a time, standby in the others
//!   (`incidents.rs`); with `[[intel.feeds]]`, the partners' feeds' poller likewise, under a
//!   lease of its own (`intel_feeds::cluster`), while every detect role keeps its indicators
//!   equal to what the poller stored; and the notification worker, under its own `notify`
//!   lease (`notify.rs`).
//! - `api`: `/api/v1` and the console over the shared state, telling the cluster's figures
//!   (`api.rs`).
//!
//! Which store holds the shared state (tokens, detection state, incidents) is the caller's
//! choice, through an opener of the storage seam (`wardwatch_console::OpenStore`):
//! PostgreSQL's in a cluster, or one SQLite file the processes of one machine share.

mod api;
mod detect;
mod incidents;
mod ingest;
mod notify;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use wardwatch_cluster::incidents::IncidentMetrics;
use wardwatch_cluster::{NatsSink, WorkerMetrics};
use wardwatch_console::OpenStore;
use wardwatch_detect::RulePack;
use wardwatch_store::{Db, DbOptions, Store};

use crate::ServeError;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::serve::Tokens;

pub use api::api_router;
pub use detect::{DetectSetup, detect_setup, start_detect};
pub use incidents::start_incidents;
pub use ingest::{Ingest, start_ingest};
pub use notify::{LEASE as NOTIFY_LEASE, start_notify};

/// The shared state in one SQLite store (`data.dir`), for the nodes of one machine.
pub fn sqlite_state(dir: PathBuf) -> OpenStore {
    Arc::new(move || Db::open(&dir, &DbOptions::default()).map(|db| Box::new(db) as Box<dyn Store>))
}

/// The shared state the configuration names: with `[store] state`, the cluster's store
/// (`wardwatch_store_cluster::Cluster`: PostgreSQL for the state, ClickHouse for events and
/// alerts); with it empty, the SQLite store in `data.dir` that the nodes of one machine share.
pub fn state_opener(config: &Config) -> Result<OpenStore, ServeError> {
    let Some(store) = config.store.as_ref().filter(|s| !s.state.trim().is_empty()) else {
        return Ok(sqlite_state(config.data.dir.clone()));
    };
    let (events, state) = (
        store.events.trim().to_string(),
        store.state.trim().to_string(),
    );
    Ok(Arc::new(move || {
        wardwatch_store_cluster::Cluster::open(&events, &state)
            .map(|c| Box::new(c) as Box<dyn Store>)
    }))
}

/// A part of a deployment one process takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Ingest,
    Detect,
    Incidents,
    Api,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Detect => "detect",
            Role::Incidents => "incidents",
            Role::Api => "api",
        }
    }
}

/// The roles of `--role a,b` (`all`: every one), or an error naming the unknown one.
pub fn parse_roles(text: &str) -> Result<Vec<Role>, ServeError> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let add: &[Role] = match part {
            "ingest" => &[Role::Ingest],
            "detect" => &[Role::Detect],
            "incidents" => &[Role::Incidents],
            "api" => &[Role::Api],
            "all" => &[Role::Ingest, Role::Detect, Role::Incidents, Role::Api],
            other => {
                return Err(ServeError::Config(format!(
                    "--role `{other}`: the roles are ingest, detect, incidents, api and all"
                )));
            }
        };
        for r in add {
            if !out.contains(r) {
                out.push(*r);
            }
        }
    }
    if out.is_empty() {
        return Err(ServeError::Config("--role names no role".into()));
    }
    Ok(out)
}

/// A running node: its listeners' addresses, workers and their counters.
pub struct Node {
    /// Bulk ingest's address (ingest role).
    pub http: Option<SocketAddr>,
    /// The API's and console's address (api role): bulk ingest's too when both roles run here
    /// and bulk has no address of its own.
    pub api: Option<SocketAddr>,
    /// UDP and TCP syslog's address (ingest role, when enabled).
    pub syslog: Option<SocketAddr>,
    /// Syslog over TLS and SMTP journaling (ingest role, when enabled).
    pub syslog_tls: Option<SocketAddr>,
    pub smtp: Option<SocketAddr>,
    /// The detection worker's counters (detect role).
    pub worker: Arc<WorkerMetrics>,
    /// The incident stage's counters (incidents role).
    pub incidents: Arc<IncidentMetrics>,
    stop: watch::Sender<bool>,
    halt: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// The indicators of `[intel] paths` a live set started with (the feeds' are added to them).
fn file_indicators(live: &crate::intel::LiveIntel) -> Vec<wardwatch_intel::Indicator> {
    live.current()
        .map(|d| d.set().indicators().to_vec())
        .unwrap_or_default()
}

/// This process's name among the workers (host and process id).
fn node_name() -> String {
    format!(
        "{}-{}",
        crate::console_sign_in::this_host().unwrap_or_else(|| "node".into()),
        std::process::id()
    )
}

/// Start the roles `roles` in this process, the shared state opened by `open`; `pack` is the
/// rule pack the detect role runs.
pub async fn start_node(
    config: &Config,
    tokens: &Tokens,
    roles: &[Role],
    open: OpenStore,
    pack: RulePack,
) -> Result<Node, ServeError> {
    let cluster = config.cluster.as_ref().ok_or_else(|| {
        ServeError::Config("--role needs a [cluster] section (docs/SCALE.md)".into())
    })?;
    cluster
        .check()
        .map_err(|e| ServeError::Config(e.to_string()))?;
    if let Some(store) = &config.store {
        store.check().map_err(ServeError::Config)?;
    }
    let (stop, _) = watch::channel(false);
    let mut node = Node {
        http: None,
        api: None,
        syslog: None,
        syslog_tls: None,
        smtp: None,
        worker: Arc::default(),
        incidents: Arc::default(),
        stop,
        halt: Arc::new(AtomicBool::new(false)),
        tasks: Vec::new(),
        threads: Vec::new(),
    };
    let metrics = Arc::new(Metrics::default());
    let name = node_name();
    // One connection to the events stream for the listeners and the API's sign-ins and status.
    let sink = if roles.contains(&Role::Ingest) || roles.contains(&Role::Api) {
        let kind = if roles.contains(&Role::Ingest) {
            "ingest"
        } else {
            "api"
        };
        let label = format!(
            "wardwatch-{kind}-{}",
            crate::console_sign_in::this_host().unwrap_or_default()
        );
        Some(
            NatsSink::start(cluster, &label)
                .await
                .map_err(|e| ServeError::Config(e.to_string()))?,
        )
    } else {
        None
    };
    // The API first (its router is served beside bulk ingest when both roles run here): its
    // rules page lists the pack before the detect role takes it.
    let mut api = match (roles.contains(&Role::Api), &sink) {
        (true, Some(sink)) => {
            let (detector_problems, rules) = {
                let (_, mut problems) = wardwatch_detect::Detector::build(&pack);
                problems.extend(wardwatch_detect::Correlator::build(&pack).1);
                (problems.len(), crate::setup::rules_info(&pack, &problems))
            };
            if detector_problems > 0 {
                tracing::warn!(
                    problems = detector_problems,
                    "rules not loaded: see the console's rules page"
                );
            }
            // The shared state answers before the API says it serves (opening blocks).
            let o = open.clone();
            tokio::task::spawn_blocking(move || o().map(drop))
                .await
                .map_err(|e| ServeError::Config(format!("api start failed: {e}")))??;
            Some(
                api_router(
                    config,
                    &tokens.api,
                    open.clone(),
                    rules,
                    sink.clone(),
                    metrics.clone(),
                    &node.stop,
                    &mut node.tasks,
                )
                .await?,
            )
        }
        _ => None,
    };
    let mut pack = Some(pack);
    let feeds = crate::intel_feeds::check(&config.intel.feeds).map_err(ServeError::Config)?;
    // The detection workers' live indicators, for the feeds' poller of this node to put new
    // ones in force at once (the other nodes reload them from the shared state).
    let mut detect_live = None;
    for role in roles {
        match role {
            Role::Ingest => {
                let ingest = start_ingest(
                    config,
                    &tokens.ingest,
                    open.clone(),
                    sink.clone().expect("a sink for the ingest role"),
                    api.take(),
                    metrics.clone(),
                    &node.stop,
                    &mut node.tasks,
                )
                .await?;
                node.http = Some(ingest.http);
                node.api = ingest.api;
                node.syslog = ingest.syslog;
                node.syslog_tls = ingest.syslog_tls;
                node.smtp = ingest.smtp;
            }
            Role::Api => {}
            Role::Detect => {
                let pack = Arc::new(pack.take().unwrap_or_default());
                let (c, o) = (config.clone(), open.clone());
                let setup = tokio::task::spawn_blocking(move || detect_setup(&c, pack, o))
                    .await
                    .map_err(|e| ServeError::Config(format!("detect start failed: {e}")))??;
                if !feeds.is_empty() {
                    node.threads.push(crate::intel_feeds::cluster::refresh_live(
                        open.clone(),
                        &feeds,
                        file_indicators(&setup.live),
                        setup.live.clone(),
                        node.halt.clone(),
                    ));
                }
                detect_live = Some(setup.live.clone());
                node.threads.push(start_detect(
                    config,
                    setup,
                    &name,
                    node.halt.clone(),
                    node.worker.clone(),
                )?);
            }
            Role::Incidents => {
                node.threads.push(start_incidents(
                    config,
                    open.clone(),
                    &name,
                    feeds.clone(),
                    node.halt.clone(),
                    node.incidents.clone(),
                )?);
                start_notify(config, open.clone(), &name, &node.stop, &mut node.tasks).await?;
            }
        }
    }
    if roles.contains(&Role::Incidents) && !feeds.is_empty() {
        // One node polls at a time: the holder of the `intel-feeds` lease among those running
        // the incidents role (`intel_feeds::cluster`).
        let live = match detect_live {
            Some(live) => live,
            None => crate::setup::incident_setup(config)?.intel,
        };
        node.tasks.push(crate::intel_feeds::cluster::start_poller(
            crate::intel_feeds::cluster::Poller {
                cluster: cluster.clone(),
                files: file_indicators(&live),
                feeds,
                open: open.clone(),
                live,
                health: Arc::new(crate::intel_feeds::FeedHealth::default()),
                producer: config.intel.producer.clone(),
                name: format!("{name}-feeds"),
            },
            node.stop.subscribe(),
        ));
    }
    if let Some(api) = api.take() {
        let addr = config.http.listen;
        let tls = crate::setup::http_tls(config)?;
        crate::setup::plain_http_allowed(config, addr, tls.is_some())?;
        let listener = wardwatch_listen::bind_tcp(addr).await?;
        node.api = Some(
            listener
                .local_addr()
                .map_err(|e| ServeError::Bind(e.to_string()))?,
        );
        let mut rx = node.stop.subscribe();
        node.tasks
            .push(tokio::spawn(wardwatch_listen::http::serve_http(
                listener,
                api,
                tls,
                crate::setup::http_limits(config)?,
                metrics.source("http"),
                async move {
                    let _ = rx.wait_for(|s| *s).await;
                },
            )));
    }
    Ok(node)
}

impl Node {
    /// Stop listening and let workers finish the batch they hold (committed and acknowledged,
    /// or left to be delivered again).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        self.halt.store(true, std::sync::atomic::Ordering::Release);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_read_from_a_list_and_unknown_ones_named() {
        assert_eq!(parse_roles("ingest").unwrap(), vec![Role::Ingest]);
        assert_eq!(
            parse_roles("detect, ingest,detect").unwrap(),
            vec![Role::Detect, Role::Ingest]
        );
        assert_eq!(
            parse_roles("all").unwrap(),
            vec![Role::Ingest, Role::Detect, Role::Incidents, Role::Api]
        );
        let e = parse_roles("ingest,dtect").unwrap_err().to_string();
        assert!(e.contains("dtect"), "{e}");
        assert!(parse_roles(" , ").is_err());
    }
}
