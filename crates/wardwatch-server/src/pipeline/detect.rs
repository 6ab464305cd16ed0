//! The detection worker: reads the journal after its durable cursor (from the writer's
//! handoffs when it keeps up), matches rules on the pool, runs the ordered stage (correlations
//! and analytics) and the incident stage, and commits alerts, incidents, cursor and the
//! batch's identity uses (the ledger) in one transaction, with the ordered stage's state now
//! and then.
//!
//! Why the state is checkpointed rather than saved with every batch: once the network
//! analytics know a hospital (windows per source, beacons, devices, edges) it is megabytes of
//! JSON, and serializing and writing it for every batch of 4,000 records was half of this
//! thread's time under full load. A commit without state keeps the last checkpoint, which says
//! the journal position it describes; on restart (and after a failed commit) the worker
//! restores it and replays the journal from there to its cursor through the ordered stage,
//! dropping the alerts (they were committed with their batches). Nothing acknowledged is
//! lost, no alert is raised twice, and a window is neither lost nor counted twice.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use rayon::prelude::*;
use wardwatch_core::{AlertId, Event};
use wardwatch_detect::{Correlator, Detection, Detector};
use wardwatch_store::{DetectionCommit, DetectionStore, ExceptionStore, Journal, LedgerBatch};

use super::ordered::Ordered;
use super::writer::Handoff;
use super::{DETECTOR, Shared};
use crate::incidents::IncidentStage;

/// Where the detector's events come from: the writer's handoffs, else the journal (through
/// its own connection, so the next batch can be read while the last one commits).
pub(super) struct Source<J> {
    pub(super) db: J,
    pub(super) handoff: Receiver<Handoff>,
    pub(super) pending: Option<Handoff>,
    /// Alerts a retro-hunt found in stored events, to group and commit like live ones.
    pub(super) retro: Receiver<RetroBatch>,
}

/// Alerts a retro-hunt found (each with the journal position of the old event it names), to
/// go through the incident stage and commit like live ones; `done` hears when they are
/// durable (or why not).
pub struct RetroBatch {
    pub alerts: Vec<(wardwatch_core::Alert, i64)>,
    pub done: std::sync::mpsc::Sender<Result<(), String>>,
}

/// The ordered stage's state is saved after at most this many events...
const CHECKPOINT_EVENTS: u64 = 50_000;
/// ...or this long, whichever comes first (a quiet server saves it with its next batch).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);

/// A batch of journal entries and the rules each matched.
type Matched = (Vec<wardwatch_store::JournalEntry>, Vec<Vec<Detection>>);

impl<J: Journal> Source<J> {
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
    fn next_matched(
        &mut self,
        cursor: i64,
        batch: usize,
        matchers: Matchers<'_>,
    ) -> Option<Matched> {
        let entries = self.next(cursor, batch).ok().filter(|e| !e.is_empty())?;
        let found = match_all(matchers, &entries);
        Some((entries, found))
    }
}

/// What judges each event on its own: the rules, and the shared indicators.
type Matchers<'a> = (&'a Detector, Option<&'a wardwatch_intel::IntelDetector>);

/// The rules and indicators each entry matches, on the pool's threads.
fn match_all(
    matchers: Matchers<'_>,
    entries: &[wardwatch_store::JournalEntry],
) -> Vec<Vec<Detection>> {
    let events: Vec<&Event> = entries.iter().map(|e| &e.event).collect();
    match_events(matchers, &events)
}

/// The rules and indicators each event matches, on the pool's threads (the cluster's
/// detection workers call it too). Indicators are judged as they are in force now (one
/// arriving today matches today's events; one expired or revoked no longer does).
pub(crate) fn match_events(
    (detector, intel): Matchers<'_>,
    events: &[&Event],
) -> Vec<Vec<Detection>> {
    let now = jiff::Timestamp::now();
    events
        .par_iter()
        .map(|e| {
            let mut found = detector.detect(e);
            if let Some(i) = intel {
                found.extend(i.detect(e, Some(now)));
            }
            found
        })
        .collect()
}

/// What the incident stage starts from: grouping settings and the asset and people context.
#[derive(Clone, Default)]
pub struct IncidentSetup {
    pub group: wardwatch_incidents::GroupConfig,
    pub ctx: Arc<wardwatch_incidents::Context>,
    /// The privacy analytics' context (roster, patients, encounters; names and addresses as
    /// keyed hashes), when the context folder has patients or encounters.
    pub privacy: Option<Arc<wardwatch_privacy::PrivacyContext>>,
    /// The shared indicators every event is matched against beside the rules (`[intel]`
    /// files and feeds), replaced while the worker runs.
    pub intel: crate::intel::LiveIntel,
    /// The identity analytics' directory (with the `[identity] geoip` database): where the
    /// identity ledger finds the country of a source address.
    pub directory: Option<Arc<wardwatch_detect::analytics::identity::Directory>>,
}

/// Read the journal after the cursor, detect, group; commit alerts, incidents, cursor and
/// state together.
pub(super) fn detect_loop<S, J>(
    mut db: S,
    mut source: Source<J>,
    detector: Arc<Detector>,
    mut ordered: Ordered,
    (mut stage, setup): (IncidentStage, IncidentSetup),
    shared: Arc<Shared>,
    batch: usize,
) where
    S: DetectionStore + ExceptionStore + Send,
    J: Journal + Send,
{
    let (mut cursor, state) = match db.cursor(DETECTOR) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the detection cursor; detection stopped");
            return;
        }
    };
    {
        let intel = setup.intel.current();
        let matchers = (&*detector, intel.as_deref());
        resume(
            &source.db,
            matchers,
            &mut ordered,
            state.as_deref(),
            cursor,
            batch,
        );
    }
    // Events processed since the last checkpoint (a first one is due at once when none was
    // saved: a failed commit must find one to go back to).
    let mut unsaved: u64 = if state.is_some() {
        0
    } else {
        CHECKPOINT_EVENTS
    };
    let mut saved_at = std::time::Instant::now();
    // The next batch, read and matched while the last one committed.
    let mut ahead: Option<Matched> = None;
    loop {
        if let Ok(batch) = source.retro.try_recv() {
            let r = commit_retro((&mut db, &mut stage, &setup), cursor, batch.alerts, &shared);
            let _ = batch.done.send(r);
        }
        let intel = setup.intel.current();
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
                        if unsaved > 0 {
                            let state = ordered.checkpoint(cursor);
                            let last = DetectionCommit {
                                worker: DETECTOR,
                                cursor,
                                state: state.as_deref(),
                                ..Default::default()
                            };
                            if let Err(e) = db.commit_detection(&last) {
                                tracing::warn!(error = %e, "cannot save the detection state on the way out; it is replayed from the last checkpoint on start");
                            }
                        }
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
                let found = match_all((&detector, intel.as_deref()), &entries);
                (entries, found)
            }
        };
        let now = jiff::Timestamp::now().as_nanosecond() as i64;
        let mut alerts = Vec::new();
        let mut raised = Vec::new();
        // The identity uses of the batch, committed with the cursor: counted exactly once.
        let mut ledger = LedgerBatch::default();
        for (entry, detections) in entries.iter().zip(&found) {
            let latency = now - entry.received_ns;
            crate::ledger::fold(&mut ledger, &entry.event, setup.directory.as_deref());
            ordered.raise(&detector, &entry.event, entry.seq, detections, &mut raised);
            alerts.extend(raised.drain(..).map(|a| (a, entry.seq, latency)));
        }
        let last = entries.last().map_or(cursor, |e| e.seq);
        let due = unsaved + entries.len() as u64 >= CHECKPOINT_EVENTS
            || saved_at.elapsed() >= CHECKPOINT_EVERY;
        let state = if due { ordered.checkpoint(last) } else { None };
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
            ledger: Some(&ledger),
        };
        let mut src = source;
        let matchers = (&*detector, intel.as_deref());
        let (committed, (next, src)) = rayon::join(
            || db.commit_detection(&commit),
            move || (src.next_matched(last, batch, matchers), src),
        );
        source = src;
        match committed {
            Ok(_) => {
                ahead = next;
                cursor = last;
                if due {
                    unsaved = 0;
                    saved_at = std::time::Instant::now();
                } else {
                    unsaved += entries.len() as u64;
                }
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
                match db.cursor(DETECTOR) {
                    Ok((at, state)) => {
                        let matchers = (&*detector, intel.as_deref());
                        resume(
                            &source.db,
                            matchers,
                            &mut ordered,
                            state.as_deref(),
                            at,
                            batch,
                        );
                    }
                    Err(e) => tracing::error!(error = %e, "cannot read the saved state back"),
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

/// Group and commit alerts a retro-hunt found, with the cursor where it is (a retro-hunt's
/// alerts name old events; the journal position does not move, nor the saved state).
fn commit_retro(
    (db, stage, setup): (
        &mut (impl DetectionStore + ExceptionStore),
        &mut IncidentStage,
        &IncidentSetup,
    ),
    cursor: i64,
    found: Vec<(wardwatch_core::Alert, i64)>,
    shared: &Shared,
) -> Result<(), String> {
    let mut alerts: Vec<_> = found.into_iter().map(|(a, seq)| (a, seq, 0)).collect();
    stage.refresh_exceptions(db);
    let out = stage.process(&mut alerts, jiff::Timestamp::now());
    let commit = DetectionCommit {
        worker: DETECTOR,
        cursor,
        alerts: &alerts,
        incidents: &out.rows,
        suppressed: &out.suppressed,
        state: None,
        ledger: None,
    };
    match db.commit_detection(&commit) {
        Ok(_) => {
            let m = &shared.metrics;
            m.incidents_updated
                .fetch_add(out.rows.len() as u64, Ordering::Relaxed);
            m.incidents_opened
                .fetch_add(out.opened as u64, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot commit a retro-hunt's alerts; it runs again");
            match IncidentStage::load(db, setup.group, setup.ctx.clone()) {
                Ok(s) => *stage = s,
                Err(e) => tracing::error!(error = %e, "cannot reload incidents"),
            }
            Err(e.to_string())
        }
    }
}

/// Restore the ordered stage from `state` (saved with the cursor) and bring it up to `cursor`:
/// a checkpoint says where it stands, and the journal from there to the cursor is matched and
/// fed through the ordered stage again, its alerts dropped (they were committed then).
fn resume<J: Journal>(
    journal: &J,
    matchers: Matchers<'_>,
    ordered: &mut Ordered,
    state: Option<&str>,
    cursor: i64,
    batch: usize,
) {
    let mut at = ordered.restore(state).unwrap_or(cursor);
    let mut dropped = Vec::new();
    let mut replayed = 0usize;
    while at < cursor {
        let mut entries = match journal.read_after(at, batch) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, at, cursor, "cannot read the journal to bring the detection state up to its cursor; analytics go on from where it stopped");
                break;
            }
        };
        entries.retain(|e| e.seq <= cursor);
        let Some(last) = entries.last().map(|e| e.seq) else {
            break;
        };
        let found = match_all(matchers, &entries);
        for (e, d) in entries.iter().zip(&found) {
            ordered.raise(matchers.0, &e.event, e.seq, d, &mut dropped);
            dropped.clear();
        }
        replayed += entries.len();
        at = last;
    }
    if replayed > 0 {
        tracing::info!(
            replayed,
            cursor,
            "detection state brought up to its cursor from its last checkpoint"
        );
    }
}

/// The alert of detection `d` on journal entry `seq` (of `event`).
pub(crate) fn alert_for(d: &Detection, event: &Event, seq: i64) -> wardwatch_core::Alert {
    let mut alert = d.to_alert(event);
    alert.id = AlertId::for_journal(&d.rule.id, seq);
    // An event whose own time is far off is placed (and grouped, and kept) by when it was
    // received; the alert says so and keeps the sender's time among its facts.
    if let Some(skew) = event.time_skew {
        alert.timestamp = event.trusted_time();
        alert
            .facts
            .insert("event.time_skew".into(), format!("{skew}s"));
        alert
            .facts
            .insert("event.sender_time".into(), event.timestamp.to_string());
    }
    alert
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
    let Some(c) = correlator else {
        for d in detections
            .iter()
            .filter(|d| detector.is_reported(&d.rule.id))
        {
            out.push(alert_for(d, event, seq));
        }
        return;
    };
    // The lineage stage first: a process start's parent may settle its rule matches, and its
    // alerts are built from the record with the parent's fields (`Correlator::settle`).
    let mut settled_detections;
    let mut detections = detections;
    let mut shown = event;
    let settled = if wardwatch_detect::lineage::is_process_start(event) {
        settled_detections = detections.to_vec();
        let copy = c.settle(event, &mut settled_detections);
        detections = &settled_detections;
        copy
    } else {
        None
    };
    if let Some(copy) = &settled {
        shown = copy;
    }
    for d in detections
        .iter()
        .filter(|d| detector.is_reported(&d.rule.id))
    {
        out.push(alert_for(d, shown, seq));
    }
    for d in c.process(event, detections) {
        out.push(alert_for(&d, shown, seq));
    }
}
