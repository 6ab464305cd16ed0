//! Reading back the network sensor's records (Zeek, Suricata EVE) of a period in time order:
//! what the network summary (`GET /api/v1/network/summary`) walks.

use rusqlite::params;
use wardwatch_core::{Event, SourceKind};

use crate::db::Db;
use crate::error::StoreError;
use crate::retro::TimeCursor;

impl Db {
    /// Up to `limit` Zeek and Suricata EVE events whose own time is in `[from_ns, to_ns)`, of
    /// the organizations `orgs` (all when `None`), after `cursor`, in (time, sequence) order;
    /// the cursor of the last row read comes back with them (`None` when none was left).
    pub fn network_events_between(
        &self,
        orgs: Option<&[String]>,
        from_ns: i64,
        to_ns: i64,
        cursor: Option<TimeCursor>,
        limit: usize,
    ) -> Result<(Vec<Event>, Option<TimeCursor>), StoreError> {
        let (after_ts, after_seq) = cursor.map_or((from_ns, -1), |c| (c.ts_ns, c.seq));
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, ts, org, doc FROM events INDEXED BY events_ts_cols \
             WHERE ts >= ?1 AND ts < ?2 AND (ts > ?3 OR (ts = ?3 AND seq > ?4)) \
             AND kind IN (?5, ?6) ORDER BY ts, seq LIMIT ?7",
        )?;
        let rows = stmt.query_map(
            params![
                from_ns,
                to_ns,
                after_ts,
                after_seq,
                SourceKind::Zeek.as_str(),
                SourceKind::SuricataEve.as_str(),
                limit as i64
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        let mut last = None;
        for row in rows {
            let (seq, ts_ns, org, doc) = row?;
            last = Some(TimeCursor { ts_ns, seq });
            if orgs.is_some_and(|o| !o.contains(&org)) {
                continue;
            }
            let event = serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt {
                seq,
                reason: e.to_string(),
            })?;
            out.push(event);
        }
        Ok((out, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbOptions;

    fn event(kind: SourceKind, secs: i64, org: &str) -> Event {
        let mut e = Event::new(
            kind,
            jiff::Timestamp::from_second(secs).unwrap(),
            serde_json::json!({"n": secs}),
        );
        e.organization = org.into();
        e
    }

    #[test]
    fn only_network_records_of_the_period_and_the_orgs_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
        let events = vec![
            event(SourceKind::Zeek, 300, "a"),
            event(SourceKind::Evtx, 150, "a"),
            event(SourceKind::SuricataEve, 200, "a"),
            event(SourceKind::Zeek, 100, "b"),
            event(SourceKind::Zeek, 50, "a"),
            event(SourceKind::Zeek, 400, "a"),
        ];
        db.append(&[events]).unwrap();
        let (from, to) = (100 * 1_000_000_000, 400 * 1_000_000_000);
        let secs = |v: &[Event]| {
            v.iter()
                .map(|e| e.timestamp.as_second())
                .collect::<Vec<_>>()
        };
        let (all, _) = db.network_events_between(None, from, to, None, 10).unwrap();
        assert_eq!(secs(&all), [100, 200, 300]);
        let orgs = vec!["a".to_string()];
        let (first, cursor) = db
            .network_events_between(Some(&orgs), from, to, None, 2)
            .unwrap();
        assert_eq!(secs(&first), [200]);
        let (rest, _) = db
            .network_events_between(Some(&orgs), from, to, cursor, 2)
            .unwrap();
        assert_eq!(secs(&rest), [300]);
    }
}
