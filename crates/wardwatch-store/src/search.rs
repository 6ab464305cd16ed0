//! Finding events and alerts: time range, query, paging with a cursor, exact totals.
//!
//! Events come newest first. The full-text index narrows the candidates (positive terms only);
//! every candidate is then checked against the whole query, so totals are exact. The cursor is
//! the `(time, seq)` of the last event returned: stable while new events arrive.

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
}

/// One page of events.
#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    /// Events matching in the whole time range, not just this page.
    pub total: u64,
    pub events: Vec<serde_json::Value>,
    pub next_cursor: Option<String>,
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
    /// Search events.
    pub fn search_events(&self, req: &SearchRequest) -> Result<EventPage, StoreError> {
        let query = query::parse(&req.q)?;
        let limit = req.limit.clamp(1, MAX_LIMIT);
        let after = req.cursor.as_deref().map(parse_cursor).transpose()?;
        let mut sql = String::from("SELECT seq, ts, doc FROM events WHERE ts >= ?1 AND ts < ?2");
        let mut args: Vec<rusqlite::types::Value> = vec![
            req.from.map_or(i64::MIN, ns).into(),
            req.to.map_or(i64::MAX, ns).into(),
        ];
        if let Some(fts) = query.fts_prefilter() {
            // Events the indexer has not reached yet are candidates too: search stays exact
            // while the index catches up.
            sql.push_str(
                " AND (seq > COALESCE((SELECT seq FROM idx.index_cursor WHERE id = 1), 0) \
                 OR seq IN (SELECT rowid FROM idx.events_fts WHERE events_fts MATCH ?3))",
            );
            args.push(fts.into());
            self.attach_index()?;
        }
        sql.push_str(" ORDER BY ts DESC, seq DESC");
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut total = 0u64;
        let mut events = Vec::new();
        let mut last = None;
        let mut more = false;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let ts: i64 = row.get(1)?;
            let doc: String = row.get(2)?;
            let event: Event = serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt {
                seq,
                reason: e.to_string(),
            })?;
            if !matches_query(&query, &event) {
                continue;
            }
            total += 1;
            let past_cursor = after.is_none_or(|(cts, cseq)| (ts, seq) < (cts, cseq));
            if !past_cursor {
                continue;
            }
            if events.len() < limit {
                let mut v = serde_json::to_value(&event).map_err(|e| StoreError::Corrupt {
                    seq,
                    reason: e.to_string(),
                })?;
                v["seq"] = seq.into();
                events.push(v);
                last = Some((ts, seq));
            } else {
                more = true;
            }
        }
        Ok(EventPage {
            total,
            events,
            next_cursor: if more {
                last.map(|(t, s)| format!("{t}-{s}"))
            } else {
                None
            },
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

fn matches_query(q: &Query, event: &Event) -> bool {
    if *q == Query::All {
        return true;
    }
    let words = query::words(&index_text(event));
    q.matches(event, &words)
}
