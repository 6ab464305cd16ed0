//! The detect role: workers on the events stream's partitions running the single binary's
//! stages — rules and shared indicators matched on the pool, the ordered stage (correlations,
//! analytics, privacy analytics) one partition at a time, exceptions, the identity ledger's
//! uses — through `wardwatch_cluster::worker`, which stores the results in ClickHouse and the
//! shared state and acknowledges after.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use wardwatch_cluster::worker::{Detected, Entry, OpenState, Stage, StageFactory, WorkerSetup};
use wardwatch_cluster::{WorkerMetrics, run_worker};
use wardwatch_console::OpenStore;
use wardwatch_detect::{Correlator, Detector, RulePack};
use wardwatch_store::{DetectionStore, LedgerBatch};
use wardwatch_store_clickhouse::ClickHouse;

use crate::ServeError;
use crate::config::Config;
use crate::incidents::ExceptionFilter;
use crate::pipeline::{IncidentSetup, Ordered, match_events};

/// One partition's detection, as the single binary's detection worker runs it.
struct ServerStage {
    detector: Arc<Detector>,
    ordered: Ordered,
    setup: IncidentSetup,
    exceptions: ExceptionFilter,
    /// Where exceptions made through the API are read from.
    open: OpenStore,
    store: Option<Box<dyn wardwatch_store::Store>>,
}

impl Stage for ServerStage {
    fn restore(&mut self, state: Option<&str>) {
        self.ordered.restore(state);
    }

    fn export_state(&self) -> Option<String> {
        self.ordered.export_state()
    }

    fn detect(&mut self, entries: &[Entry]) -> Detected {
        let intel = self.setup.intel.current();
        let events: Vec<&wardwatch_core::Event> =
            entries.iter().map(|e| &e.encoded.event).collect();
        let found = match_events((&self.detector, intel.as_deref()), &events);
        let now = jiff::Timestamp::now();
        let now_ns = now.as_nanosecond() as i64;
        let mut alerts = Vec::new();
        let mut raised = Vec::new();
        let mut ledger = LedgerBatch::default();
        for (entry, detections) in entries.iter().zip(&found) {
            let event = &entry.encoded.event;
            let latency = now_ns - entry.received_ns;
            crate::ledger::fold(&mut ledger, event, self.setup.directory.as_deref());
            self.ordered
                .raise(&self.detector, event, entry.seq, detections, &mut raised);
            alerts.extend(raised.drain(..).map(|a| (a, entry.seq, latency)));
        }
        if self.store.is_none() {
            self.store = (self.open)().ok();
        }
        if let Some(s) = self.store.as_deref() {
            self.exceptions.refresh(s);
        }
        let suppressed = self.exceptions.apply(&mut alerts, now);
        Detected {
            alerts,
            suppressed,
            ledger: Some(ledger),
        }
    }
}

/// What the detect role needs from the configuration and rules.
pub struct DetectSetup {
    pub events: ClickHouse,
    pub stages: StageFactory,
    pub state: OpenState,
    /// The indicators every partition's stage matches: `[intel] paths`' at start, the
    /// partners' feeds' kept equal to the shared state (`intel_feeds::cluster::refresh_live`).
    pub live: crate::intel::LiveIntel,
}

/// The detector, one correlator a partition (with the context's topology and the identity
/// directory, as `serve` sets them) and the exceptions, over the shared state `open`.
pub fn detect_setup(
    config: &Config,
    pack: Arc<RulePack>,
    open: OpenStore,
) -> Result<DetectSetup, ServeError> {
    let store = config.store.as_ref().ok_or_else(|| {
        ServeError::Config("the detect role needs a [store] section (docs/SCALE.md)".into())
    })?;
    let events = ClickHouse::connect(&store.events)?;
    let (detector, problems) = Detector::build(&pack);
    for p in &problems {
        tracing::warn!(problem = %p, "rule not loaded");
    }
    let detector = Arc::new(detector);
    let mut setup = crate::setup::incident_setup(config)?;
    let directory = Arc::new(
        crate::identity::directory(&setup.ctx, &config.identity).map_err(ServeError::Config)?,
    );
    setup.directory = Some(directory.clone());
    let topology = Arc::new(crate::context::topology(&setup.ctx));
    {
        let open = open.clone();
        setup.privacy = crate::setup::privacy_setup(&config.incidents.context, move || {
            open()?.secret(crate::setup::PRIVACY_SECRET)
        })?;
    }
    let live = setup.intel.clone();
    let stages: StageFactory = {
        let open = open.clone();
        Arc::new(move |_part| {
            let mut correlator = Correlator::build(&pack).0;
            if let Some(c) = correlator.as_mut() {
                c.set_topology(topology.clone());
                c.set_directory(directory.clone());
            }
            Box::new(ServerStage {
                detector: detector.clone(),
                ordered: Ordered::new(correlator, setup.privacy.clone()),
                setup: setup.clone(),
                exceptions: ExceptionFilter::default(),
                open: open.clone(),
                store: None,
            }) as Box<dyn Stage>
        })
    };
    let state: OpenState =
        Arc::new(move || open().map(|s| Box::new(StoreState(s)) as Box<dyn DetectionStore + Send>));
    Ok(DetectSetup {
        events,
        stages,
        state,
        live,
    })
}

/// The shared store as the workers' state (their cursors, states, exception counters).
struct StoreState(Box<dyn wardwatch_store::Store>);

impl DetectionStore for StoreState {
    fn cursor(&self, worker: &str) -> Result<(i64, Option<String>), wardwatch_store::StoreError> {
        self.0.cursor(worker)
    }
    fn commit_detection(
        &mut self,
        c: &wardwatch_store::DetectionCommit<'_>,
    ) -> Result<usize, wardwatch_store::StoreError> {
        self.0.commit_detection(c)
    }
    fn open_incident_docs(&self) -> Result<Vec<String>, wardwatch_store::StoreError> {
        self.0.open_incident_docs()
    }
}

/// Start `workers` detection workers (threads) of this process.
pub fn start_detect(
    config: &Config,
    detect: DetectSetup,
    name: &str,
    stop: Arc<AtomicBool>,
    metrics: Arc<WorkerMetrics>,
) -> Result<std::thread::JoinHandle<()>, ServeError> {
    let cluster = config
        .cluster
        .clone()
        .ok_or_else(|| ServeError::Config("the detect role needs [cluster]".into()))?;
    let setup = WorkerSetup {
        lease_ttl: std::time::Duration::from_secs(cluster.ack_wait_secs.clamp(3, 30)),
        cluster,
        events: detect.events,
        state: detect.state,
        stages: detect.stages,
        clock: config.time.window(),
        name: name.to_string(),
        batch_messages: 8,
    };
    let handle = tokio::runtime::Handle::current();
    Ok(std::thread::Builder::new()
        .name("wardwatch-worker".into())
        .spawn(move || {
            if let Err(e) = run_worker(setup, handle, stop, metrics) {
                tracing::error!(error = %e, "detection worker stopped");
            }
        })
        .expect("the OS can start a thread"))
}
