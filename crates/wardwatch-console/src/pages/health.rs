//! The health of every source for the overview: who sends (listener, decoder, host), how
//! much, how fast, when last — and who went quiet.
//!
//! Why a cache: counting a week of the journal per page view would cost a scan of every row.
//! The cache reads the journal once from a week back, then only the rows added since its last
//! look (by sequence number, the primary key), at most every [`REFRESH`]; a page view costs a
//! few microseconds. A sender that sent before and nothing for [`QUIET_AFTER`] is "quiet":
//! in a hospital, a domain controller or PACS that stopped logging is news.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use wardwatch_store::{EventSearch, Journal};

use super::{DAY_NS, HOUR_NS};
use crate::ApiError;

/// How often the cache reads the new journal rows.
pub(crate) const REFRESH: Duration = Duration::from_secs(15);
/// How long without events makes a sender quiet.
pub(crate) const QUIET_AFTER: i64 = HOUR_NS;

/// One sender.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sender {
    pub source: String,
    pub kind: String,
    pub host: String,
    pub org: String,
    pub events: u64,
    /// ns: when its newest event was stored.
    pub last_received: i64,
    /// Events per second over the last refresh interval.
    pub rate: f64,
}

#[derive(Default)]
pub(crate) struct Cache {
    upto: Option<i64>,
    at: Option<Instant>,
    senders: HashMap<(String, String, String, String), Sender>,
}

impl Cache {
    /// Bring the cache up to date (when older than [`REFRESH`]) and return the senders.
    pub(crate) fn refresh(
        &mut self,
        db: &(impl Journal + EventSearch + ?Sized),
        now_ns: i64,
    ) -> Result<Vec<Sender>, ApiError> {
        let stale = self.at.is_none_or(|t| t.elapsed() >= REFRESH);
        if stale {
            let start = match self.upto {
                Some(s) => s,
                None => db.seq_at_time(now_ns - 7 * DAY_NS)? - 1,
            };
            let last = db.last_seq()?;
            let elapsed = self.at.map(|t| t.elapsed().as_secs_f64());
            for s in self.senders.values_mut() {
                s.rate = 0.0;
            }
            for r in db.source_rows(start, last)? {
                let key = (
                    r.source.clone(),
                    r.kind.clone(),
                    r.host.clone().unwrap_or_default(),
                    r.org.clone(),
                );
                let s = self.senders.entry(key).or_insert_with(|| Sender {
                    source: r.source,
                    kind: r.kind,
                    host: r.host.unwrap_or_default(),
                    org: r.org,
                    ..Sender::default()
                });
                s.events += r.events;
                s.last_received = s.last_received.max(r.last_received);
                if let Some(e) = elapsed.filter(|e| *e > 0.0) {
                    s.rate = r.events as f64 / e;
                }
            }
            self.upto = Some(last);
            self.at = Some(Instant::now());
        }
        Ok(self.senders.values().cloned().collect())
    }
}
