//! The ingest crate's error type.

use std::path::PathBuf;

/// Why a whole input could not be read. Per-record problems are [`crate::Warning`]s instead.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file could not be opened or read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not in a format Wardwatch decodes.
    #[error(
        "`{path}`: unrecognized format (expected EVTX, JSON lines, Suricata EVE or syslog text)"
    )]
    UnknownFormat { path: PathBuf },
    /// The archive (zip or tar) cannot be opened: no member can be read.
    #[error("`{path}`: not a readable archive: {reason}")]
    Archive { path: PathBuf, reason: String },
    /// The EVTX file header is unreadable, so no record can be found.
    #[error("`{path}`: not a readable EVTX file: {reason}")]
    Evtx { path: PathBuf, reason: String },
}
