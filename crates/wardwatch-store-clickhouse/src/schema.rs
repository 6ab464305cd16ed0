//! The tables, made idempotently (`wardwatch cluster init` and every start), and retention.
//!
//! Why received days as partitions: retention counts from when Wardwatch received an event,
//! never from the time its sender wrote in it (a stamp years off must not expire it at once),
//! so whole received days are what retention drops. Servers from 19.6 on do it themselves
//! (`TTL`); older ones (Debian's 18.16) know no TTL, and [`ClickHouse::retain_days`] drops the
//! expired days' partitions — on any version, so a changed retention applies at once.

use std::time::Duration;

use wardwatch_store::StoreError;

use crate::{ClickHouse, wait};

const NS_PER_DAY: i64 = 86_400_000_000_000;

/// How the tables are laid out where a deployment chooses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    /// Keep events this many days after they were received (`None`: until removed by hand).
    pub retention_days: Option<u32>,
}

/// The day (since 1970-01-01, ClickHouse's `Date`) of `ns` since the epoch; before 1970 is
/// day 0, past 2149 the last day a `Date` holds.
pub(crate) fn day_of(ns: i64) -> u16 {
    u16::try_from((ns / NS_PER_DAY).max(0)).unwrap_or(u16::MAX)
}

/// The columns, in the order rows are written (see `Row` in `lib.rs`).
const COLUMNS: &str = "
    seq          UInt64,            -- journal position, or stream sequence in a cluster
    part         UInt32,            -- the partition it came through (0 on one machine)
    day          Date,              -- the day it was received: the partition
    ts           Int64,             -- event time, ns since the epoch
    received     Int64,             -- when it was received, ns
    org          String,
    source       String,
    kind         String,            -- the decoder
    host         String,            -- host.name lowercased, '' when none
    user         String,            -- user.name lowercased, '' when none
    code         String,            -- event.code
    channel      String,            -- log.channel
    ext_id       String,            -- the sender's id of the document, '' when none
    bytes        UInt32,            -- size of the stored document
    field_keys   Array(String),     -- every field a `field:value` term looks at...
    field_values Array(String),     -- ...and its value lowercased, pair by pair
    short_keys   Array(String),     -- host fields whose name has a dot...
    short_values Array(String),     -- ...and the name's first label lowercased
    words        String,            -- the event's words, space-separated, a space at each end
    original     String             -- the stored document as it came
";

/// Whether `version` (`18.16.1`, `24.8.4.13`) knows table TTLs (19.6 and later).
pub(crate) fn knows_ttl(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (19, 6)
}

impl ClickHouse {
    /// Make the database and the `events`, `alerts` and `undecodable` tables when they do not exist yet
    /// (nothing already there is changed).
    pub fn init(&self, layout: &Layout) -> Result<(), StoreError> {
        let version = self.version()?;
        let ttl = match layout.retention_days {
            Some(days) if knows_ttl(&version) => format!("TTL day + toIntervalDay({days})"),
            _ => String::new(),
        };
        let database = &self.database;
        let ddl = [
            format!("CREATE DATABASE IF NOT EXISTS {database}"),
            format!(
                "CREATE TABLE IF NOT EXISTS {database}.events ({COLUMNS}) ENGINE = MergeTree \
                 PARTITION BY day ORDER BY (org, ts, host, seq) {ttl}"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {database}.alerts ({}) ENGINE = MergeTree \
                 PARTITION BY day ORDER BY (org, ts, ord) {ttl}",
                crate::alerts::COLUMNS
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {database}.undecodable ({}) ENGINE = MergeTree \
                 PARTITION BY day ORDER BY (part, seq, line) {ttl}",
                crate::undecodable::COLUMNS
            ),
        ];
        for sql in ddl {
            // The statements name only our own database (checked in `connect`) and columns;
            // `query_raw` because the comments hold `?`-free text the client need not parse.
            wait(self.client.query_raw(&sql).execute())
                .map_err(|e| self.error("cannot create the tables", e))?;
        }
        Ok(())
    }

    /// Drop the days of events received and alerts raised more than `max_age` before `now`;
    /// returns how many days (of both tables) went.
    pub fn retain_days(&self, now: jiff::Timestamp, max_age: Duration) -> Result<u64, StoreError> {
        let now_ns = i64::try_from(now.as_nanosecond()).unwrap_or(i64::MAX);
        let age = i64::try_from(max_age.as_nanos()).unwrap_or(i64::MAX);
        let cutoff = day_of(now_ns.saturating_sub(age));
        let client = self.client();
        let days: Vec<(String, u16)> = wait(
            client
                .query(
                    "SELECT DISTINCT table, toUInt16(toDate(partition)) FROM system.parts \
                     WHERE database = ? AND table IN ('events', 'alerts', 'undecodable') AND active",
                )
                .bind(self.database.as_str())
                .fetch_all::<(String, u16)>(),
        )
        .map_err(|e| self.error("cannot list the tables' days", e))?;
        let mut dropped = 0;
        for (table, day) in days.into_iter().filter(|(_, d)| *d < cutoff) {
            let name = jiff::civil::Date::constant(1970, 1, 1)
                .checked_add(jiff::Span::new().days(i64::from(day)))
                .map(|d| d.to_string())
                .unwrap_or_default();
            wait(
                client
                    .query("ALTER TABLE ? DROP PARTITION ?")
                    .bind(clickhouse::sql::Identifier(&table))
                    .bind(name.as_str())
                    .execute(),
            )
            .map_err(|e| self.error(&format!("cannot drop the {table} of {name}"), e))?;
            dropped += 1;
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_versions() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(-5), 0);
        assert_eq!(day_of(20_429 * NS_PER_DAY + 5), 20_429);
        assert_eq!(day_of(i64::MAX), u16::MAX);
        assert!(!knows_ttl("18.16.1"));
        assert!(!knows_ttl("19.5.3"));
        assert!(knows_ttl("19.6.2.11"));
        assert!(knows_ttl("24.8.4.13"));
        assert!(!knows_ttl("garbage"));
    }
}
