//! Alerts in ClickHouse: written by the detection workers with their events, read by the API
//! as the embedded store answers (`AlertStore`): listings newest first with an exact total,
//! one alert with its event, and the overview's and the report's aggregates. Privacy alerts are
//! left out of every figure as there (`PrivacyScope`).
//!
//! Why an `ord` column: the embedded store breaks ties of time by insertion order (its rowid),
//! so a listing pages the same way every time; here the writer gives each alert that order
//! (a worker: its event's stream sequence and the alert's place among that event's alerts).

use serde::{Deserialize, Serialize};
use wardwatch_core::{Alert, EntityKind, PRIVACY_RULE_PREFIX, Severity};
use wardwatch_store::{AlertPage, AlertStore, PrivacyScope, RuleHits, SearchRequest, StoreError};

use crate::compile::{Arg, Sql};
use crate::{ClickHouse, schema, wait};

/// One alert to insert: its order among alerts (ties of time are listed by it, newest
/// first), the position of its event, when it was raised (ns) and how long after its event
/// was received.
pub struct NewAlert<'a> {
    pub ord: u64,
    pub alert: &'a Alert,
    pub seq: u64,
    pub created_ns: i64,
    pub latency_ns: i64,
}

#[derive(clickhouse::Row, Serialize)]
struct Row {
    ord: u64,
    id: String,
    seq: u64,
    day: u16,
    ts: i64,
    org: String,
    rule_id: String,
    title: String,
    level: u8,
    host: String,
    users: Vec<String>,
    created: i64,
    latency: i64,
    doc: String,
}

/// The columns, in the order rows are written.
pub(crate) const COLUMNS: &str = "
    ord      UInt64,            -- listing order of alerts raised at the same time
    id       String,            -- deterministic: rule + event position
    seq      UInt64,            -- the event's position
    day      Date,              -- the day it was raised: the partition
    ts       Int64,             -- the event's (trusted) time, ns
    org      String,
    rule_id  String,
    title    String,
    level    UInt8,             -- 0 informational .. 4 critical
    host     String,            -- '' when none
    users    Array(String),     -- the alert's user entities, in order
    created  Int64,             -- when it was raised, ns
    latency  Int64,             -- ingest-to-alert, ns
    doc      String             -- the Alert as JSON
";

fn level_num(s: Severity) -> u8 {
    Severity::ALL.iter().position(|l| *l == s).unwrap_or(0) as u8
}

fn ns(t: jiff::Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX)
}

/// ` AND` the privacy scope on `rule_id` (the prefix holds no `LIKE` wildcard).
fn privacy(scope: PrivacyScope, sql: &mut Sql) {
    let like = Arg::Str(format!("{PRIVACY_RULE_PREFIX}%"));
    match scope {
        PrivacyScope::Without => {
            sql.push(" AND rule_id NOT LIKE ").bind(like);
        }
        PrivacyScope::With => {}
        PrivacyScope::Only => {
            sql.push(" AND rule_id LIKE ").bind(like);
        }
    }
}

/// ` AND` the event in one of `orgs` (nothing for an empty list; any for `None`).
fn orgs_cond(orgs: Option<&[String]>, sql: &mut Sql) {
    match orgs {
        None => {}
        Some([]) => {
            sql.push(" AND 0");
        }
        Some(list) => {
            sql.push(" AND has(")
                .bind(Arg::Strs(list.to_vec()))
                .push(", org)");
        }
    }
}

#[derive(clickhouse::Row, Deserialize)]
struct Listed {
    ord: u64,
    ts: i64,
    doc: String,
}

#[derive(clickhouse::Row, Deserialize)]
struct Counted {
    key: String,
    n: u64,
}

#[derive(clickhouse::Row, Deserialize)]
struct Bucket {
    bucket: i64,
    n: u64,
}

#[derive(clickhouse::Row, Deserialize)]
struct Hits {
    rule_id: String,
    title: String,
    level: u8,
    n: u64,
    last: i64,
}

#[derive(clickhouse::Row, Deserialize)]
struct WithEvent {
    doc: String,
    seq: u64,
}

impl ClickHouse {
    /// Insert alerts in one request. Inserting an id again stores it twice: callers insert
    /// each alert once (see [`ClickHouse::stored_alerts`]).
    pub fn insert_alerts(&self, alerts: &[NewAlert<'_>]) -> Result<(), StoreError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(alerts.len());
        for n in alerts {
            let a = n.alert;
            let doc = serde_json::to_string(a).map_err(|e| StoreError::Corrupt {
                seq: n.seq as i64,
                reason: e.to_string(),
            })?;
            rows.push(Row {
                ord: n.ord,
                id: a.id.0.clone(),
                seq: n.seq,
                day: schema::day_of(n.created_ns),
                ts: ns(a.timestamp),
                org: a.organization.clone(),
                rule_id: a.rule_id.clone(),
                title: a.rule_title.clone(),
                level: level_num(a.level),
                host: a.host.clone().unwrap_or_default(),
                users: a
                    .entities
                    .iter()
                    .filter(|e| e.kind == EntityKind::User)
                    .map(|e| e.value.clone())
                    .collect(),
                created: n.created_ns,
                latency: n.latency_ns,
                doc,
            });
        }
        let client = self.client();
        wait(async move {
            let mut insert = client.insert::<Row>("alerts").await?;
            for r in &rows {
                insert.write(r).await?;
            }
            insert.end().await
        })
        .map_err(|e| self.error(&format!("cannot insert {} alerts", alerts.len()), e))
    }

    /// Which of the alert `ids` are stored already.
    pub fn stored_alerts(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::default();
        sql.push("SELECT DISTINCT id FROM alerts WHERE has(")
            .bind(Arg::Strs(ids.to_vec()))
            .push(", id) ORDER BY id");
        self.rows("cannot read which alerts are stored", &sql)
    }

    fn histogram(
        &self,
        from: i64,
        to: i64,
        bucket_ns: i64,
        rule: Option<&str>,
        orgs: Option<&[String]>,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let bucket_ns = bucket_ns.max(1);
        let mut sql = Sql::default();
        sql.push("SELECT intDiv(ts - ")
            .bind(Arg::Int(from))
            .push(", ")
            .bind(Arg::Int(bucket_ns))
            .push(") AS bucket, count() AS n FROM alerts WHERE ts >= ")
            .bind(Arg::Int(from))
            .push(" AND ts < ")
            .bind(Arg::Int(to));
        if let Some(r) = rule {
            sql.push(" AND rule_id = ").bind(Arg::Str(r.to_string()));
        }
        privacy(PrivacyScope::Without, &mut sql);
        orgs_cond(orgs, &mut sql);
        sql.push(" GROUP BY bucket ORDER BY bucket");
        let rows: Vec<Bucket> = self.rows("cannot count alerts over time", &sql)?;
        Ok(rows
            .into_iter()
            .map(|b| (from + b.bucket * bucket_ns, b.n))
            .collect())
    }
}

impl AlertStore for ClickHouse {
    fn list_alerts(
        &self,
        req: &SearchRequest,
        min_level: Severity,
        rule_id: Option<&str>,
        host: Option<&str>,
    ) -> Result<AlertPage, StoreError> {
        let limit = req.limit.clamp(1, 1000);
        let after = req
            .cursor
            .as_deref()
            .map(|c| {
                let bad = || StoreError::Cursor(c.to_string());
                let (a, b) = c.split_once('-').ok_or_else(bad)?;
                Ok::<_, StoreError>((
                    a.parse::<i64>().map_err(|_| bad())?,
                    b.parse::<i64>().map_err(|_| bad())?,
                ))
            })
            .transpose()?;
        let cond = |sql: &mut Sql| {
            sql.push(" WHERE ts >= ")
                .bind(Arg::Int(req.from.map_or(i64::MIN, ns)))
                .push(" AND ts < ")
                .bind(Arg::Int(req.to.map_or(i64::MAX, ns)))
                .push(" AND level >= ")
                .bind(Arg::Int(i64::from(level_num(min_level))));
            orgs_cond(req.orgs.as_deref(), sql);
            privacy(req.privacy, sql);
            if let Some(r) = rule_id {
                sql.push(" AND rule_id = ").bind(Arg::Str(r.to_string()));
            }
            if let Some(h) = host {
                // As SQLite's NOCASE: ASCII letters only, as ClickHouse's `lower`.
                sql.push(" AND lower(host) = lower(")
                    .bind(Arg::Str(h.to_string()))
                    .push(")");
            }
        };
        let mut count = Sql::default();
        count.push("SELECT count() FROM alerts");
        cond(&mut count);
        let total: Vec<u64> = self.rows("cannot count alerts", &count)?;
        let mut page = Sql::default();
        page.push("SELECT ord, ts, doc FROM alerts");
        cond(&mut page);
        if let Some((ts, ord)) = after {
            page.push(" AND (ts < ")
                .bind(Arg::Int(ts))
                .push(" OR (ts = ")
                .bind(Arg::Int(ts))
                .push(" AND toInt64(ord) < ")
                .bind(Arg::Int(ord))
                .push("))");
        }
        page.push(&format!(" ORDER BY ts DESC, ord DESC LIMIT {}", limit + 1));
        let rows: Vec<Listed> = self.rows("cannot list alerts", &page)?;
        let more = rows.len() > limit;
        let mut alerts = Vec::with_capacity(limit);
        let mut last = None;
        for r in rows.into_iter().take(limit) {
            alerts.push(
                serde_json::from_str(&r.doc).map_err(|e| StoreError::Corrupt {
                    seq: r.ord as i64,
                    reason: e.to_string(),
                })?,
            );
            last = Some((r.ts, r.ord));
        }
        Ok(AlertPage {
            total: total.first().copied().unwrap_or(0),
            alerts,
            next_cursor: if more {
                last.map(|(t, o)| format!("{t}-{o}"))
            } else {
                None
            },
        })
    }

    fn alert(&self, id: &str) -> Result<Option<(Alert, Option<serde_json::Value>)>, StoreError> {
        let mut sql = Sql::default();
        sql.push("SELECT doc, seq FROM alerts WHERE id = ")
            .bind(Arg::Str(id.to_string()))
            .push(" LIMIT 1");
        let Some(found) = self
            .rows::<WithEvent>("cannot read an alert", &sql)?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let alert: Alert = serde_json::from_str(&found.doc).map_err(|e| StoreError::Corrupt {
            seq: found.seq as i64,
            reason: e.to_string(),
        })?;
        let mut sql = Sql::default();
        sql.push("SELECT original FROM events WHERE seq = ")
            .bind(Arg::Int(found.seq as i64))
            .push(" LIMIT 1");
        let event = self
            .rows::<String>("cannot read an alert's event", &sql)?
            .into_iter()
            .next()
            .and_then(|d| serde_json::from_str(&d).ok());
        Ok(Some((alert, event)))
    }

    fn alert_histogram(
        &self,
        from: i64,
        to: i64,
        bucket_ns: i64,
        orgs: Option<&[String]>,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        self.histogram(from, to, bucket_ns, None, orgs)
    }

    fn top_alert_hosts(
        &self,
        from: i64,
        limit: usize,
        orgs: Option<&[String]>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut sql = Sql::default();
        sql.push("SELECT any(host) AS key, count() AS n FROM alerts WHERE ts >= ")
            .bind(Arg::Int(from))
            .push(" AND host != ''");
        privacy(PrivacyScope::Without, &mut sql);
        orgs_cond(orgs, &mut sql);
        sql.push(&format!(
            " GROUP BY lower(host) ORDER BY n DESC LIMIT {limit}"
        ));
        let rows: Vec<Counted> = self.rows("cannot count alerts per host", &sql)?;
        Ok(rows.into_iter().map(|c| (c.key, c.n)).collect())
    }

    fn top_alert_users(
        &self,
        from: i64,
        limit: usize,
        orgs: Option<&[String]>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut sql = Sql::default();
        sql.push("SELECT arrayJoin(users) AS key, count() AS n FROM alerts WHERE ts >= ")
            .bind(Arg::Int(from));
        privacy(PrivacyScope::Without, &mut sql);
        orgs_cond(orgs, &mut sql);
        sql.push(&format!(" GROUP BY key ORDER BY n DESC LIMIT {limit}"));
        let rows: Vec<Counted> = self.rows("cannot count alerts per user", &sql)?;
        Ok(rows.into_iter().map(|c| (c.key, c.n)).collect())
    }

    fn rule_hits(&self, from: i64, orgs: Option<&[String]>) -> Result<Vec<RuleHits>, StoreError> {
        let mut sql = Sql::default();
        sql.push(
            "SELECT rule_id, max(title) AS title, max(level) AS level, count() AS n, \
             max(ts) AS last FROM alerts WHERE ts >= ",
        )
        .bind(Arg::Int(from));
        privacy(PrivacyScope::Without, &mut sql);
        orgs_cond(orgs, &mut sql);
        sql.push(" GROUP BY rule_id ORDER BY n DESC");
        let rows: Vec<Hits> = self.rows("cannot count alerts per rule", &sql)?;
        Ok(rows
            .into_iter()
            .map(|h| (h.rule_id, h.title, i64::from(h.level), h.n, h.last))
            .collect())
    }

    fn rule_histogram(
        &self,
        rule_id: &str,
        from: i64,
        to: i64,
        bucket_ns: i64,
        orgs: Option<&[String]>,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        self.histogram(from, to, bucket_ns, Some(rule_id), orgs)
    }

    fn alert_counts_by_rule(
        &self,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut sql = Sql::default();
        sql.push("SELECT min(title) AS key, count() AS n FROM alerts WHERE ts >= ")
            .bind(Arg::Int(from))
            .push(" AND ts < ")
            .bind(Arg::Int(to));
        privacy(PrivacyScope::Without, &mut sql);
        sql.push(&format!(
            " GROUP BY rule_id ORDER BY n DESC, key LIMIT {limit}"
        ));
        let rows: Vec<Counted> = self.rows("cannot count alerts per rule", &sql)?;
        Ok(rows.into_iter().map(|c| (c.key, c.n)).collect())
    }

    fn alert_docs_with(
        &self,
        from: i64,
        to: i64,
        needles: &[&str],
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        if needles.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::default();
        sql.push("SELECT doc FROM alerts WHERE ts >= ")
            .bind(Arg::Int(from))
            .push(" AND ts < ")
            .bind(Arg::Int(to));
        privacy(PrivacyScope::Without, &mut sql);
        sql.push(" AND (");
        for (i, n) in needles.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("position(lower(doc), ")
                .bind(Arg::Str(n.to_lowercase()))
                .push(") > 0");
        }
        sql.push(&format!(") ORDER BY ts, ord LIMIT {limit}"));
        self.rows("cannot read alerts by tag", &sql)
    }
}
