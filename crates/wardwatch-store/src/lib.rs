//! The embedded store: one SQLite database (WAL) in the data directory.
//!
//! The `events` table *is* the journal: a batch is committed in one transaction and only then
//! acknowledged to its sender, and its rows get increasing sequence numbers. Detection reads
//! the journal after its durable cursor and commits its alerts, its new cursor and its
//! correlation state in one transaction — so after a crash at any moment, a restart processes
//! every acknowledged event exactly once (alert ids are deterministic, inserts are idempotent).
//! The full-text index is built behind the journal by the same worker, off the ingest path.
//!
//! Each thread opens its own [`Db`] on the same file: SQLite serializes writers and lets
//! readers run beside them.
//!
//! [`seam`] holds the traits every caller goes through ([`Store`] is all of them); [`Db`] is
//! the SQLite implementation, other engines implement them in crates of their own.
//!
//! **Architecture Invariant:** the store knows nothing about HTTP, rules or decoding; it stores
//! and finds core values.

mod access;
mod db;
mod error;
pub mod feeds;
mod incidents;
mod index;
pub mod ledger;
mod network;
mod outbox;
mod overview;
mod privacy;
mod private;
pub mod query;
mod report;
mod resend;
mod retro;
mod schema;
pub mod seam;
mod search;
mod taxii;
mod words;

pub use access::{
    Account, AuditChain, AuditEntry, AuditRecord, AuditVerdict, GENESIS, Session, SessionLookup,
    TokenGrant, audit_hash,
};
pub use db::{
    Db, DbOptions, DetectionCommit, Encoded, FILE_NAME, JournalEntry, PAGE_SIZE, RetentionReport,
    Stats, TokenInfo, TokenKind, index_text, token_hash,
};
pub use error::StoreError;
pub use feeds::{
    AlertRowRef, FeedApplied, FeedGroup, FeedIndicator, FeedPoll, FeedStatus, RetroPending,
    SightingRow,
};
pub use incidents::{
    IncidentFilter, IncidentPage, IncidentRow, LifecycleUpdate, StoredException, StoredIncident,
};
pub use index::{INDEX_FILE_NAME, IndexDb};
pub use ledger::{IdentityUsage, LedgerBatch, LedgerUse, PlaceUsage, UsageKind};
pub use outbox::{NewMessage, OutboxCounts, OutboxRow};
pub use overview::{RuleHits, SourceRow};
pub use privacy::PrivacyScope;
pub use retro::TimeCursor;
pub use seam::{
    AccessStore, AlertStore, DetectionStore, EventSearch, ExceptionStore, FeedStore,
    IdentityLedger, IncidentStore, IntelAlerts, Journal, NotifyQueue, PARTITION_CURSOR_PREFIX,
    ResendKeys, Retention, SightingsStore, Store, TaxiiStore, TokenStore, update_lifecycle,
};
pub use taxii::{
    AddOutcome, MakeStatus, NewTaxiiObject, TaxiiCollection, TaxiiObjectRow, TaxiiPage, TaxiiQuery,
    TaxiiReader, TaxiiSighting, TaxiiStatusRow, VersionMatch, stamp_us,
};

/// The cursor name of the worker that builds the full-text index behind the journal. Search
/// treats events after it as not yet indexed and checks them directly.
pub const INDEXER: &str = "index";
pub use search::{
    AlertPage, COUNT_TIME, EventPage, LIST_BOUND, MAX_SAMPLE, MIN_COUNT_TIME, SampleRow,
    SearchRequest, TotalRelation, VERIFY_BOUND, VERIFY_SAMPLE,
};
pub use words::doc_text;
