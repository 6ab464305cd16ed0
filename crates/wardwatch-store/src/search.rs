//! Finding events and alerts: time range, query, paging with a cursor, exact totals.
//!
//! Events come newest first. The full-text index narrows the candidates (positive terms only);
//! the candidates of the page are checked against the whole query. The total is counted from
//! the indexes: the journal's columns prove most field matches without a document being read
//! (`query/sql.rs`), and only the other candidates are parsed and checked — up to
//! [`VERIFY_BOUND`] of them, the rest estimated from those; [`TotalRelation`] says which. The
//! cursor is the `(time, seq)` of the last event returned: stable while new events arrive.
//!
//! A search holds a store connection and a blocking thread while it runs, so it has a time
//! budget ([`SearchRequest::budget`]): when the budget is spent the search stops — inside SQLite
//! too, through an interrupt — and returns what it found with `partial: true`, a lower-bound
//! `total`, and a `next_cursor` to go on from where it stopped.

use rusqlite::params_from_iter;
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
}

/// One page of alerts.
#[derive(Debug, Clone, Serialize)]
pub struct AlertPage {
    pub total: u64,
    pub alerts: Vec<Alert>,
    pub next_cursor: Option<String>,
}

const MAX_LIMIT: usize = 1000;

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
        let query = query::parse(&req.q)?;
        let limit = req.limit.clamp(1, MAX_LIMIT);
        let after = req.cursor.as_deref().map(parse_cursor).transpose()?;
        let mut cond = String::from("ts >= ?1 AND ts < ?2");
        let mut args: Vec<rusqlite::types::Value> = vec![
            req.from.map_or(i64::MIN, ns).into(),
            req.to.map_or(i64::MAX, ns).into(),
        ];
        cond.push_str(&org_cond("org", req.orgs.as_deref(), &mut args));
        if let Some(fts) = query.fts_prefilter() {
            self.attach_index()?;
            // Events the indexer has not reached yet are candidates too: search stays exact
            // while the index catches up. (Read before the search: a newer index only has
            // more of the events.)
            let indexed: i64 = self.conn.query_row(
                "SELECT COALESCE((SELECT seq FROM idx.index_cursor WHERE id = 1), 0)",
                [],
                |r| r.get(0),
            )?;
            args.push(indexed.into());
            args.push(fts.into());
            cond.push_str(&format!(
                " AND (seq > ?{} OR seq IN (SELECT rowid FROM idx.events_fts WHERE events_fts MATCH ?{}))",
                args.len() - 1,
                args.len()
            ));
        }
        let sure = query::sure_sql(&query, &mut args).unwrap_or_else(|| "0".into());
        let watchdog = req.budget.map(|b| Watchdog::start(&self.conn, b));
        let scan = Scan {
            db: self,
            cond: &cond,
            sure: &sure,
            args: &args,
            query: &query,
            watchdog: watchdog.as_ref(),
        };

        // The page: after the cursor, until it is full and one more match shows there is more.
        let mut total = 0u64;
        let mut events = Vec::new();
        let mut last = None;
        let mut more = false;
        let mut examined = None;
        let page_end = scan.run(after, &mut |ts, seq, event| {
            examined = Some((ts, seq));
            let Some(event) = event else {
                return Ok(true);
            };
            total += 1;
            if events.len() == limit {
                more = true;
                return Ok(false);
            }
            let mut v = serde_json::to_value(event).map_err(|e| StoreError::Corrupt {
                seq,
                reason: e.to_string(),
            })?;
            v["seq"] = seq.into();
            events.push(v);
            last = Some((ts, seq));
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
            for bounds in rest {
                let count = scan.count(bounds)?;
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

/// Called for each candidate of a scan with `(ts, seq, the event when it matches)`; returns
/// whether to go on.
type Visit<'a> = dyn FnMut(i64, i64, Option<&Event>) -> Result<bool, StoreError> + 'a;

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
    /// An estimate: more candidates than [`VERIFY_BOUND`] needed checking one by one; the
    /// share of the checked ones that matched was taken for the rest.
    Estimate,
    /// A lower bound: the count stopped at [`COUNT_BOUND`] candidates, or at the time budget
    /// (then `partial` says so too).
    AtLeast,
}

/// The most candidates a total's count looks at; past it the total is "at least".
pub const COUNT_BOUND: u64 = 2_000_000;

/// The most candidates a total's count parses and checks one by one (those the journal's
/// columns cannot prove); past it the rest are estimated from them.
pub const VERIFY_BOUND: u64 = 2_000;

/// What a count found.
struct Count {
    matches: u64,
    relation: TotalRelation,
    out_of_time: bool,
}

/// One search's candidate rows, newest first, checked against its query.
struct Scan<'a> {
    db: &'a Db,
    /// The time range, organizations and full-text prefilter (`events` columns).
    cond: &'a str,
    /// 1 for a row the columns prove a match, else 0.
    sure: &'a str,
    args: &'a [rusqlite::types::Value],
    query: &'a Query,
    watchdog: Option<&'a Watchdog>,
}

impl Scan<'_> {
    /// Visit the candidates strictly below `below` (as `(ts, seq)`), newest first:
    /// `visit(ts, seq, Some(hit))` for a match, `None` for a candidate that does not match. At
    /// least one candidate is looked at before the budget can stop the scan, so paging a
    /// partial search always moves on.
    fn run(&self, below: Option<(i64, i64)>, visit: &mut Visit<'_>) -> Result<ScanEnd, StoreError> {
        let mut args = self.args.to_vec();
        let bounds = below.map(|b| bounds_sql(Bounds::Below(b), &mut args));
        let sql = format!(
            "SELECT seq, ts, {} FROM events WHERE {}{} ORDER BY ts DESC, seq DESC",
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
            let seq: i64 = row.get(0)?;
            let ts: i64 = row.get(1)?;
            // A row the columns prove a match is not checked (but parsed: the page shows it).
            let sure: bool = row.get(2)?;
            let event = match self.event(seq) {
                Ok(e) => e,
                Err(StoreError::Sql(e)) if is_interrupt(&e) => return Ok(ScanEnd::OutOfTime),
                Err(e) => return Err(e),
            };
            let matched = sure || self.query.matches_event(&event);
            if !visit(ts, seq, matched.then_some(&event))? {
                return Ok(ScanEnd::Stopped);
            }
        }
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
    /// (an estimate). Past [`COUNT_BOUND`] candidates the count stops (a lower bound).
    fn count(&self, bounds: Bounds) -> Result<Count, StoreError> {
        let out_of_time = |matches| Count {
            matches,
            relation: TotalRelation::AtLeast,
            out_of_time: true,
        };
        let mut args = self.args.to_vec();
        let range = format!("{}{}", self.cond, bounds_sql(bounds, &mut args));
        args.push((COUNT_BOUND as i64).into());
        let sql = format!(
            "SELECT COUNT(*), TOTAL(s) FROM (SELECT {} AS s FROM events WHERE {range} LIMIT ?{})",
            self.sure,
            args.len()
        );
        let counted = self.db.conn.query_row(&sql, params_from_iter(&args), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?))
        });
        let (candidates, sure) = match counted {
            Ok((c, s)) => (c as u64, s as u64),
            Err(e) if is_interrupt(&e) => return Ok(out_of_time(0)),
            Err(e) => return Err(e.into()),
        };
        let mut matches = sure;
        let unsure = candidates - sure;
        let mut checked = 0u64;
        let mut matched = 0u64;
        if unsure > 0 {
            args.pop();
            args.push((VERIFY_BOUND as i64).into());
            let sql = format!(
                "SELECT seq FROM events WHERE {range} AND NOT {} ORDER BY ts DESC, seq DESC LIMIT ?{}",
                self.sure,
                args.len()
            );
            let seqs = match self.db.conn.prepare(&sql).and_then(|mut stmt| {
                stmt.query_map(params_from_iter(&args), |r| r.get::<_, i64>(0))?
                    .collect::<Result<Vec<i64>, _>>()
            }) {
                Ok(seqs) => seqs,
                Err(e) if is_interrupt(&e) => return Ok(out_of_time(matches)),
                Err(e) => return Err(e.into()),
            };
            for seq in seqs {
                if self.watchdog.is_some_and(Watchdog::expired) {
                    return Ok(out_of_time(matches + matched));
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
        }
        matches += matched;
        let relation = if candidates >= COUNT_BOUND {
            TotalRelation::AtLeast
        } else if checked < unsure {
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
