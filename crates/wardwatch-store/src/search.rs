//! Finding events and alerts: time range, query, paging with a cursor, exact totals.
//!
//! Events come newest first. The full-text index narrows the candidates (positive terms only);
//! the candidates of the page are checked against the whole query. The total is counted from
//! the indexes: the journal's columns prove most field matches without a document being read
//! (`query/sql.rs`: the time index `events_ts_cols` carries those columns, so this reads no
//! rows), and only the other candidates are parsed and checked — up to [`VERIFY_BOUND`] of
//! them, the rest estimated from those; counting stops [`COUNT_TIME`] after the search started
//! (or the request's `count_time`; at least [`MIN_COUNT_TIME`] after the page) and
//! extrapolates past it; [`TotalRelation`] says whether the total
//! is exact. A selective prefilter's candidates are
//! fetched by their keys ([`LIST_BOUND`]); a broad one's by walking the time index. The
//! cursor is the `(time, seq)` of the last event returned: stable while new events arrive.
//!
//! A search holds a store connection and a blocking thread while it runs, so it has a time
//! budget ([`SearchRequest::budget`]): when the budget is spent the search stops — inside SQLite
//! too, through an interrupt — and returns what it found with `partial: true`, a lower-bound
//! `total`, and a `next_cursor` to go on from where it stopped.

use rusqlite::{OptionalExtension, params_from_iter};
use serde::Serialize;
use wardwatch_core::{Alert, Event};

use crate::StoreError;
use crate::db::{Db, level_num};
use crate::query::{self, Query};

/// What to search.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// The query text (see [`crate::query`]); empty for everything.
    pub q: String,
    /// Inclusive lower bound on event time.
    pub from: Option<jiff::Timestamp>,
    /// Exclusive upper bound on event time.
    pub to: Option<jiff::Timestamp>,
    /// Page size (capped at 1,000).
    pub limit: usize,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// How long the search may run before it returns what it has (`None`: no limit).
    pub budget: Option<std::time::Duration>,
    /// Only these organizations' events and alerts; every one when `None`.
    pub orgs: Option<Vec<String>>,
    /// How long after the search starts counting the matches past the page stops (`None`:
    /// [`COUNT_TIME`]); a count stopped is an estimate. An export that wants an exact total
    /// gives more.
    pub count_time: Option<std::time::Duration>,
    /// Also summarize the newest `sample` matches (at most [`MAX_SAMPLE`], the page's own
    /// included) from the journal's columns, in [`EventPage::sample`]: for a histogram and
    /// facets over more events than the page lists, without reading the documents of those
    /// the columns prove match. Taking it counts against the count's time (the first half of
    /// what is left of it): a sample may hold fewer. 0: none.
    pub sample: usize,
}

/// ` AND {col} IN (?n, ...)` for `orgs` (pushed onto `args`); empty when `orgs` is `None`.
pub(crate) fn org_cond(
    col: &str,
    orgs: Option<&[String]>,
    args: &mut Vec<rusqlite::types::Value>,
) -> String {
    let Some(orgs) = orgs else {
        return String::new();
    };
    let mut marks = Vec::with_capacity(orgs.len());
    for o in orgs {
        args.push(o.clone().into());
        marks.push(format!("?{}", args.len()));
    }
    if marks.is_empty() {
        // No organization at all: nothing matches.
        return " AND 0".to_string();
    }
    format!(" AND {col} IN ({})", marks.join(", "))
}

/// One page of events.
#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    /// Events matching in the whole time range, not just this page (when `partial`, those
    /// found before the budget ran out: a lower bound).
    pub total: u64,
    /// Whether `total` is exact, an estimate, or a lower bound (see [`TotalRelation`]).
    pub total_relation: TotalRelation,
    pub events: Vec<serde_json::Value>,
    pub next_cursor: Option<String>,
    /// The time range searched (`None`: unbounded on that side).
    pub from: Option<jiff::Timestamp>,
    pub to: Option<jiff::Timestamp>,
    /// The time budget ran out before the range was searched through: `events` and `total`
    /// are what was found until then; `next_cursor` goes on from where the search stopped.
    pub partial: bool,
    /// A word on how the range was chosen, when the caller did not give it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The newest matches' columns, newest first, when the request asked for a sample.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sample: Vec<SampleRow>,
}

/// One match of a sample: its time and the normalized fields the journal keeps in columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SampleRow {
    /// Event time, ns since the epoch.
    pub ts: i64,
    /// `host.name`, lowercased (as the journal keeps it).
    pub host: Option<String>,
    /// `user.name`, lowercased.
    pub user: Option<String>,
    /// `event.code`.
    pub code: Option<String>,
    /// `log.channel`.
    pub channel: Option<String>,
}

/// One page of alerts.
#[derive(Debug, Clone, Serialize)]
pub struct AlertPage {
    pub total: u64,
    pub alerts: Vec<Alert>,
    pub next_cursor: Option<String>,
}

const MAX_LIMIT: usize = 1000;

/// The largest sample of a search ([`SearchRequest::sample`]).
pub const MAX_SAMPLE: usize = 10_000;

fn ns(t: jiff::Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX)
}

pub(crate) fn parse_cursor(c: &str) -> Result<(i64, i64), StoreError> {
    let (a, b) = c
        .split_once('-')
        .ok_or_else(|| StoreError::Cursor(c.to_string()))?;
    match (a.parse(), b.parse()) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        _ => Err(StoreError::Cursor(c.to_string())),
    }
}

impl Db {
    /// Search events, within the request's time budget.
    ///
    /// Two passes over the range, newest first: the page (from the cursor down until the page
    /// is full), then the count of matches in the rest of the range for `total` (see
    /// [`Db::count_rest`]: exact up to its bounds, an estimate past them). When the budget runs
    /// out in the first pass the page has what was found and `next_cursor` goes on after the
    /// last event looked at; in the second, `total` is what was counted by then.
    pub fn search_events(&self, req: &SearchRequest) -> Result<EventPage, StoreError> {
        self.search_events_listing(req, LIST_BOUND)
    }

    /// [`Db::search_events`], fetching the candidates by their keys when the prefilter names
    /// at most `list_bound` events.
    fn search_events_listing(
        &self,
        req: &SearchRequest,
        list_bound: u64,
    ) -> Result<EventPage, StoreError> {
        let started = std::time::Instant::now();
        let count_time = req.count_time.unwrap_or(COUNT_TIME);
        // Counting stops `count_time` after the search started, but never sooner than
        // MIN_COUNT_TIME after the page was found (a sample, if asked for, takes the first
        // half of that): the answer comes within about `count_time` whatever the query.
        let count_until = |page_done: std::time::Instant| {
            (started + count_time).max(page_done + MIN_COUNT_TIME.min(count_time))
        };
        let query = query::parse(&req.q)?;
        let limit = req.limit.clamp(1, MAX_LIMIT);
        let after = req.cursor.as_deref().map(parse_cursor).transpose()?;
        let mut cond = String::from("ts >= ?1 AND ts < ?2");
        let mut args: Vec<rusqlite::types::Value> = vec![
            req.from.map_or(i64::MIN, ns).into(),
            req.to.map_or(i64::MAX, ns).into(),
        ];
        cond.push_str(&org_cond("org", req.orgs.as_deref(), &mut args));
        let fts = query.fts_prefilter();
        let mut selective = None;
        if let Some(fts) = &fts {
            self.attach_index()?;
            // Events the indexer has not reached yet are candidates too: search stays exact
            // while the index catches up. (Read before the search: a newer index only has
            // more of the events.)
            let indexed: i64 = self.conn.query_row(
                "SELECT COALESCE((SELECT seq FROM idx.index_cursor WHERE id = 1), 0)",
                [],
                |r| r.get(0),
            )?;
            let named: i64 = self.conn.query_row(
                "SELECT COUNT(*) FROM (SELECT rowid FROM idx.events_fts WHERE events_fts MATCH ?1 LIMIT ?2)",
                rusqlite::params![fts, list_bound as i64 + 1],
                |r| r.get(0),
            )?;
            args.push(indexed.into());
            args.push(fts.clone().into());
            let (i, f) = (args.len() - 1, args.len());
            if named as u64 <= list_bound {
                selective = Some((i, f));
            } else {
                cond.push_str(&format!(
                    " AND (seq > ?{i} OR seq IN (SELECT rowid FROM idx.events_fts WHERE events_fts MATCH ?{f}))"
                ));
            }
        }
        let sure = query::sure_sql(&query, &mut args).unwrap_or_else(|| "0".into());
        let watchdog = req.budget.map(|b| Watchdog::start(&self.conn, b));
        let mut scan = Scan {
            db: self,
            cond: &cond,
            sure: &sure,
            from: req.from.map_or(i64::MIN, ns),
            to: req.to.map_or(i64::MAX, ns),
            args: &args,
            query: &query,
            watchdog: watchdog.as_ref(),
            list: None,
            light: std::cell::Cell::new(false),
        };
        if let Some((indexed, fts)) = selective {
            match scan.candidates(indexed, fts)? {
                Some(list) => scan.list = Some(list),
                None => {
                    // Out of time before a candidate was looked at: go on from the start.
                    drop(watchdog);
                    return Ok(EventPage {
                        total: 0,
                        total_relation: TotalRelation::AtLeast,
                        events: Vec::new(),
                        next_cursor: Some(
                            req.cursor
                                .clone()
                                .unwrap_or_else(|| format!("{}-{}", i64::MAX, i64::MAX)),
                        ),
                        from: req.from,
                        to: req.to,
                        partial: true,
                        note: None,
                        sample: Vec::new(),
                    });
                }
            }
        }

        // The page: after the cursor, until it is full and one more match shows there is more
        // (or, with a sample, until the sample is full too: past the page, the columns are
        // enough, so the documents of proven matches are no longer read). The sample is part
        // of counting the rest: it may take half of the count's time, and stops there.
        let sample_size = req.sample.min(MAX_SAMPLE);
        let mut sample = Vec::new();
        let mut sample_until = None;
        let mut total = 0u64;
        let mut events = Vec::new();
        let mut last = None;
        let mut more = false;
        let mut examined = None;
        let page_end = scan.run(after, &mut |row, hit| {
            examined = Some((row.ts, row.seq));
            if let Hit::No = hit {
                return Ok(true);
            }
            total += 1;
            if events.len() == limit {
                more = true;
                let late = sample_until.is_some_and(|t| std::time::Instant::now() >= t);
                if sample.len() >= sample_size || late {
                    return Ok(false);
                }
                sample.push(row.sample());
                return Ok(true);
            }
            let fetched;
            let event = match hit {
                Hit::Event(e) => e,
                // (Documents are skipped only once the page is full.)
                _ => {
                    fetched = scan.event(row.seq)?;
                    &fetched
                }
            };
            let mut v = serde_json::to_value(event).map_err(|e| StoreError::Corrupt {
                seq: row.seq,
                reason: e.to_string(),
            })?;
            v["seq"] = row.seq.into();
            events.push(v);
            last = Some((row.ts, row.seq));
            if sample.len() < sample_size {
                sample.push(row.sample());
            }
            if events.len() == limit {
                scan.light.set(true);
                let now = std::time::Instant::now();
                sample_until = Some(now + (count_until(now) - now) / 2);
            }
            Ok(true)
        })?;
        let mut partial = page_end == ScanEnd::OutOfTime;

        // The total: matches before the cursor, and after where the page stopped.
        let mut relation = TotalRelation::Exact;
        if !partial {
            let mut rest = Vec::new();
            if let Some(c) = after {
                rest.push(Bounds::AtLeast(c));
            }
            if more {
                rest.push(Bounds::Below(examined.expect("a match was examined")));
            }
            let deadline = count_until(std::time::Instant::now());
            for bounds in rest {
                let count = scan.count(bounds, deadline)?;
                total += count.matches;
                relation = relation.max(count.relation);
                if count.out_of_time {
                    partial = true;
                    break;
                }
            }
        }
        if partial {
            relation = TotalRelation::AtLeast;
        }
        drop(watchdog);
        let cursor = |(t, s): (i64, i64)| format!("{t}-{s}");
        let next_cursor = if more {
            last.map(cursor)
        } else if page_end == ScanEnd::OutOfTime {
            // Go on after the last event looked at (or from where this search started).
            examined
                .or(after)
                .map(cursor)
                .or_else(|| Some(cursor((i64::MAX, i64::MAX))))
        } else {
            None
        };
        Ok(EventPage {
            total,
            total_relation: relation,
            events,
            next_cursor,
            from: req.from,
            to: req.to,
            partial,
            note: None,
            sample,
        })
    }

    /// List alerts, newest first, at or above `min_level`, optionally for one rule or host.
    pub fn list_alerts(
        &self,
        req: &SearchRequest,
        min_level: wardwatch_core::Severity,
        rule_id: Option<&str>,
        host: Option<&str>,
    ) -> Result<AlertPage, StoreError> {
        let limit = req.limit.clamp(1, MAX_LIMIT);
        let after = req.cursor.as_deref().map(parse_cursor);
        let after = after.transpose()?;
        let mut cond = String::from("ts >= ?1 AND ts < ?2 AND level >= ?3");
        let mut args: Vec<rusqlite::types::Value> = vec![
            req.from.map_or(i64::MIN, ns).into(),
            req.to.map_or(i64::MAX, ns).into(),
            level_num(min_level).into(),
        ];
        cond.push_str(&org_cond("org", req.orgs.as_deref(), &mut args));
        if let Some(r) = rule_id {
            args.push(r.to_string().into());
            cond.push_str(&format!(" AND rule_id = ?{}", args.len()));
        }
        if let Some(h) = host {
            args.push(h.to_string().into());
            cond.push_str(&format!(" AND host = ?{} COLLATE NOCASE", args.len()));
        }
        let total: i64 = self.conn.query_row(
            &format!("SELECT COUNT(*) FROM alerts WHERE {cond}"),
            params_from_iter(args.iter()),
            |r| r.get(0),
        )?;
        if let Some((cts, crow)) = after {
            args.push(cts.into());
            args.push(crow.into());
            cond.push_str(&format!(
                " AND (ts < ?{a} OR (ts = ?{a} AND rowid < ?{b}))",
                a = args.len() - 1,
                b = args.len()
            ));
        }
        args.push(((limit + 1) as i64).into());
        let sql = format!(
            "SELECT rowid, ts, doc FROM alerts WHERE {cond} ORDER BY ts DESC, rowid DESC LIMIT ?{}",
            args.len()
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut alerts = Vec::new();
        let mut last = None;
        let mut more = false;
        while let Some(row) = rows.next()? {
            let rowid: i64 = row.get(0)?;
            let ts: i64 = row.get(1)?;
            if alerts.len() == limit {
                more = true;
                break;
            }
            let doc: String = row.get(2)?;
            alerts.push(serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt {
                seq: rowid,
                reason: e.to_string(),
            })?);
            last = Some((ts, rowid));
        }
        Ok(AlertPage {
            total: total as u64,
            alerts,
            next_cursor: if more {
                last.map(|(t, s)| format!("{t}-{s}"))
            } else {
                None
            },
        })
    }

    /// One alert and the event it matched (when the event is still stored).
    pub fn alert(
        &self,
        id: &str,
    ) -> Result<Option<(Alert, Option<serde_json::Value>)>, StoreError> {
        let row: Option<(String, Option<i64>)> = self
            .conn
            .query_row("SELECT doc, seq FROM alerts WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        let Some((doc, seq)) = row else {
            return Ok(None);
        };
        let alert: Alert = serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt {
            seq: seq.unwrap_or(-1),
            reason: e.to_string(),
        })?;
        let event = match seq {
            Some(seq) => self
                .conn
                .query_row("SELECT doc FROM events WHERE seq = ?1", [seq], |r| {
                    r.get::<_, String>(0)
                })
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?
                .and_then(|d| serde_json::from_str(&d).ok()),
            None => None,
        };
        Ok(Some((alert, event)))
    }
}

/// How a scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanEnd {
    /// The range was read to its end.
    Done,
    /// The visitor asked to stop.
    Stopped,
    /// The time budget ran out.
    OutOfTime,
}

/// Called for each candidate of a scan with its row and whether (and how) it matched; returns
/// whether to go on.
type Visit<'a> = dyn FnMut(&Row, Hit<'_>) -> Result<bool, StoreError> + 'a;

/// What a scan found a candidate to be.
enum Hit<'e> {
    /// Not a match.
    No,
    /// A match, proven by the columns; its document was not read ([`Scan::light`]).
    Proven,
    /// A match, with its event.
    Event(&'e Event),
}

/// Which part of the range a count covers, as `(ts, seq)`.
#[derive(Debug, Clone, Copy)]
enum Bounds {
    /// Strictly below (older than) this event.
    Below((i64, i64)),
    /// At or above (as new as or newer than) this event.
    AtLeast((i64, i64)),
}

/// How far `total` is to be trusted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TotalRelation {
    /// Every match in the range was counted.
    #[default]
    Exact,
    /// An estimate: more candidates needed checking one by one than [`VERIFY_BOUND`] or the
    /// count's time allowed (the share of the checked ones that matched was taken for the
    /// rest), or walking the range took longer than [`COUNT_TIME`] (the part not reached was
    /// extrapolated in proportion to its events).
    Estimate,
    /// A lower bound: the search's time budget ran out (`partial` says so too).
    AtLeast,
}

/// How long after a search starts counting the rest of the range stops (walking the
/// candidates in time order, checking those the columns do not prove; at least
/// [`MIN_COUNT_TIME`] after the page is found). Past it the walk stops where it is and the
/// total is extrapolated over the part of the range not reached, in proportion to the events
/// in it; the checks stop (after [`VERIFY_SAMPLE`]) and the rest are estimated in the share of
/// the checked ones that matched. So a search answers within about this much, marked as an
/// estimate when it had to stop.
pub const COUNT_TIME: std::time::Duration = std::time::Duration::from_millis(200);

/// The least time counting gets after the page is found, however long finding it took.
pub const MIN_COUNT_TIME: std::time::Duration = std::time::Duration::from_millis(30);

/// The most events a full-text prefilter may name for the search to fetch its candidates by
/// their keys (then sorted by time) rather than walk the time index over the whole range.
/// Each key fetched reads a 64 KiB page of the journal (about 20 µs here): 3,000 of them take
/// about what walking the time index to the page and counting for [`COUNT_TIME`] do, and a
/// rarer term is cheaper fetched (three matches in a month: 6 ms instead of a whole walk).
pub const LIST_BOUND: u64 = 3_000;

/// The most candidates a total's count parses and checks one by one (those the journal's
/// columns cannot prove); past it the rest are estimated from them.
pub const VERIFY_BOUND: u64 = 1_000;

/// The fewest candidates a count checks one by one before its time ([`COUNT_TIME`]) may stop
/// it: the sample the rest are estimated from.
pub const VERIFY_SAMPLE: u64 = 100;

/// What a count found.
struct Count {
    matches: u64,
    relation: TotalRelation,
    out_of_time: bool,
}

/// A candidate row: its time and sequence number, whether the journal's columns prove it
/// matches, and those columns (for a sample).
#[derive(Debug, Clone)]
struct Row {
    ts: i64,
    seq: i64,
    sure: bool,
    host: Option<String>,
    user: Option<String>,
    code: Option<String>,
    channel: Option<String>,
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

    fn sample(&self) -> SampleRow {
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
struct Scan<'a> {
    db: &'a Db,
    /// The time range, organizations and full-text prefilter (`events` columns).
    cond: &'a str,
    /// 1 for a row the columns prove a match, else 0.
    sure: &'a str,
    /// The time range, ns (`i64::MIN` / `i64::MAX` when open).
    from: i64,
    to: i64,
    args: &'a [rusqlite::types::Value],
    query: &'a Query,
    watchdog: Option<&'a Watchdog>,
    /// Every candidate in the range, newest first, when the full-text prefilter names few
    /// enough events to fetch them by their keys (see [`LIST_BOUND`]).
    list: Option<Vec<Row>>,
    /// Visit matches the columns prove without reading their documents ([`Hit::Proven`]):
    /// set by the visitor once it needs no more documents.
    light: std::cell::Cell<bool>,
}

impl Scan<'_> {
    /// The candidates of a selective prefilter (parameters `?indexed` and `?fts`), fetched by
    /// their keys from the events the index names — instead of walking the time index over the
    /// whole range, which cost half a second for a word found three times in a month — plus
    /// the events the indexer has not reached. `None` when the budget ran out first.
    fn candidates(&self, indexed: usize, fts: usize) -> Result<Option<Vec<Row>>, StoreError> {
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
    fn run(&self, below: Option<(i64, i64)>, visit: &mut Visit<'_>) -> Result<ScanEnd, StoreError> {
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
    fn event(&self, seq: i64) -> Result<Event, StoreError> {
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
    fn count(&self, bounds: Bounds, deadline: std::time::Instant) -> Result<Count, StoreError> {
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
fn bounds_sql(bounds: Bounds, args: &mut Vec<rusqlite::types::Value>) -> String {
    let ((t, s), op) = match bounds {
        Bounds::Below(b) => (b, "<"),
        Bounds::AtLeast(b) => (b, ">="),
    };
    args.push(t.into());
    args.push(s.into());
    format!(" AND (ts, seq) {op} (?{}, ?{})", args.len() - 1, args.len())
}

/// Interrupts a connection's statement when a search's budget runs out — once the search has
/// looked at a candidate (so paging always moves on), or at twice the budget at the latest.
/// Dropping it stops the timer; an interrupt that lands after the statement finished is a
/// no-op in SQLite.
struct Watchdog {
    deadline: std::time::Instant,
    looked: std::sync::Arc<std::sync::atomic::AtomicBool>,
    done: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(conn: &rusqlite::Connection, budget: std::time::Duration) -> Watchdog {
        use std::sync::atomic::Ordering;
        use std::sync::mpsc::RecvTimeoutError;
        let handle = conn.get_interrupt_handle();
        let looked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let started = std::time::Instant::now();
        let seen = looked.clone();
        let thread = std::thread::Builder::new()
            .name("wardwatch-search-budget".into())
            .spawn(move || {
                if wait.recv_timeout(budget) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
                let hard = budget * 2 + std::time::Duration::from_millis(100);
                while !seen.load(Ordering::Acquire) && started.elapsed() < hard {
                    if wait.recv_timeout(std::time::Duration::from_millis(1))
                        != Err(RecvTimeoutError::Timeout)
                    {
                        return;
                    }
                }
                handle.interrupt();
            })
            .ok();
        Watchdog {
            deadline: started + budget,
            looked,
            done: Some(done),
            thread,
        }
    }

    fn looked(&self) {
        self.looked
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn expired(&self) -> bool {
        std::time::Instant::now() >= self.deadline
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn is_interrupt(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::OperationInterrupted)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wardwatch_core::{Event, SourceKind};

    use super::*;
    use crate::{DbOptions, IndexDb, doc_text};

    #[test]
    fn walking_the_time_index_and_fetching_by_keys_find_and_count_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
        let hosts = ["PACS01.hospital.local", "pacs01", "ws-1.hospital.local"];
        let events: Vec<Event> = (0..300)
            .map(|i| {
                let mut e = Event::new(
                    SourceKind::FlatWindows,
                    // Out of order in time, so sequence and time order differ.
                    jiff::Timestamp::from_second(1_770_000_000 + (i * 7919) % 300).unwrap(),
                    json!({"Computer": if i % 7 == 0 { "PACS01" } else { "ws-1" },
                           "CommandLine": if i % 3 == 0 { "powershell -enc" } else { "enc powershell" }}),
                );
                e.ecs.host_name = Some(hosts[i as usize % hosts.len()].into());
                e.ecs.event_code = Some(["4624", "4625"][i as usize % 2].into());
                e
            })
            .collect();
        db.append(&[events]).unwrap();
        let rows: Vec<(i64, String)> = db
            .read_docs_after(0, 250)
            .unwrap()
            .into_iter()
            .map(|(seq, doc)| (seq, doc_text(&doc).unwrap()))
            .collect();
        IndexDb::open(dir.path(), &DbOptions::default())
            .unwrap()
            .commit(rows.last().unwrap().0, &rows)
            .unwrap();
        for q in [
            "powershell",
            "\"powershell enc\"",
            "host.name:PACS01",
            "host.name:PACS01 AND event.code:4625",
            "Computer:PACS01 OR event.code:4624",
            "pacs01 NOT event.code:4624",
        ] {
            for (limit, cursor) in [(1000, None), (17, None), (17, Some("1770000150-100"))] {
                let req = SearchRequest {
                    q: q.into(),
                    limit,
                    cursor: cursor.map(str::to_string),
                    count_time: Some(std::time::Duration::from_secs(600)),
                    sample: 40,
                    ..Default::default()
                };
                let listed = db.search_events_listing(&req, u64::MAX).unwrap();
                let walked = db.search_events_listing(&req, 0).unwrap();
                let key = |p: &EventPage| {
                    (
                        p.total,
                        p.total_relation,
                        p.next_cursor.clone(),
                        p.events
                            .iter()
                            .map(|e| e["seq"].clone())
                            .collect::<Vec<_>>(),
                        p.sample.clone(),
                    )
                };
                assert_eq!(key(&listed), key(&walked), "{q} {limit} {cursor:?}");
                assert!(listed.total > 0, "{q}");
                assert!(listed.sample.len() >= listed.events.len().min(40), "{q}");
            }
        }
    }

    #[test]
    fn a_count_past_its_time_extrapolates_over_the_span_it_did_not_reach() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
        let events: Vec<Event> = (0..10_000)
            .map(|i| {
                Event::new(
                    SourceKind::FlatWindows,
                    jiff::Timestamp::from_second(1_770_000_000 + i).unwrap(),
                    json!({"n": i}),
                )
            })
            .collect();
        db.append(&[events]).unwrap();
        let req = SearchRequest {
            limit: 50,
            count_time: Some(std::time::Duration::from_secs(600)),
            ..Default::default()
        };
        let exact = db.search_events(&req).unwrap();
        assert_eq!(
            (exact.total, exact.total_relation),
            (10_000, TotalRelation::Exact)
        );
        // No time to count: the walk stops at its first look at the clock (4,096 rows in) and
        // the rest of the span is extrapolated — one event a second, so close to the truth.
        let hurried = db
            .search_events(&SearchRequest {
                count_time: Some(std::time::Duration::ZERO),
                ..req.clone()
            })
            .unwrap();
        assert_eq!(hurried.total_relation, TotalRelation::Estimate);
        assert!(
            hurried.total.abs_diff(10_000) <= 100,
            "estimated {}",
            hurried.total
        );
        assert_eq!(hurried.events.len(), 50);
        assert!(!hurried.partial);
    }
}
