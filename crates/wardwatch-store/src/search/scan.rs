//! Walking one search's candidates, newest first: fetching them (by their keys when the
//! full-text prefilter names few, else along the time index), checking those the journal's
//! columns do not prove, and counting the rest of the range — exactly where the columns prove
//! the matches, by a checked sample past [`VERIFY_BOUND`] or the count's time, and by
//! extrapolation over the part of the range a walk did not reach.
//!
//! Why its own file: this is where the time goes, and where reading a row (a 64 KiB page of
//! the journal) is avoided wherever the time index's columns are enough.

use rusqlite::{OptionalExtension, params_from_iter};
use wardwatch_core::Event;

use super::budget::{Watchdog, is_interrupt};
use super::{SampleRow, TotalRelation, VERIFY_BOUND, VERIFY_SAMPLE};
use crate::StoreError;
use crate::db::Db;
use crate::query::Query;

/// How a scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScanEnd {
    /// The range was read to its end.
    Done,
    /// The visitor asked to stop.
    Stopped,
    /// The time budget ran out.
    OutOfTime,
}

/// Called for each candidate of a scan with its row and whether (and how) it matched; returns
/// whether to go on.
pub(super) type Visit<'a> = dyn FnMut(&Row, Hit<'_>) -> Result<bool, StoreError> + 'a;

/// What a scan found a candidate to be.
pub(super) enum Hit<'e> {
    /// Not a match.
    No,
    /// A match, proven by the columns; its document was not read ([`Scan::light`]).
    Proven,
    /// A match, with its event.
    Event(&'e Event),
}

/// Which part of the range a count covers, as `(ts, seq)`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Bounds {
    /// Strictly below (older than) this event.
    Below((i64, i64)),
    /// At or above (as new as or newer than) this event.
    AtLeast((i64, i64)),
}

/// What a count found.
pub(super) struct Count {
    pub(super) matches: u64,
    pub(super) relation: TotalRelation,
    pub(super) out_of_time: bool,
}

/// A candidate row: its time and sequence number, whether the journal's columns prove it
/// matches, and those columns (for a sample).
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub(super) ts: i64,
    pub(super) seq: i64,
    pub(super) sure: bool,
    pub(super) host: Option<String>,
    pub(super) user: Option<String>,
    pub(super) code: Option<String>,
    pub(super) channel: Option<String>,
}

impl Row {
    /// From `SELECT ts, seq, sure, host, user, code, channel`.
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        Ok(Row {
            ts: r.get(0)?,
            seq: r.get(1)?,
            sure: r.get(2)?,
            host: r.get(3)?,
            user: r.get(4)?,
            code: r.get(5)?,
            channel: r.get(6)?,
        })
    }

    fn key(&self) -> (i64, i64) {
        (self.ts, self.seq)
    }

    pub(super) fn sample(&self) -> SampleRow {
        SampleRow {
            ts: self.ts,
            host: self.host.clone(),
            user: self.user.clone(),
            code: self.code.clone(),
            channel: self.channel.clone(),
        }
    }
}

/// One search's candidate rows, newest first, checked against its query.
pub(super) struct Scan<'a> {
    pub(super) db: &'a Db,
    /// The time range, organizations and full-text prefilter (`events` columns).
    pub(super) cond: &'a str,
    /// 1 for a row the columns prove a match, else 0.
    pub(super) sure: &'a str,
    /// The time range, ns (`i64::MIN` / `i64::MAX` when open).
    pub(super) from: i64,
    pub(super) to: i64,
    pub(super) args: &'a [rusqlite::types::Value],
    pub(super) query: &'a Query,
    pub(super) watchdog: Option<&'a Watchdog>,
    /// Every candidate in the range, newest first, when the full-text prefilter names few
    /// enough events to fetch them by their keys (see [`LIST_BOUND`]).
    pub(super) list: Option<Vec<Row>>,
    /// Visit matches the columns prove without reading their documents ([`Hit::Proven`]):
    /// set by the visitor once it needs no more documents.
    pub(super) light: std::cell::Cell<bool>,
}

impl Scan<'_> {
    /// The candidates of a selective prefilter (parameters `?indexed` and `?fts`), fetched by
    /// their keys from the events the index names — instead of walking the time index over the
    /// whole range, which cost half a second for a word found three times in a month — plus
    /// the events the indexer has not reached. `None` when the budget ran out first.
    pub(super) fn candidates(
        &self,
        indexed: usize,
        fts: usize,
    ) -> Result<Option<Vec<Row>>, StoreError> {
        // `+ts`: not the time index (over a month, millions of entries); the keys the index
        // names drive the lookup, and the unindexed tail is a range of keys.
        let plain = self
            .cond
            .replacen("ts >= ?1 AND ts < ?2", "+ts >= ?1 AND +ts < ?2", 1);
        let sql = format!(
            "SELECT ts, seq, {sure}, host, user, code, channel FROM events WHERE seq <= ?{indexed} AND seq IN (SELECT rowid FROM idx.events_fts WHERE events_fts MATCH ?{fts}) AND {plain}
             UNION ALL
             SELECT ts, seq, {sure}, host, user, code, channel FROM events WHERE seq > ?{indexed} AND {plain}",
            sure = self.sure,
        );
        let listed = self.db.conn.prepare(&sql).and_then(|mut stmt| {
            stmt.query_map(params_from_iter(self.args), Row::read)?
                .collect::<Result<Vec<Row>, _>>()
        });
        let mut list = match listed {
            Ok(list) => list,
            Err(e) if is_interrupt(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        list.sort_unstable_by_key(|c| std::cmp::Reverse(c.key()));
        Ok(Some(list))
    }

    /// Visit the candidates strictly below `below` (as `(ts, seq)`), newest first, each with
    /// whether it matched ([`Hit`]). At least one candidate is looked at before the budget can
    /// stop the scan, so paging a partial search always moves on.
    pub(super) fn run(
        &self,
        below: Option<(i64, i64)>,
        visit: &mut Visit<'_>,
    ) -> Result<ScanEnd, StoreError> {
        if let Some(list) = &self.list {
            let start = below.map_or(0, |b| list.partition_point(|c| c.key() >= b));
            for (n, row) in list[start..].iter().enumerate() {
                if n > 0 && self.watchdog.is_some_and(Watchdog::expired) {
                    return Ok(ScanEnd::OutOfTime);
                }
                if let Some(w) = self.watchdog {
                    w.looked();
                }
                match self.look(row, visit)? {
                    None => return Ok(ScanEnd::OutOfTime),
                    Some(false) => return Ok(ScanEnd::Stopped),
                    Some(true) => {}
                }
            }
            return Ok(ScanEnd::Done);
        }
        let mut args = self.args.to_vec();
        let bounds = below.map(|b| bounds_sql(Bounds::Below(b), &mut args));
        let sql = format!(
            "SELECT ts, seq, {}, host, user, code, channel FROM events WHERE {}{} ORDER BY ts DESC, seq DESC",
            self.sure,
            self.cond,
            bounds.unwrap_or_default()
        );
        let mut stmt = match self.db.conn.prepare(&sql) {
            Ok(stmt) => stmt,
            Err(e) if is_interrupt(&e) => return Ok(ScanEnd::OutOfTime),
            Err(e) => return Err(e.into()),
        };
        let mut rows = match stmt.query(params_from_iter(args)) {
            Ok(rows) => rows,
            Err(e) if is_interrupt(&e) => return Ok(ScanEnd::OutOfTime),
            Err(e) => return Err(e.into()),
        };
        let mut looked = false;
        loop {
            if looked && self.watchdog.is_some_and(Watchdog::expired) {
                return Ok(ScanEnd::OutOfTime);
            }
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => return Ok(ScanEnd::Done),
                Err(e) if is_interrupt(&e) => return Ok(ScanEnd::OutOfTime),
                Err(e) => return Err(e.into()),
            };
            looked = true;
            if let Some(w) = self.watchdog {
                w.looked();
            }
            let row = Row::read(row)?;
            match self.look(&row, visit)? {
                None => return Ok(ScanEnd::OutOfTime),
                Some(false) => return Ok(ScanEnd::Stopped),
                Some(true) => {}
            }
        }
    }

    /// Check one candidate and visit it: a row the columns prove a match is not checked, and
    /// its document is read only while the visitor wants documents (the page shows them).
    /// Returns what the visitor said, `None` when the budget interrupted the read.
    fn look(&self, row: &Row, visit: &mut Visit<'_>) -> Result<Option<bool>, StoreError> {
        if row.sure && self.light.get() {
            return visit(row, Hit::Proven).map(Some);
        }
        let event = match self.event(row.seq) {
            Ok(e) => e,
            Err(StoreError::Sql(e)) if is_interrupt(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let hit = if row.sure || self.query.matches_event(&event) {
            Hit::Event(&event)
        } else {
            Hit::No
        };
        visit(row, hit).map(Some)
    }

    /// The stored event `seq`.
    pub(super) fn event(&self, seq: i64) -> Result<Event, StoreError> {
        let mut stmt = self
            .db
            .conn
            .prepare_cached("SELECT doc FROM events WHERE seq = ?1")?;
        let doc: String = stmt.query_row([seq], |r| r.get(0))?;
        serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt {
            seq,
            reason: e.to_string(),
        })
    }

    /// The matches within `bounds`, counted without reading documents where the journal's
    /// columns prove the match; the other candidates are parsed and checked, the newest
    /// [`VERIFY_BOUND`] of them, and the share of those that matched is taken for the rest
    /// (an estimate). Walking the time index, the count stops at `deadline` and extrapolates
    /// over the part of the range it did not reach.
    pub(super) fn count(
        &self,
        bounds: Bounds,
        deadline: std::time::Instant,
    ) -> Result<Count, StoreError> {
        let out_of_time = |matches| Count {
            matches,
            relation: TotalRelation::AtLeast,
            out_of_time: true,
        };
        if let Some(list) = &self.list {
            let within = |c: &&Row| match bounds {
                Bounds::Below(b) => c.key() < b,
                Bounds::AtLeast(b) => c.key() >= b,
            };
            let sure = list.iter().filter(within).filter(|c| c.sure).count() as u64;
            let unsure: Vec<i64> = list
                .iter()
                .filter(within)
                .filter(|c| !c.sure)
                .map(|c| c.seq)
                .collect();
            return self.verify(sure, unsure.len() as u64, &unsure, deadline);
        }
        let mut args = self.args.to_vec();
        let range = format!("{}{}", self.cond, bounds_sql(bounds, &mut args));
        let sql = format!(
            "SELECT ts, seq, {} FROM events WHERE {range} ORDER BY ts DESC, seq DESC",
            self.sure
        );
        let (mut sure, mut unsure, mut seqs) = (0u64, 0u64, Vec::new());
        let mut stopped_at = None;
        let walked = self.db.conn.prepare(&sql).and_then(|mut stmt| {
            let mut rows = stmt.query(params_from_iter(&args))?;
            let mut n = 0u64;
            while let Some(row) = rows.next()? {
                n += 1;
                if n.is_multiple_of(256) && std::time::Instant::now() >= deadline {
                    stopped_at = Some((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?));
                    break;
                }
                if row.get::<_, bool>(2)? {
                    sure += 1;
                } else {
                    unsure += 1;
                    if seqs.len() < VERIFY_BOUND as usize {
                        seqs.push(row.get::<_, i64>(1)?);
                    }
                }
            }
            Ok(())
        });
        match walked {
            Ok(()) => {}
            Err(e) if is_interrupt(&e) => return Ok(out_of_time(sure)),
            Err(e) => return Err(e.into()),
        }
        let mut count = self.verify(sure, unsure, &seqs, deadline)?;
        if let Some(stop) = stopped_at
            && !count.out_of_time
        {
            // The walk went newest first from the top of the range down to `stop`; the rest is
            // extrapolated in proportion to the events not reached, measured by sequence
            // numbers (the journal's order, which follows time closely and, unlike time, counts
            // the quiet night and the busy morning alike).
            let (top, bottom) = match bounds {
                Bounds::Below(b) => (Some(b), self.edge(true)?),
                Bounds::AtLeast(b) => (self.edge(false)?, Some(b)),
            };
            if let (Some(top), Some(bottom)) = (top, bottom) {
                let all = top.1.abs_diff(bottom.1) as f64;
                let reached = top.1.abs_diff(stop.1) as f64;
                let by_time = (top.0.saturating_sub(bottom.0) as f64)
                    / (top.0.saturating_sub(stop.0) as f64).max(1.0);
                let factor = if reached > 0.0 && all >= reached {
                    all / reached
                } else {
                    by_time
                };
                count.matches = (count.matches as f64 * factor.max(1.0)).round() as u64;
            }
            count.relation = TotalRelation::Estimate;
        }
        Ok(count)
    }

    /// The oldest (`oldest`) or newest event of the time range, as `(ts, seq)`.
    fn edge(&self, oldest: bool) -> Result<Option<(i64, i64)>, StoreError> {
        let order = if oldest { "ASC" } else { "DESC" };
        Ok(self
            .db
            .conn
            .query_row(
                &format!(
                    "SELECT ts, seq FROM events WHERE ts >= ?1 AND ts < ?2 ORDER BY ts {order}, seq {order} LIMIT 1"
                ),
                [self.from, self.to],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The total of a count: `sure` proven matches, `unsure` candidates of which the newest
    /// are `seqs` (the first [`VERIFY_BOUND`] are parsed and checked — past `deadline` only
    /// the first [`VERIFY_SAMPLE`] —, the rest estimated from them).
    fn verify(
        &self,
        sure: u64,
        unsure: u64,
        seqs: &[i64],
        deadline: std::time::Instant,
    ) -> Result<Count, StoreError> {
        let out_of_time = |matches| Count {
            matches,
            relation: TotalRelation::AtLeast,
            out_of_time: true,
        };
        let mut matches = sure;
        let mut checked = 0u64;
        let mut matched = 0u64;
        for &seq in seqs.iter().take(VERIFY_BOUND as usize) {
            if self.watchdog.is_some_and(Watchdog::expired) {
                return Ok(out_of_time(matches + matched));
            }
            if checked >= VERIFY_SAMPLE && std::time::Instant::now() >= deadline {
                break;
            }
            let event = match self.event(seq) {
                Ok(e) => e,
                Err(StoreError::Sql(e)) if is_interrupt(&e) => {
                    return Ok(out_of_time(matches + matched));
                }
                Err(e) => return Err(e),
            };
            checked += 1;
            matched += u64::from(self.query.matches_event(&event));
        }
        matches += matched;
        let relation = if checked < unsure {
            // The unchecked candidates match in the proportion the checked ones did.
            let rest = (unsure - checked) as f64 * matched as f64 / checked.max(1) as f64;
            matches += rest.round() as u64;
            TotalRelation::Estimate
        } else {
            TotalRelation::Exact
        };
        Ok(Count {
            matches,
            relation,
            out_of_time: false,
        })
    }
}

/// ` AND (ts, seq) <op> (?a, ?b)` for `bounds` (pushed onto `args`).
pub(super) fn bounds_sql(bounds: Bounds, args: &mut Vec<rusqlite::types::Value>) -> String {
    let ((t, s), op) = match bounds {
        Bounds::Below(b) => (b, "<"),
        Bounds::AtLeast(b) => (b, ">="),
    };
    args.push(t.into());
    args.push(s.into());
    format!(" AND (ts, seq) {op} (?{}, ?{})", args.len() - 1, args.len())
}
