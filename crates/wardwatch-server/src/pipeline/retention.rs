//! Retention: removes old events and alerts by age and size, never what detection has not read,
//! and the identity ledger's days past its own age and row limits.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use wardwatch_store::{IdentityLedger, Retention};

use super::Shared;

/// Apply retention every `interval`.
pub(super) fn retention_loop(
    mut db: impl Retention + IdentityLedger,
    shared: Arc<Shared>,
    cfg: crate::config::RetentionConfig,
) {
    let mut last = Instant::now();
    while !shared.stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(200));
        if last.elapsed() < Duration::from_secs(cfg.interval_secs.max(1)) {
            continue;
        }
        last = Instant::now();
        if cfg.ledger_days.is_some() || cfg.ledger_max_rows.is_some() {
            match db.retain_ledger(jiff::Timestamp::now(), cfg.ledger_days, cfg.ledger_max_rows) {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "retention removed old identity ledger days"),
                Err(e) => tracing::warn!(error = %e, "identity ledger retention pass failed"),
            }
        }
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
