//! Events in ClickHouse, for a deployment that outgrew one machine's SQLite journal: the
//! detection workers insert what they consumed, and the API searches it through the same
//! [`EventSearch`](wardwatch_store::EventSearch) seam as the embedded store, with the same
//! search language and the same results and totals.
//!
//! The table (`schema.rs`): typed columns for what every query filters or groups on
//! (organization, event time, host, user, source, decoder, code, channel), the source's own
//! fields as two parallel arrays of keys and lowercased values — the one layout every
//! ClickHouse reads, down to the 18.16 Debian packages —, the event's words, and the stored
//! document as it came. Partitioned by the day it was received (retention drops whole days,
//! and a sender's stamp years off never expires an event at once), ordered by organization,
//! event time and host.
//!
//! Queries (`compile.rs`) are compiled to ClickHouse conditions with every value bound as a
//! parameter; the client escapes it as a literal.
//!
//! The seam is synchronous and the `clickhouse` client is async: each call runs on a small
//! runtime of this crate's own (two threads), from whatever thread calls it — the pipeline's
//! or tokio's blocking pool, never an async task.
//!
//! **Architecture Invariant:** this crate stores and finds core values; it knows nothing of
//! NATS, listeners or rules. The single binary never links it.

mod alerts;
mod compile;
mod journal;
mod schema;
mod search;
mod undecodable;

use std::sync::OnceLock;

use serde::Serialize;
use wardwatch_store::query::FieldPairs;
use wardwatch_store::{Encoded, StoreError};

pub use alerts::NewAlert;
pub use journal::Counts;
pub use schema::Layout;
pub use undecodable::Undecodable;

/// What [`StoreError::Engine`] names.
pub(crate) const ENGINE: &str = "clickhouse";

/// The events store on a ClickHouse server.
#[derive(Clone)]
pub struct ClickHouse {
    client: clickhouse::Client,
    database: String,
    /// Where the server was reached, for messages (no credentials).
    endpoint: String,
}

/// One event to insert: its position (the journal's, or the stream sequence in a cluster),
/// the partition it came through, when it was received (ns), and the event as encoded for the
/// journal.
pub struct NewEvent<'a> {
    pub seq: u64,
    pub part: u32,
    pub received_ns: i64,
    pub event: &'a Encoded,
}

/// The row as inserted (RowBinary, in the table's column order).
#[derive(clickhouse::Row, Serialize)]
struct Row {
    seq: u64,
    part: u32,
    day: u16,
    ts: i64,
    received: i64,
    org: String,
    source: String,
    kind: String,
    host: String,
    user: String,
    code: String,
    channel: String,
    ext_id: String,
    bytes: u32,
    field_keys: Vec<String>,
    field_values: Vec<String>,
    short_keys: Vec<String>,
    short_values: Vec<String>,
    words: String,
    original: String,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("wardwatch-clickhouse")
            .enable_all()
            .build()
            .expect("the OS can start the ClickHouse client's threads")
    })
}

/// Run `f` (a request to the server) to its end from a synchronous caller.
pub(crate) fn wait<T>(f: impl Future<Output = T>) -> T {
    runtime().block_on(f)
}

impl ClickHouse {
    /// A store on the server of `url`: `clickhouse://HOST:PORT/DATABASE` or
    /// `http://HOST:PORT/DATABASE` (the HTTP interface, default port 8123, database
    /// `wardwatch` when none is named). Nothing is sent until the first request.
    pub fn connect(url: &str) -> Result<ClickHouse, StoreError> {
        let bad = |why: &str| StoreError::Engine {
            engine: ENGINE,
            message: format!(
                "`{url}` is not a ClickHouse address ({why}); expected clickhouse://HOST:8123/DATABASE"
            ),
        };
        let rest = url
            .strip_prefix("clickhouse://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| bad("it starts with neither clickhouse:// nor http://"))?;
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let database = database.trim_end_matches('/');
        let database = if database.is_empty() {
            "wardwatch"
        } else {
            database
        };
        if !database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad("a database name is letters, digits and `_`"));
        }
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("it names no host, or names a user in the address"));
        }
        let authority = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:8123")
        };
        let endpoint = format!("http://{authority}");
        let client = clickhouse::Client::default()
            .with_url(&endpoint)
            // Column-type checks ask for `RowBinaryWithNamesAndTypes`, which the 18.16
            // servers Debian ships do not know; the rows here are written by this crate for
            // the table it made, in its column order.
            .with_validation(false);
        Ok(ClickHouse {
            client,
            database: database.to_string(),
            endpoint,
        })
    }

    /// The database the tables are in.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Where the server is (`http://HOST:PORT`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The client, on this store's database.
    pub(crate) fn client(&self) -> clickhouse::Client {
        self.client.clone().with_database(&self.database)
    }

    /// An [`StoreError::Engine`] saying what failed.
    pub(crate) fn error(&self, what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Engine {
            engine: ENGINE,
            message: format!("{what} at {}: {e}", self.endpoint),
        }
    }

    /// The server's version, as it says it (`18.16.1`, `24.8.4.13`).
    pub fn version(&self) -> Result<String, StoreError> {
        wait(self.client.query("SELECT version()").fetch_one::<String>())
            .map_err(|e| self.error("cannot ask the server's version", e))
    }

    /// Insert events in one request: on return they are stored (ClickHouse writes a block of
    /// an insert whole or not at all). Inserting the same position again stores it twice:
    /// callers insert each position once (see [`ClickHouse::stored_among`]).
    pub fn insert(&self, events: &[NewEvent<'_>]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let rows: Vec<Row> = events.iter().map(row).collect();
        let client = self.client();
        wait(async move {
            let mut insert = client.insert::<Row>("events").await?;
            for r in &rows {
                insert.write(r).await?;
            }
            insert.end().await
        })
        .map_err(|e| self.error(&format!("cannot insert {} events", events.len()), e))
    }

    /// Which of `seqs` (positions of partition `part`) are stored already: what a worker
    /// that was redelivered messages after a crash skips, so nothing is stored twice.
    pub fn stored_among(&self, part: u32, seqs: &[u64]) -> Result<Vec<u64>, StoreError> {
        let (Some(lo), Some(hi)) = (seqs.iter().min(), seqs.iter().max()) else {
            return Ok(Vec::new());
        };
        let mut found: Vec<u64> = wait(
            self.client()
                .query("SELECT DISTINCT seq FROM events WHERE part = ? AND seq >= ? AND seq <= ?")
                .bind(part)
                .bind(*lo)
                .bind(*hi)
                .fetch_all::<u64>(),
        )
        .map_err(|e| self.error("cannot read which events are stored", e))?;
        found.retain(|s| seqs.contains(s));
        found.sort_unstable();
        Ok(found)
    }
}

fn row(n: &NewEvent<'_>) -> Row {
    let e = &n.event.event;
    let pairs = FieldPairs::of(e);
    let ts = i64::try_from(e.timestamp.as_nanosecond()).unwrap_or(i64::MAX);
    let (field_keys, field_values) = pairs.fields.into_iter().unzip();
    let (short_keys, short_values) = pairs.short_hosts.into_iter().unzip();
    let mut words =
        String::with_capacity(pairs.words.iter().map(|w| w.len() + 1).sum::<usize>() + 1);
    words.push(' ');
    for w in &pairs.words {
        words.push_str(w);
        words.push(' ');
    }
    let lower = |s: &Option<String>| s.as_deref().map(str::to_lowercase).unwrap_or_default();
    Row {
        seq: n.seq,
        part: n.part,
        day: schema::day_of(n.received_ns),
        ts,
        received: n.received_ns,
        org: e.organization.clone(),
        source: e.origin.source.clone(),
        kind: e.source_kind.as_str().to_string(),
        host: lower(&e.ecs.host_name),
        user: lower(&e.ecs.user_name),
        code: e.ecs.event_code.clone().unwrap_or_default(),
        channel: e.ecs.channel.clone().unwrap_or_default(),
        ext_id: e.origin.id.clone().unwrap_or_default(),
        bytes: u32::try_from(n.event.doc.len()).unwrap_or(u32::MAX),
        field_keys,
        field_values,
        short_keys,
        short_values,
        words,
        original: n.event.doc.clone(),
    }
}
