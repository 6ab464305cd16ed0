//! Retro-hunt on arrival: each newly received indicator asks "did this already happen here?"
//! of the stored events of its feed's look-back (30 days by default), and what it finds
//! becomes ordinary alerts through the detection worker's exceptions and incidents.
//!
//! A blocking thread of its own with its own store connection: a month of a busy store takes
//! a while to walk, and ingest must not wait for it. The indicators it owes are kept in the
//! store (`retro = 1`) and marked done only after the detection worker has committed what
//! they found, so a restart in the middle hunts again — with the same alert ids (rule and
//! the old event's journal position), so nothing doubles.

use std::collections::BTreeMap;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;
use wardwatch_intel::{Indicator, IndicatorSet, IntelDetector};
use wardwatch_store::{RetroPending, Store};

use super::{Feed, Shared};
use crate::pipeline::RetroBatch;

/// Alerts handed to the detection worker at once.
const BATCH: usize = 500;
/// Indicators hunted for in one round.
const ROUND: usize = 20_000;

pub(super) fn run(
    shared: &Shared,
    feeds: &[Feed],
    tx: &SyncSender<RetroBatch>,
    stop: &watch::Receiver<bool>,
) {
    let stopped = || *stop.borrow();
    let mut db = match shared.db() {
        Ok(db) => db,
        Err(e) => {
            tracing::error!(error = %e, "retro-hunt cannot open the store; new indicators are matched live only");
            return;
        }
    };
    loop {
        {
            let (lock, cv) = &*shared.retro_wake;
            let mut woken = lock.lock().unwrap_or_else(|e| e.into_inner());
            if !*woken {
                woken = cv
                    .wait_timeout(woken, Duration::from_secs(60))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            *woken = false;
        }
        if stopped() {
            return;
        }
        let pending = match db.feed_retro_pending(ROUND) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "retro-hunt cannot read the new indicators; trying again");
                continue;
            }
        };
        if pending.is_empty() {
            continue;
        }
        match hunt(db.as_ref(), &pending, feeds, tx, &stopped) {
            Ok(()) if !stopped() => {
                if let Err(e) = db.feed_retro_done(&pending) {
                    tracing::warn!(error = %e, "cannot mark retro-hunts done; they run again");
                }
                // More may be waiting (a large feed's first poll).
                shared.wake_retro();
            }
            Ok(()) => return,
            Err(e) => {
                if stopped() {
                    return;
                }
                tracing::warn!(error = %e, "retro-hunt failed; it runs again");
                std::thread::sleep(Duration::from_secs(5));
                shared.wake_retro();
            }
        }
    }
}

/// Hunt for `pending` over each feed's look-back and hand the alerts to the detection worker.
fn hunt(
    db: &dyn Store,
    pending: &[RetroPending],
    feeds: &[Feed],
    tx: &SyncSender<RetroBatch>,
    stopped: &dyn Fn() -> bool,
) -> Result<(), String> {
    let mut by_feed: BTreeMap<&str, Vec<Indicator>> = BTreeMap::new();
    for p in pending {
        // A feed taken out of the configuration: its indicators are not hunted for.
        if !feeds.iter().any(|f| f.cfg.name == p.feed) {
            continue;
        }
        match serde_json::from_str::<Indicator>(&p.doc) {
            Ok(i) => by_feed.entry(p.feed.as_str()).or_default().push(i),
            Err(e) => {
                tracing::warn!(feed = %p.feed, error = %e, "a stored indicator cannot be read; not hunted for")
            }
        }
    }
    let now = Timestamp::now();
    for (feed, indicators) in by_feed {
        let lookback = feeds
            .iter()
            .find(|f| f.cfg.name == feed)
            .map_or(jiff::SignedDuration::from_hours(24 * 30), Feed::lookback);
        let count = indicators.len();
        let intel = IntelDetector::new(std::sync::Arc::new(IndicatorSet::new(indicators)));
        let mut alerts: Vec<(wardwatch_core::Alert, i64)> = Vec::new();
        let failed: std::cell::RefCell<Option<String>> = std::cell::RefCell::new(None);
        let mut raised = 0u64;
        let walked = crate::intel::retro_hunt(
            db,
            &intel,
            None,
            (
                now - lookback,
                now + jiff::SignedDuration::from_mins(1),
                now,
            ),
            &|| failed.borrow().is_none() && !stopped(),
            &mut |entry, found| {
                for d in found {
                    let mut alert = crate::pipeline::alert_for(&d, &entry.event, entry.seq);
                    alert
                        .facts
                        .insert("intel.found_by".into(), "retro-hunt".into());
                    alert
                        .facts
                        .insert("intel.event_seq".into(), entry.seq.to_string());
                    alerts.push((alert, entry.seq));
                    raised += 1;
                }
                if alerts.len() >= BATCH
                    && failed.borrow().is_none()
                    && let Err(e) = hand_over(tx, std::mem::take(&mut alerts))
                {
                    *failed.borrow_mut() = Some(e);
                }
            },
        )
        .map_err(|e| format!("cannot read the stored events: {e}"))?;
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
        if !alerts.is_empty() {
            hand_over(tx, alerts)?;
        }
        tracing::info!(
            feed,
            indicators = count,
            days = lookback.as_hours() / 24,
            events = walked.events,
            alerts = raised,
            "retro-hunt of new indicators done"
        );
    }
    Ok(())
}

/// Give `alerts` to the detection worker and wait until they are committed.
fn hand_over(
    tx: &SyncSender<RetroBatch>,
    alerts: Vec<(wardwatch_core::Alert, i64)>,
) -> Result<(), String> {
    let (done, committed) = std::sync::mpsc::channel();
    tx.send(RetroBatch { alerts, done })
        .map_err(|_| "the detection worker has stopped".to_string())?;
    committed
        .recv()
        .map_err(|_| "the detection worker has stopped".to_string())?
}
