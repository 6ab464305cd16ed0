//! The events read by position, as the journal is read on one machine: what the console asks
//! of `Journal` (the newest position, one event by its position, the first position of a
//! time, figures) when a cluster's API node answers from ClickHouse.
//!
//! In a cluster the journal is the stream: an event's position is its stream sequence, unique
//! across partitions, and it is in ClickHouse once a detection worker processed it. Appending
//! is the ingest nodes' (they publish to the stream), never done here.

use serde::Deserialize;
use wardwatch_core::Event;
use wardwatch_store::{JournalEntry, StoreError};

use crate::{ClickHouse, wait};

#[derive(clickhouse::Row, Deserialize)]
struct Stored {
    seq: u64,
    received: i64,
    original: String,
}

/// What is stored, in figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub events: u64,
    /// Sum of the stored documents' sizes.
    pub event_bytes: u64,
    pub last_seq: u64,
    pub alerts: u64,
    /// Alerts per level number (0 informational .. 4 critical).
    pub alerts_by_level: Vec<(u8, u64)>,
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl ClickHouse {
    fn entries(
        &self,
        what: &str,
        sql: &str,
        binds: &[u64],
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let mut q = self.client().query(sql);
        for b in binds {
            q = q.bind(*b);
        }
        let rows: Vec<Stored> =
            wait(q.bind(limit as u64).fetch_all::<Stored>()).map_err(|e| self.error(what, e))?;
        rows.into_iter()
            .map(|r| {
                let event: Event =
                    serde_json::from_str(&r.original).map_err(|e| StoreError::Corrupt {
                        seq: signed(r.seq),
                        reason: e.to_string(),
                    })?;
                Ok(JournalEntry {
                    seq: signed(r.seq),
                    received_ns: r.received,
                    event,
                })
            })
            .collect()
    }

    /// The highest position stored (0 when none).
    pub fn last_seq(&self) -> Result<i64, StoreError> {
        let n = wait(
            self.client()
                .query("SELECT max(seq) FROM events")
                .fetch_one::<u64>(),
        )
        .map_err(|e| self.error("cannot read the newest position", e))?;
        Ok(signed(n))
    }

    /// Up to `limit` events after position `seq`, in order.
    pub fn read_after(&self, seq: i64, limit: usize) -> Result<Vec<JournalEntry>, StoreError> {
        let after = u64::try_from(seq).unwrap_or(0);
        self.entries(
            "cannot read events by position",
            "SELECT seq, received, original FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            &[after],
            limit,
        )
    }

    /// Up to `limit` stored documents after position `seq`, in order, as `(seq, JSON)`.
    pub fn read_docs_after(
        &self,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows: Vec<(u64, String)> = wait(
            self.client()
                .query("SELECT seq, original FROM events WHERE seq > ? ORDER BY seq LIMIT ?")
                .bind(u64::try_from(seq).unwrap_or(0))
                .bind(limit as u64)
                .fetch_all::<(u64, String)>(),
        )
        .map_err(|e| self.error("cannot read documents by position", e))?;
        Ok(rows.into_iter().map(|(s, d)| (signed(s), d)).collect())
    }

    /// The event at position `seq`, if stored.
    pub fn event_at(&self, seq: i64) -> Result<Option<JournalEntry>, StoreError> {
        let Ok(at) = u64::try_from(seq) else {
            return Ok(None);
        };
        Ok(self
            .entries(
                "cannot read an event by position",
                "SELECT seq, received, original FROM events WHERE seq = ? LIMIT ?",
                &[at],
                1,
            )?
            .pop())
    }

    /// The position of the first event (by event time) at or after `ts`, or the next position
    /// to be written when there is none.
    pub fn seq_at_time(&self, ts: i64) -> Result<i64, StoreError> {
        let found: Vec<u64> = wait(
            self.client()
                .query("SELECT seq FROM events WHERE ts >= ? ORDER BY ts, seq LIMIT 1")
                .bind(ts)
                .fetch_all::<u64>(),
        )
        .map_err(|e| self.error("cannot find the position of a time", e))?;
        match found.first() {
            Some(s) => Ok(signed(*s)),
            None => Ok(self.last_seq()? + 1),
        }
    }

    /// Drop the oldest received days of events (and the alerts raised those days) while the
    /// events' documents take more than `max_bytes`; a day goes whole or not at all, and the
    /// newest day always stays. Returns how many days were dropped.
    pub fn retain_bytes(&self, max_bytes: u64) -> Result<u64, StoreError> {
        let days: Vec<(u16, u64)> = wait(
            self.client()
                .query("SELECT toUInt16(day), sum(toUInt64(bytes)) FROM events GROUP BY day ORDER BY day DESC")
                .fetch_all::<(u16, u64)>(),
        )
        .map_err(|e| self.error("cannot measure the events per day", e))?;
        let mut kept = 0u64;
        let mut drop_upto = None;
        for (i, (day, bytes)) in days.iter().enumerate() {
            kept = kept.saturating_add(*bytes);
            if kept > max_bytes && i > 0 {
                drop_upto = Some(*day);
                break;
            }
        }
        let Some(day) = drop_upto else {
            return Ok(0);
        };
        // Every day before the one after `day`: retention by age, as of that day's start.
        let next_day = jiff::Timestamp::from_second((i64::from(day) + 1) * 86_400)
            .map_err(|e| self.error("cannot name the day to keep from", e))?;
        self.retain_days(next_day, std::time::Duration::ZERO)
    }

    /// Counts of what is stored (from the tables' own figures: cheap on any size).
    pub fn counts(&self) -> Result<Counts, StoreError> {
        let client = self.client();
        let (events, event_bytes, last_seq) = wait(
            client
                .query("SELECT count(), sum(toUInt64(bytes)), max(seq) FROM events")
                .fetch_one::<(u64, u64, u64)>(),
        )
        .map_err(|e| self.error("cannot count the events", e))?;
        let by_level = wait(
            client
                .query("SELECT level, count() FROM alerts GROUP BY level ORDER BY level")
                .fetch_all::<(u8, u64)>(),
        )
        .map_err(|e| self.error("cannot count the alerts", e))?;
        Ok(Counts {
            events,
            event_bytes,
            last_seq,
            alerts: by_level.iter().map(|(_, n)| n).sum(),
            alerts_by_level: by_level,
        })
    }
}
