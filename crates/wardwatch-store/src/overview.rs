//! Counts the console's pages draw: incidents by severity, alerts over time, the busiest
//! hosts, users and rules, and which sources send what. Each is one aggregate query over an
//! indexed column, restricted to the organizations a person sees. Privacy incidents and
//! alerts are never counted here: they are the privacy officer's (`privacy.rs`).

use rusqlite::params_from_iter;
use rusqlite::types::Value;
use serde::Serialize;

use crate::db::Db;
use crate::search::org_cond;
use crate::{PrivacyScope, StoreError};

/// Rows the journal gained since a position: who sent them, for source health.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceRow {
    pub source: String,
    /// The decoder (`evtx`, `syslog`, ...).
    pub kind: String,
    pub host: Option<String>,
    pub org: String,
    pub events: u64,
    /// ns since the epoch: when the newest of them was stored, and its event time.
    pub last_received: i64,
    pub last_ts: i64,
}

/// A rule's alerts in a period: id, title, level number, count, newest time (ns).
pub type RuleHits = (String, String, i64, u64, i64);

impl Db {
    /// Rows of (key, count) from `sql`, which selects exactly those two columns.
    fn counts<K: rusqlite::types::FromSql>(
        &self,
        sql: &str,
        args: Vec<Value>,
    ) -> Result<Vec<(K, u64)>, StoreError> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Open incidents (not resolved, not merged) per severity number (0 informational ..
    /// 4 critical).
    pub fn open_incident_counts(
        &self,
        orgs: Option<&[String]>,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let mut args = Vec::new();
        let cond = org_cond("org", orgs, &mut args);
        let np = PrivacyScope::Without.incidents("id");
        self.counts(&format!(
            "SELECT severity, COUNT(*) FROM incidents WHERE status != 'resolved' AND merged_into IS NULL{np}{cond} GROUP BY severity"
        ), args)
    }

    /// Alerts per time bucket of `bucket_ns` in `[from, to)`: (bucket start, count).
    pub fn alert_histogram(
        &self,
        from: i64,
        to: i64,
        bucket_ns: i64,
        orgs: Option<&[String]>,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let mut args: Vec<Value> = vec![from.into(), to.into(), bucket_ns.max(1).into()];
        let cond = org_cond("org", orgs, &mut args);
        let np = PrivacyScope::Without.alerts("rule_id");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT (ts - ?1) / ?3, COUNT(*) FROM alerts WHERE ts >= ?1 AND ts < ?2{np}{cond} GROUP BY 1 ORDER BY 1"
        ))?;
        let rows = stmt.query_map(params_from_iter(args), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows
            .map(|r| r.map(|(b, n)| (from + b * bucket_ns.max(1), n)))
            .collect::<Result<_, _>>()?)
    }

    /// The hosts with most alerts since `from`.
    pub fn top_alert_hosts(
        &self,
        from: i64,
        limit: usize,
        orgs: Option<&[String]>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut args: Vec<Value> = vec![from.into(), (limit as i64).into()];
        let cond = org_cond("org", orgs, &mut args);
        let np = PrivacyScope::Without.alerts("rule_id");
        self.counts(&format!(
            "SELECT host, COUNT(*) FROM alerts WHERE ts >= ?1 AND host IS NOT NULL{np}{cond} GROUP BY host COLLATE NOCASE ORDER BY 2 DESC LIMIT ?2"
        ), args)
    }

    /// The users (alert entities of kind user) with most alerts since `from`.
    pub fn top_alert_users(
        &self,
        from: i64,
        limit: usize,
        orgs: Option<&[String]>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut args: Vec<Value> = vec![from.into(), (limit as i64).into()];
        let cond = org_cond("a.org", orgs, &mut args);
        let np = PrivacyScope::Without.alerts("a.rule_id");
        self.counts(
            &format!(
                "SELECT json_extract(e.value, '$.value') AS u, COUNT(*) FROM alerts a, json_each(a.doc, '$.entities') e
             WHERE a.ts >= ?1 AND json_extract(e.value, '$.kind') = 'user'{np}{cond}
             GROUP BY u ORDER BY 2 DESC LIMIT ?2"
            ),
            args,
        )
    }

    /// Alerts per rule since `from`: (rule id, title, level number, count, last ts).
    pub fn rule_hits(
        &self,
        from: i64,
        orgs: Option<&[String]>,
    ) -> Result<Vec<RuleHits>, StoreError> {
        let mut args: Vec<Value> = vec![from.into()];
        let cond = org_cond("org", orgs, &mut args);
        let np = PrivacyScope::Without.alerts("rule_id");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT rule_id, MAX(title), MAX(level), COUNT(*), MAX(ts) FROM alerts WHERE ts >= ?1{np}{cond}
             GROUP BY rule_id ORDER BY 4 DESC"
        ))?;
        let rows = stmt.query_map(params_from_iter(args), |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get::<_, i64>(3)? as u64,
                r.get(4)?,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Alerts of one rule per bucket since `from` (for its hits over time).
    pub fn rule_histogram(
        &self,
        rule_id: &str,
        from: i64,
        to: i64,
        bucket_ns: i64,
        orgs: Option<&[String]>,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let mut args: Vec<Value> = vec![
            from.into(),
            to.into(),
            bucket_ns.max(1).into(),
            rule_id.to_string().into(),
        ];
        let cond = org_cond("org", orgs, &mut args);
        let np = PrivacyScope::Without.alerts("rule_id");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT (ts - ?1) / ?3, COUNT(*) FROM alerts WHERE ts >= ?1 AND ts < ?2 AND rule_id = ?4{np}{cond} GROUP BY 1 ORDER BY 1"
        ))?;
        let rows = stmt.query_map(params_from_iter(args), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows
            .map(|r| r.map(|(b, n)| (from + b * bucket_ns.max(1), n)))
            .collect::<Result<_, _>>()?)
    }

    /// The first journal position whose event time is at or after `ts` (by the time index),
    /// or the next position to be written when there is none.
    pub fn seq_at_time(&self, ts: i64) -> Result<i64, StoreError> {
        let found: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM events WHERE ts >= ?1 ORDER BY ts LIMIT 1",
                [ts],
                |r| r.get(0),
            )
            .ok();
        match found {
            Some(s) => Ok(s),
            None => Ok(self.last_seq()? + 1),
        }
    }

    /// Who sent the journal rows after `after_seq` (up to `upto_seq`), grouped by source,
    /// decoder, host and organization.
    pub fn source_rows(&self, after_seq: i64, upto_seq: i64) -> Result<Vec<SourceRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT source, kind, host, org, COUNT(*), MAX(received), MAX(ts) FROM events
             WHERE seq > ?1 AND seq <= ?2 GROUP BY source, kind, host, org",
        )?;
        let rows = stmt.query_map([after_seq, upto_seq], |r| {
            Ok(SourceRow {
                source: r.get(0)?,
                kind: r.get(1)?,
                host: r.get(2)?,
                org: r.get(3)?,
                events: r.get::<_, i64>(4)? as u64,
                last_received: r.get(5)?,
                last_ts: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One journal entry by position, with its organization.
    pub fn event_at(&self, seq: i64) -> Result<Option<crate::JournalEntry>, StoreError> {
        Ok(self
            .read_after(seq - 1, 1)?
            .into_iter()
            .find(|e| e.seq == seq))
    }
}
