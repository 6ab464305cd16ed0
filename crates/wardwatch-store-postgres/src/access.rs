//! Tokens, console accounts, sessions and the hash-chained audit log.
//!
//! As in the embedded store: tokens and sessions by the SHA-256 of their secret, accounts with
//! the console's password hash, and an audit log whose entries each carry the hash of the one
//! before (`wardwatch_store::audit_hash`, checked by `AuditChain`). Several API nodes append
//! at once here: an append locks the `audit_head` row (the highest number handed out), so the
//! chain is written one entry at a time and entries deleted from its end are still noticed.

use wardwatch_store::{
    AccessStore, Account, AuditChain, AuditEntry, AuditRecord, AuditVerdict, GENESIS, Session,
    SessionLookup, StoreError, TokenGrant, TokenInfo, TokenKind, TokenStore, audit_hash,
    token_hash,
};

use crate::{Postgres, now_ns};

const ACCOUNT_COLUMNS: &str = "name, role, orgs, hash, created, disabled";
const AUDIT_COLUMNS: &str = "seq, ts, actor, action, target, org, addr, detail, prev, hash";

/// How long after its end a session row stays (a late visit is told it expired).
const SESSION_AFTERLIFE_NS: i64 = 86_400_000_000_000;

fn account(r: &postgres::Row) -> Result<Account, postgres::Error> {
    let orgs: String = r.try_get(2)?;
    Ok(Account {
        name: r.try_get(0)?,
        role: r.try_get(1)?,
        orgs: orgs.split(',').map(str::to_string).collect(),
        hash: r.try_get(3)?,
        created: r.try_get(4)?,
        disabled: r.try_get(5)?,
    })
}

fn audit_entry(r: &postgres::Row) -> Result<AuditEntry, postgres::Error> {
    Ok(AuditEntry {
        seq: r.try_get(0)?,
        ts: r.try_get(1)?,
        actor: r.try_get(2)?,
        action: r.try_get(3)?,
        target: r.try_get(4)?,
        org: r.try_get(5)?,
        addr: r.try_get(6)?,
        detail: r.try_get(7)?,
        prev: r.try_get(8)?,
        hash: r.try_get(9)?,
    })
}

fn grant(r: &postgres::Row, from: usize) -> Result<TokenGrant, postgres::Error> {
    Ok(TokenGrant {
        name: r.try_get(from)?,
        role: r.try_get(from + 1)?,
        org: r.try_get(from + 2)?,
    })
}

impl TokenStore for Postgres {
    fn add_token(&mut self, name: &str, kind: TokenKind, secret: &str) -> Result<(), StoreError> {
        let hash = token_hash(secret);
        self.with("cannot add a token", |c| {
            c.execute(
                "INSERT INTO tokens (name, kind, sha256, created) VALUES ($1, $2, $3, $4)",
                &[&name, &kind.as_str(), &hash, &now_ns()],
            )
            .map(drop)
        })
    }

    fn remove_token(&mut self, name: &str) -> Result<bool, StoreError> {
        self.with("cannot remove a token", |c| {
            Ok(c.execute("DELETE FROM tokens WHERE name = $1", &[&name])? > 0)
        })
    }

    fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.with("cannot list the tokens", |c| {
            c.query(
                "SELECT name, kind, created FROM tokens ORDER BY name COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| {
                let kind: String = r.try_get(1)?;
                let created: i64 = r.try_get(2)?;
                Ok(TokenInfo {
                    name: r.try_get(0)?,
                    kind: match kind.as_str() {
                        "api" => TokenKind::Api,
                        "taxii" => TokenKind::Taxii,
                        _ => TokenKind::Ingest,
                    },
                    created: jiff::Timestamp::from_nanosecond(created.into())
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                })
            })
            .collect()
        })
    }

    fn token_hashes(&self, kind: TokenKind) -> Result<Vec<String>, StoreError> {
        self.with("cannot read the token hashes", |c| {
            c.query(
                "SELECT sha256 FROM tokens WHERE kind = $1 ORDER BY name COLLATE \"C\"",
                &[&kind.as_str()],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect()
        })
    }

    fn set_token_grant(
        &mut self,
        name: &str,
        role: Option<&str>,
        org: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.with("cannot change a token's grant", |c| {
            Ok(c.execute(
                "UPDATE tokens SET role = $2, org = $3 WHERE name = $1",
                &[&name, &role, &org],
            )? > 0)
        })
    }

    fn token_grant(&self, kind: TokenKind, hash: &str) -> Result<Option<TokenGrant>, StoreError> {
        self.with("cannot read a token's grant", |c| {
            c.query_opt(
                "SELECT name, role, org FROM tokens WHERE kind = $1 AND sha256 = $2",
                &[&kind.as_str(), &hash],
            )?
            .map(|r| grant(&r, 0))
            .transpose()
        })
    }

    fn token_grants(&self, kind: TokenKind) -> Result<Vec<(String, TokenGrant)>, StoreError> {
        self.with("cannot read the tokens' grants", |c| {
            c.query(
                "SELECT sha256, name, role, org FROM tokens WHERE kind = $1 ORDER BY name COLLATE \"C\"",
                &[&kind.as_str()],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, grant(r, 1)?)))
            .collect()
        })
    }
}

impl AccessStore for Postgres {
    fn add_account(
        &mut self,
        name: &str,
        role: &str,
        orgs: &[String],
        hash: &str,
    ) -> Result<(), StoreError> {
        let orgs = orgs.join(",");
        self.with("cannot add an account", |c| {
            c.execute(
                "INSERT INTO accounts (name, role, orgs, hash, created) VALUES ($1, $2, $3, $4, $5)",
                &[&name, &role, &orgs, &hash, &now_ns()],
            )
            .map(drop)
        })
    }

    fn set_account_hash(&mut self, name: &str, hash: &str) -> Result<bool, StoreError> {
        self.with("cannot change an account's password", |c| {
            let mut tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE accounts SET hash = $2 WHERE name = $1",
                &[&name, &hash],
            )?;
            tx.execute("DELETE FROM sessions WHERE account = $1", &[&name])?;
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn remove_account(&mut self, name: &str) -> Result<bool, StoreError> {
        self.with("cannot remove an account", |c| {
            Ok(c.execute("DELETE FROM accounts WHERE name = $1", &[&name])? > 0)
        })
    }

    fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        self.with("cannot read an account", |c| {
            c.query_opt(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1"),
                &[&name],
            )?
            .as_ref()
            .map(account)
            .transpose()
        })
    }

    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.with("cannot list the accounts", |c| {
            c.query(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name COLLATE \"C\""),
                &[],
            )?
            .iter()
            .map(account)
            .collect()
        })
    }

    fn open_session(
        &mut self,
        id_hash: &str,
        account: &str,
        csrf: &str,
        expires: i64,
        addr: &str,
    ) -> Result<(), StoreError> {
        self.with("cannot open a session", |c| {
            let now = now_ns();
            let mut tx = c.transaction()?;
            tx.execute(
                "DELETE FROM sessions WHERE expires <= $1",
                &[&now.saturating_sub(SESSION_AFTERLIFE_NS)],
            )?;
            tx.execute(
                "INSERT INTO sessions (id, account, csrf, created, expires, addr) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&id_hash, &account, &csrf, &now, &expires, &addr],
            )?;
            tx.commit()
        })
    }

    fn session(&mut self, id_hash: &str) -> Result<SessionLookup, StoreError> {
        let found = self.with("cannot read a session", |c| {
            c.query_opt(
                "SELECT a.name, a.role, a.orgs, a.hash, a.created, a.disabled, s.csrf, s.expires
                 FROM sessions s JOIN accounts a ON a.name = s.account WHERE s.id = $1",
                &[&id_hash],
            )?
            .map(|r| {
                Ok::<_, postgres::Error>(Session {
                    account: account(&r)?,
                    csrf: r.try_get(6)?,
                    expires: r.try_get(7)?,
                })
            })
            .transpose()
        })?;
        match found {
            None => Ok(SessionLookup::Unknown),
            Some(s) if s.expires <= now_ns() || s.account.disabled => {
                self.close_session(id_hash)?;
                Ok(SessionLookup::Expired)
            }
            Some(s) => Ok(SessionLookup::Live(Box::new(s))),
        }
    }

    fn close_session(&mut self, id_hash: &str) -> Result<(), StoreError> {
        self.with("cannot close a session", |c| {
            c.execute("DELETE FROM sessions WHERE id = $1", &[&id_hash])
                .map(drop)
        })
    }

    fn audit(&mut self, r: &AuditRecord) -> Result<i64, StoreError> {
        self.with("cannot append to the audit log", |c| {
            let mut tx = c.transaction()?;
            // The head row's lock makes appends from every node take turns.
            let last: i64 = tx
                .query_one("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE", &[])?
                .try_get(0)?;
            let prev: String = tx
                .query_opt("SELECT hash FROM audit WHERE seq = $1", &[&last])?
                .map(|row| row.try_get(0))
                .transpose()?
                .unwrap_or_else(|| GENESIS.to_string());
            let seq = last + 1;
            let ts = now_ns();
            let hash = audit_hash(&prev, seq, r, ts);
            tx.execute(
                &format!(
                    "INSERT INTO audit ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ),
                &[
                    &seq, &ts, &r.actor, &r.action, &r.target, &r.org, &r.addr, &r.detail,
                    &prev, &hash,
                ],
            )?;
            tx.execute("UPDATE audit_head SET seq = $1 WHERE id = 1", &[&seq])?;
            tx.commit()?;
            Ok(seq)
        })
    }

    fn audit_entries(
        &self,
        limit: usize,
        before_seq: Option<i64>,
        orgs: Option<&[String]>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let orgs: Option<Vec<String>> = orgs.map(<[String]>::to_vec);
        self.with("cannot read the audit log", |c| {
            c.query(
                &format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit WHERE seq < $1 AND ($2::text[] IS NULL OR org = ANY($2))
                     ORDER BY seq DESC LIMIT $3"
                ),
                &[&before_seq.unwrap_or(i64::MAX), &orgs, &(limit as i64)],
            )?
            .iter()
            .map(audit_entry)
            .collect()
        })
    }

    fn verify_audit(&self) -> Result<AuditVerdict, StoreError> {
        self.with("cannot verify the audit log", |c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let highest: i64 = tx
                .query_one("SELECT seq FROM audit_head WHERE id = 1", &[])?
                .try_get(0)?;
            let mut chain = AuditChain::default();
            // In pages: the log grows for years; memory stays one page.
            let mut after = i64::MIN;
            loop {
                let rows = tx.query(
                    &format!(
                        "SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT 10000"
                    ),
                    &[&after],
                )?;
                let Some(last) = rows.last() else { break };
                after = last.try_get(0)?;
                for r in &rows {
                    if let Some(broken) = chain.check(audit_entry(r)?) {
                        return Ok(broken);
                    }
                }
            }
            tx.commit()?;
            Ok(chain.finish((highest > 0).then_some(highest)))
        })
    }
}
