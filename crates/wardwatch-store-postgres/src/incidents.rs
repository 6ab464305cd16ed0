//! Incidents (the incident stage's grouping side and the analysts' side) and exceptions.
//!
//! As in the embedded store, two writers share an incident without a lock: the incident stage
//! writes the grouping columns and `doc`, the API the lifecycle columns, and each `UPDATE`
//! names only its own. An analyst's change reads the incident `FOR UPDATE` in its transaction,
//! so two analysts acting at once on different nodes cannot lose each other's action.

use wardwatch_core::PRIVACY_INCIDENT_PREFIX;
use wardwatch_store::{
    ExceptionStore, IncidentFilter, IncidentPage, IncidentStore, LifecycleUpdate, PrivacyScope,
    StoreError, StoredException, StoredIncident,
};

use crate::{Args, Postgres, level_num};

const MAX_LIMIT: usize = 1000;

const COLUMNS: &str =
    "id, closed, merged_into, doc, status, resolution, assignee, lifecycle, last_seen, pos, org";

fn stored(r: &postgres::Row) -> Result<StoredIncident, postgres::Error> {
    Ok(StoredIncident {
        id: r.try_get(0)?,
        org: r.try_get(10)?,
        closed: r.try_get(1)?,
        merged_into: r.try_get(2)?,
        doc: r.try_get(3)?,
        status: r.try_get(4)?,
        resolution: r.try_get(5)?,
        assignee: r.try_get(6)?,
        lifecycle: r.try_get(7)?,
    })
}

/// ` AND ...` keeping or leaving out privacy incidents (the prefix holds no LIKE wildcard).
fn privacy(scope: PrivacyScope) -> String {
    match scope {
        PrivacyScope::Without => format!(" AND id NOT LIKE '{PRIVACY_INCIDENT_PREFIX}%'"),
        PrivacyScope::With => String::new(),
        PrivacyScope::Only => format!(" AND id LIKE '{PRIVACY_INCIDENT_PREFIX}%'"),
    }
}

/// A listing cursor: `LAST_SEEN-POS`, as handed out.
fn parse_cursor(c: &str) -> Result<(i64, i64), StoreError> {
    let bad = || StoreError::Cursor(c.to_string());
    let (a, b) = c.split_once('-').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

impl IncidentStore for Postgres {
    fn list_incidents(&self, f: &IncidentFilter) -> Result<IncidentPage, StoreError> {
        let limit = f.limit.clamp(1, MAX_LIMIT);
        let after = f.cursor.as_deref().map(parse_cursor).transpose()?;
        let mut args = Args::default();
        let (from, to, sev) = (
            args.push(f.from.unwrap_or(i64::MIN)),
            args.push(f.to.unwrap_or(i64::MAX)),
            args.push(level_num(f.min_severity)),
        );
        let mut cond = format!("last_seen >= {from} AND last_seen < {to} AND severity >= {sev}");
        if let Some(s) = &f.status {
            cond.push_str(&format!(" AND status = {}", args.push(s.clone())));
        }
        if !f.include_merged {
            cond.push_str(" AND merged_into IS NULL");
        }
        cond.push_str(&privacy(f.privacy));
        cond.push_str(&args.orgs("org", f.orgs.as_deref()));
        if let Some(m) = f.max_severity {
            cond.push_str(&format!(" AND severity <= {}", args.push(level_num(m))));
        }
        match f.assignee.as_deref() {
            None => {}
            Some("-") => cond.push_str(" AND assignee IS NULL"),
            Some(a) => cond.push_str(&format!(" AND assignee = {}", args.push(a.to_string()))),
        }
        let count_sql = format!("SELECT COUNT(*) FROM incidents WHERE {cond}");
        let count_args = args.refs().len();
        if let Some((ts, pos)) = after {
            let (a, b) = (args.push(ts), args.push(pos));
            cond.push_str(&format!(
                " AND (last_seen < {a} OR (last_seen = {a} AND pos < {b}))"
            ));
        }
        let lim = args.push((limit + 1) as i64);
        let sql = format!(
            "SELECT {COLUMNS} FROM incidents WHERE {cond} ORDER BY last_seen DESC, pos DESC LIMIT {lim}"
        );
        self.with("cannot list incidents", |c| {
            let refs = args.refs();
            let total: i64 = c.query_one(&count_sql, &refs[..count_args])?.try_get(0)?;
            let rows = c.query(&sql, &refs)?;
            let mut incidents = Vec::new();
            let mut next_cursor = None;
            let mut last = (0i64, 0i64);
            for row in &rows {
                if incidents.len() == limit {
                    next_cursor = Some(format!("{}-{}", last.0, last.1));
                    break;
                }
                last = (row.try_get(8)?, row.try_get(9)?);
                incidents.push(stored(row)?);
            }
            Ok(IncidentPage {
                total: total as u64,
                incidents,
                next_cursor,
            })
        })
    }

    fn incident(&self, id: &str) -> Result<Option<StoredIncident>, StoreError> {
        self.with("cannot read an incident", |c| {
            c.query_opt(
                &format!("SELECT {COLUMNS} FROM incidents WHERE id = $1"),
                &[&id],
            )?
            .as_ref()
            .map(stored)
            .transpose()
        })
    }

    fn incident_doc(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.with("cannot read an incident", |c| {
            c.query_opt("SELECT doc FROM incidents WHERE id = $1", &[&id])?
                .map(|r| r.try_get(0))
                .transpose()
        })
    }

    fn incidents_naming(
        &self,
        list: &str,
        name: &str,
        orgs: Option<&[String]>,
        scope: PrivacyScope,
        limit: usize,
    ) -> Result<Vec<StoredIncident>, StoreError> {
        let list = if list == "users" { "users" } else { "hosts" };
        let mut args = Args::default();
        let (name, lim) = (args.push(name.to_string()), args.push(limit as i64));
        let mut cond = args.orgs("org", orgs);
        cond.push_str(&privacy(scope));
        // `doc` is kept as the text the incident stage wrote (JSONB would reorder it); the
        // list is read from it here, on the few incidents of the range.
        let sql = format!(
            "SELECT {COLUMNS} FROM incidents WHERE merged_into IS NULL{cond} AND EXISTS
             (SELECT 1 FROM jsonb_array_elements_text(
                  CASE WHEN jsonb_typeof(doc::jsonb -> 'incident' -> '{list}') = 'array'
                       THEN doc::jsonb -> 'incident' -> '{list}' ELSE '[]'::jsonb END) AS v(value)
              WHERE lower(v.value) = lower({name}))
             ORDER BY last_seen DESC, pos DESC LIMIT {lim}"
        );
        self.with("cannot find incidents naming a host or user", |c| {
            c.query(&sql, &args.refs())?.iter().map(stored).collect()
        })
    }

    fn open_incident_counts(&self, orgs: Option<&[String]>) -> Result<Vec<(i64, u64)>, StoreError> {
        let mut args = Args::default();
        let cond = args.orgs("org", orgs);
        let np = privacy(PrivacyScope::Without);
        let sql = format!(
            "SELECT severity, COUNT(*) FROM incidents WHERE status != 'resolved' AND merged_into IS NULL{np}{cond}
             GROUP BY severity ORDER BY severity"
        );
        self.with("cannot count open incidents", |c| {
            c.query(&sql, &args.refs())?
                .iter()
                .map(|r| {
                    Ok((
                        i64::from(r.try_get::<_, i16>(0)?),
                        r.try_get::<_, i64>(1)? as u64,
                    ))
                })
                .collect()
        })
    }

    fn change_lifecycle(
        &mut self,
        id: &str,
        change: &mut dyn FnMut(&StoredIncident) -> Option<LifecycleUpdate>,
    ) -> Result<bool, StoreError> {
        self.with_once("cannot change an incident", |c| {
            let mut tx = c.transaction()?;
            let Some(row) = tx.query_opt(
                &format!("SELECT {COLUMNS} FROM incidents WHERE id = $1 FOR UPDATE"),
                &[&id],
            )?
            else {
                return Ok(false);
            };
            let current = stored(&row)?;
            if let Some(u) = change(&current) {
                tx.execute(
                    "UPDATE incidents SET status = $2, resolution = $3, assignee = $4, lifecycle = $5 WHERE id = $1",
                    &[&id, &u.status, &u.resolution, &u.assignee, &u.lifecycle],
                )?;
                tx.commit()?;
            }
            Ok(true)
        })
    }
}

impl ExceptionStore for Postgres {
    fn put_exception(
        &mut self,
        id: &str,
        org: &str,
        rule_id: &str,
        expires: i64,
        doc: &str,
    ) -> Result<(), StoreError> {
        self.with("cannot store an exception", |c| {
            c.execute(
                "INSERT INTO exceptions (id, rule_id, expires, doc, org) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO UPDATE SET rule_id = excluded.rule_id, expires = excluded.expires,
                     doc = excluded.doc, org = excluded.org",
                &[&id, &rule_id, &expires, &doc, &org],
            )
            .map(drop)
        })
    }

    fn delete_exception(&mut self, id: &str) -> Result<bool, StoreError> {
        self.with("cannot remove an exception", |c| {
            Ok(c.execute("DELETE FROM exceptions WHERE id = $1", &[&id])? > 0)
        })
    }

    fn exceptions(&self) -> Result<Vec<StoredException>, StoreError> {
        self.with("cannot read the exceptions", |c| {
            c.query(
                "SELECT id, doc, suppressed, last_suppressed, org FROM exceptions ORDER BY id COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(StoredException {
                    id: r.try_get(0)?,
                    org: r.try_get(4)?,
                    doc: r.try_get(1)?,
                    suppressed: r.try_get::<_, i64>(2)? as u64,
                    last_suppressed: r.try_get(3)?,
                })
            })
            .collect()
        })
    }
}
