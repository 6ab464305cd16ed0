//! Decoders: turn the records hospitals already have into normalized [`Event`](wardwatch_core::Event)s.
//!
//! Each format lives in its own module and exposes a per-record function (used by the live
//! listeners of `wardwatch-listen`) and, where the format is a file, a streaming file reader. [`decode_file`] picks the
//! format from the file's first bytes, reads `.gz` transparently, and reports every record it
//! cannot decode as a [`Warning`] with the file and offset — a bad record never stops a file, and
//! a bad file never stops a run.
//!
//! **Architecture Invariant:** decoders know nothing about detection or storage; they only
//! produce events and warnings through the callbacks they are handed.

pub mod archive;
pub mod atna;
mod cef;
mod doc;
mod entra;
mod error;
pub mod eve;
pub mod evtx;
pub mod fhir;
mod file;
mod flat_windows;
pub mod jsonl;
mod linux_auth;
mod m365;
mod mail;
mod network_auth;
mod okta;
mod shipped;
pub mod syslog;
mod syslog_doc;
mod time;
pub mod windows;
mod winlogbeat;
pub mod zeek;

pub use error::IngestError;
pub use file::{FileSummary, Format, Warning, decode_file, detect_format};
