//! Incident notifications on a cluster: the single binary's notification worker
//! (`crate::notify`) over the shared state, run by every process with the incidents role and
//! active in one of them at a time — the holder of the `notify` lease in the `ww-leases`
//! bucket (`wardwatch_cluster::keeper`); the others stand by and take over within the lease's
//! time when it dies.
//!
//! Why the incidents role: the planner reads what the incident stage writes (the incidents
//! changed, in commit order, and their documents) and the same context (inventory, roster,
//! departments) its routes filter on; a deployment has incident nodes wherever it has
//! incidents, already run as one active and standbys. Why a lease of its own rather than the
//! incident stage's: delivery waits on mail servers and webhooks, and grouping must never wait
//! for them, so the two may be active in different processes.
//!
//! What makes a takeover lose and repeat nothing: the planner's position and state, the queue
//! and each message's delivery state are in the shared state, each change in one transaction;
//! a message's id is its incident event and recipient, so a plan made twice queues it once;
//! and the worker plans and sends only while the lease is held (asked before planning and
//! before each send). What remains is the crash between a mail server taking a message and
//! the message being marked sent: the next holder sends it again (at least once).

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use wardwatch_cluster::keeper::Keeper;
use wardwatch_console::OpenStore;

use crate::ServeError;
use crate::config::Config;
use crate::notify::{Clock, NotifyMetrics, Setup};

/// The lease the active notification worker holds.
pub const LEASE: &str = "notify";

/// Start the notification worker of this process as `name`: standby until it holds the
/// `notify` lease, then planning and delivering over the shared state `open` opens.
pub async fn start_notify(
    config: &Config,
    open: OpenStore,
    name: &str,
    stop: &watch::Sender<bool>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<(), ServeError> {
    config
        .notify
        .validate()
        .map_err(|e| ServeError::Config(e.to_string()))?;
    let cluster = config
        .cluster
        .as_ref()
        .ok_or_else(|| ServeError::Config("notifications on a cluster need [cluster]".into()))?;
    let ctx = Arc::new(crate::setup::incident_context(config)?);
    // The lease is given up only once the worker stopped (a message it is sending is marked
    // sent before a standby may look at the queue).
    let (release, released) = watch::channel(false);
    let (keeper, keeping) = Keeper::start(cluster, name, LEASE, released)
        .map_err(|e| ServeError::Config(format!("the notification worker: {e}")))?;
    // Counted for the worker's own use; a cluster's queue is told by the API nodes
    // (`/api/v1/notifications` over the shared state).
    let metrics = Arc::new(NotifyMetrics::default());
    let worker = crate::notify::spawn(
        Setup {
            cfg: config.notify.clone(),
            ctx,
            open,
            metrics,
            clock: Clock::System,
            turn: Arc::new(move || keeper.held()),
        },
        stop.subscribe(),
    )
    .await?;
    tasks.push(tokio::spawn(async move {
        let _ = worker.await;
        let _ = release.send(true);
        let _ = keeping.await;
    }));
    Ok(())
}
