//! Listing alerts: newest first, by time range, level, rule and host, with an exact total.
//!
//! Why apart from event search: alerts live in their own table, with the columns they are
//! filtered on (`ts`, `level`, `rule_id`, `host`, `org`) and indexes over them, and are few
//! beside the journal's events; no query language, no candidates to check, no estimate.

use rusqlite::params_from_iter;
use serde::Serialize;
use wardwatch_core::Alert;

use super::{MAX_LIMIT, SearchRequest, ns, org_cond, parse_cursor};
use crate::StoreError;
use crate::db::{Db, level_num};

/// One page of alerts.
#[derive(Debug, Clone, Serialize)]
pub struct AlertPage {
    pub total: u64,
    pub alerts: Vec<Alert>,
    pub next_cursor: Option<String>,
}

impl Db {
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
        cond.push_str(&req.privacy.alerts("rule_id"));
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
