//! The figures the management report reads: alerts per rule, alerts of given ATT&CK tags, and
//! events per source, over a time range (event time, ns). Privacy alerts are never in it.
//!
//! Why here: the report is built from several tables; these queries use the store's indexes
//! (`alerts_ts`, `events_ts_cols`) so a week's report on a year's store stays quick.

use rusqlite::params;

use crate::db::Db;
use crate::{PrivacyScope, StoreError};

impl Db {
    /// Alerts per rule in `[from, to)`, most first: (rule title, count).
    pub fn alert_counts_by_rule(
        &self,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT MIN(title), COUNT(*) AS n FROM alerts WHERE ts >= ?1 AND ts < ?2{}
             GROUP BY rule_id ORDER BY n DESC, MIN(title) LIMIT ?3",
            PrivacyScope::Without.alerts("rule_id")
        ))?;
        let rows = stmt.query_map(params![from, to, limit as i64], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The documents of alerts in `[from, to)` whose document mentions any of `needles`
    /// (tags such as `attack.lateral_movement`), at most `limit`.
    pub fn alert_docs_with(
        &self,
        from: i64,
        to: i64,
        needles: &[&str],
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        if needles.is_empty() {
            return Ok(Vec::new());
        }
        let cond: Vec<String> = (0..needles.len())
            .map(|i| format!("instr(lower(doc), ?{}) > 0", i + 4))
            .collect();
        let sql = format!(
            "SELECT doc FROM alerts WHERE ts >= ?1 AND ts < ?2{} AND ({}) ORDER BY ts LIMIT ?3",
            PrivacyScope::Without.alerts("rule_id"),
            cond.join(" OR ")
        );
        let mut args: Vec<rusqlite::types::Value> =
            vec![from.into(), to.into(), (limit as i64).into()];
        args.extend(needles.iter().map(|n| n.to_lowercase().into()));
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Events per source in `[from, to)`: (source, events, last received ns); plus, with 0
    /// events, sources seen in the `lookback` ns before `from` but not in the range.
    pub fn events_by_source(
        &self,
        from: i64,
        to: i64,
        lookback: i64,
    ) -> Result<Vec<(String, u64, Option<i64>)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT source, COUNT(*), MAX(received) FROM events WHERE ts >= ?1 AND ts < ?2
             GROUP BY source ORDER BY source",
        )?;
        let mut out: Vec<(String, u64, Option<i64>)> = stmt
            .query_map(params![from, to], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT source FROM events WHERE ts >= ?1 AND ts < ?2 ORDER BY source",
        )?;
        let before: Vec<String> = stmt
            .query_map(params![from.saturating_sub(lookback), from], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for s in before {
            if !out.iter().any(|(x, _, _)| *x == s) {
                out.push((s, 0, None));
            }
        }
        Ok(out)
    }
}
