//! The identity ledger: where and how each account was used, per UTC day.
//!
//! The rows and their caps are the embedded store's (`wardwatch_store::ledger`): a batch is
//! written as [`LedgerBatch::cells`] lists it, and an account's rows are read back into an
//! answer by [`usage_from_rows`], so both engines count and answer alike.

use wardwatch_store::ledger::{
    MAX_VALUES_PER_DAY, OTHERS, TOTAL, UsageRow, account_key, day_of, usage_from_rows,
};
use wardwatch_store::{IdentityLedger, IdentityUsage, LedgerBatch, StoreError};

use crate::Postgres;

/// Write `batch` inside the caller's transaction: a new value is taken while the account has
/// fewer than the cap of that kind that day; otherwise it counts under [`OTHERS`].
pub(crate) fn write_ledger(
    tx: &mut postgres::Transaction<'_>,
    batch: &LedgerBatch,
) -> Result<(), postgres::Error> {
    if batch.is_empty() {
        return Ok(());
    }
    let upsert = tx.prepare(
        "INSERT INTO identity_usage
             (account, org, day, kind, value, first_seen, last_seen, uses, succeeded, failed)
         SELECT $1::text, $2::text, $3::bigint, $4::text, $5::text, $6::bigint, $7::bigint,
                $8::bigint, $9::bigint, $10::bigint
         WHERE $4::text = $11::text OR $5::text = $12::text
            OR EXISTS (SELECT 1 FROM identity_usage
                       WHERE account = $1 AND org = $2 AND day = $3 AND kind = $4 AND value = $5)
            OR (SELECT COUNT(*) FROM identity_usage
                WHERE account = $1 AND org = $2 AND day = $3 AND kind = $4) < $13::bigint
         ON CONFLICT (account, org, day, kind, value) DO UPDATE SET
             first_seen = LEAST(identity_usage.first_seen, excluded.first_seen),
             last_seen = GREATEST(identity_usage.last_seen, excluded.last_seen),
             uses = identity_usage.uses + excluded.uses,
             succeeded = identity_usage.succeeded + excluded.succeeded,
             failed = identity_usage.failed + excluded.failed",
    )?;
    for c in batch.cells() {
        let mut put = |value: &str| {
            tx.execute(
                &upsert,
                &[
                    &c.account,
                    &c.org,
                    &c.day,
                    &c.kind,
                    &value,
                    &c.first_seen,
                    &c.last_seen,
                    &c.uses,
                    &c.succeeded,
                    &c.failed,
                    &TOTAL,
                    &OTHERS,
                    &MAX_VALUES_PER_DAY,
                ],
            )
        };
        if put(c.value)? == 0 {
            put(OTHERS)?;
        }
    }
    Ok(())
}

impl IdentityLedger for Postgres {
    fn record_identity_uses(&mut self, batch: &LedgerBatch) -> Result<(), StoreError> {
        self.with("cannot record identity uses", |c| {
            let mut tx = c.transaction()?;
            write_ledger(&mut tx, batch)?;
            tx.commit()
        })
    }

    fn ledger_rows(&self) -> Result<u64, StoreError> {
        self.with("cannot count the identity ledger", |c| {
            Ok(c.query_one("SELECT COUNT(*) FROM identity_usage", &[])?
                .try_get::<_, i64>(0)? as u64)
        })
    }

    fn identity_usage(
        &self,
        user: &str,
        orgs: Option<&[String]>,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> Result<Option<IdentityUsage>, StoreError> {
        let account = account_key(user);
        let rows = self.with("cannot read the identity ledger", |c| {
            c.query(
                "SELECT org, day, kind, value, first_seen, last_seen, uses, succeeded, failed
                 FROM identity_usage WHERE account = $1",
                &[&account],
            )?
            .iter()
            .map(|r| {
                Ok(UsageRow {
                    org: r.try_get(0)?,
                    day: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    value: r.try_get(3)?,
                    first_seen: r.try_get(4)?,
                    last_seen: r.try_get(5)?,
                    uses: r.try_get(6)?,
                    succeeded: r.try_get(7)?,
                    failed: r.try_get(8)?,
                })
            })
            .collect::<Result<Vec<_>, postgres::Error>>()
        })?;
        Ok(usage_from_rows(&account, orgs, from, to, rows))
    }

    fn retain_ledger(
        &mut self,
        now: jiff::Timestamp,
        max_days: Option<u32>,
        max_rows: Option<u64>,
    ) -> Result<u64, StoreError> {
        self.with("cannot trim the identity ledger", |c| {
            let mut tx = c.transaction()?;
            let mut removed = 0;
            if let Some(days) = max_days {
                let keep_from = day_of(now) - i64::from(days);
                removed +=
                    tx.execute("DELETE FROM identity_usage WHERE day < $1", &[&keep_from])?;
            }
            if let Some(max) = max_rows {
                let rows: i64 = tx
                    .query_one("SELECT COUNT(*) FROM identity_usage", &[])?
                    .try_get(0)?;
                let excess = rows - i64::try_from(max).unwrap_or(i64::MAX);
                if excess > 0 {
                    // The day of the row `excess` from the oldest: every day before it goes,
                    // and that day too (a day is kept whole or not at all).
                    let upto: Option<i64> = tx
                        .query_opt(
                            "SELECT day FROM identity_usage ORDER BY day LIMIT 1 OFFSET $1",
                            &[&(excess - 1)],
                        )?
                        .map(|r| r.try_get(0))
                        .transpose()?;
                    if let Some(day) = upto {
                        removed +=
                            tx.execute("DELETE FROM identity_usage WHERE day <= $1", &[&day])?;
                    }
                }
            }
            tx.commit()?;
            Ok(removed)
        })
    }
}
