//! The notification queue: incident events for the planner, and outgoing messages until they
//! are delivered.
//!
//! Why in the store: a message about an incident must be neither lost nor sent twice when the
//! process is killed or the mail server is down for hours. The detection worker appends an
//! `incident_events` row for every incident it changes, in the transaction that changes it;
//! the notification worker turns events into `outbox` messages and saves its planner state
//! and its position in one transaction; the delivery loop marks a message sent only after the
//! server accepted it, and retries the rest with backoff across restarts. A message's id is
//! unique per incident event and recipient, so planning the same event again queues nothing.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use crate::StoreError;
use crate::db::Db;

/// Version 5 of the schema: the notification queue.
pub(crate) const SCHEMA: &str = r#"
-- Incidents changed by the detection worker, in commit order, for the notification planner.
CREATE TABLE IF NOT EXISTS incident_events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    incident  TEXT NOT NULL
);
-- The planner's position in incident_events and its state (JSON).
CREATE TABLE IF NOT EXISTS notify_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       INTEGER NOT NULL,
    state     TEXT NOT NULL
);
-- Outgoing messages, one per recipient.
CREATE TABLE IF NOT EXISTS outbox (
    id           TEXT PRIMARY KEY,          -- incident event + recipient: queued once
    created      INTEGER NOT NULL,          -- ns
    kind         TEXT NOT NULL,             -- opened | escalated | digest | more | report | test
    incident     TEXT,
    recipient    TEXT NOT NULL,             -- mail:ADDRESS | webhook:NAME
    subject      TEXT NOT NULL,
    body         TEXT NOT NULL,             -- JSON: {"text","html"} for mail, the webhook body
    status       TEXT NOT NULL DEFAULT 'queued', -- queued | sent | failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,          -- ns; not before (quiet hours, backoff)
    last_error   TEXT,
    sent         INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, next_attempt);
"#;

/// A message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: String,
    pub kind: String,
    pub incident: Option<String>,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// ns.
    pub not_before: i64,
}

/// A queued message as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxRow {
    pub id: String,
    /// ns.
    pub created: i64,
    pub kind: String,
    pub incident: Option<String>,
    pub recipient: String,
    pub subject: String,
    #[serde(skip)]
    pub body: String,
    pub status: String,
    pub attempts: i64,
    /// ns.
    pub next_attempt: i64,
    pub last_error: Option<String>,
    /// ns.
    pub sent: Option<i64>,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        created: r.get(1)?,
        kind: r.get(2)?,
        incident: r.get(3)?,
        recipient: r.get(4)?,
        subject: r.get(5)?,
        body: r.get(6)?,
        status: r.get(7)?,
        attempts: r.get(8)?,
        next_attempt: r.get(9)?,
        last_error: r.get(10)?,
        sent: r.get(11)?,
    })
}

const COLUMNS: &str = "id, created, kind, incident, recipient, subject, body, status, attempts, next_attempt, last_error, sent";

/// Record that `incidents` changed (inside the detection commit).
pub(crate) fn note_incidents(
    tx: &Transaction<'_>,
    incidents: &[crate::IncidentRow],
) -> Result<(), StoreError> {
    let mut ins = tx.prepare_cached("INSERT INTO incident_events (incident) VALUES (?1)")?;
    // Privacy incidents never reach the notification queue: no mail or webhook about them.
    for i in incidents
        .iter()
        .filter(|i| !crate::privacy::is_privacy_incident(&i.id))
    {
        ins.execute([&i.id])?;
    }
    Ok(())
}

fn insert(tx: &Transaction<'_>, m: &NewMessage, now: i64) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "INSERT OR IGNORE INTO outbox (id, created, kind, incident, recipient, subject, body, next_attempt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            m.id,
            now,
            m.kind,
            m.incident,
            m.recipient,
            m.subject,
            m.body,
            m.not_before
        ],
    )? > 0)
}

/// Counts per status, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    /// Queued messages that failed at least once.
    pub retrying: i64,
}

impl Db {
    /// The planner's position and state (0 and `None` at first).
    pub fn notify_state(&self) -> Result<(i64, Option<String>), StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq, state FROM notify_state WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, Some(r.get(1)?))),
            )
            .optional()?
            .unwrap_or((0, None)))
    }

    /// Incident events after `seq`: (seq, incident id), at most `limit`.
    pub fn incident_events_after(
        &self,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, incident FROM incident_events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![seq, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The detection worker's document of incident `id`.
    pub fn incident_doc(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT doc FROM incidents WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Commit what the planner decided: the messages (each id once), its new position (the
    /// events up to it are removed) and state. Returns how many messages were new.
    pub fn commit_plan(
        &mut self,
        messages: &[NewMessage],
        seq: i64,
        state: &str,
    ) -> Result<usize, StoreError> {
        let now = crate::db::now_ns();
        let tx = self.write_tx()?;
        let mut new = 0;
        for m in messages {
            new += usize::from(insert(&tx, m, now)?);
        }
        tx.execute(
            "INSERT INTO notify_state (id, seq, state) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, state = excluded.state",
            params![seq, state],
        )?;
        tx.execute("DELETE FROM incident_events WHERE seq <= ?1", [seq])?;
        tx.commit()?;
        Ok(new)
    }

    /// Queue one message outside the planner (a report, a test); false if its id exists.
    pub fn enqueue(&mut self, m: &NewMessage) -> Result<bool, StoreError> {
        let now = crate::db::now_ns();
        let tx = self.write_tx()?;
        let new = insert(&tx, m, now)?;
        tx.commit()?;
        Ok(new)
    }

    /// Queued messages due at `now` (ns), oldest first.
    pub fn due_messages(&self, now: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE status = 'queued' AND next_attempt <= ?1
             ORDER BY next_attempt, created, id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![now, limit as i64], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The server accepted message `id`.
    pub fn message_sent(&mut self, id: &str, now: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent = ?2, last_error = NULL WHERE id = ?1",
            params![id, now],
        )?;
        Ok(())
    }

    /// Delivery of `id` failed: try again at `retry_at` (ns), or give up (`None`: status
    /// `failed`, kept with its error).
    pub fn message_failed(
        &mut self,
        id: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        match retry_at {
            Some(at) => self.conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt = ?3 WHERE id = ?1",
                params![id, error, at],
            )?,
            None => self.conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, status = 'failed' WHERE id = ?1",
                params![id, error],
            )?,
        };
        Ok(())
    }

    /// Messages, newest first, optionally only one status; at most `limit`.
    pub fn messages(
        &self,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE (?1 IS NULL OR status = ?1)
             ORDER BY created DESC, id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![status, limit as i64], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many messages are in each state.
    pub fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        Ok(self.conn.query_row(
            "SELECT COALESCE(SUM(status = 'queued'), 0), COALESCE(SUM(status = 'sent'), 0),
                    COALESCE(SUM(status = 'failed'), 0),
                    COALESCE(SUM(status = 'queued' AND attempts > 0), 0) FROM outbox",
            [],
            |r| {
                Ok(OutboxCounts {
                    queued: r.get(0)?,
                    sent: r.get(1)?,
                    failed: r.get(2)?,
                    retrying: r.get(3)?,
                })
            },
        )?)
    }
}
