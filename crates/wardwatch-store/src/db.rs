//! One connection to the store and everything done through it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use wardwatch_core::{Alert, Event, Severity};

use crate::StoreError;
use crate::schema;

/// The database file's name inside the data directory.
pub const FILE_NAME: &str = "wardwatch.db";

/// How a connection is opened.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `synchronous=FULL` (an acknowledged batch survives power loss) instead of `NORMAL`
    /// (survives a crash of the process, not of the machine).
    pub fsync_every_commit: bool,
    /// How long a writer waits for another writer's transaction.
    pub busy_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            fsync_every_commit: true,
            busy_timeout: Duration::from_secs(30),
        }
    }
}

/// One event read back from the journal.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    pub seq: i64,
    /// When the event was committed, ns since the epoch.
    pub received_ns: i64,
    pub event: Event,
}

/// Counts for `/api/v1/stats` and `/metrics`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub events: i64,
    pub alerts: i64,
    pub last_seq: i64,
    pub event_bytes: i64,
    /// (worker, cursor) of every journal reader.
    pub cursors: Vec<(String, i64)>,
    /// Alerts per level, informational first.
    pub alerts_by_level: Vec<(String, i64)>,
}

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub events_removed: i64,
    pub alerts_removed: i64,
}

/// Which API a token opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Ingest,
    Api,
    /// A TAXII partner's (named as in `[[taxii.partners]]`).
    Taxii,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Ingest => "ingest",
            TokenKind::Api => "api",
            TokenKind::Taxii => "taxii",
        }
    }
}

/// A stored token (its secret is kept only as a SHA-256 hash).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub name: String,
    pub kind: TokenKind,
    pub created: String,
}

/// What one detection pass commits together (see [`Db::commit_detection`]).
#[derive(Debug, Default)]
pub struct DetectionCommit<'a> {
    /// The journal reader's name in the cursor table.
    pub worker: &'a str,
    /// Its new cursor: every event up to this sequence number is processed.
    pub cursor: i64,
    /// New alerts, each with the sequence number of its event and the ingest-to-alert latency.
    pub alerts: &'a [(Alert, i64, i64)],
    /// Incidents created or changed.
    pub incidents: &'a [crate::IncidentRow],
    /// Exceptions that suppressed alerts: (id, how many more, when last).
    pub suppressed: &'a [(String, u64, i64)],
    /// The worker's state (correlation windows...), replaced; `None` keeps the one saved
    /// before (a worker that checkpoints its state now and then says where it stands inside
    /// the state itself, and replays the journal from there on restart).
    pub state: Option<&'a str>,
    /// The identity uses of the events up to the cursor (see `ledger.rs`).
    pub ledger: Option<&'a crate::LedgerBatch>,
}

/// An event and its stored JSON form.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub event: Event,
    pub doc: String,
    /// `host.name` and `user.name` lowercased, for the journal's columns.
    host: Option<String>,
    user: Option<String>,
    /// The server's resend key of a `_bulk` document without a sender id (see `resend.rs`),
    /// stored beside the event.
    resend_key: Option<u64>,
}

impl Encoded {
    /// Encode `event` for the journal.
    pub fn new(mut event: Event) -> Result<Encoded, StoreError> {
        let doc = match event.raw_text.take() {
            Some(text) => with_raw_text(&mut event, &text)?,
            None => to_json(&event)?,
        };
        let host = event.ecs.host_name.as_deref().map(str::to_lowercase);
        let user = event.ecs.user_name.as_deref().map(str::to_lowercase);
        Ok(Encoded {
            event,
            doc,
            host,
            user,
            resend_key: None,
        })
    }

    /// The same, stored with the resend key `key`.
    pub fn with_resend_key(self, key: Option<u64>) -> Encoded {
        Encoded {
            resend_key: key,
            ..self
        }
    }
}

/// The page size of a new store. The journal appends rows of 1–2 KiB at tens of thousands a
/// second, and SQLite writes the log one page at a time (two `pwrite`s a frame) and reads pages
/// back for checkpoints: with the default 4 KiB the journal writer spent half its commit time
/// in those system calls. Measured with `bench/serve.sh`: 4 KiB 37–38k events/s, 16 KiB 43k,
/// 32 KiB 45k, 64 KiB (SQLite's largest) 46–48k, with the same memory.
pub const PAGE_SIZE: i64 = 65_536;

fn to_json(event: &Event) -> Result<String, StoreError> {
    serde_json::to_string(event).map_err(|e| StoreError::Corrupt {
        seq: -1,
        reason: e.to_string(),
    })
}

/// The stored form of `event` with `text` (the JSON its `raw` was parsed from) in place of
/// `raw` serialized again: `raw` is the last member, so the document is the rest serialized
/// with a null `raw`, and the text where the null was.
fn with_raw_text(event: &mut Event, text: &str) -> Result<String, StoreError> {
    const TAIL: &str = "\"raw\":null}";
    let raw = std::mem::take(&mut event.raw);
    let head = to_json(event);
    event.raw = raw;
    let mut doc = head?;
    if !doc.ends_with(TAIL) {
        // Only if `Event` changed shape; stay correct.
        return to_json(event);
    }
    doc.truncate(doc.len() - "null}".len());
    doc.reserve(text.len() + 1);
    doc.push_str(text);
    doc.push('}');
    Ok(doc)
}

/// Wait for another connection's write lock in small steps. SQLite's own busy handler sleeps
/// 1, 2, 5, 10... up to 100 ms between tries, so the journal writer and the detection worker,
/// which take turns on the lock every few milliseconds, kept oversleeping each other's short
/// commits. Gives up after about 30 s, like the default timeout.
fn wait_briefly(tries: i32) -> bool {
    let (step, cap) = if tries < 200 {
        (Duration::from_micros(100), 200)
    } else {
        (Duration::from_millis(5), 200 + 6000)
    };
    std::thread::sleep(step);
    tries < cap
}

/// A connection to the store.
pub struct Db {
    pub(crate) conn: Connection,
    path: PathBuf,
}

pub(crate) fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

fn ns(t: jiff::Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX)
}

pub(crate) fn level_num(s: Severity) -> i64 {
    Severity::ALL.iter().position(|l| *l == s).unwrap_or(0) as i64
}

/// Hash of a token secret, hex.
pub fn token_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Db {
    /// Open (creating if needed) the store in `dir`.
    pub fn open(dir: &Path, opts: &DbOptions) -> Result<Db, StoreError> {
        let path = dir.join(FILE_NAME);
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        if let Err(e) = crate::private::create_dir(dir).and(crate::private::create_file(&path)) {
            return Err(open_err(rusqlite::Error::InvalidPath(
                format!("{}: {e}", dir.display()).into(),
            )));
        }
        let mut conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(opts.busy_timeout).map_err(open_err)?;
        if opts.busy_timeout >= Duration::from_secs(30) {
            conn.busy_handler(Some(wait_briefly)).map_err(open_err)?;
        }
        // Takes effect only on a new database (before WAL mode is set); older stores keep
        // theirs.
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        let sync = if opts.fsync_every_commit {
            "FULL"
        } else {
            "NORMAL"
        };
        conn.pragma_update(None, "synchronous", sync)
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(open_err)?;
        if version > schema::VERSION {
            return Err(StoreError::TooNew {
                path,
                found: version,
                supported: schema::VERSION,
            });
        }
        if version < schema::VERSION {
            // In one write transaction, reading the version again inside it: two processes
            // opening a new store at once must not both run the migrations.
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(open_err)?;
            let version: i64 = tx
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(open_err)?;
            if version < 1 {
                tx.execute_batch(schema::V1).map_err(open_err)?;
            }
            if version < schema::VERSION {
                tx.execute_batch(schema::V2).map_err(open_err)?;
            }
            if version < 3 {
                tx.execute_batch(schema::V3).map_err(open_err)?;
            }
            if version < 4 {
                tx.execute_batch(crate::access::V4).map_err(open_err)?;
            }
            if version < 5 {
                tx.execute_batch(schema::V5).map_err(open_err)?;
            }
            if version < 6 {
                tx.execute_batch(schema::V6).map_err(open_err)?;
            }
            if version < 7 {
                tx.execute_batch(schema::V7).map_err(open_err)?;
            }
            if version < 8 {
                tx.execute_batch(schema::V8).map_err(open_err)?;
            }
            if version < 9 {
                tx.execute_batch(schema::V9).map_err(open_err)?;
            }
            if version < 10 {
                tx.execute_batch(schema::V10).map_err(open_err)?;
            }
            tx.pragma_update(None, "user_version", schema::VERSION)
                .map_err(open_err)?;
            tx.commit().map_err(open_err)?;
        }
        Ok(Db { conn, path })
    }

    /// A write transaction that takes the write lock at `BEGIN` (waiting up to the busy
    /// timeout). A deferred one would start as a reader, and SQLite refuses to upgrade a reader
    /// whose snapshot another writer has moved past, at once and without waiting ("database
    /// is locked"), which FTS5 inserts (they read first) hit under load.
    pub(crate) fn write_tx(&mut self) -> Result<rusqlite::Transaction<'_>, StoreError> {
        Ok(self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
    }

    /// Attach the full-text index (`idx`), for search and retention.
    pub(crate) fn attach_index(&self) -> Result<(), StoreError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        crate::index::attach(&self.conn, dir)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commit several batches in one transaction (group commit); returns the last sequence
    /// number written (0 when nothing new was). When this returns, every event is durable. An
    /// event whose sender id (`origin.id`) is already stored for its source is not stored again.
    pub fn append(&mut self, batches: &[Vec<Event>]) -> Result<i64, StoreError> {
        let encoded: Vec<Vec<Encoded>> = batches
            .iter()
            .map(|b| {
                b.iter()
                    .cloned()
                    .map(Encoded::new)
                    .collect::<Result<_, _>>()
            })
            .collect::<Result<_, _>>()?;
        self.append_encoded(&encoded, &mut Vec::new())
    }

    /// [`Db::append`] for events already encoded (callers encode on their own threads, so the
    /// single journal writer only writes), filling `seqs` with each event's sequence number in
    /// order (0 for an event not stored because its sender id was already there).
    pub fn append_encoded(
        &mut self,
        batches: &[Vec<Encoded>],
        seqs: &mut Vec<i64>,
    ) -> Result<i64, StoreError> {
        seqs.clear();
        let received = now_ns();
        let mut last = 0;
        let tx = self.write_tx()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (ts, received, org, source, kind, host, user, code, channel, bytes, ext_id, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            let mut keys = tx.prepare_cached(
                "INSERT OR REPLACE INTO resend_keys (seq, received, key) VALUES (?1, ?2, ?3)",
            )?;
            for Encoded {
                event: e,
                doc,
                host,
                user,
                resend_key,
            } in batches.iter().flatten()
            {
                let inserted = stmt.execute(params![
                    ns(e.timestamp),
                    received,
                    e.organization,
                    e.origin.source,
                    e.source_kind.as_str(),
                    host,
                    user,
                    e.ecs.event_code,
                    e.ecs.channel,
                    doc.len() as i64,
                    e.origin.id,
                    doc,
                ])?;
                if inserted > 0 {
                    let seq = tx.last_insert_rowid();
                    last = last.max(seq);
                    seqs.push(seq);
                    if let Some(key) = resend_key {
                        // The hash's 64 bits, as SQLite's signed integer.
                        keys.execute(params![seq, received, *key as i64])?;
                    }
                } else {
                    seqs.push(0);
                }
            }
        }
        tx.commit()?;
        Ok(last)
    }

    /// The highest sequence number ever written (0 for an empty journal).
    pub fn last_seq(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?)
    }

    /// A worker's durable cursor and state (0 and `None` for a new worker).
    pub fn cursor(&self, name: &str) -> Result<(i64, Option<String>), StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq, state FROM cursors WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .unwrap_or((0, None)))
    }

    /// Up to `limit` stored documents after `seq`, in order, as `(seq, JSON)`, for readers that
    /// do not need the decoded event (the indexer).
    pub fn read_docs_after(
        &self,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, doc FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let rows = stmt.query_map(params![seq, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Up to `limit` journal entries after `seq`, in order.
    pub fn read_after(&self, seq: i64, limit: usize) -> Result<Vec<JournalEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, received, doc FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![seq, limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, received_ns, doc) = row?;
            let event = serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt {
                seq,
                reason: e.to_string(),
            })?;
            out.push(JournalEntry {
                seq,
                received_ns,
                event,
            });
        }
        Ok(out)
    }

    /// Commit what a detection pass produced, atomically: its alerts (each with the sequence
    /// number of its event and the ingest-to-alert latency), the full-text index rows of the
    /// the incidents it changed, the exceptions' counters, its new cursor and
    /// its state. Returns how many alerts were new (an alert already stored — a replay after a
    /// crash — is not stored twice).
    pub fn commit_detection(&mut self, c: &DetectionCommit<'_>) -> Result<usize, StoreError> {
        let created = now_ns();
        let tx = self.write_tx()?;
        if c.worker.starts_with(crate::PARTITION_CURSOR_PREFIX) {
            // Read under the write lock: no other commit comes between this and ours.
            let stored: Option<i64> = tx
                .query_row("SELECT seq FROM cursors WHERE name = ?1", [c.worker], |r| {
                    r.get(0)
                })
                .optional()?;
            if let Some(stored) = stored.filter(|s| *s > c.cursor) {
                return Err(StoreError::Fenced {
                    worker: c.worker.to_string(),
                    stored,
                    given: c.cursor,
                });
            }
        }
        let mut new = 0;
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO alerts (id, seq, ts, org, rule_id, title, level, host, created, latency, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for (a, seq, latency) in c.alerts {
                let doc = serde_json::to_string(a).map_err(|e| StoreError::Corrupt {
                    seq: *seq,
                    reason: e.to_string(),
                })?;
                new += ins.execute(params![
                    a.id.0,
                    seq,
                    ns(a.timestamp),
                    a.organization,
                    a.rule_id,
                    a.rule_title,
                    level_num(a.level),
                    a.host,
                    created,
                    latency,
                    doc
                ])?;
            }
            crate::incidents::write_incidents(&tx, c.incidents)?;
            crate::outbox::note_incidents(&tx, c.incidents)?;
            crate::incidents::count_suppressed(&tx, c.suppressed)?;
            if let Some(batch) = c.ledger {
                crate::ledger::write_ledger(&tx, batch)?;
            }
            tx.execute(
                "INSERT INTO cursors (name, seq, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET seq = excluded.seq,
                     state = COALESCE(excluded.state, cursors.state)",
                params![c.worker, c.cursor, c.state],
            )?;
        }
        tx.commit()?;
        Ok(new)
    }

    /// Counts of what is stored.
    pub fn stats(&self) -> Result<Stats, StoreError> {
        let (events, bytes, last_seq): (i64, i64, i64) = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0), COALESCE(MAX(seq), 0) FROM events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let alerts: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get(0))?;
        let mut stmt = self
            .conn
            .prepare("SELECT name, seq FROM cursors ORDER BY name")?;
        let cursors = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut stmt = self
            .conn
            .prepare("SELECT level, COUNT(*) FROM alerts GROUP BY level ORDER BY level")?;
        let alerts_by_level = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|(l, n)| {
                let name = Severity::ALL
                    .get(l as usize)
                    .map_or("unknown", |s| s.as_str());
                (name.to_string(), n)
            })
            .collect();
        let mut cursors = cursors;
        self.attach_index()?;
        let indexed: i64 = self.conn.query_row(
            "SELECT COALESCE((SELECT seq FROM idx.index_cursor WHERE id = 1), 0)",
            [],
            |r| r.get(0),
        )?;
        cursors.push((crate::INDEXER.to_string(), indexed));
        Ok(Stats {
            events,
            alerts,
            last_seq,
            event_bytes: bytes,
            cursors,
            alerts_by_level,
        })
    }

    /// Remove events received more than `max_age` ago and, oldest first, events beyond
    /// `max_bytes` of documents — but never events a journal reader has not processed yet
    /// (`keep_after`). Alerts raised more than `max_age` ago go too; newer alerts keep their
    /// copy of the facts.
    ///
    /// Age is counted from when the server received and raised them, never from the time a
    /// sender wrote in its events: a stamp months (or years) off must not expire an alert the
    /// minute it is raised.
    pub fn retain(
        &mut self,
        max_age: Option<Duration>,
        max_bytes: Option<i64>,
        keep_after: i64,
    ) -> Result<RetentionReport, StoreError> {
        self.retain_at(jiff::Timestamp::now(), max_age, max_bytes, keep_after)
    }

    /// [`Db::retain`] as if the time were `now`.
    pub fn retain_at(
        &mut self,
        now: jiff::Timestamp,
        max_age: Option<Duration>,
        max_bytes: Option<i64>,
        keep_after: i64,
    ) -> Result<RetentionReport, StoreError> {
        self.attach_index()?;
        let mut report = RetentionReport::default();
        let tx = self.write_tx()?;
        if let Some(age) = max_age {
            let cutoff = ns(now).saturating_sub(age.as_nanos().min(i64::MAX as u128) as i64);
            // `received` grows with `seq` (one writer stamps each commit), so the expired
            // events are the journal's head: find where it ends by walking it from the oldest,
            // reading no more rows than are removed.
            let first_kept: Option<i64> = tx
                .query_row(
                    "SELECT seq FROM events WHERE received >= ?1 ORDER BY seq LIMIT 1",
                    [cutoff],
                    |r| r.get(0),
                )
                .optional()?;
            let upto = first_kept.map_or(keep_after, |s| (s - 1).min(keep_after));
            report.events_removed += delete_events(&tx, upto)?;
            report.alerts_removed +=
                tx.execute("DELETE FROM alerts WHERE created < ?1", [cutoff])? as i64;
        }
        if let Some(max) = max_bytes {
            let total: i64 =
                tx.query_row("SELECT COALESCE(SUM(bytes), 0) FROM events", [], |r| {
                    r.get(0)
                })?;
            if total > max {
                // Find the seq below which removing events frees enough.
                let excess = total - max;
                let mut stmt = tx.prepare("SELECT seq, bytes FROM events ORDER BY seq")?;
                let mut rows = stmt.query([])?;
                let mut freed = 0;
                let mut upto = 0;
                while let Some(r) = rows.next()? {
                    if freed >= excess {
                        break;
                    }
                    upto = r.get(0)?;
                    freed += r.get::<_, i64>(1)?;
                }
                drop(rows);
                drop(stmt);
                let upto = upto.min(keep_after);
                report.events_removed += delete_events(&tx, upto)?;
            }
        }
        tx.execute(
            "UPDATE alerts SET seq = NULL WHERE seq IS NOT NULL AND seq NOT IN (SELECT seq FROM events)",
            [],
        )?;
        tx.commit()?;
        Ok(report)
    }

    /// Store a token (only its hash is kept). Fails if the name exists.
    pub fn add_token(
        &mut self,
        name: &str,
        kind: TokenKind,
        secret: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO tokens (name, kind, sha256, created) VALUES (?1, ?2, ?3, ?4)",
            params![name, kind.as_str(), token_hash(secret), now_ns()],
        )?;
        Ok(())
    }

    /// Remove a token; returns whether it existed.
    pub fn remove_token(&mut self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM tokens WHERE name = ?1", [name])?
            > 0)
    }

    /// Stored tokens (without secrets).
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, kind, created FROM tokens ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            let kind: String = r.get(1)?;
            let created: i64 = r.get(2)?;
            Ok(TokenInfo {
                name: r.get(0)?,
                kind: match kind.as_str() {
                    "api" => TokenKind::Api,
                    "taxii" => TokenKind::Taxii,
                    _ => TokenKind::Ingest,
                },
                created: jiff::Timestamp::from_nanosecond(created.into())
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The hashes of every stored token of `kind`.
    pub fn token_hashes(&self, kind: TokenKind) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT sha256 FROM tokens WHERE kind = ?1")?;
        let rows = stmt.query_map([kind.as_str()], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

/// Delete the events with `seq <= upto_seq` and their full-text rows; returns how many.
fn delete_events(tx: &rusqlite::Transaction<'_>, upto_seq: i64) -> Result<i64, StoreError> {
    tx.execute("DELETE FROM idx.events_fts WHERE rowid <= ?1", [upto_seq])?;
    tx.execute("DELETE FROM resend_keys WHERE seq <= ?1", [upto_seq])?;
    Ok(tx.execute("DELETE FROM events WHERE seq <= ?1", [upto_seq])? as i64)
}

/// Every string and number of an event, in order: what free-text and phrase terms match.
pub fn index_text(event: &Event) -> String {
    fn walk(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::String(s) => {
                out.push_str(s);
                out.push(' ');
            }
            serde_json::Value::Number(n) => {
                out.push_str(&n.to_string());
                out.push(' ');
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    walk(&event.raw, &mut out);
    if let Ok(serde_json::Value::Object(ecs)) = serde_json::to_value(&event.ecs) {
        ecs.values().for_each(|x| walk(x, &mut out));
    }
    out
}

#[cfg(test)]
mod tests;
