//! The full-text index, in a database file of its own (`index.db` beside the journal).
//!
//! Why a second file: SQLite has one write lock per database. With the index in the journal's
//! file, every index commit (thousands of FTS5 rows) held the lock the journal writer needs to
//! acknowledge senders, and ingest stalled behind indexing; measured, moving it out raised
//! sustained ingest by about a sixth and halved p99 latency. The index is derived data: it
//! keeps its own cursor in its own file, is rebuilt from the journal if lost, and search stays
//! exact past that cursor (it checks unindexed events directly).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::StoreError;
use crate::db::DbOptions;

/// The index database's file name inside the data directory.
pub const INDEX_FILE_NAME: &str = "index.db";

/// The index schema, for a connection where the index is `schema` (`main` or `idx`).
fn schema(schema: &str) -> String {
    format!(
        "CREATE VIRTUAL TABLE IF NOT EXISTS {schema}.events_fts USING fts5(text, content='', contentless_delete=1, detail=none, tokenize='unicode61 remove_diacritics 2');
         CREATE TABLE IF NOT EXISTS {schema}.index_cursor (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);"
    )
}

/// The index file of the store in `dir`.
pub fn index_path(dir: &Path) -> PathBuf {
    dir.join(INDEX_FILE_NAME)
}

/// A connection to the index, for the worker that builds it.
pub struct IndexDb {
    conn: Connection,
}

impl IndexDb {
    /// Open (creating if needed) the index of the store in `dir`.
    pub fn open(dir: &Path, opts: &DbOptions) -> Result<IndexDb, StoreError> {
        let path = index_path(dir);
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        if let Err(e) = crate::private::create_file(&path) {
            return Err(open_err(rusqlite::Error::InvalidPath(
                format!("{}: {e}", path.display()).into(),
            )));
        }
        let conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(opts.busy_timeout).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        // Derived data: a lost tail is rebuilt from the journal, so no fsync per commit.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.execute_batch(&schema("main")).map_err(open_err)?;
        Ok(IndexDb { conn })
    }

    /// Every event up to this sequence number is indexed.
    pub fn cursor(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT seq FROM index_cursor WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0))
    }

    /// Index `rows` (sequence number, text) and move the cursor to `cursor`, atomically.
    pub fn commit(&mut self, cursor: i64, rows: &[(i64, String)]) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut fts = tx.prepare_cached(
                "INSERT OR REPLACE INTO events_fts (rowid, text) VALUES (?1, ?2)",
            )?;
            for (seq, text) in rows {
                fts.execute(params![seq, text])?;
            }
            tx.execute(
                "INSERT INTO index_cursor (id, seq) VALUES (1, ?1)
                 ON CONFLICT(id) DO UPDATE SET seq = excluded.seq",
                [cursor],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Attach the index of the store in `dir` to `conn` as `idx` (creating it if needed), for
/// search and retention. Idempotent.
pub(crate) fn attach(conn: &Connection, dir: &Path) -> Result<(), StoreError> {
    let attached: Option<String> = conn
        .query_row(
            "SELECT name FROM pragma_database_list WHERE name = 'idx'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if attached.is_none() {
        let path = index_path(dir);
        if !path.exists() {
            // Created by its own connection so it starts in WAL mode.
            IndexDb::open(dir, &DbOptions::default())?;
        }
        conn.execute("ATTACH DATABASE ?1 AS idx", [path.to_string_lossy()])?;
        conn.execute_batch(&schema("idx"))?;
    }
    Ok(())
}
