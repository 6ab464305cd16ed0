//! Messages a detection worker could not read as events (a poison message: bytes that are not
//! UTF-8, a line that is not an event document), kept as they came with the reason, so nothing
//! accepted is lost silently and the partition goes on.

use serde::Serialize;
use wardwatch_store::StoreError;

use crate::{ClickHouse, schema, wait};

/// The columns, in the order rows are written.
pub(crate) const COLUMNS: &str = "
    part     UInt32,            -- the partition it came through
    seq      UInt64,            -- the stream sequence of its message
    line     UInt32,            -- its line in the message (0: the whole message)
    day      Date,              -- the day it was received: the partition
    received Int64,             -- when it was received, ns
    reason   String,            -- why it is not an event
    payload  String             -- the line (or message) as it came, lossy UTF-8
";

/// One undecodable line (or message) to keep.
pub struct Undecodable<'a> {
    pub part: u32,
    pub seq: u64,
    pub line: u32,
    pub received_ns: i64,
    pub reason: &'a str,
    pub payload: &'a str,
}

#[derive(clickhouse::Row, Serialize)]
struct Row {
    part: u32,
    seq: u64,
    line: u32,
    day: u16,
    received: i64,
    reason: String,
    payload: String,
}

impl ClickHouse {
    /// Keep undecodable lines; the same (part, seq, line) twice is kept once when a caller
    /// checks [`ClickHouse::undecodable_among`] first.
    pub fn insert_undecodable(&self, rows: &[Undecodable<'_>]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let rows: Vec<Row> = rows
            .iter()
            .map(|u| Row {
                part: u.part,
                seq: u.seq,
                line: u.line,
                day: schema::day_of(u.received_ns),
                received: u.received_ns,
                reason: u.reason.to_string(),
                payload: u.payload.to_string(),
            })
            .collect();
        let client = self.client();
        wait(async move {
            let mut insert = client.insert::<Row>("undecodable").await?;
            for r in &rows {
                insert.write(r).await?;
            }
            insert.end().await
        })
        .map_err(|e| self.error("cannot keep undecodable messages", e))
    }

    /// Which of the messages `seqs` of partition `part` have undecodable lines kept already.
    pub fn undecodable_among(&self, part: u32, seqs: &[u64]) -> Result<Vec<u64>, StoreError> {
        let (Some(lo), Some(hi)) = (seqs.iter().min(), seqs.iter().max()) else {
            return Ok(Vec::new());
        };
        let mut found: Vec<u64> = wait(
            self.client()
                .query(
                    "SELECT DISTINCT seq FROM undecodable WHERE part = ? AND seq >= ? AND seq <= ?",
                )
                .bind(part)
                .bind(*lo)
                .bind(*hi)
                .fetch_all::<u64>(),
        )
        .map_err(|e| self.error("cannot read which undecodable messages are kept", e))?;
        found.retain(|s| seqs.contains(s));
        Ok(found)
    }

    /// How many undecodable lines are kept.
    pub fn undecodable_count(&self) -> Result<u64, StoreError> {
        wait(
            self.client()
                .query("SELECT count() FROM undecodable")
                .fetch_one::<u64>(),
        )
        .map_err(|e| self.error("cannot count undecodable messages", e))
    }

    /// How many events are stored (all partitions).
    pub fn event_count(&self) -> Result<u64, StoreError> {
        wait(
            self.client()
                .query("SELECT count() FROM events")
                .fetch_one::<u64>(),
        )
        .map_err(|e| self.error("cannot count events", e))
    }
}
