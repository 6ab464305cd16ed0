//! The identity ledger: for each account, every host, source address, device, application,
//! logon type and country where it was used, with first and last seen and counts, per UTC day.
//!
//! Why a table of its own, and per day: the question a hospital asks is "where and how was
//! this identity used last week" — answered from the journal it would mean reading every
//! authentication event of the week (millions); answered from here it reads one account's rows
//! (one per place and day). A day is the grain: a period asked for is widened to whole UTC days
//! (the answer says which), and first and last seen inside it stay exact to the event.
//!
//! Exactly once: the detection worker folds a batch's uses into a [`LedgerBatch`] and commits
//! it in the same transaction as its cursor ([`crate::DetectionCommit::ledger`]), so a restart
//! neither loses nor counts twice what it replays. Offline loading (`wardwatch identity load`)
//! writes batches with [`Db::record_identity_uses`].
//!
//! Bounded: at most [`MAX_VALUES_PER_DAY`] values of one kind per account and day (the rest are
//! counted together under [`OTHERS`]), values cut to [`MAX_VALUE_LEN`] bytes, and
//! [`Db::retain_ledger`] removes days past an age and the oldest days past a row count.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::StoreError;
use crate::db::Db;

/// Version 8: the identity ledger.
pub const SCHEMA: &str = r#"
-- One row per account, organization, UTC day, kind (host, source, device, application,
-- logon_type, country; `*` for the account's own totals) and value.
CREATE TABLE IF NOT EXISTS identity_usage (
    account     TEXT NOT NULL,              -- lowercased, without domain or realm
    org         TEXT NOT NULL,
    day         INTEGER NOT NULL,           -- days since 1970-01-01 (UTC)
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,           -- ns since the epoch
    last_seen   INTEGER NOT NULL,
    uses        INTEGER NOT NULL,
    succeeded   INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    PRIMARY KEY (account, org, day, kind, value)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identity_usage_day ON identity_usage(day);
"#;

/// Values of one kind kept per account and day; more are counted under [`OTHERS`].
pub const MAX_VALUES_PER_DAY: i64 = 64;

/// The value that counts the uses beyond [`MAX_VALUES_PER_DAY`].
pub const OTHERS: &str = "(others)";

/// Longest value kept, in bytes (cut at a character boundary).
pub const MAX_VALUE_LEN: usize = 256;

/// The kind of the rows holding an account's own totals for a day.
pub const TOTAL: &str = "*";

const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// Where or how an account was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageKind {
    /// The machine the account signed in to (or the system that logged the use).
    Host,
    /// The address the use came from.
    Source,
    /// The device the user held (workstation name, Entra or Okta device).
    Device,
    /// The application or service used (sshd, an Entra app, the EHR).
    Application,
    /// How: interactive, network, remote interactive, service, ssh, sudo...
    LogonType,
    /// The source address's country (when a GeoIP database is configured).
    Country,
}

impl UsageKind {
    /// Every kind, in the order answers list them.
    pub const ALL: [UsageKind; 6] = [
        UsageKind::Host,
        UsageKind::Source,
        UsageKind::Device,
        UsageKind::Application,
        UsageKind::LogonType,
        UsageKind::Country,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageKind::Host => "host",
            UsageKind::Source => "source",
            UsageKind::Device => "device",
            UsageKind::Application => "application",
            UsageKind::LogonType => "logon_type",
            UsageKind::Country => "country",
        }
    }

    fn parse(s: &str) -> Option<UsageKind> {
        UsageKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The ledger's key for an account name: trimmed, lowercased, without its domain or realm
/// (`HOSP\N.Jansen`, `n.jansen@hosp.example` and `N.Jansen` are one account), as
/// `wardwatch_detect::identity_use` names accounts.
pub fn account_key(user: &str) -> String {
    let user = user.trim();
    let bare = match user.split_once('\\') {
        Some((_, a)) => a,
        None => user.rsplit_once('@').map_or(user, |(a, _)| a),
    };
    bare.trim().to_lowercase()
}

/// One use of an account, as the caller read it from an event.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerUse {
    pub org: String,
    /// The account as the event names it; keyed with [`account_key`].
    pub account: String,
    pub time: jiff::Timestamp,
    /// `Some(true)` succeeded, `Some(false)` failed, `None` not said (a session, a record read).
    pub outcome: Option<bool>,
    /// Where and how; a kind may come more than once.
    pub places: Vec<(UsageKind, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cell {
    first: i64,
    last: i64,
    uses: i64,
    succeeded: i64,
    failed: i64,
}

impl Cell {
    fn merge(&mut self, o: &Cell) {
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        self.uses += o.uses;
        self.succeeded += o.succeeded;
        self.failed += o.failed;
    }
}

/// (account, org, day, kind, value)
type Key = (String, String, i64, &'static str, String);

/// Uses folded per account, day and place, ready to commit in one transaction.
#[derive(Debug, Default, Clone)]
pub struct LedgerBatch {
    cells: HashMap<Key, Cell>,
}

fn cut(s: &str) -> String {
    let s = s.trim();
    if s.len() <= MAX_VALUE_LEN {
        return s.to_string();
    }
    let mut end = MAX_VALUE_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

impl LedgerBatch {
    /// Count one use.
    pub fn add(&mut self, u: &LedgerUse) {
        let account = cut(&account_key(&u.account));
        if account.is_empty() {
            return;
        }
        let t = i64::try_from(u.time.as_nanosecond()).unwrap_or(i64::MAX);
        let day = t.div_euclid(DAY_NS);
        let cell = Cell {
            first: t,
            last: t,
            uses: 1,
            succeeded: i64::from(u.outcome == Some(true)),
            failed: i64::from(u.outcome == Some(false)),
        };
        let mut put = |kind: &'static str, value: String| {
            self.cells
                .entry((account.clone(), u.org.clone(), day, kind, value))
                .and_modify(|c| c.merge(&cell))
                .or_insert(cell);
        };
        put(TOTAL, String::new());
        let mut seen: Vec<(UsageKind, String)> = Vec::with_capacity(u.places.len());
        for (kind, value) in &u.places {
            let value = cut(value);
            if value.is_empty() || seen.iter().any(|(k, v)| k == kind && *v == value) {
                continue;
            }
            seen.push((*kind, value.clone()));
            put(kind.as_str(), value);
        }
    }

    /// The rows to write, in the order every engine writes them (sorted, so that which values
    /// a day keeps under [`MAX_VALUES_PER_DAY`] does not depend on hashing).
    pub fn cells(&self) -> Vec<LedgerCell<'_>> {
        let mut cells: Vec<(&Key, &Cell)> = self.cells.iter().collect();
        cells.sort_by(|a, b| a.0.cmp(b.0).then(a.1.first.cmp(&b.1.first)));
        cells
            .into_iter()
            .map(|((account, org, day, kind, value), c)| LedgerCell {
                account,
                org,
                day: *day,
                kind,
                value,
                first_seen: c.first,
                last_seen: c.last,
                uses: c.uses,
                succeeded: c.succeeded,
                failed: c.failed,
            })
            .collect()
    }

    /// Rows this batch will write or update.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

/// Write `batch` inside the caller's transaction.
pub(crate) fn write_ledger(
    tx: &rusqlite::Transaction<'_>,
    batch: &LedgerBatch,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    // A new value is taken while the account has fewer than the cap of that kind that day;
    // otherwise it counts under OTHERS.
    let mut upsert = tx.prepare_cached(
        "INSERT INTO identity_usage
             (account, org, day, kind, value, first_seen, last_seen, uses, succeeded, failed)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
         WHERE ?4 = '*' OR ?5 = ?11
            OR EXISTS (SELECT 1 FROM identity_usage
                       WHERE account = ?1 AND org = ?2 AND day = ?3 AND kind = ?4 AND value = ?5)
            OR (SELECT COUNT(*) FROM identity_usage
                WHERE account = ?1 AND org = ?2 AND day = ?3 AND kind = ?4) < ?12
         ON CONFLICT (account, org, day, kind, value) DO UPDATE SET
             first_seen = MIN(first_seen, excluded.first_seen),
             last_seen = MAX(last_seen, excluded.last_seen),
             uses = uses + excluded.uses,
             succeeded = succeeded + excluded.succeeded,
             failed = failed + excluded.failed",
    )?;
    for c in batch.cells() {
        let mut put = |value: &str| {
            upsert.execute(params![
                c.account,
                c.org,
                c.day,
                c.kind,
                value,
                c.first_seen,
                c.last_seen,
                c.uses,
                c.succeeded,
                c.failed,
                OTHERS,
                MAX_VALUES_PER_DAY
            ])
        };
        if put(c.value)? == 0 {
            put(OTHERS)?;
        }
    }
    Ok(())
}

/// One row of a [`LedgerBatch`] to write: an account's uses of one place on one day. Written
/// under [`OTHERS`] instead of `value` when the day already holds [`MAX_VALUES_PER_DAY`] values
/// of the kind (the totals' kind, [`TOTAL`], has no cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerCell<'a> {
    pub account: &'a str,
    pub org: &'a str,
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub kind: &'static str,
    pub value: &'a str,
    /// ns since the epoch.
    pub first_seen: i64,
    pub last_seen: i64,
    pub uses: i64,
    pub succeeded: i64,
    pub failed: i64,
}

/// One stored row of an account, as any engine reads it back for [`usage_from_rows`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub org: String,
    pub day: i64,
    pub kind: String,
    pub value: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub uses: i64,
    pub succeeded: i64,
    pub failed: i64,
}

/// One place or means of use, over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaceUsage {
    pub value: String,
    pub first_seen: jiff::Timestamp,
    pub last_seen: jiff::Timestamp,
    pub uses: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// When the ledger first saw the account used here (at or before `first_seen`).
    pub first_ever: jiff::Timestamp,
    /// Never seen for this account before the period.
    pub new: bool,
}

/// Where and how an account was used over a period (whole UTC days).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdentityUsage {
    pub account: String,
    /// Start of the first day counted.
    pub from: jiff::Timestamp,
    /// End of the last day counted (exclusive).
    pub to: jiff::Timestamp,
    /// Organizations the uses were seen in.
    pub organizations: Vec<String>,
    pub first_seen: Option<jiff::Timestamp>,
    pub last_seen: Option<jiff::Timestamp>,
    pub uses: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Each list most used first.
    pub hosts: Vec<PlaceUsage>,
    pub sources: Vec<PlaceUsage>,
    pub devices: Vec<PlaceUsage>,
    pub applications: Vec<PlaceUsage>,
    pub logon_types: Vec<PlaceUsage>,
    pub countries: Vec<PlaceUsage>,
}

impl IdentityUsage {
    /// The places of one kind.
    pub fn places(&self, kind: UsageKind) -> &[PlaceUsage] {
        match kind {
            UsageKind::Host => &self.hosts,
            UsageKind::Source => &self.sources,
            UsageKind::Device => &self.devices,
            UsageKind::Application => &self.applications,
            UsageKind::LogonType => &self.logon_types,
            UsageKind::Country => &self.countries,
        }
    }

    fn places_mut(&mut self, kind: UsageKind) -> &mut Vec<PlaceUsage> {
        match kind {
            UsageKind::Host => &mut self.hosts,
            UsageKind::Source => &mut self.sources,
            UsageKind::Device => &mut self.devices,
            UsageKind::Application => &mut self.applications,
            UsageKind::LogonType => &mut self.logon_types,
            UsageKind::Country => &mut self.countries,
        }
    }
}

fn ts(ns: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// The UTC day of `t`, as the ledger keys it (days since 1970-01-01).
pub fn day_of(t: jiff::Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond())
        .unwrap_or(i64::MAX)
        .div_euclid(DAY_NS)
}

/// Where and how the account `account` (an [`account_key`]) was used from the day of `from` to
/// the day of `to` (both whole UTC days) in the organizations `orgs` (`None`: all), from every
/// stored row of the account: `None` when none is of those organizations.
pub fn usage_from_rows(
    account: &str,
    orgs: Option<&[String]>,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
    rows: impl IntoIterator<Item = UsageRow>,
) -> Option<IdentityUsage> {
    let (first_day, last_day) = (day_of(from), day_of(to).max(day_of(from)));
    let mut out = IdentityUsage {
        account: account.to_string(),
        from: ts(first_day.saturating_mul(DAY_NS)),
        to: ts((last_day + 1).saturating_mul(DAY_NS)),
        organizations: Vec::new(),
        first_seen: None,
        last_seen: None,
        uses: 0,
        succeeded: 0,
        failed: 0,
        hosts: Vec::new(),
        sources: Vec::new(),
        devices: Vec::new(),
        applications: Vec::new(),
        logon_types: Vec::new(),
        countries: Vec::new(),
    };
    let mut known = false;
    // (kind, value) -> (cell inside the period, first ever)
    let mut places: HashMap<(UsageKind, String), (Option<Cell>, i64)> = HashMap::new();
    let mut total: Option<Cell> = None;
    for r in rows {
        let org = r.org;
        if orgs.is_some_and(|o| !o.contains(&org)) {
            continue;
        }
        known = true;
        let day = r.day;
        if day > last_day {
            continue;
        }
        let kind = r.kind;
        let cell = Cell {
            first: r.first_seen,
            last: r.last_seen,
            uses: r.uses,
            succeeded: r.succeeded,
            failed: r.failed,
        };
        let inside = day >= first_day;
        if kind == TOTAL {
            if inside {
                if !out.organizations.contains(&org) {
                    out.organizations.push(org);
                }
                match &mut total {
                    Some(t) => t.merge(&cell),
                    None => total = Some(cell),
                }
            }
            continue;
        }
        let Some(kind) = UsageKind::parse(&kind) else {
            continue;
        };
        let entry = places.entry((kind, r.value)).or_insert((None, cell.first));
        entry.1 = entry.1.min(cell.first);
        if inside {
            match &mut entry.0 {
                Some(c) => c.merge(&cell),
                None => entry.0 = Some(cell),
            }
        }
    }
    if !known {
        return None;
    }
    if let Some(t) = total {
        out.first_seen = Some(ts(t.first));
        out.last_seen = Some(ts(t.last));
        out.uses = t.uses as u64;
        out.succeeded = t.succeeded as u64;
        out.failed = t.failed as u64;
    }
    let period_start = first_day.saturating_mul(DAY_NS);
    for ((kind, value), (cell, first_ever)) in places {
        let Some(c) = cell else { continue };
        out.places_mut(kind).push(PlaceUsage {
            value,
            first_seen: ts(c.first),
            last_seen: ts(c.last),
            uses: c.uses as u64,
            succeeded: c.succeeded as u64,
            failed: c.failed as u64,
            first_ever: ts(first_ever),
            new: first_ever >= period_start,
        });
    }
    out.organizations.sort();
    for kind in UsageKind::ALL {
        out.places_mut(kind)
            .sort_by(|a, b| b.uses.cmp(&a.uses).then_with(|| a.value.cmp(&b.value)));
    }
    Some(out)
}

impl Db {
    /// Commit `batch` on its own (offline loading; the pipeline commits it with its cursor).
    pub fn record_identity_uses(&mut self, batch: &LedgerBatch) -> Result<(), StoreError> {
        let tx = self.write_tx()?;
        write_ledger(&tx, batch)?;
        tx.commit()?;
        Ok(())
    }

    /// Rows the ledger holds (each an account, organization, day and place).
    pub fn ledger_rows(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM identity_usage", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Where and how `user` was used from the day of `from` to the day of `to` (both whole
    /// UTC days), in the organizations `orgs` (`None`: all). `None` when the ledger holds no
    /// use of the account at all in those organizations (at any time).
    pub fn identity_usage(
        &self,
        user: &str,
        orgs: Option<&[String]>,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> Result<Option<IdentityUsage>, StoreError> {
        let account = account_key(user);
        let mut stmt = self.conn.prepare_cached(
            "SELECT org, day, kind, value, first_seen, last_seen, uses, succeeded, failed
             FROM identity_usage WHERE account = ?1",
        )?;
        let rows = stmt.query_map(params![account], |r| {
            Ok(UsageRow {
                org: r.get(0)?,
                day: r.get(1)?,
                kind: r.get(2)?,
                value: r.get(3)?,
                first_seen: r.get(4)?,
                last_seen: r.get(5)?,
                uses: r.get(6)?,
                succeeded: r.get(7)?,
                failed: r.get(8)?,
            })
        })?;
        let rows = rows.collect::<Result<Vec<_>, _>>()?;
        Ok(usage_from_rows(&account, orgs, from, to, rows))
    }

    /// Remove the ledger's days older than `max_days` before `now`, then the oldest days while
    /// it holds more than `max_rows` rows; returns the rows removed.
    pub fn retain_ledger(
        &mut self,
        now: jiff::Timestamp,
        max_days: Option<u32>,
        max_rows: Option<u64>,
    ) -> Result<u64, StoreError> {
        let tx = self.write_tx()?;
        let mut removed = 0;
        if let Some(days) = max_days {
            let keep_from = day_of(now) - i64::from(days);
            removed += tx.execute("DELETE FROM identity_usage WHERE day < ?1", [keep_from])?;
        }
        if let Some(max) = max_rows {
            let rows: i64 =
                tx.query_row("SELECT COUNT(*) FROM identity_usage", [], |r| r.get(0))?;
            let excess = rows - i64::try_from(max).unwrap_or(i64::MAX);
            if excess > 0 {
                // The day of the row `excess` from the oldest: every day before it goes, and
                // that day too (a day is kept whole or not at all).
                let upto: Option<i64> = tx
                    .query_row(
                        "SELECT day FROM identity_usage ORDER BY day LIMIT 1 OFFSET ?1",
                        [excess - 1],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(day) = upto {
                    removed += tx.execute("DELETE FROM identity_usage WHERE day <= ?1", [day])?;
                }
            }
        }
        tx.commit()?;
        Ok(removed as u64)
    }
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
