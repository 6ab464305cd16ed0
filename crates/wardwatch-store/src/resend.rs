//! What the server needs to recognize a `_bulk` document sent again after a restart: a key
//! per stored document (a keyed hash the server computes from its text) and the secret the
//! hash is keyed with.
//!
//! Why a table of its own: rebuilding the server's window of recent documents by reading the
//! documents back meant parsing every `_bulk` document of the last minutes on start (17 s to
//! `/healthz` at a few thousand events a second, growing with the rate). The keys are written
//! with their events, in the same transaction, so a document is remembered exactly when it is
//! stored; reading them back is a narrow scan (about 20 bytes a row) whatever the documents'
//! size. Rows older than the window are removed by [`Db::forget_resend_keys`], and with their
//! events by retention.

use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::db::Db;

/// Version 6: resend keys and the server's secrets.
pub const SCHEMA: &str = r#"
-- One row per stored `_bulk` document without a sender id: its resend key (a keyed hash of
-- organization, source and text, computed by the server). Same `seq` as the event.
CREATE TABLE IF NOT EXISTS resend_keys (
    seq       INTEGER PRIMARY KEY,
    received  INTEGER NOT NULL,             -- as the event's, ns
    key       INTEGER NOT NULL
);

-- Secrets the server keeps across restarts (random, made by the store on first use).
CREATE TABLE IF NOT EXISTS secrets (
    name      TEXT PRIMARY KEY,
    value     BLOB NOT NULL
);
"#;

impl Db {
    /// The 32-byte secret named `name`, made (random) on first use and the same ever after.
    pub fn secret(&mut self, name: &str) -> Result<[u8; 32], StoreError> {
        let tx = self.write_tx()?;
        tx.execute(
            "INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, randomblob(32))",
            [name],
        )?;
        let value: Vec<u8> =
            tx.query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| {
                r.get(0)
            })?;
        tx.commit()?;
        value.try_into().map_err(|v: Vec<u8>| StoreError::Corrupt {
            seq: -1,
            reason: format!("secret {name:?} has {} bytes, not 32", v.len()),
        })
    }

    /// The resend keys of the documents received at or after `since`, newest first, at most
    /// `max`. Reads the table from its end and stops at the first older row (received times
    /// grow with the journal position).
    pub fn resend_keys_since(
        &self,
        since: jiff::Timestamp,
        max: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let since = i64::try_from(since.as_nanosecond()).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare("SELECT received, key FROM resend_keys ORDER BY seq DESC")?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while out.len() < max {
            let Some(row) = rows.next()? else { break };
            if row.get::<_, i64>(0)? < since {
                break;
            }
            out.push(row.get::<_, i64>(1)? as u64);
        }
        Ok(out)
    }

    /// Remove the resend keys of documents received before `before`, and all but the newest
    /// `keep` keys; returns how many went.
    pub fn forget_resend_keys(
        &mut self,
        before: jiff::Timestamp,
        keep: usize,
    ) -> Result<usize, StoreError> {
        let before = i64::try_from(before.as_nanosecond()).unwrap_or(i64::MAX);
        let tx = self.write_tx()?;
        // Walk from the oldest: no more rows are read than are removed (plus one).
        let first_kept: Option<i64> = tx
            .query_row(
                "SELECT seq FROM resend_keys WHERE received >= ?1 ORDER BY seq LIMIT 1",
                [before],
                |r| r.get(0),
            )
            .optional()?;
        let mut upto = first_kept.map_or(i64::MAX, |s| s - 1);
        let beyond_keep: Option<i64> = tx
            .query_row(
                "SELECT seq FROM resend_keys ORDER BY seq DESC LIMIT 1 OFFSET ?1",
                [i64::try_from(keep).unwrap_or(i64::MAX)],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(s) = beyond_keep {
            upto = upto.max(s);
        }
        let n = tx.execute("DELETE FROM resend_keys WHERE seq <= ?1", params![upto])?;
        tx.commit()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{DbOptions, Encoded};
    use wardwatch_core::{Event, SourceKind};

    fn encoded(n: u32, key: Option<u64>) -> Encoded {
        let mut e = Event::new(
            SourceKind::Json,
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::json!({ "n": n }),
        );
        e.origin.source = "bulk".into();
        Encoded::new(e).unwrap().with_resend_key(key)
    }

    #[test]
    fn resend_keys_are_stored_with_their_events_read_back_newest_first_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
        let t0 = jiff::Timestamp::now();
        let mut seqs = Vec::new();
        // The key is the hash's 64 bits, the high bit included.
        let big = u64::MAX - 1;
        db.append_encoded(
            &[vec![
                encoded(1, Some(11)),
                encoded(2, None),
                encoded(3, Some(big)),
            ]],
            &mut seqs,
        )
        .unwrap();
        db.append_encoded(&[vec![encoded(4, Some(44))]], &mut seqs)
            .unwrap();
        assert_eq!(
            db.resend_keys_since(jiff::Timestamp::UNIX_EPOCH, 10)
                .unwrap(),
            [44, big, 11]
        );
        assert_eq!(
            db.resend_keys_since(jiff::Timestamp::UNIX_EPOCH, 2)
                .unwrap(),
            [44, big]
        );
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1);
        assert!(db.resend_keys_since(later, 10).unwrap().is_empty());

        // Nothing is older than t0; keep only the newest two.
        assert_eq!(db.forget_resend_keys(t0, 2).unwrap(), 1);
        assert_eq!(
            db.resend_keys_since(jiff::Timestamp::UNIX_EPOCH, 10)
                .unwrap(),
            [44, big]
        );
        // Everything is older than `later`.
        assert_eq!(db.forget_resend_keys(later, 10).unwrap(), 2);
        assert!(
            db.resend_keys_since(jiff::Timestamp::UNIX_EPOCH, 10)
                .unwrap()
                .is_empty()
        );
        // The events themselves stay.
        assert_eq!(db.stats().unwrap().events, 4);
    }

    #[test]
    fn a_secret_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
        let a = db.secret("resend").unwrap();
        assert_ne!(a, [0u8; 32]);
        assert_ne!(db.secret("other").unwrap(), a);
        drop(db);
        let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
        assert_eq!(db.secret("resend").unwrap(), a);
    }
}
