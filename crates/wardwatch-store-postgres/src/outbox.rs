//! The notification queue: the incident stage's incident events in, the planner's messages
//! out, and their delivery state — shared by every node, so a message is planned once and
//! sent once whichever node runs the notification worker.

use wardwatch_store::{NewMessage, NotifyQueue, OutboxCounts, OutboxRow, StoreError};

use crate::{Postgres, now_ns};

const COLUMNS: &str = "id, created, kind, incident, recipient, subject, body, status, attempts, next_attempt, last_error, sent";

fn row(r: &postgres::Row) -> Result<OutboxRow, postgres::Error> {
    Ok(OutboxRow {
        id: r.try_get(0)?,
        created: r.try_get(1)?,
        kind: r.try_get(2)?,
        incident: r.try_get(3)?,
        recipient: r.try_get(4)?,
        subject: r.try_get(5)?,
        body: r.try_get(6)?,
        status: r.try_get(7)?,
        attempts: r.try_get(8)?,
        next_attempt: r.try_get(9)?,
        last_error: r.try_get(10)?,
        sent: r.try_get(11)?,
    })
}

/// Queue `m` unless its id is queued already; whether it is new.
fn insert(
    tx: &mut postgres::Transaction<'_>,
    m: &NewMessage,
    now: i64,
) -> Result<bool, postgres::Error> {
    Ok(tx.execute(
        "INSERT INTO outbox (id, created, kind, incident, recipient, subject, body, next_attempt)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        &[
            &m.id,
            &now,
            &m.kind,
            &m.incident,
            &m.recipient,
            &m.subject,
            &m.body,
            &m.not_before,
        ],
    )? > 0)
}

impl NotifyQueue for Postgres {
    fn notify_state(&self) -> Result<(i64, Option<String>), StoreError> {
        self.with("cannot read the notification planner's state", |c| {
            Ok(
                c.query_opt("SELECT seq, state FROM notify_state WHERE id = 1", &[])?
                    .map(|r| Ok::<_, postgres::Error>((r.try_get(0)?, Some(r.try_get(1)?))))
                    .transpose()?
                    .unwrap_or((0, None)),
            )
        })
    }

    fn incident_events_after(
        &self,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        self.with("cannot read incident events", |c| {
            c.query(
                "SELECT seq, incident FROM incident_events WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&seq, &(limit as i64)],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })
    }

    fn commit_plan(
        &mut self,
        messages: &[NewMessage],
        seq: i64,
        state: &str,
    ) -> Result<usize, StoreError> {
        self.with("cannot commit the notification plan", |c| {
            let now = now_ns();
            let mut tx = c.transaction()?;
            let mut new = 0;
            for m in messages {
                new += usize::from(insert(&mut tx, m, now)?);
            }
            tx.execute(
                "INSERT INTO notify_state (id, seq, state) VALUES (1, $1, $2)
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, state = excluded.state",
                &[&seq, &state],
            )?;
            tx.execute("DELETE FROM incident_events WHERE seq <= $1", &[&seq])?;
            tx.commit()?;
            Ok(new)
        })
    }

    fn enqueue(&mut self, m: &NewMessage) -> Result<bool, StoreError> {
        self.with("cannot queue a message", |c| {
            let mut tx = c.transaction()?;
            let new = insert(&mut tx, m, now_ns())?;
            tx.commit()?;
            Ok(new)
        })
    }

    fn due_messages(&self, now: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        self.with("cannot read the messages due", |c| {
            c.query(
                &format!(
                    "SELECT {COLUMNS} FROM outbox WHERE status = 'queued' AND next_attempt <= $1
                     ORDER BY next_attempt, created, id COLLATE \"C\" LIMIT $2"
                ),
                &[&now, &(limit as i64)],
            )?
            .iter()
            .map(row)
            .collect()
        })
    }

    fn message_sent(&mut self, id: &str, now: i64) -> Result<(), StoreError> {
        self.with("cannot mark a message sent", |c| {
            c.execute(
                "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent = $2, last_error = NULL WHERE id = $1",
                &[&id, &now],
            )
            .map(drop)
        })
    }

    fn message_failed(
        &mut self,
        id: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.with("cannot record a failed delivery", |c| {
            match retry_at {
                Some(at) => c.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt = $3 WHERE id = $1",
                    &[&id, &error, &at],
                )?,
                None => c.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2, status = 'failed' WHERE id = $1",
                    &[&id, &error],
                )?,
            };
            Ok(())
        })
    }

    fn messages(&self, status: Option<&str>, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        self.with("cannot list the messages", |c| {
            c.query(
                &format!(
                    "SELECT {COLUMNS} FROM outbox WHERE ($1::text IS NULL OR status = $1)
                     ORDER BY created DESC, id COLLATE \"C\" LIMIT $2"
                ),
                &[&status, &(limit as i64)],
            )?
            .iter()
            .map(row)
            .collect()
        })
    }

    fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        self.with("cannot count the messages", |c| {
            let r = c.query_one(
                "SELECT COUNT(*) FILTER (WHERE status = 'queued'), COUNT(*) FILTER (WHERE status = 'sent'),
                        COUNT(*) FILTER (WHERE status = 'failed'),
                        COUNT(*) FILTER (WHERE status = 'queued' AND attempts > 0) FROM outbox",
                &[],
            )?;
            Ok(OutboxCounts {
                queued: r.try_get(0)?,
                sent: r.try_get(1)?,
                failed: r.try_get(2)?,
                retrying: r.try_get(3)?,
            })
        })
    }
}
