//! The network summary over the store (`GET /api/v1/network/summary`): the Zeek and Suricata
//! records of the period and of the baseline before it, read in time order and fed to the same
//! summariser `hunt --summary network` runs over files, with the context's topology.

use std::sync::Arc;

use jiff::Timestamp;
use wardwatch_console::{ApiError, NetworkSummariser};
use wardwatch_detect::analytics::network::Topology;
use wardwatch_detect::analytics::network::summary::{BASELINE_DAYS, Summariser};

/// Rows read per page.
const PAGE: usize = 5_000;

fn ns(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(if t.as_second() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// The summariser the API calls, over `topology`.
pub fn summariser(topology: Arc<Topology>) -> NetworkSummariser {
    Arc::new(move |db, orgs, from, to| {
        let start = from
            .checked_sub(jiff::SignedDuration::from_hours(24 * BASELINE_DAYS))
            .unwrap_or(Timestamp::MIN);
        let mut summary = Summariser::new(
            topology.clone(),
            Some(from.as_second()),
            Some(to.as_second()),
        );
        let mut cursor = None;
        loop {
            let (page, next) = db.network_events_between(orgs, ns(start), ns(to), cursor, PAGE)?;
            for event in &page {
                summary.observe(event);
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        serde_json::to_value(summary.finish())
            .map_err(|e| ApiError::Internal(format!("network summary: {e}")))
    })
}
