//! Reading back stored events by their own time, page by page: what a retro-hunt walks when a
//! new indicator asks "did this already happen here?".
//!
//! The time index (`events_ts_cols`: `ts, seq, ...`) orders the walk, so a month of a large
//! store is read in event-time order without sorting, and a page starts where the last ended.

use rusqlite::params;

use crate::db::{Db, JournalEntry};
use crate::error::StoreError;

/// Where a walk through [`Db::events_between`] stands: the last event time and sequence read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeCursor {
    pub ts_ns: i64,
    pub seq: i64,
}

impl Db {
    /// Up to `limit` events of `org` (every organization's with `None`) whose own time is in `[from_ns, to_ns)`, after `cursor`, in
    /// (time, sequence) order; the cursor of the last one comes back with them.
    pub fn events_between(
        &self,
        org: Option<&str>,
        from_ns: i64,
        to_ns: i64,
        cursor: Option<TimeCursor>,
        limit: usize,
    ) -> Result<(Vec<JournalEntry>, Option<TimeCursor>), StoreError> {
        let (after_ts, after_seq) = cursor.map_or((from_ns, -1), |c| (c.ts_ns, c.seq));
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, ts, received, doc FROM events INDEXED BY events_ts_cols \
             WHERE ts >= ?1 AND ts < ?2 AND (ts > ?3 OR (ts = ?3 AND seq > ?4)) AND (?5 IS NULL OR org = ?5) \
             ORDER BY ts, seq LIMIT ?6",
        )?;
        let rows = stmt.query_map(
            params![from_ns, to_ns, after_ts, after_seq, org, limit as i64],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        let mut last = None;
        for row in rows {
            let (seq, ts_ns, received_ns, doc) = row?;
            let event = serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt {
                seq,
                reason: e.to_string(),
            })?;
            last = Some(TimeCursor { ts_ns, seq });
            out.push(JournalEntry {
                seq,
                received_ns,
                event,
            });
        }
        Ok((out, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbOptions;
    use wardwatch_core::{Event, SourceKind};

    fn event(secs: i64, host: &str) -> Event {
        let mut e = Event::new(
            SourceKind::Json,
            jiff::Timestamp::from_second(secs).unwrap(),
            serde_json::json!({"host": host}),
        );
        e.ecs.host_name = Some(host.into());
        e
    }

    #[test]
    fn a_time_range_reads_in_event_time_order_page_by_page() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
        // Stored out of time order, as shippers catching up send them.
        let times = [500, 100, 300, 200, 900, 400, 300];
        db.append(&[times.iter().map(|t| event(*t, &format!("h{t}"))).collect()])
            .unwrap();
        let ns = |s: i64| s * 1_000_000_000;
        let mut cursor = None;
        let mut seen = Vec::new();
        loop {
            let (page, last) = db
                .events_between(Some("default"), ns(200), ns(900), cursor, 2)
                .unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 2);
            seen.extend(page.iter().map(|e| e.event.timestamp.as_second()));
            cursor = last;
        }
        assert_eq!(seen, vec![200, 300, 300, 400, 500]);
        let (none, _) = db
            .events_between(Some("another-org"), ns(0), ns(1000), None, 10)
            .unwrap();
        assert!(none.is_empty());
    }
}
