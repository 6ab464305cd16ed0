//! The small, mutable state of a scale-out deployment in PostgreSQL: incidents and the
//! analysts' side of them, exceptions and their counters, the detection stages' cursors and
//! state (one per stream partition, never moved back), the identity ledger, tokens, accounts
//! and audit, the notification queue, the TAXII server's collections and status resources, the
//! intel feeds' positions, indicators and sightings — shared by every node, each change in one
//! transaction.
//!
//! Why PostgreSQL for this part: events and alerts are many, append-only and searched
//! (ClickHouse holds them); this state is small, changed in place by several nodes at once (an
//! analyst acknowledging an incident while the incident stage extends it), and must never lose
//! or half-apply a change. A relational database with real transactions is the tool, and
//! hospitals' teams already run one.
//!
//! The same traits as the embedded store ([`wardwatch_store::seam`]), answering as it answers
//! (`tests/same_answers.rs` drives both through `dyn` traits). What differs is below the seam:
//! incidents' listing tie-break is an identity column where SQLite has its `rowid`; writes that
//! must be applied in commit order (the notification queue's incident events) take a
//! transaction-level advisory lock, so a reader never sees position 6 before 5 commits.
//!
//! The schema has a version of its own ([`schema::VERSION`]): [`Postgres::init`] (what
//! `wardwatch cluster init` runs) creates or migrates it, idempotently and under a lock, while
//! [`Postgres::connect`] (every node) only checks that it is the version this build knows.
//!
//! The seam is synchronous: this crate uses the `postgres` client (tokio-postgres driven on a
//! runtime of the connection's own), from the pipeline's threads or tokio's blocking pool,
//! never from an async task. A connection that broke (the server restarted) is opened again on
//! the next call.
//!
//! **Architecture Invariant:** this crate stores and finds the state's rows; it knows nothing
//! of NATS, ClickHouse, listeners or rules. The single binary never links it.

mod access;
mod detection;
mod feeds;
mod incidents;
mod ledger;
mod outbox;
mod resend;
pub mod schema;
mod taxii;

use std::sync::Mutex;
use std::time::Duration;

use wardwatch_store::StoreError;

/// What [`StoreError::Engine`] names.
pub(crate) const ENGINE: &str = "postgres";

/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The state store on a PostgreSQL server: one connection (a node opens one per thread that
/// needs it, as it opens SQLite connections).
pub struct Postgres {
    config: postgres::Config,
    /// Where the server is, for messages: `postgres://HOST:PORT/DATABASE` (no credentials).
    endpoint: String,
    /// `None` until the first call and after the connection broke.
    client: Mutex<Option<postgres::Client>>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Postgres {
    /// Connect to the server of `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, or
    /// the `host=... dbname=...` form) and check that the schema is the one this build
    /// writes; an empty or older database is an error that says to run `wardwatch cluster
    /// init`.
    pub fn connect(url: &str) -> Result<Postgres, StoreError> {
        let pg = Postgres::unchecked(url)?;
        let found = pg.schema_version()?;
        if found != schema::VERSION {
            return Err(pg.engine_error(if found < schema::VERSION {
                format!(
                    "the state schema is at version {found}, this Wardwatch needs {}: run `wardwatch cluster init`",
                    schema::VERSION
                )
            } else {
                format!(
                    "the state schema is at version {found}, newer than this Wardwatch ({}); upgrade Wardwatch",
                    schema::VERSION
                )
            }));
        }
        Ok(pg)
    }

    /// Connect to the server of `url` and create or migrate the schema to this build's version
    /// (idempotent; nodes running `init` at once take turns). Returns the store and the
    /// version the database had before (0 when it was empty).
    pub fn init(url: &str) -> Result<(Postgres, i32), StoreError> {
        let pg = Postgres::unchecked(url)?;
        let before = pg.with("cannot create the state schema", schema::migrate)?;
        if before > schema::VERSION {
            return Err(pg.engine_error(format!(
                "the state schema is at version {before}, newer than this Wardwatch ({}); upgrade Wardwatch",
                schema::VERSION
            )));
        }
        Ok((pg, before))
    }

    /// A store on `url` without checking the schema (for [`Postgres::init`] and status).
    pub fn unchecked(url: &str) -> Result<Postgres, StoreError> {
        let mut config: postgres::Config = url.parse().map_err(|e| StoreError::Engine {
            engine: ENGINE,
            message: format!(
                "`{}` is not a PostgreSQL address ({e}); expected postgres://USER@HOST:5432/DATABASE",
                redact(url)
            ),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("wardwatch");
        }
        let endpoint = endpoint(&config);
        Ok(Postgres {
            config,
            endpoint,
            client: Mutex::new(None),
        })
    }

    /// Where the server is: `postgres://HOST:PORT/DATABASE` (no user, no password).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The schema version the database is at (0 when this store's tables are not there).
    pub fn schema_version(&self) -> Result<i32, StoreError> {
        self.with("cannot read the state schema's version", schema::version)
    }

    /// The server's version, as it says it (`15.8 (Debian 15.8-0+deb12u1)`).
    pub fn server_version(&self) -> Result<String, StoreError> {
        self.with("cannot ask the server's version", |c| {
            c.query_one("SHOW server_version", &[])?.try_get(0)
        })
    }

    /// Run `f` on the connection (opened, or opened again when it broke), naming `what` failed
    /// in the error. A connection found closed on first use (the server restarted while it
    /// was idle) is opened again and `f` run once more: every caller's work is a transaction
    /// that either committed or not, and the callers' writes are idempotent (a detection
    /// stage replays what it did not see acknowledged).
    pub(crate) fn with<T>(
        &self,
        what: &str,
        f: impl FnMut(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        self.run(what, true, f)
    }

    /// [`Postgres::with`] without running `f` again: for work that calls back into the
    /// caller (an analyst's change), which must see the incident once.
    pub(crate) fn with_once<T>(
        &self,
        what: &str,
        f: impl FnMut(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        self.run(what, false, f)
    }

    fn run<T>(
        &self,
        what: &str,
        retry: bool,
        mut f: impl FnMut(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut guard = self.client.lock().unwrap_or_else(|p| p.into_inner());
        let reused = retry && guard.as_ref().is_some_and(|c| !c.is_closed());
        let mut out = f(self.client(&mut guard)?);
        if reused && out.as_ref().is_err_and(postgres::Error::is_closed) {
            *guard = None;
            out = f(self.client(&mut guard)?);
        }
        if guard.as_ref().is_some_and(postgres::Client::is_closed) {
            *guard = None;
        }
        out.map_err(|e| self.error(what, &e))
    }

    /// The connection, opened when there is none or it broke.
    fn client<'a>(
        &self,
        slot: &'a mut Option<postgres::Client>,
    ) -> Result<&'a mut postgres::Client, StoreError> {
        if slot.as_ref().is_none_or(postgres::Client::is_closed) {
            *slot = None;
            let client = self
                .config
                .connect(postgres::NoTls)
                .map_err(|e| self.error("cannot connect", &e))?;
            *slot = Some(client);
        }
        Ok(slot.as_mut().expect("a connection was just made"))
    }

    /// An [`StoreError::Engine`] saying what failed where, with the server's own words.
    pub(crate) fn error(&self, what: &str, e: &postgres::Error) -> StoreError {
        self.engine_error(format!("{what} at {}: {}", self.endpoint, describe(e)))
    }

    pub(crate) fn engine_error(&self, message: String) -> StoreError {
        StoreError::Engine {
            engine: ENGINE,
            message,
        }
    }
}

/// The error with its causes (the client's `Display` alone says only "db error").
fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            s.push_str(&format!(" ({detail})"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(&format!(": {c}"));
        }
        source = cause.source();
    }
    s
}

/// `postgres://HOST:PORT/DATABASE` of a configuration.
fn endpoint(c: &postgres::Config) -> String {
    let host = match c.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let db = c
        .get_dbname()
        .or(c.get_user())
        .unwrap_or("postgres")
        .to_string();
    format!("postgres://{host}:{port}/{db}")
}

/// `url` with any password replaced, for a message.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return if url.contains("password") {
            "(a connection string with a password)".to_string()
        } else {
            url.to_string()
        };
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
}

/// Now, ns since the epoch.
pub(crate) fn now_ns() -> i64 {
    i64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or(i64::MAX)
}

/// Severity as the stores number it (0 informational .. 4 critical).
pub(crate) fn level_num(s: wardwatch_core::Severity) -> i16 {
    wardwatch_core::Severity::ALL
        .iter()
        .position(|l| *l == s)
        .unwrap_or(0) as i16
}

/// A statement's parameters, built up with their `$N` marks.
#[derive(Default)]
pub(crate) struct Args {
    values: Vec<Box<dyn postgres::types::ToSql + Sync + Send>>,
}

impl Args {
    /// Add a value; returns its mark (`$3`).
    pub(crate) fn push(
        &mut self,
        v: impl postgres::types::ToSql + Sync + Send + 'static,
    ) -> String {
        self.values.push(Box::new(v));
        format!("${}", self.values.len())
    }

    /// ` AND col = ANY($N)` for an organization filter (nothing matches an empty one).
    pub(crate) fn orgs(&mut self, col: &str, orgs: Option<&[String]>) -> String {
        match orgs {
            None => String::new(),
            Some([]) => " AND FALSE".to_string(),
            Some(orgs) => {
                let mark = self.push(orgs.to_vec());
                format!(" AND {col} = ANY({mark})")
            }
        }
    }

    pub(crate) fn refs(&self) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
        self.values
            .iter()
            .map(|v| v.as_ref() as &(dyn postgres::types::ToSql + Sync))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_and_passwords_never_shown() {
        let pg = Postgres::unchecked("postgres://ww:s3cret@db.hosp.example:6432/wardwatch")
            .expect("a valid address");
        assert_eq!(pg.endpoint(), "postgres://db.hosp.example:6432/wardwatch");
        let pg = Postgres::unchecked("host=10.0.0.5 user=ww dbname=state").expect("valid");
        assert_eq!(pg.endpoint(), "postgres://10.0.0.5:5432/state");
        let err = Postgres::unchecked("postgres://ww:s3cret@db:notaport/x")
            .expect_err("a port that is not a number")
            .to_string();
        assert!(
            err.starts_with("postgres: `postgres://ww:***@db:notaport/x`"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn an_unreachable_server_is_an_error_naming_it() {
        // Port 1 on loopback: nothing listens there.
        let pg = Postgres::unchecked("postgres://ww@127.0.0.1:1/state").expect("valid");
        let err = pg
            .schema_version()
            .expect_err("nothing listens")
            .to_string();
        assert!(
            err.starts_with("postgres: cannot connect at postgres://127.0.0.1:1/state"),
            "{err}"
        );
    }
}
