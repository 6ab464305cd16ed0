//! What the scale-out detection stages commit: the incident stage's incidents, and the
//! partitions' workers' exception counters, identity ledger, cursor and state, each commit in
//! one transaction; a partition's cursor never moves back (fencing a worker that lost its
//! lease, `DetectionStore::commit_detection`).
//!
//! Alerts are not kept here: the detection workers store them in ClickHouse, and the composite
//! store (`wardwatch-store-cluster`) writes a commit's alerts there before the rest comes
//! here. A commit that carries alerts is refused rather than half stored.

use wardwatch_store::{DetectionCommit, DetectionStore, PARTITION_CURSOR_PREFIX, StoreError};

use crate::{Postgres, level_num};

/// The advisory lock a detection commit holds: incident events get their positions in commit
/// order, so the notification planner never reads past one still being written.
const COMMIT_LOCK: i64 = 0x5757_0002;

impl Postgres {
    /// Every stage's cursor (each partition's worker as `detect-part-N`), by name.
    pub fn cursors(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.with("cannot list the cursors", |c| {
            c.query(
                "SELECT name, seq FROM cursors ORDER BY name COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })
    }

    /// Rows in each of the state's tables, by table (for `wardwatch cluster status`).
    pub fn table_rows(&self) -> Result<Vec<(&'static str, i64)>, StoreError> {
        let sql = crate::schema::TABLES
            .iter()
            .map(|t| format!("SELECT '{t}', COUNT(*) FROM {t}"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let counts: Vec<(String, i64)> = self.with("cannot count the state's rows", |c| {
            c.query(&sql, &[])?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })?;
        Ok(crate::schema::TABLES
            .iter()
            .map(|t| {
                let n = counts.iter().find(|(name, _)| name == t).map_or(0, |c| c.1);
                (*t, n)
            })
            .collect())
    }
}

impl DetectionStore for Postgres {
    fn cursor(&self, worker: &str) -> Result<(i64, Option<String>), StoreError> {
        self.with("cannot read a detection cursor", |c| {
            Ok(
                c.query_opt("SELECT seq, state FROM cursors WHERE name = $1", &[&worker])?
                    .map(|r| Ok::<_, postgres::Error>((r.try_get(0)?, r.try_get(1)?)))
                    .transpose()?
                    .unwrap_or((0, None)),
            )
        })
    }

    fn commit_detection(&mut self, c: &DetectionCommit<'_>) -> Result<usize, StoreError> {
        if !c.alerts.is_empty() {
            return Err(self.engine_error(format!(
                "a detection commit of `{}` carries {} alerts: PostgreSQL keeps the state, alerts go to the events store (ClickHouse) first",
                c.worker,
                c.alerts.len()
            )));
        }
        let fenced = c.worker.starts_with(PARTITION_CURSOR_PREFIX);
        self.with("cannot commit detection results", |client| {
            let mut tx = client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&COMMIT_LOCK])?;
            if fenced {
                // Under the commit lock: no other commit comes between this and ours.
                let stored: Option<i64> = tx
                    .query_opt("SELECT seq FROM cursors WHERE name = $1", &[&c.worker])?
                    .map(|r| r.try_get(0))
                    .transpose()?;
                if let Some(stored) = stored.filter(|s| *s > c.cursor) {
                    // Dropped unused: rolled back, nothing written.
                    return Ok(Err(StoreError::Fenced {
                        worker: c.worker.to_string(),
                        stored,
                        given: c.cursor,
                    }));
                }
            }
            if !c.incidents.is_empty() {
                let upsert = tx.prepare(
                    "INSERT INTO incidents (id, org, opened, first_seen, last_seen, severity, score, closed, merged_into, title, doc)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (id) DO UPDATE SET first_seen = excluded.first_seen, last_seen = excluded.last_seen,
                         severity = excluded.severity, score = excluded.score, closed = excluded.closed,
                         merged_into = excluded.merged_into, title = excluded.title, doc = excluded.doc",
                )?;
                let note = tx.prepare("INSERT INTO incident_events (incident) VALUES ($1)")?;
                for r in c.incidents {
                    tx.execute(
                        &upsert,
                        &[
                            &r.id,
                            &r.org,
                            &r.opened,
                            &r.first_seen,
                            &r.last_seen,
                            &level_num(r.severity),
                            &r.score,
                            &r.closed,
                            &r.merged_into,
                            &r.title,
                            &r.doc,
                        ],
                    )?;
                }
                // Privacy incidents never reach the notification queue.
                for r in c
                    .incidents
                    .iter()
                    .filter(|r| !r.id.starts_with(wardwatch_core::PRIVACY_INCIDENT_PREFIX))
                {
                    tx.execute(&note, &[&r.id])?;
                }
            }
            if !c.suppressed.is_empty() {
                let count = tx.prepare(
                    "UPDATE exceptions SET suppressed = suppressed + $2,
                         last_suppressed = GREATEST(COALESCE(last_suppressed, 0), $3) WHERE id = $1",
                )?;
                for (id, n, at) in c.suppressed {
                    tx.execute(&count, &[id, &(*n as i64), at])?;
                }
            }
            if let Some(batch) = c.ledger {
                crate::ledger::write_ledger(&mut tx, batch)?;
            }
            tx.execute(
                "INSERT INTO cursors (name, seq, state) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET seq = excluded.seq,
                     state = COALESCE(excluded.state, cursors.state)",
                &[&c.worker, &c.cursor, &c.state],
            )?;
            tx.commit()?;
            Ok(Ok(0))
        })?
    }

    fn open_incident_docs(&self) -> Result<Vec<String>, StoreError> {
        self.with("cannot read the open incidents", |c| {
            c.query(
                "SELECT doc FROM incidents WHERE NOT closed ORDER BY opened, id COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect()
        })
    }
}
