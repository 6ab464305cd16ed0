//! `serve --role`: the parts of a scale-out deployment one process takes (docs/SCALE.md).
//!
//! - `ingest`: the listeners (`_bulk`, syslog) with the events stream as their sink
//!   (`wardwatch_cluster::NatsSink`): a sender hears "stored" once JetStream has the batch.
//! - `detect`: a detection worker holding its share of the events stream's partitions
//!   (`detect.rs`): the single binary's stages, results into ClickHouse, then acknowledged.
//! - `incidents`: the incident stage, active in one process at a time, standby in the others
//!   (`incidents.rs`).
//!
//! Which store holds the shared state (tokens, detection state, incidents) is the caller's
//! choice, through an opener of the storage seam (`wardwatch_console::OpenStore`):
//! PostgreSQL's in a cluster, or one SQLite file the processes of one machine share.

mod detect;
mod incidents;
mod ingest;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use wardwatch_cluster::WorkerMetrics;
use wardwatch_cluster::incidents::IncidentMetrics;
use wardwatch_console::OpenStore;
use wardwatch_detect::RulePack;
use wardwatch_store::{Db, DbOptions, Store};

use crate::ServeError;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::serve::Tokens;

pub use detect::{DetectSetup, detect_setup, start_detect};
pub use incidents::start_incidents;
pub use ingest::{Ingest, start_ingest};

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
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Detect => "detect",
            Role::Incidents => "incidents",
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
            "all" => &[Role::Ingest, Role::Detect, Role::Incidents],
            other => {
                return Err(ServeError::Config(format!(
                    "--role `{other}`: the roles are ingest, detect, incidents and all"
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
    /// UDP and TCP syslog's address (ingest role, when enabled).
    pub syslog: Option<SocketAddr>,
    /// The detection worker's counters (detect role).
    pub worker: Arc<WorkerMetrics>,
    /// The incident stage's counters (incidents role).
    pub incidents: Arc<IncidentMetrics>,
    stop: watch::Sender<bool>,
    halt: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
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
        syslog: None,
        worker: Arc::default(),
        incidents: Arc::default(),
        stop,
        halt: Arc::new(AtomicBool::new(false)),
        tasks: Vec::new(),
        threads: Vec::new(),
    };
    let metrics = Arc::new(Metrics::default());
    let name = node_name();
    let mut pack = Some(pack);
    for role in roles {
        match role {
            Role::Ingest => {
                let ingest = start_ingest(
                    config,
                    &tokens.ingest,
                    open.clone(),
                    metrics.clone(),
                    &node.stop,
                    &mut node.tasks,
                )
                .await?;
                node.http = Some(ingest.http);
                node.syslog = ingest.syslog;
            }
            Role::Detect => {
                let pack = Arc::new(pack.take().unwrap_or_default());
                let (c, o) = (config.clone(), open.clone());
                let setup = tokio::task::spawn_blocking(move || detect_setup(&c, pack, o))
                    .await
                    .map_err(|e| ServeError::Config(format!("detect start failed: {e}")))??;
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
                    node.halt.clone(),
                    node.incidents.clone(),
                )?);
            }
        }
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
            vec![Role::Ingest, Role::Detect, Role::Incidents]
        );
        let e = parse_roles("ingest,dtect").unwrap_err().to_string();
        assert!(e.contains("dtect"), "{e}");
        assert!(parse_roles(" , ").is_err());
    }
}
