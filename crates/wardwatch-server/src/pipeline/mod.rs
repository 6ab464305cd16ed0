//! The durable pipeline: a journal writer, a detection worker (with the incident stage), an
//! indexer and a retention pass, each on its own thread with its own store connection.
//!
//! ```text
//! listeners ──submit──▶ writer (group commit) ──▶ events table ──▶ detector ──▶ alerts, incidents
//!      ▲                    │ ack after commit  (handoff in memory)   + cursor (one transaction)
//!      └── behind when queued = last_seq − cursor > max_queued_events (only sources within
//!          their budget are admitted, budgets refill slower the further behind); Busy for
//!          everyone past twice that
//!                                       events table ──▶ indexer ──▶ index.db (own file, own lock)
//! ```
//!
//! Why this shape: the journal is the only buffer, and it is on disk. A sender is acknowledged
//! once its batch is committed; detection reads the journal after its own durable cursor and
//! commits alerts, incidents, its cursor and correlation state together; the full-text index is
//! built by a third reader with its own cursor, in its own database file so its commits never
//! hold the lock the writer needs. A kill -9 anywhere
//! loses nothing acknowledged and duplicates nothing (alert ids are deterministic). Memory is
//! bounded by the writer channel and the detector's batch size; when detection falls behind,
//! `Busy` pushes back on the senders.
//!
//! One file a stage: `sink.rs` (the listeners' door), `writer.rs` (the journal writer),
//! `detect.rs` (the detection worker and its ordered and incident stages), `index.rs` (the
//! full-text indexer), `retention.rs`.

mod detect;
mod index;
mod ordered;
mod retention;
mod sink;
mod writer;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use wardwatch_detect::{Correlator, Detector};
use wardwatch_store::{Db, DbOptions, IndexDb};

pub(crate) use detect::alert_for;
pub(crate) use detect::match_events;
pub use detect::{IncidentSetup, RetroBatch, raise_alerts};
pub use sink::JournalSink;

use crate::config::PipelineConfig;
use crate::incidents::IncidentStage;
use crate::metrics::Metrics;
use crate::resend::ResendWindow;
use detect::{Source, detect_loop};
use index::index_loop;
pub(crate) use ordered::Ordered;
use retention::retention_loop;
use writer::{HANDOFF_QUEUE, writer};

/// The detection worker's name in the store's cursor table.
pub const DETECTOR: &str = "detect";

/// The name of the resend hash's key among the store's secrets.
const RESEND_SECRET: &str = "resend";

/// Shared state of the pipeline's threads.
pub struct Shared {
    pub last_seq: AtomicI64,
    pub cursor: AtomicI64,
    /// The indexer's cursor.
    pub indexed: AtomicI64,
    pub processed: AtomicU64,
    stop: AtomicBool,
    /// Signalled by the writer after each commit, so the detector wakes at once.
    wake: (Mutex<()>, Condvar),
    max_queued: i64,
    pub metrics: Arc<Metrics>,
    /// Why the last journal commit failed, until one succeeds again.
    write_error: Mutex<Option<String>>,
}

impl Shared {
    /// Events committed but not yet through detection.
    pub fn queued(&self) -> i64 {
        self.last_seq.load(Ordering::Acquire) - self.cursor.load(Ordering::Acquire)
    }

    /// Events stored but not yet in the full-text index.
    pub fn unindexed(&self) -> i64 {
        (self.last_seq.load(Ordering::Acquire) - self.indexed.load(Ordering::Acquire)).max(0)
    }

    /// Past twice `max_queued_events`, every sender is refused.
    fn busy(&self) -> Option<Duration> {
        (self.queued() > self.max_queued.saturating_mul(2)).then_some(Duration::from_secs(1))
    }

    /// Past `max_queued_events`, how far towards busy (twice that): 0 to 1. Only sources well
    /// within their budget are admitted then, and budgets refill that much slower.
    fn pressure(&self) -> f64 {
        let max = self.max_queued.max(1);
        ((self.queued() - max) as f64 / max as f64).clamp(0.0, 1.0)
    }

    /// What keeps the journal from storing, in plain words, while it lasts.
    pub fn problem(&self) -> Option<String> {
        self.write_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_write_error(&self, e: Option<String>) {
        let mut w = self.write_error.lock().unwrap_or_else(|e| e.into_inner());
        if w.is_some() != e.is_some() {
            match &e {
                Some(reason) => tracing::error!(
                    reason,
                    "the journal cannot store: senders are refused until this is fixed"
                ),
                None => tracing::warn!("the journal stores again"),
            }
        }
        *w = e;
    }
}

/// The running pipeline threads.
pub struct Pipeline {
    pub sink: JournalSink,
    pub shared: Arc<Shared>,
    /// Where retro-hunts hand the detection worker the alerts they found.
    pub retro: std::sync::mpsc::SyncSender<RetroBatch>,
    threads: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Start the writer, the detector and retention on the store in `data_dir`.
    pub fn start(
        data_dir: &std::path::Path,
        cfg: &PipelineConfig,
        detector: Arc<Detector>,
        correlator: Option<Correlator>,
        incidents: IncidentSetup,
        metrics: Arc<Metrics>,
    ) -> Result<Pipeline, wardwatch_store::StoreError> {
        let opts = DbOptions {
            fsync_every_commit: cfg.fsync,
            ..DbOptions::default()
        };
        let mut writer_db = Db::open(data_dir, &opts)?;
        // Detection's commits need not wait for the disk: the journal they derive from is
        // durable (the writer's connection fsyncs every commit, and that flushes the shared
        // WAL), a process crash keeps them (WAL), and after a power cut the detector redoes
        // the lost tail from its last durable cursor with the same alert ids.
        let detector_db = Db::open(
            data_dir,
            &DbOptions {
                fsync_every_commit: false,
                ..opts.clone()
            },
        )?;
        let retention_db = Db::open(data_dir, &opts)?;
        let resend = Arc::new(ResendWindow::new(
            &cfg.resend,
            writer_db.secret(RESEND_SECRET)?,
        ));
        let refilled = resend.refill(&writer_db)?;
        if refilled > 0 {
            tracing::info!(
                documents = refilled,
                "resend window refilled with the keys of the newest _bulk documents"
            );
        }
        let (cursor, _) = detector_db.cursor(DETECTOR)?;
        let stage = IncidentStage::load(&detector_db, incidents.group, incidents.ctx.clone())?;
        let shared = Arc::new(Shared {
            last_seq: AtomicI64::new(writer_db.last_seq()?),
            cursor: AtomicI64::new(cursor),
            indexed: AtomicI64::new(0),
            processed: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            wake: (Mutex::new(()), Condvar::new()),
            max_queued: cfg.max_queued_events as i64,
            metrics,
            write_error: Mutex::new(None),
        });
        // Detection's parallel work and off-path frees run on rayon's pool: name its threads
        // (they would take the name of whichever thread first used the pool). Already built
        // (another pipeline in this process, a test) is fine.
        let _ = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("wardwatch-pool-{i}"))
            .build_global();
        let (tx, rx) = sync_channel(cfg.writer_queue_batches.max(1));
        let (handoff_tx, handoff_rx) = sync_channel(HANDOFF_QUEUE);
        let (retro_tx, retro_rx) = sync_channel(4);
        let detector_reader = Db::open(data_dir, &opts)?;
        let mut threads = Vec::new();
        let s = shared.clone();
        let max_events = cfg.commit_max_events;
        let r = resend.clone();
        let dir = data_dir.to_path_buf();
        threads.push(spawn("wardwatch-writer", move || {
            writer(writer_db, rx, handoff_tx, s, max_events, r, dir)
        }));
        let s = shared.clone();
        let batch = cfg.detect_batch;
        threads.push(spawn("wardwatch-detect", move || {
            detect_loop(
                detector_db,
                Source {
                    db: detector_reader,
                    handoff: handoff_rx,
                    pending: None,
                    retro: retro_rx,
                },
                detector,
                Ordered::new(correlator, incidents.privacy.clone()),
                (stage, incidents),
                s,
                batch,
            )
        }));
        let journal = Db::open(data_dir, &opts)?;
        let index = IndexDb::open(data_dir, &opts)?;
        let s = shared.clone();
        threads.push(spawn("wardwatch-index", move || {
            index_loop(journal, index, s, batch)
        }));
        let s = shared.clone();
        let retention = cfg.retention.clone();
        threads.push(spawn("wardwatch-retention", move || {
            retention_loop(retention_db, s, retention)
        }));
        Ok(Pipeline {
            sink: JournalSink {
                tx,
                shared: shared.clone(),
                clock: cfg.clock,
                resend,
            },
            shared,
            retro: retro_tx,
            threads,
        })
    }

    /// Stop the threads after they finish what they hold, and wait for them.
    pub fn stop(self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.1.notify_all();
        drop(self.sink);
        drop(self.retro);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .expect("the OS can start a thread")
}
