//! The incidents role: the single binary's grouping (`IncidentStage`) as a cluster's one
//! active incident stage (`wardwatch_cluster::incidents`), committing incidents with the
//! alerts stream's position through the storage seam, closing no incident past the slowest
//! partition's time (`wardwatch_cluster::watermark`), and queuing the sightings owed to the
//! partners whose indicators the alerts matched.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use wardwatch_cluster::incidents::{CURSOR, Grouping, IncidentMetrics, run_incidents};
use wardwatch_cluster::watermark::Cap;
use wardwatch_console::OpenStore;
use wardwatch_core::Alert;
use wardwatch_store::{DetectionCommit, Store, StoreError};

use crate::ServeError;
use crate::config::Config;
use crate::incidents::IncidentStage;
use crate::intel_feeds::Feed;
use crate::pipeline::IncidentSetup;

struct ServerGrouping {
    setup: IncidentSetup,
    /// The partners' feeds: sightings owed for their indicators' alerts are queued here.
    feeds: Vec<Feed>,
    open: OpenStore,
    store: Option<Box<dyn Store>>,
    stage: Option<IncidentStage>,
}

impl Grouping for ServerGrouping {
    fn load(&mut self) -> Result<u64, StoreError> {
        let store = (self.open)()?;
        self.stage = Some(IncidentStage::load(
            &*store,
            self.setup.group,
            self.setup.ctx.clone(),
        )?);
        let (cursor, _) = store.cursor(CURSOR)?;
        self.store = Some(store);
        Ok(u64::try_from(cursor).unwrap_or(0))
    }

    fn commit(
        &mut self,
        alerts: &[(Alert, i64, i64)],
        cursor: u64,
        cap: Cap,
    ) -> Result<usize, StoreError> {
        if self.stage.is_none() || self.store.is_none() {
            self.load()?;
        }
        let (Some(stage), Some(store)) = (self.stage.as_mut(), self.store.as_mut()) else {
            return Ok(0);
        };
        // An alert handed twice (a worker that died after handing it on) joins once, and is
        // counted in one sighting: left out when an open incident holds it or the grouper
        // grouped it lately (an incident since closed).
        let mut held = stage.held_alerts();
        let fresh: Vec<(Alert, i64, i64)> = alerts
            .iter()
            .filter(|(a, ..)| !stage.has_grouped(&a.id) && held.insert(a.id.0.clone()))
            .cloned()
            .collect();
        let close_upto = match cap {
            Cap::Open => None,
            Cap::At(t) => Some(t),
            Cap::Hold => Some(stage.closing_clock().unwrap_or(jiff::Timestamp::MIN)),
        };
        let out = stage.group_upto(&fresh, close_upto);
        // Sightings before the position moves: a batch read again (this commit failed, or the
        // process died before it) queues the same sightings, which the store keeps once.
        let sightings = crate::intel_feeds::cluster::sightings_of(&fresh, &self.feeds);
        if !sightings.is_empty()
            && let Err(e) =
                store.queue_sightings(&sightings, i64::try_from(cursor).unwrap_or(i64::MAX))
        {
            self.store = None;
            return Err(e);
        }
        let result = store.commit_detection(&DetectionCommit {
            worker: CURSOR,
            cursor: i64::try_from(cursor).unwrap_or(i64::MAX),
            alerts: &[],
            incidents: &out.rows,
            suppressed: &[],
            state: None,
            ledger: None,
        });
        if result.is_err() {
            // A fresh connection next time (the store may have restarted).
            self.store = None;
        }
        result.map(|_| out.rows.len())
    }
}

/// Start the incident stage (active, or standby while another process holds it).
pub fn start_incidents(
    config: &Config,
    open: OpenStore,
    name: &str,
    feeds: Vec<Feed>,
    stop: Arc<AtomicBool>,
    metrics: Arc<IncidentMetrics>,
) -> Result<std::thread::JoinHandle<()>, ServeError> {
    let cluster = config
        .cluster
        .clone()
        .ok_or_else(|| ServeError::Config("the incidents role needs [cluster]".into()))?;
    let setup = crate::setup::incident_setup(config)?;
    let grouping = Box::new(ServerGrouping {
        setup,
        feeds,
        open,
        store: None,
        stage: None,
    });
    let handle = tokio::runtime::Handle::current();
    let name = name.to_string();
    Ok(std::thread::Builder::new()
        .name("wardwatch-incidents".into())
        .spawn(move || {
            if let Err(e) = run_incidents(&cluster, &name, grouping, handle, stop, metrics) {
                tracing::error!(error = %e, "incident stage stopped");
            }
        })
        .expect("the OS can start a thread"))
}
