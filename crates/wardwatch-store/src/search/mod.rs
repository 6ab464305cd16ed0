//! Finding events: time range, query, paging with a cursor, totals exact or marked as not.
//!
//! Events come newest first. The full-text index narrows the candidates (positive terms only);
//! the candidates of the page are checked against the whole query. The total is counted from
//! the indexes: the journal's columns prove most field matches without a document being read
//! (`query/sql.rs`: the time index `events_ts_cols` carries those columns, so this reads no
//! rows), and only the other candidates are parsed and checked — up to [`VERIFY_BOUND`] of
//! them, the rest estimated from those; the count takes at most [`COUNT_TIME`] (or the
//! request's `count_time`) and extrapolates past it; [`TotalRelation`] says whether the total
//! is exact. A selective prefilter's candidates are fetched by their keys ([`LIST_BOUND`]); a
//! broad one's by walking the time index. The cursor is the `(time, seq)` of the last event
//! returned: stable while new events arrive.
//!
//! A search holds a store connection and a blocking thread while it runs, so it has a time
//! budget ([`SearchRequest::budget`]): when the budget is spent the search stops — inside SQLite
//! too, through an interrupt — and returns what it found with `partial: true`, a lower-bound
//! `total`, and a `next_cursor` to go on from where it stopped.
//!
//! Why several files: this one says what a search is and puts the page and the total together;
//! `scan.rs` walks one search's candidates (fetching, checking, counting, extrapolating);
//! `budget.rs` is the watchdog that stops SQLite when the budget runs out; `alerts.rs` lists
//! alerts, which need none of that (their table is small and carries what is filtered on).

use serde::Serialize;

use crate::StoreError;
use crate::db::Db;
use crate::query;

mod alerts;
mod budget;
mod scan;
#[cfg(test)]
mod tests;

pub use alerts::AlertPage;
use budget::Watchdog;
use scan::{Bounds, Hit, Scan, ScanEnd};

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
    /// Privacy alerts in an alert listing (events are not alerts: ignored there).
    pub privacy: crate::PrivacyScope,
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

pub(crate) const MAX_LIMIT: usize = 1000;

/// The largest sample of a search ([`SearchRequest::sample`]).
pub const MAX_SAMPLE: usize = 10_000;

pub(crate) fn ns(t: jiff::Timestamp) -> i64 {
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
