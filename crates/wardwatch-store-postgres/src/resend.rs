//! The secrets every node shares, and the resend keys of `_bulk` documents.
//!
//! Ingest nodes must compute the same resend key for the same document whichever node it
//! reaches: the keyed hash's secret lives here, made once (random) by the first node that asks.
//! The keys themselves are recorded by the node that accepted the documents
//! ([`Postgres::record_resend_keys`]) and read back newest first by any node that starts.

use wardwatch_store::{ResendKeys, StoreError};

use crate::Postgres;

fn ns(t: jiff::Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX)
}

impl Postgres {
    /// Record resend keys of documents accepted at `received` (ns), in the order accepted.
    pub fn record_resend_keys(&mut self, keys: &[u64], received: i64) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        // Stored as the same 64 bits, signed (PostgreSQL has no unsigned integers).
        let keys: Vec<i64> = keys.iter().map(|k| *k as i64).collect();
        self.with("cannot record resend keys", |c| {
            c.execute(
                "INSERT INTO resend_keys (received, key)
                 SELECT $1, k FROM unnest($2::bigint[]) WITH ORDINALITY AS t(k, n) ORDER BY n",
                &[&received, &keys],
            )
            .map(drop)
        })
    }
}

impl ResendKeys for Postgres {
    fn secret(&mut self, name: &str) -> Result<[u8; 32], StoreError> {
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh)
            .map_err(|e| self.engine_error(format!("no randomness for secret {name:?}: {e}")))?;
        let value: Vec<u8> = self.with("cannot read a secret", |c| {
            c.execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &fresh.as_slice()],
            )?;
            c.query_one("SELECT value FROM secrets WHERE name = $1", &[&name])?
                .try_get(0)
        })?;
        value.try_into().map_err(|v: Vec<u8>| StoreError::Corrupt {
            seq: -1,
            reason: format!("secret {name:?} has {} bytes, not 32", v.len()),
        })
    }

    fn resend_keys_since(
        &self,
        since: jiff::Timestamp,
        max: usize,
    ) -> Result<Vec<u64>, StoreError> {
        // Newest first, down to the first key received before `since`.
        self.with("cannot read resend keys", |c| {
            c.query(
                "SELECT key FROM resend_keys
                 WHERE pos > COALESCE((SELECT MAX(pos) FROM resend_keys WHERE received < $1), 0)
                 ORDER BY pos DESC LIMIT $2",
                &[&ns(since), &(max as i64)],
            )?
            .iter()
            .map(|r| Ok(r.try_get::<_, i64>(0)? as u64))
            .collect()
        })
    }

    fn forget_resend_keys(
        &mut self,
        before: jiff::Timestamp,
        keep: usize,
    ) -> Result<usize, StoreError> {
        self.with("cannot forget resend keys", |c| {
            let mut tx = c.transaction()?;
            let first_kept: Option<i64> = tx
                .query_one(
                    "SELECT MIN(pos) FROM resend_keys WHERE received >= $1",
                    &[&ns(before)],
                )?
                .try_get(0)?;
            let mut upto = first_kept.map_or(i64::MAX, |p| p - 1);
            let beyond_keep: Option<i64> = tx
                .query_opt(
                    "SELECT pos FROM resend_keys ORDER BY pos DESC LIMIT 1 OFFSET $1",
                    &[&i64::try_from(keep).unwrap_or(i64::MAX)],
                )?
                .map(|r| r.try_get(0))
                .transpose()?;
            if let Some(p) = beyond_keep {
                upto = upto.max(p);
            }
            let n = tx.execute("DELETE FROM resend_keys WHERE pos <= $1", &[&upto])?;
            tx.commit()?;
            Ok(n as usize)
        })
    }
}
