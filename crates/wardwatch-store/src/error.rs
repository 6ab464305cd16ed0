//! The store's error type.

use std::path::PathBuf;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("cannot open the store at `{path}`: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer Wardwatch.
    #[error(
        "the store at `{path}` has schema version {found}, newer than this Wardwatch ({supported}); upgrade Wardwatch"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// An SQL statement failed.
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A stored document could not be read back.
    #[error("store: corrupt document at seq {seq}: {reason}")]
    Corrupt { seq: i64, reason: String },
    /// A search query could not be parsed.
    #[error("{0}")]
    Query(#[from] crate::query::QueryError),
    /// A search cursor was not one this store handed out.
    #[error("invalid cursor `{0}`")]
    Cursor(String),
    /// Another engine behind the seam (ClickHouse, PostgreSQL) refused a request or could not
    /// be reached; `engine` names it, `message` is its own word with what was asked.
    #[error("{engine}: {message}")]
    Engine {
        engine: &'static str,
        message: String,
    },
    /// A scale-out detection worker committed a partition's cursor behind the one stored:
    /// another worker has taken the partition and committed past it (this one lost its lease
    /// while it worked). Nothing was written; the worker drops the partition.
    #[error(
        "`{worker}` is committed up to {stored} already, past {given}: another worker holds this partition now; nothing was written"
    )]
    Fenced {
        worker: String,
        stored: i64,
        given: i64,
    },
}

impl StoreError {
    /// Whether SQLite said "database or disk is full" (`SQLITE_FULL`): the operating system
    /// refused or cut short a write for lack of space.
    pub fn is_disk_full(&self) -> bool {
        let sql = match self {
            StoreError::Sql(e) | StoreError::Open { source: e, .. } => e,
            _ => return false,
        };
        sql.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_told_apart_from_other_failures() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        assert!(StoreError::Sql(full).is_disk_full());
        let readonly = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
            None,
        );
        assert!(!StoreError::Sql(readonly).is_disk_full());
        assert!(!StoreError::Cursor("x".into()).is_disk_full());
    }
}
