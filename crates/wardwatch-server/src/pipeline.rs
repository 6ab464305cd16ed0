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

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use wardwatch_core::{AlertId, Event};
use wardwatch_detect::{Correlator, Detection, Detector};
use wardwatch_listen::{Sink, SinkError};
use wardwatch_store::{Db, DbOptions, DetectionCommit, Encoded, IndexDb, doc_text};

use crate::config::PipelineConfig;
use crate::incidents::IncidentStage;
use crate::metrics::Metrics;
use crate::resend::ResendWindow;

/// The detection worker's name in the store's cursor table.
pub const DETECTOR: &str = "detect";

/// The name of the resend hash's key among the store's secrets.
const RESEND_SECRET: &str = "resend";

/// How often the writer forgets stored resend keys the window no longer needs.
const RESEND_PRUNE_EVERY: Duration = Duration::from_secs(10);

/// Events the writer just committed, handed straight to the detector so it need not read them
/// back: `entries` are every event stored with a sequence number above `after`.
struct Handoff {
    after: i64,
    entries: Vec<wardwatch_store::JournalEntry>,
}

/// Handoffs waiting for the detector. When it is further behind, it reads the journal instead.
const HANDOFF_QUEUE: usize = 2;

struct WriteRequest {
    batch: Vec<Encoded>,
    ack: tokio::sync::oneshot::Sender<Result<(), SinkError>>,
}

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

/// The listeners' door into the journal.
#[derive(Clone)]
pub struct JournalSink {
    tx: SyncSender<WriteRequest>,
    shared: Arc<Shared>,
    /// How far a sender's time is trusted (see `wardwatch_core::ClockWindow`).
    clock: wardwatch_core::ClockWindow,
    resend: Arc<ResendWindow>,
}

impl Sink for JournalSink {
    async fn submit(&self, batch: Vec<Event>) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        if let Some(retry_after) = self.shared.busy() {
            return Err(SinkError::Busy { retry_after });
        }
        let mut batch = batch;
        self.receive(&mut batch);
        let keys = self.drop_resends(&mut batch);
        if batch.is_empty() {
            return Ok(());
        }
        // Encode here, on the caller's thread, so the single journal writer only writes.
        // Resend keys are stored with their documents, for a restart to refill the window.
        let batch = batch
            .into_iter()
            .zip(&keys)
            .map(|(e, k)| Encoded::new(e).map(|e| e.with_resend_key(*k)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SinkError::Failed(e.to_string()))?;
        let (ack, done) = tokio::sync::oneshot::channel();
        let mut req = WriteRequest { batch, ack };
        // The channel is bounded: when the writer is behind, wait (politely) for room.
        loop {
            match self.tx.try_send(req) {
                Ok(()) => break,
                Err(std::sync::mpsc::TrySendError::Full(r)) => {
                    req = r;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                    return Err(SinkError::Closed);
                }
            }
        }
        let stored = done.await.unwrap_or(Err(SinkError::Closed));
        if stored.is_ok() {
            self.resend.stored(keys.into_iter().flatten());
        }
        stored
    }

    fn busy(&self) -> Option<Duration> {
        self.shared.busy()
    }

    fn pressure(&self) -> f64 {
        self.shared.pressure()
    }
}

impl JournalSink {
    /// Stamp every event with the time it was received; flag and count (per source) those
    /// whose own time is outside the trusted window.
    fn receive(&self, batch: &mut [Event]) {
        let now = jiff::Timestamp::now();
        let mut skewed: Vec<(&str, u64)> = Vec::new();
        for e in batch.iter_mut() {
            if e.receive(now, &self.clock).is_some() {
                match skewed.iter_mut().find(|(s, _)| *s == e.origin.source) {
                    Some((_, n)) => *n += 1,
                    None => skewed.push((&e.origin.source, 1)),
                }
            }
        }
        for (source, n) in skewed {
            self.shared.metrics.time_skewed(source, n);
        }
    }

    /// Remove the `_bulk` documents without `_id` stored within the resend window (a
    /// shipper's retry), counting them; returns the resend keys of what is left, to remember
    /// once it is stored.
    fn drop_resends(&self, batch: &mut Vec<Event>) -> Vec<Option<u64>> {
        let keys: Vec<Option<u64>> = batch.iter().map(|e| self.resend.key(e)).collect();
        if keys.iter().all(Option::is_none) {
            return keys;
        }
        let resent = self.resend.resent(&keys);
        if !resent.contains(&true) {
            return keys;
        }
        let mut kept_keys = Vec::with_capacity(keys.len());
        let mut flags = resent.into_iter();
        let mut key_iter = keys.into_iter();
        batch.retain(|e| {
            let again = flags.next().unwrap_or(false);
            let key = key_iter.next().flatten();
            if again {
                self.shared.metrics.resent(&e.origin.source, 1);
            } else {
                kept_keys.push(key);
            }
            !again
        });
        kept_keys
    }
}

/// The running pipeline threads.
pub struct Pipeline {
    pub sink: JournalSink,
    pub shared: Arc<Shared>,
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
                },
                detector,
                correlator,
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
            threads,
        })
    }

    /// Stop the threads after they finish what they hold, and wait for them.
    pub fn stop(self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.1.notify_all();
        drop(self.sink);
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

/// Commit requests as they come, grouping whatever is waiting into one transaction, then hand
/// the committed events to the detector.
fn writer(
    mut db: Db,
    rx: Receiver<WriteRequest>,
    handoff: SyncSender<Handoff>,
    shared: Arc<Shared>,
    max_events: usize,
    resend: Arc<ResendWindow>,
    data_dir: std::path::PathBuf,
) {
    let mut seqs = Vec::new();
    let mut pruned = Instant::now();
    loop {
        if pruned.elapsed() >= RESEND_PRUNE_EVERY && resend.enabled() {
            pruned = Instant::now();
            if let Err(e) = resend.prune(&mut db) {
                tracing::warn!(error = %e, "cannot forget old resend keys; trying again later");
            }
        }
        let first = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) if !shared.stop.load(Ordering::Acquire) => continue,
            Err(_) => break,
        };
        let mut reqs = vec![first];
        let mut n = reqs[0].batch.len();
        while n < max_events {
            match rx.try_recv() {
                Ok(r) => {
                    n += r.batch.len();
                    reqs.push(r);
                }
                Err(_) => break,
            }
        }
        let (batches, acks): (Vec<Vec<Encoded>>, Vec<_>) =
            reqs.into_iter().map(|r| (r.batch, r.ack)).unzip();
        let before = shared.last_seq.load(Ordering::Acquire);
        let received_ns = jiff::Timestamp::now().as_nanosecond() as i64;
        match db.append_encoded(&batches, &mut seqs) {
            Ok(last) => {
                shared.set_write_error(None);
                // 0: every event was a resend already stored.
                shared.last_seq.fetch_max(last, Ordering::AcqRel);
                shared
                    .metrics
                    .events_stored
                    .fetch_add(n as u64, Ordering::Relaxed);
                for ack in acks {
                    let _ = ack.send(Ok(()));
                }
                let mut docs = Vec::with_capacity(n);
                let entries: Vec<_> = batches
                    .into_iter()
                    .flatten()
                    .zip(seqs.iter())
                    .filter_map(|(Encoded { event, doc, .. }, seq)| {
                        docs.push(doc);
                        (*seq > 0).then_some(wardwatch_store::JournalEntry {
                            seq: *seq,
                            received_ns,
                            event,
                        })
                    })
                    .collect();
                // The single writer is the pipeline's narrowest step: free the stored text
                // elsewhere (measured: 7% of a core in `free` on this thread).
                rayon::spawn(move || drop(docs));
                if !entries.is_empty() {
                    let h = Handoff {
                        after: before,
                        entries,
                    };
                    // While the detector keeps up from memory, wait for it rather than drop
                    // the handoff: reading events back from the journal parses them a second
                    // time, which under sustained load made detection the bottleneck. Waiting
                    // fills the writer's bounded channel, which slows the senders, with memory
                    // bounded by the two queues. When the detector is far behind (catching up
                    // after a restart), drop it: the journal is the buffer then, and ingest
                    // goes on until `max_queued_events`.
                    let lag = before - shared.cursor.load(Ordering::Acquire);
                    if lag <= (HANDOFF_QUEUE * max_events) as i64 {
                        let _ = handoff.send(h);
                    } else {
                        let _ = handoff.try_send(h);
                    }
                }
                shared.wake.1.notify_all();
            }
            Err(e) => {
                let reason = commit_failure(&e, &data_dir);
                tracing::error!(error = %e, events = n, "journal commit failed; batches refused");
                shared.set_write_error(Some(reason.clone()));
                shared
                    .metrics
                    .journal_failures
                    .fetch_add(1, Ordering::Relaxed);
                for ack in acks {
                    let _ = ack.send(Err(SinkError::Failed(reason.clone())));
                }
                // Do not spin on a disk that stays full: the senders retry meanwhile.
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// What a failed journal commit is reported as (log, `/healthz`, the senders' errors), with
/// what SQLite's words leave out: for "database or disk is full" (also said of a write the
/// system cut short) the space left on the data folder's file system; otherwise which store
/// file cannot be written and the system's reason, when one cannot ("disk I/O error" is all
/// SQLite says of a read-only mount or an immutable file).
fn commit_failure(e: &wardwatch_store::StoreError, data_dir: &std::path::Path) -> String {
    let detail = if e.is_disk_full() {
        crate::disk::describe(data_dir)
    } else {
        crate::disk::unwritable(data_dir)
    };
    let detail = detail.map(|s| format!(" ({s})")).unwrap_or_default();
    format!("journal commit failed: {e}{detail}")
}

/// Where the detector's events come from: the writer's handoffs, else the journal (through
/// its own connection, so the next batch can be read while the last one commits).
struct Source {
    db: Db,
    handoff: Receiver<Handoff>,
    pending: Option<Handoff>,
}

/// A batch of journal entries and the rules each matched.
type Matched = (Vec<wardwatch_store::JournalEntry>, Vec<Vec<Detection>>);

impl Source {
    /// The next entries after `cursor`: from the writer's handoff when it starts right there,
    /// else from the journal.
    fn next(
        &mut self,
        cursor: i64,
        batch: usize,
    ) -> Result<Vec<wardwatch_store::JournalEntry>, wardwatch_store::StoreError> {
        loop {
            if self.pending.is_none() {
                self.pending = self.handoff.try_recv().ok();
            }
            match self.pending.take() {
                // Already processed (read from the journal while the detector caught up).
                Some(h) if h.entries.last().is_some_and(|e| e.seq <= cursor) => continue,
                Some(h) if h.after == cursor => return Ok(h.entries),
                Some(h) if h.after > cursor => {
                    // A gap (a handoff was dropped): read up to where this one starts.
                    let mut gap = self.db.read_after(cursor, batch)?;
                    gap.retain(|e| e.seq <= h.after);
                    if gap.is_empty() {
                        // Nothing stored in between (sequence numbers of ignored resends).
                        return Ok(h.entries);
                    }
                    self.pending = Some(h);
                    return Ok(gap);
                }
                Some(h) => {
                    // Starts before the cursor: keep the part after it.
                    let rest: Vec<_> = h.entries.into_iter().filter(|e| e.seq > cursor).collect();
                    return Ok(rest);
                }
                None => return self.db.read_after(cursor, batch),
            }
        }
    }

    /// The next entries after `cursor` with their matches; `None` when there is nothing new
    /// yet or the journal cannot be read (the caller's own read reports that).
    fn next_matched(&mut self, cursor: i64, batch: usize, detector: &Detector) -> Option<Matched> {
        let entries = self.next(cursor, batch).ok().filter(|e| !e.is_empty())?;
        let found = match_all(detector, &entries);
        Some((entries, found))
    }
}

/// The rules each entry matches, on the pool's threads.
fn match_all(
    detector: &Detector,
    entries: &[wardwatch_store::JournalEntry],
) -> Vec<Vec<Detection>> {
    entries
        .par_iter()
        .map(|e| detector.detect(&e.event))
        .collect()
}

/// What the incident stage starts from: grouping settings and the asset and people context.
#[derive(Clone, Default)]
pub struct IncidentSetup {
    pub group: wardwatch_incidents::GroupConfig,
    pub ctx: Arc<wardwatch_incidents::Context>,
}

/// Read the journal after the cursor, detect, group; commit alerts, incidents, cursor and
/// state together.
fn detect_loop(
    mut db: Db,
    mut source: Source,
    detector: Arc<Detector>,
    mut correlator: Option<Correlator>,
    (mut stage, setup): (IncidentStage, IncidentSetup),
    shared: Arc<Shared>,
    batch: usize,
) {
    let (mut cursor, state) = match db.cursor(DETECTOR) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the detection cursor; detection stopped");
            return;
        }
    };
    if let (Some(c), Some(state)) = (correlator.as_mut(), state)
        && let Ok(v) = serde_json::from_str(&state)
        && !c.import_state(v)
    {
        tracing::warn!("saved correlation state is from another version; correlations start empty");
    }
    // The next batch, read and matched while the last one committed.
    let mut ahead: Option<Matched> = None;
    loop {
        let (entries, found) = match ahead.take() {
            Some(next) => next,
            None => {
                let entries = match source.next(cursor, batch) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the journal; retrying");
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                };
                if entries.is_empty() {
                    if shared.stop.load(Ordering::Acquire) {
                        break;
                    }
                    let guard = shared.wake.0.lock().unwrap_or_else(|e| e.into_inner());
                    if shared.last_seq.load(Ordering::Acquire) <= cursor {
                        let _ = shared
                            .wake
                            .1
                            .wait_timeout(guard, Duration::from_millis(100));
                    }
                    continue;
                }
                let found = match_all(&detector, &entries);
                (entries, found)
            }
        };
        let now = jiff::Timestamp::now().as_nanosecond() as i64;
        let mut alerts = Vec::new();
        let mut raised = Vec::new();
        for (entry, detections) in entries.iter().zip(&found) {
            let latency = now - entry.received_ns;
            raise_alerts(
                &detector,
                correlator.as_mut(),
                &entry.event,
                entry.seq,
                detections,
                &mut raised,
            );
            alerts.extend(raised.drain(..).map(|a| (a, entry.seq, latency)));
        }
        let last = entries.last().map_or(cursor, |e| e.seq);
        let state = correlator.as_ref().map(|c| c.export_state().to_string());
        stage.refresh_exceptions(&db);
        let out = stage.process(&mut alerts, jiff::Timestamp::now());
        // Commit this batch while the next one is read and matched: matching is pure, and
        // waiting for the commit left the pool idle for a sixth of the time under full load.
        let commit = DetectionCommit {
            worker: DETECTOR,
            cursor: last,
            alerts: &alerts,
            incidents: &out.rows,
            suppressed: &out.suppressed,
            state: state.as_deref(),
        };
        let mut src = source;
        let det = &detector;
        let (committed, (next, src)) = rayon::join(
            || db.commit_detection(&commit),
            move || (src.next_matched(last, batch, det), src),
        );
        source = src;
        match committed {
            Ok(_) => {
                ahead = next;
                cursor = last;
                shared.cursor.store(last, Ordering::Release);
                shared
                    .processed
                    .fetch_add(entries.len() as u64, Ordering::Relaxed);
                for (a, _, latency) in &alerts {
                    shared.metrics.alert(a.level, *latency);
                }
                let m = &shared.metrics;
                m.incidents_updated
                    .fetch_add(out.rows.len() as u64, Ordering::Relaxed);
                m.incidents_opened
                    .fetch_add(out.opened as u64, Ordering::Relaxed);
                m.alerts_suppressed.fetch_add(
                    out.suppressed.iter().map(|(_, n, _)| n).sum::<u64>(),
                    Ordering::Relaxed,
                );
                // Freeing thousands of event trees costs as much as parsing them; do it off
                // the detector's path, on the pool's idle cycles.
                rayon::spawn(move || drop(entries));
            }
            Err(e) => {
                // `next` started after a cursor that did not commit: drop it and redo from
                // the committed one (the journal has every event).
                drop(next);
                tracing::error!(error = %e, "cannot commit detection results; retrying");
                std::thread::sleep(Duration::from_secs(1));
                if let Some(c) = correlator.as_mut()
                    && let Ok((_, Some(state))) = db.cursor(DETECTOR)
                    && let Ok(v) = serde_json::from_str(&state)
                {
                    c.import_state(v);
                }
                // The grouper saw alerts that did not commit: back to what the store has.
                match IncidentStage::load(&db, setup.group, setup.ctx.clone()) {
                    Ok(s) => stage = s,
                    Err(e) => tracing::error!(error = %e, "cannot reload incidents"),
                }
            }
        }
    }
}

/// The alerts the journal entry `seq` raises, given its rule matches: the reported ones, then
/// what correlations complete with it. Ids come from the rule and the journal position (two
/// syslog lines can share source and second; the journal position cannot), so detecting the
/// entry again after a crash gives the same ids.
pub fn raise_alerts(
    detector: &Detector,
    correlator: Option<&mut Correlator>,
    event: &Event,
    seq: i64,
    detections: &[Detection],
    out: &mut Vec<wardwatch_core::Alert>,
) {
    let mut raise = |d: &Detection| {
        let mut alert = d.to_alert(event);
        alert.id = AlertId::for_journal(&d.rule.id, seq);
        // An event whose own time is far off is placed (and grouped, and kept) by when it
        // was received; the alert says so and keeps the sender's time among its facts.
        if let Some(skew) = event.time_skew {
            alert.timestamp = event.trusted_time();
            alert
                .facts
                .insert("event.time_skew".into(), format!("{skew}s"));
            alert
                .facts
                .insert("event.sender_time".into(), event.timestamp.to_string());
        }
        out.push(alert);
    };
    for d in detections
        .iter()
        .filter(|d| detector.is_reported(&d.rule.id))
    {
        raise(d);
    }
    if let Some(c) = correlator {
        for d in c.process(event, detections) {
            raise(&d);
        }
    }
}

/// Build the full-text index behind the journal, with its own cursor in its own file: search
/// stays exact meanwhile (it checks events after this cursor directly), and neither ingest nor
/// detection waits for indexing.
fn index_loop(db: Db, mut index: IndexDb, shared: Arc<Shared>, batch: usize) {
    lowest_priority();
    let mut cursor = match index.cursor() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the index cursor; search will scan");
            return;
        }
    };
    shared.indexed.store(cursor, Ordering::Release);
    // On stop, leave at once: the index is derived data and resumes from its cursor, so a
    // backlog must not hold up a shutdown.
    while !shared.stop.load(Ordering::Acquire) {
        let docs = match db.read_docs_after(cursor, batch) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the journal for indexing; retrying");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let Some(last) = docs.last().map(|(seq, _)| *seq) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        // On this thread only: indexing must not take the cores detection needs.
        let rows: Vec<(i64, String)> = docs
            .iter()
            .filter_map(|(seq, doc)| match doc_text(doc) {
                Ok(words) => Some((*seq, words)),
                Err(e) => {
                    tracing::warn!(seq, error = %e, "stored event is not valid JSON; not indexed");
                    None
                }
            })
            .collect();
        match index.commit(last, &rows) {
            Ok(_) => {
                cursor = last;
                shared.indexed.store(last, Ordering::Release);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot commit the index; retrying");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// Give this thread the lowest CPU priority: indexing is work that can wait. Under full load
/// the cores go to ingest and detection and the index falls behind (search stays exact: it
/// checks unindexed events directly); it catches up as soon as there is a spare cycle.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        // SCHED_IDLE: run only on a core nothing else wants. Nice 19 alone is not enough:
        // measured, the indexer still took a fifth of the CPU samples under full load, because
        // it ran in every gap the others left (an fsync, a lock) and was not preempted at once
        // when they woke.
        // SAFETY: plain syscalls on this thread's own id; `param` lives across the call.
        let ok = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            let param = libc::sched_param { sched_priority: 0 };
            let idle = libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0;
            libc::setpriority(libc::PRIO_PROCESS, tid, 19) == 0 && idle
        };
        if !ok {
            tracing::debug!("could not lower the indexer's priority");
        }
    }
}

/// Apply retention every `interval`.
fn retention_loop(mut db: Db, shared: Arc<Shared>, cfg: crate::config::RetentionConfig) {
    let mut last = Instant::now();
    while !shared.stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(200));
        if last.elapsed() < Duration::from_secs(cfg.interval_secs.max(1)) {
            continue;
        }
        last = Instant::now();
        let max_age = cfg.max_age_days.map(|d| Duration::from_secs(d * 86_400));
        let max_bytes = cfg.max_size_mb.map(|m| (m * 1024 * 1024) as i64);
        if max_age.is_none() && max_bytes.is_none() {
            continue;
        }
        let keep_after = shared.cursor.load(Ordering::Acquire);
        match db.retain(max_age, max_bytes, keep_after) {
            Ok(r) if r.events_removed > 0 || r.alerts_removed > 0 => {
                tracing::info!(
                    events = r.events_removed,
                    alerts = r.alerts_removed,
                    "retention removed old data"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention pass failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_commit_says_what_sqlite_leaves_out() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = |code| {
            wardwatch_store::StoreError::Sql(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
        };
        let full = commit_failure(&sqlite(rusqlite::ffi::SQLITE_FULL), dir.path());
        assert!(
            full.starts_with("journal commit failed: ")
                && full.contains("database or disk is full (")
                && full.contains(" free of ")
                && full.contains(&*dir.path().to_string_lossy()),
            "{full}"
        );
        let io = commit_failure(&sqlite(rusqlite::ffi::SQLITE_IOERR), dir.path());
        assert!(
            !io.contains(" free of ") && !io.contains("cannot be written"),
            "{io}"
        );
        // A store file that refuses writes is named.
        std::fs::create_dir(dir.path().join("wardwatch.db-wal")).unwrap();
        let io = commit_failure(&sqlite(rusqlite::ffi::SQLITE_IOERR), dir.path());
        assert!(
            io.starts_with("journal commit failed: ")
                && io.contains("wardwatch.db-wal` cannot be written: "),
            "{io}"
        );
    }
}
