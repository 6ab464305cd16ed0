//! Incidents and exceptions as stored rows.
//!
//! Why rows of JSON with a few columns: the incident model (timeline, narrative, score parts)
//! belongs to `wardwatch-incidents` and changes with it; the store only needs the columns it
//! filters and sorts on. Two writers share an incident without a lock: the detection worker
//! owns the grouping columns and `doc`, the API owns `status`, `resolution`, `assignee` and
//! `lifecycle`, and each `UPDATE` names only its own columns.

use rusqlite::{OptionalExtension, Transaction, params, params_from_iter};
use serde::Serialize;
use wardwatch_core::Severity;

use crate::StoreError;
use crate::db::{Db, level_num};
use crate::search::parse_cursor;

/// The grouping side of an incident, as the detection worker writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    pub id: String,
    pub org: String,
    /// ns since the epoch.
    pub opened: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub severity: Severity,
    pub score: f64,
    pub closed: bool,
    pub merged_into: Option<String>,
    pub title: String,
    /// The incident and its narrative, JSON.
    pub doc: String,
}

/// An incident as read back: both sides.
#[derive(Debug, Clone, Serialize)]
pub struct StoredIncident {
    pub id: String,
    /// The organization it belongs to.
    pub org: String,
    pub closed: bool,
    pub merged_into: Option<String>,
    /// The detection worker's JSON document.
    pub doc: String,
    pub status: String,
    pub resolution: Option<String>,
    pub assignee: Option<String>,
    /// The API's JSON document (comments and people's actions), when anyone acted yet.
    pub lifecycle: Option<String>,
}

/// What the API changes on an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleUpdate {
    pub status: String,
    pub resolution: Option<String>,
    pub assignee: Option<String>,
    pub lifecycle: String,
}

/// Which incidents to list.
#[derive(Debug, Clone)]
pub struct IncidentFilter {
    /// `new`, `acknowledged` or `resolved`; any when `None`.
    pub status: Option<String>,
    pub min_severity: Severity,
    /// Incidents merged into another are left out unless asked for.
    pub include_merged: bool,
    /// Last activity at or after / before, ns.
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub limit: usize,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Only these organizations' incidents; every one when `None`.
    pub orgs: Option<Vec<String>>,
    /// At most this severity (the low ones the overview rolls up).
    pub max_severity: Option<Severity>,
    /// Assigned to this account (`-` for nobody).
    pub assignee: Option<String>,
    /// Privacy incidents: left out unless asked for.
    pub privacy: crate::PrivacyScope,
}

impl Default for IncidentFilter {
    fn default() -> Self {
        IncidentFilter {
            status: None,
            min_severity: Severity::Informational,
            include_merged: false,
            from: None,
            to: None,
            limit: 50,
            cursor: None,
            orgs: None,
            max_severity: None,
            assignee: None,
            privacy: crate::PrivacyScope::Without,
        }
    }
}

/// One page of incidents, most recent activity first, with the exact total.
#[derive(Debug, Clone)]
pub struct IncidentPage {
    pub total: u64,
    pub incidents: Vec<StoredIncident>,
    pub next_cursor: Option<String>,
}

/// A stored exception and its counters.
#[derive(Debug, Clone, Serialize)]
pub struct StoredException {
    pub id: String,
    /// The organization whose alerts it covers.
    pub org: String,
    pub doc: String,
    pub suppressed: u64,
    /// ns since the epoch.
    pub last_suppressed: Option<i64>,
}

const MAX_LIMIT: usize = 1000;

pub(crate) fn write_incidents(
    tx: &Transaction<'_>,
    rows: &[IncidentRow],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO incidents (id, org, opened, first_seen, last_seen, severity, score, closed, merged_into, title, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT(id) DO UPDATE SET first_seen = excluded.first_seen, last_seen = excluded.last_seen,
             severity = excluded.severity, score = excluded.score, closed = excluded.closed,
             merged_into = excluded.merged_into, title = excluded.title, doc = excluded.doc",
    )?;
    for r in rows {
        stmt.execute(params![
            r.id,
            r.org,
            r.opened,
            r.first_seen,
            r.last_seen,
            level_num(r.severity),
            r.score,
            r.closed,
            r.merged_into,
            r.title,
            r.doc
        ])?;
    }
    Ok(())
}

pub(crate) fn count_suppressed(
    tx: &Transaction<'_>,
    hits: &[(String, u64, i64)],
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "UPDATE exceptions SET suppressed = suppressed + ?2, last_suppressed = MAX(COALESCE(last_suppressed, 0), ?3) WHERE id = ?1",
    )?;
    for (id, n, at) in hits {
        stmt.execute(params![id, *n as i64, at])?;
    }
    Ok(())
}

const COLUMNS: &str =
    "id, closed, merged_into, doc, status, resolution, assignee, lifecycle, last_seen, rowid, org";

fn stored(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredIncident> {
    Ok(StoredIncident {
        id: r.get(0)?,
        org: r.get(10)?,
        closed: r.get(1)?,
        merged_into: r.get(2)?,
        doc: r.get(3)?,
        status: r.get(4)?,
        resolution: r.get(5)?,
        assignee: r.get(6)?,
        lifecycle: r.get(7)?,
    })
}

impl Db {
    /// The documents of incidents still open (not closed by quiet, not merged), oldest first:
    /// what the detection worker groups new alerts into after a restart.
    pub fn open_incident_docs(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT doc FROM incidents WHERE closed = 0 ORDER BY opened, id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Incidents, most recent activity first, with the exact total.
    pub fn list_incidents(&self, f: &IncidentFilter) -> Result<IncidentPage, StoreError> {
        let limit = f.limit.clamp(1, MAX_LIMIT);
        let after = f.cursor.as_deref().map(parse_cursor).transpose()?;
        let mut cond = String::from("last_seen >= ?1 AND last_seen < ?2 AND severity >= ?3");
        let mut args: Vec<rusqlite::types::Value> = vec![
            f.from.unwrap_or(i64::MIN).into(),
            f.to.unwrap_or(i64::MAX).into(),
            level_num(f.min_severity).into(),
        ];
        if let Some(s) = &f.status {
            args.push(s.clone().into());
            cond.push_str(&format!(" AND status = ?{}", args.len()));
        }
        if !f.include_merged {
            cond.push_str(" AND merged_into IS NULL");
        }
        cond.push_str(&f.privacy.incidents("id"));
        cond.push_str(&crate::search::org_cond(
            "org",
            f.orgs.as_deref(),
            &mut args,
        ));
        if let Some(m) = f.max_severity {
            args.push(level_num(m).into());
            cond.push_str(&format!(" AND severity <= ?{}", args.len()));
        }
        match f.assignee.as_deref() {
            None => {}
            Some("-") => cond.push_str(" AND assignee IS NULL"),
            Some(a) => {
                args.push(a.to_string().into());
                cond.push_str(&format!(" AND assignee = ?{}", args.len()));
            }
        }
        let total: i64 = self.conn.query_row(
            &format!("SELECT COUNT(*) FROM incidents WHERE {cond}"),
            params_from_iter(args.iter()),
            |r| r.get(0),
        )?;
        if let Some((ts, rowid)) = after {
            args.push(ts.into());
            args.push(rowid.into());
            let (a, b) = (args.len() - 1, args.len());
            cond.push_str(&format!(
                " AND (last_seen < ?{a} OR (last_seen = ?{a} AND rowid < ?{b}))"
            ));
        }
        args.push(((limit + 1) as i64).into());
        let sql = format!(
            "SELECT {COLUMNS} FROM incidents WHERE {cond} ORDER BY last_seen DESC, rowid DESC LIMIT ?{}",
            args.len()
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(args.iter()))?;
        let mut incidents = Vec::new();
        let mut next_cursor = None;
        let mut last = (0i64, 0i64);
        while let Some(row) = rows.next()? {
            if incidents.len() == limit {
                next_cursor = Some(format!("{}-{}", last.0, last.1));
                break;
            }
            last = (row.get(8)?, row.get(9)?);
            incidents.push(stored(row)?);
        }
        Ok(IncidentPage {
            total: total as u64,
            incidents,
            next_cursor,
        })
    }

    /// Incidents (newest activity first, at most `limit`) whose `hosts` or `users` list names
    /// `name` (without case).
    pub fn incidents_naming(
        &self,
        list: &str,
        name: &str,
        orgs: Option<&[String]>,
        privacy: crate::PrivacyScope,
        limit: usize,
    ) -> Result<Vec<StoredIncident>, StoreError> {
        let list = if list == "users" { "users" } else { "hosts" };
        let mut args: Vec<rusqlite::types::Value> =
            vec![name.to_string().into(), (limit as i64).into()];
        let mut cond = crate::search::org_cond("org", orgs, &mut args);
        cond.push_str(&privacy.incidents("id"));
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM incidents WHERE merged_into IS NULL{cond} AND EXISTS
             (SELECT 1 FROM json_each(doc, '$.incident.{list}') WHERE value = ?1 COLLATE NOCASE)
             ORDER BY last_seen DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params_from_iter(args), stored)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One incident by id.
    pub fn incident(&self, id: &str) -> Result<Option<StoredIncident>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM incidents WHERE id = ?1"),
                [id],
                stored,
            )
            .optional()?)
    }

    /// Change the API's side of an incident: `change` gets the incident as stored and returns
    /// the new lifecycle columns (and a value for the caller), all in one write transaction, so
    /// two analysts acting at once cannot lose each other's action. `None` when there is no
    /// such incident; an error from `change` writes nothing.
    pub fn update_lifecycle<T, E: From<StoreError>>(
        &mut self,
        id: &str,
        change: impl FnOnce(&StoredIncident) -> Result<(LifecycleUpdate, T), E>,
    ) -> Result<Option<T>, E> {
        let tx = self.write_tx()?;
        let Some(current) = tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM incidents WHERE id = ?1"),
                [id],
                stored,
            )
            .optional()
            .map_err(StoreError::from)?
        else {
            return Ok(None);
        };
        let (u, out) = change(&current)?;
        tx.execute(
            "UPDATE incidents SET status = ?2, resolution = ?3, assignee = ?4, lifecycle = ?5 WHERE id = ?1",
            params![id, u.status, u.resolution, u.assignee, u.lifecycle],
        )
        .map_err(StoreError::from)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(Some(out))
    }

    /// Store an exception (replacing one with the same id, keeping its counters).
    pub fn put_exception(
        &mut self,
        id: &str,
        org: &str,
        rule_id: &str,
        expires: i64,
        doc: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO exceptions (id, rule_id, expires, doc, org) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO UPDATE SET rule_id = excluded.rule_id, expires = excluded.expires, doc = excluded.doc, org = excluded.org",
            params![id, rule_id, expires, doc, org],
        )?;
        Ok(())
    }

    /// Remove an exception; `false` when there was none.
    pub fn delete_exception(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM exceptions WHERE id = ?1", [id])?
            > 0)
    }

    /// Every exception, expired ones too (they show what they suppressed), by id.
    pub fn exceptions(&self) -> Result<Vec<StoredException>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, doc, suppressed, last_suppressed, org FROM exceptions ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredException {
                id: r.get(0)?,
                org: r.get(4)?,
                doc: r.get(1)?,
                suppressed: r.get::<_, i64>(2)? as u64,
                last_suppressed: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}
