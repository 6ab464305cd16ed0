//! Finding events and alerts: time range, query, paging with a cursor, exact totals.
//!
//! Events come newest first. The full-text index narrows the candidates (positive terms only);
//! every candidate is then checked against the whole query, so totals are exact. The cursor is
//! the `(time, seq)` of the last event returned: stable while new events arrive.
//!
//! A search holds a store connection and a blocking thread while it runs, so it has a time
//! budget ([`SearchRequest::budget`]): when the budget is spent the search stops — inside SQLite
//! too, through an interrupt — and returns what it found with `partial: true`, a lower-bound
//! `total`, and a `next_cursor` to go on from where it stopped.

use rusqlite::params_from_iter;
use serde::Serialize;
use wardwatch_core::{Alert, Event};

use crate::db::{Db, level_num};
use crate::query::{self, Query};
use crate::{StoreError, index_text};

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
    /// is full), then the count of matches in the rest of the range for `total`. When the
    /// budget runs out in the first pass the page has what was found and `next_cursor` goes on
    /// after the last event looked at; in the second, `total` is what was counted by then.
    pub fn search_events(&self, req: &SearchRequest) -> Result<EventPage, StoreError> {
        let query = query::parse(&req.q)?;
        let limit = req.limit.clamp(1, MAX_LIMIT);
        let after = req.cursor.as_deref().map(parse_cursor).transpose()?;
        let mut sql = String::from("SELECT seq, ts, doc FROM events WHERE ts >= ?1 AND ts < ?2");
        let mut args: Vec<rusqlite::types::Value> = vec![
            req.from.map_or(i64::MIN, ns).into(),
            req.to.map_or(i64::MAX, ns).into(),
        ];
        sql.push_str(&org_cond("org", req.orgs.as_deref(), &mut args));
        if let Some(fts) = query.fts_prefilter() {
            // Events the indexer has not reached yet are candidates too: search stays exact
            // while the index catches up.
            args.push(fts.into());
            sql.push_str(&format!(
                " AND (seq > COALESCE((SELECT seq FROM idx.index_cursor WHERE id = 1), 0) \
                 OR seq IN (SELECT rowid FROM idx.events_fts WHERE events_fts MATCH ?{}))",
                args.len()
            ));
            self.attach_index()?;
        }
        let watchdog = req.budget.map(|b| Watchdog::start(&self.conn, b));
        let scan = Scan {
            db: self,
            sql: &sql,
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
        let page_end = scan.run(after, None, &mut |ts, seq, event| {
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
        if !partial {
            if let Some(c) = after {
                let end = scan.run(None, Some(c), &mut |_, _, e| {
                    total += u64::from(e.is_some());
                    Ok(true)
                })?;
                partial |= end == ScanEnd::OutOfTime;
            }
            if more && !partial {
                let from = examined.expect("a match was examined");
                let end = scan.run(Some(from), None, &mut |_, _, e| {
                    total += u64::from(e.is_some());
                    Ok(true)
                })?;
                partial |= end == ScanEnd::OutOfTime;
            }
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

/// One search's candidate rows, newest first, checked against its query.
struct Scan<'a> {
    db: &'a Db,
    sql: &'a str,
    args: &'a [rusqlite::types::Value],
    query: &'a Query,
    watchdog: Option<&'a Watchdog>,
}

impl Scan<'_> {
    /// Visit the candidates strictly below `below` and at or above `at_least` (as `(ts, seq)`),
    /// newest first: `visit(ts, seq, Some(event))` for a match, `None` for a candidate that does
    /// not match. At least one candidate is looked at before the budget can stop the scan, so
    /// paging a partial search always moves on.
    fn run(
        &self,
        below: Option<(i64, i64)>,
        at_least: Option<(i64, i64)>,
        visit: &mut Visit<'_>,
    ) -> Result<ScanEnd, StoreError> {
        let mut sql = self.sql.to_string();
        let mut args = self.args.to_vec();
        if let Some((t, s)) = below {
            args.push(t.into());
            args.push(s.into());
            sql.push_str(&format!(
                " AND (ts, seq) < (?{}, ?{})",
                args.len() - 1,
                args.len()
            ));
        }
        if let Some((t, s)) = at_least {
            args.push(t.into());
            args.push(s.into());
            sql.push_str(&format!(
                " AND (ts, seq) >= (?{}, ?{})",
                args.len() - 1,
                args.len()
            ));
        }
        sql.push_str(" ORDER BY ts DESC, seq DESC");
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
            let doc: String = row.get(2)?;
            let event: Event = serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt {
                seq,
                reason: e.to_string(),
            })?;
            let hit = matches_query(self.query, &event);
            if !visit(ts, seq, hit.then_some(&event))? {
                return Ok(ScanEnd::Stopped);
            }
        }
    }
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

fn matches_query(q: &Query, event: &Event) -> bool {
    if *q == Query::All {
        return true;
    }
    let words = query::words(&index_text(event));
    q.matches(event, &words)
}
