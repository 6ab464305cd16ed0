//! People and their traces: console accounts, sign-in sessions, and the hash-chained audit log.
//!
//! The store keeps what the console decides: an account's role, organizations and password
//! hash (an Argon2id PHC string the console makes; the store never sees a password), sessions
//! by the SHA-256 of their cookie secret (a copy of the database opens no session), and the
//! audit log. Each audit entry carries the SHA-256 of the one before it, so an entry edited,
//! deleted or moved breaks the chain at that place, and [`Db::verify_audit`] names it.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::StoreError;
use crate::db::Db;

/// Version 4: accounts, sessions, the audit log; API tokens get a role and an organization,
/// ingest tokens an organization; exceptions belong to an organization.
pub(crate) const V4: &str = r#"
CREATE TABLE IF NOT EXISTS accounts (
    name      TEXT PRIMARY KEY,
    role      TEXT NOT NULL,               -- admin | analyst | viewer | privacy-officer
    orgs      TEXT NOT NULL,               -- comma-separated organization ids; '*' = all
    hash      TEXT NOT NULL,               -- Argon2id PHC string
    created   INTEGER NOT NULL,
    disabled  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    id        TEXT PRIMARY KEY,            -- SHA-256 of the cookie's secret
    account   TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
    csrf      TEXT NOT NULL,               -- the token every form of this session carries
    created   INTEGER NOT NULL,
    expires   INTEGER NOT NULL,
    addr      TEXT
);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions(expires);
CREATE TABLE IF NOT EXISTS audit (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    ts        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    org       TEXT NOT NULL,
    addr      TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev      TEXT NOT NULL,               -- hash of the entry before ('0' x 64 for the first)
    hash      TEXT NOT NULL                -- SHA-256 over prev and this entry's fields
);
ALTER TABLE tokens ADD COLUMN role TEXT;   -- API tokens: the role they act with (NULL: admin)
ALTER TABLE tokens ADD COLUMN org TEXT;    -- API: '*' or ids; ingest: where events go (NULL: default)
ALTER TABLE exceptions ADD COLUMN org TEXT NOT NULL DEFAULT 'default';
"#;

/// The hash before the first audit entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A console account (never with its password).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    pub name: String,
    pub role: String,
    /// Organization ids, or `["*"]` for every one.
    pub orgs: Vec<String>,
    /// The Argon2id PHC string.
    #[serde(skip)]
    pub hash: String,
    /// ns since the epoch.
    pub created: i64,
    pub disabled: bool,
}

/// A live session and its account.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: Account,
    pub csrf: String,
    /// ns since the epoch.
    pub expires: i64,
}

/// What a session lookup found.
#[derive(Debug, Clone)]
pub enum SessionLookup {
    Live(Box<Session>),
    /// It existed but its time is up (it is removed now).
    Expired,
    Unknown,
}

/// An API or ingest token's role and organizations.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenGrant {
    pub name: String,
    /// `None` for tokens made before roles (they act as admin).
    pub role: Option<String>,
    /// `None` for tokens made before organizations.
    pub org: Option<String>,
}

/// One audit entry to append.
#[derive(Debug, Clone, Default)]
pub struct AuditRecord {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub org: String,
    /// Where from (the peer address, or `cli`).
    pub addr: String,
    pub detail: String,
}

/// A stored audit entry.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    /// ns since the epoch.
    pub ts: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub org: String,
    pub addr: String,
    pub detail: String,
    pub prev: String,
    pub hash: String,
}

/// What [`Db::verify_audit`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditVerdict {
    /// Entries checked.
    pub entries: u64,
    /// The first entry where the chain breaks and why; `None` when intact.
    pub broken: Option<(i64, String)>,
}

/// The hash of audit entry `seq` written at `ts` after the entry whose hash is `prev`: what
/// every engine stores with it and [`AuditChain`] checks.
pub fn audit_hash(prev: &str, seq: i64, r: &AuditRecord, ts: i64) -> String {
    let mut h = Sha256::new();
    // Length-prefixed fields: no two different entries hash the same text.
    for part in [
        prev,
        &seq.to_string(),
        &ts.to_string(),
        &r.actor,
        &r.action,
        &r.target,
        &r.org,
        &r.addr,
        &r.detail,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ns() -> i64 {
    i64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or(i64::MAX)
}

fn account(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    let orgs: String = r.get(2)?;
    Ok(Account {
        name: r.get(0)?,
        role: r.get(1)?,
        orgs: orgs.split(',').map(str::to_string).collect(),
        hash: r.get(3)?,
        created: r.get(4)?,
        disabled: r.get(5)?,
    })
}

const ACCOUNT_COLUMNS: &str = "name, role, orgs, hash, created, disabled";

impl Db {
    /// Add an account; fails when the name is taken.
    pub fn add_account(
        &mut self,
        name: &str,
        role: &str,
        orgs: &[String],
        hash: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO accounts (name, role, orgs, hash, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, role, orgs.join(","), hash, now_ns()],
        )?;
        Ok(())
    }

    /// Replace an account's password hash and end its sessions; whether it exists.
    pub fn set_account_hash(&mut self, name: &str, hash: &str) -> Result<bool, StoreError> {
        let tx = self.write_tx()?;
        let n = tx.execute(
            "UPDATE accounts SET hash = ?2 WHERE name = ?1",
            params![name, hash],
        )?;
        tx.execute("DELETE FROM sessions WHERE account = ?1", [name])?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Remove an account (and its sessions); whether it existed.
    pub fn remove_account(&mut self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM accounts WHERE name = ?1", [name])?
            > 0)
    }

    /// One account.
    pub fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?1"),
                [name],
                account,
            )
            .optional()?)
    }

    /// Every account, by name.
    pub fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name"
        ))?;
        let rows = stmt.query_map([], account)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Open a session: `id_hash` is the SHA-256 of the cookie secret.
    pub fn open_session(
        &mut self,
        id_hash: &str,
        account: &str,
        csrf: &str,
        expires: i64,
        addr: &str,
    ) -> Result<(), StoreError> {
        let now = now_ns();
        let tx = self.write_tx()?;
        // Sessions that ended a day ago go (until then a late visit is told it expired).
        tx.execute(
            "DELETE FROM sessions WHERE expires <= ?1",
            [now.saturating_sub(86_400_000_000_000)],
        )?;
        tx.execute(
            "INSERT INTO sessions (id, account, csrf, created, expires, addr) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id_hash, account, csrf, now, expires, addr],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The session with this id hash, if live (an expired one is removed).
    pub fn session(&mut self, id_hash: &str) -> Result<SessionLookup, StoreError> {
        let found = self
            .conn
            .query_row(
                "SELECT a.name, a.role, a.orgs, a.hash, a.created, a.disabled, s.csrf, s.expires
                 FROM sessions s JOIN accounts a ON a.name = s.account WHERE s.id = ?1",
                [id_hash],
                |r| {
                    Ok(Session {
                        account: account(r)?,
                        csrf: r.get(6)?,
                        expires: r.get(7)?,
                    })
                },
            )
            .optional()?;
        match found {
            None => Ok(SessionLookup::Unknown),
            Some(s) if s.expires <= now_ns() || s.account.disabled => {
                self.close_session(id_hash)?;
                Ok(SessionLookup::Expired)
            }
            Some(s) => Ok(SessionLookup::Live(Box::new(s))),
        }
    }

    /// End a session.
    pub fn close_session(&mut self, id_hash: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM sessions WHERE id = ?1", [id_hash])?;
        Ok(())
    }

    /// Set a stored token's role and organization.
    pub fn set_token_grant(
        &mut self,
        name: &str,
        role: Option<&str>,
        org: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE tokens SET role = ?2, org = ?3 WHERE name = ?1",
            params![name, role, org],
        )? > 0)
    }

    /// The grant of the stored token with this hash and kind.
    pub fn token_grant(
        &self,
        kind: crate::TokenKind,
        hash: &str,
    ) -> Result<Option<TokenGrant>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT name, role, org FROM tokens WHERE kind = ?1 AND sha256 = ?2",
                params![kind.as_str(), hash],
                |r| {
                    Ok(TokenGrant {
                        name: r.get(0)?,
                        role: r.get(1)?,
                        org: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// Every stored token of `kind` with its hash and grant.
    pub fn token_grants(
        &self,
        kind: crate::TokenKind,
    ) -> Result<Vec<(String, TokenGrant)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT sha256, name, role, org FROM tokens WHERE kind = ?1")?;
        let rows = stmt.query_map([kind.as_str()], |r| {
            Ok((
                r.get(0)?,
                TokenGrant {
                    name: r.get(1)?,
                    role: r.get(2)?,
                    org: r.get(3)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Append to the audit log, chained to the last entry; returns its sequence number.
    pub fn audit(&mut self, r: &AuditRecord) -> Result<i64, StoreError> {
        let tx = self.write_tx()?;
        let (last_seq, prev): (i64, String) = tx
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?
            .unwrap_or((0, GENESIS.to_string()));
        let seq = last_seq + 1;
        let ts = now_ns();
        let hash = audit_hash(&prev, seq, r, ts);
        tx.execute(
            "INSERT INTO audit (seq, ts, actor, action, target, org, addr, detail, prev, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                seq, ts, r.actor, r.action, r.target, r.org, r.addr, r.detail, prev, hash
            ],
        )?;
        tx.commit()?;
        Ok(seq)
    }

    /// Audit entries, newest first, at most `limit`, before `before_seq` when given; only those
    /// of `orgs` unless `None` (an entry about no organization has org `*`).
    pub fn audit_entries(
        &self,
        limit: usize,
        before_seq: Option<i64>,
        orgs: Option<&[String]>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, ts, actor, action, target, org, addr, detail, prev, hash FROM audit
             WHERE seq < ?1 ORDER BY seq DESC",
        )?;
        let mut rows = stmt.query([before_seq.unwrap_or(i64::MAX)])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let e = audit_entry(r)?;
            if orgs.is_none_or(|o| o.contains(&e.org)) {
                out.push(e);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Walk the audit chain from the first entry: intact, or the first entry that breaks it
    /// (edited, deleted before it, or moved).
    pub fn verify_audit(&self) -> Result<AuditVerdict, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, ts, actor, action, target, org, addr, detail, prev, hash FROM audit ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut chain = AuditChain::default();
        while let Some(r) = rows.next()? {
            if let Some(broken) = chain.check(audit_entry(r)?) {
                return Ok(broken);
            }
        }
        // The last entries deleted leave no trace in the chain; the sequence does: SQLite's
        // AUTOINCREMENT counter remembers the highest number handed out.
        let highest: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'audit'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(chain.finish(highest))
    }
}

/// The audit chain checked entry by entry from the first, as an engine reads it in order.
#[derive(Debug, Clone)]
pub struct AuditChain {
    prev: String,
    expected_seq: i64,
    entries: u64,
}

impl Default for AuditChain {
    fn default() -> Self {
        AuditChain {
            prev: GENESIS.to_string(),
            expected_seq: 1,
            entries: 0,
        }
    }
}

impl AuditChain {
    /// Check the next entry: `Some` verdict naming it when it breaks the chain (edited,
    /// entries deleted before it, or moved).
    pub fn check(&mut self, e: AuditEntry) -> Option<AuditVerdict> {
        self.entries += 1;
        let broken = |why: String| {
            Some(AuditVerdict {
                entries: self.entries,
                broken: Some((e.seq, why)),
            })
        };
        if e.seq != self.expected_seq {
            return broken(format!(
                "entry {} follows entry {}: entries in between were deleted",
                e.seq,
                self.expected_seq - 1
            ));
        }
        if e.prev != self.prev {
            return broken(format!(
                "entry {} does not point at the entry before it: an entry was deleted or moved",
                e.seq
            ));
        }
        let rec = AuditRecord {
            actor: e.actor.clone(),
            action: e.action.clone(),
            target: e.target.clone(),
            org: e.org.clone(),
            addr: e.addr.clone(),
            detail: e.detail.clone(),
        };
        if audit_hash(&e.prev, e.seq, &rec, e.ts) != e.hash {
            return broken(format!(
                "entry {} was changed after it was written (its hash does not match its fields)",
                e.seq
            ));
        }
        self.prev = e.hash;
        self.expected_seq += 1;
        None
    }

    /// The verdict once every entry was checked, given the highest sequence number the engine
    /// ever handed out (entries deleted from the end leave only that trace).
    pub fn finish(self, highest: Option<i64>) -> AuditVerdict {
        let expected_seq = self.expected_seq;
        if let Some(h) = highest
            && h >= expected_seq
        {
            return AuditVerdict {
                entries: self.entries,
                broken: Some((
                    expected_seq,
                    format!("entries {expected_seq}..={h} were deleted from the end of the log"),
                )),
            };
        }
        AuditVerdict {
            entries: self.entries,
            broken: None,
        }
    }
}

fn audit_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        ts: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        org: r.get(5)?,
        addr: r.get(6)?,
        detail: r.get(7)?,
        prev: r.get(8)?,
        hash: r.get(9)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DbOptions;

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), &DbOptions::default()).unwrap();
        (dir, db)
    }

    fn rec(action: &str) -> AuditRecord {
        AuditRecord {
            actor: "ana".into(),
            action: action.into(),
            target: "incident:1".into(),
            org: "default".into(),
            addr: "127.0.0.1".into(),
            detail: String::new(),
        }
    }

    fn chain(db: &mut Db) {
        for a in ["sign-in", "acknowledge", "comment", "sign-out"] {
            db.audit(&rec(a)).unwrap();
        }
        assert_eq!(db.verify_audit().unwrap().broken, None);
    }

    #[test]
    fn audit_verify_detects_an_edited_entry() {
        let (_d, mut db) = db();
        chain(&mut db);
        db.conn
            .execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2", [])
            .unwrap();
        let v = db.verify_audit().unwrap();
        assert_eq!(v.broken.as_ref().map(|b| b.0), Some(2), "{v:?}");
        assert!(v.broken.unwrap().1.contains("changed"));
    }

    #[test]
    fn audit_verify_detects_a_deleted_entry() {
        let (_d, mut db) = db();
        chain(&mut db);
        db.conn
            .execute("DELETE FROM audit WHERE seq = 2", [])
            .unwrap();
        assert_eq!(db.verify_audit().unwrap().broken.map(|b| b.0), Some(3));
        // Renumbering to hide the gap breaks the links instead.
        db.conn
            .execute("UPDATE audit SET seq = seq - 1 WHERE seq > 2", [])
            .unwrap();
        assert_eq!(db.verify_audit().unwrap().broken.map(|b| b.0), Some(2));
    }

    #[test]
    fn audit_verify_detects_the_last_entry_deleted() {
        let (_d, mut db) = db();
        chain(&mut db);
        db.conn
            .execute("DELETE FROM audit WHERE seq = 4", [])
            .unwrap();
        assert_eq!(db.verify_audit().unwrap().broken.map(|b| b.0), Some(4));
    }

    #[test]
    fn audit_verify_detects_reordered_entries() {
        let (_d, mut db) = db();
        chain(&mut db);
        // Swap entries 2 and 3 (each with its own hash, moved whole).
        db.conn
            .execute_batch(
                "UPDATE audit SET seq = 100 WHERE seq = 2;
                 UPDATE audit SET seq = 2 WHERE seq = 3;
                 UPDATE audit SET seq = 3 WHERE seq = 100;",
            )
            .unwrap();
        assert_eq!(db.verify_audit().unwrap().broken.map(|b| b.0), Some(2));
    }

    #[test]
    fn sessions_expire_and_follow_their_account() {
        let (_d, mut db) = db();
        db.add_account("ana", "analyst", &["default".into()], "$argon2id$x")
            .unwrap();
        db.open_session("h1", "ana", "c1", now_ns() + 1_000_000_000_000, "127.0.0.1")
            .unwrap();
        db.open_session("h2", "ana", "c2", now_ns() - 1, "127.0.0.1")
            .unwrap();
        assert!(matches!(db.session("h1").unwrap(), SessionLookup::Live(s) if s.csrf == "c1"));
        assert!(matches!(db.session("h2").unwrap(), SessionLookup::Expired));
        assert!(matches!(db.session("h2").unwrap(), SessionLookup::Unknown));
        assert!(db.set_account_hash("ana", "$argon2id$y").unwrap());
        assert!(matches!(db.session("h1").unwrap(), SessionLookup::Unknown));
    }
}
