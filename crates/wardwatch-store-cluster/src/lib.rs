//! One store for a scale-out deployment: events and alerts in ClickHouse, the small mutable
//! state in PostgreSQL, behind every trait of the seam — what an API node's console, the
//! notification worker and the command line hold as `Box<dyn Store>`, and what the incident
//! stage commits through.
//!
//! Which engine answers what: `EventSearch`, `AlertStore`, the journal's reads (by stream
//! sequence) and `Retention` go to ClickHouse; incidents, exceptions, tokens, accounts, audit,
//! the notification queue, the identity ledger, the TAXII server's collections, objects and
//! status resources, the intel feeds' positions, indicators and sightings, secrets and the
//! stages' cursors (each partition's worker's, fenced) to PostgreSQL. A detection commit is the
//! one call that spans both: its alerts go to ClickHouse first (those already there skipped: a
//! replay stores nothing twice), then the rest to PostgreSQL in one transaction. A crash
//! between the two leaves alerts whose cursor
//! did not move: the stage replays them, finds them stored, and commits the rest — exactly
//! once, as on one machine.
//!
//! What a cluster node never does here: append to the journal. Events reach ClickHouse from
//! the detection workers, after the ingest nodes published them to the stream; `append_encoded`
//! is an error that says so.
//!
//! **Architecture Invariant:** this crate only routes calls between the two engines' crates;
//! it holds no SQL of its own.

use std::collections::HashMap;
use std::time::Duration;

use wardwatch_core::{Alert, Severity};

use wardwatch_store::{
    AccessStore, AlertStore, DetectionStore, EventSearch, ExceptionStore, FeedStore,
    IdentityLedger, IncidentStore, Journal, NotifyQueue, ResendKeys, Retention, TaxiiStore,
    TokenStore,
};
use wardwatch_store::{
    Account, AddOutcome, AlertPage, AuditEntry, AuditRecord, AuditVerdict, DetectionCommit,
    Encoded, EventPage, IdentityUsage, IncidentFilter, IncidentPage, JournalEntry, LedgerBatch,
    LifecycleUpdate, NewMessage, NewTaxiiObject, OutboxCounts, OutboxRow, PrivacyScope,
    RetentionReport, RuleHits, SearchRequest, SessionLookup, SourceRow, Stats, StoreError,
    StoredException, StoredIncident, TaxiiCollection, TaxiiSighting, TimeCursor, TokenGrant,
    TokenInfo, TokenKind,
};
use wardwatch_store::{
    FeedApplied, FeedGroup, FeedPoll, FeedStatus, MakeStatus, RetroPending, SightingRow, TaxiiPage,
    TaxiiQuery, TaxiiReader, TaxiiStatusRow, VersionMatch,
};
use wardwatch_store_clickhouse::{ClickHouse, Layout, NewAlert};
use wardwatch_store_postgres::Postgres;

/// Alerts of one event are ordered within its position: `seq × ORD_PER_EVENT + index`.
pub const ORD_PER_EVENT: u64 = 1024;

/// The events store (ClickHouse) and the state store (PostgreSQL) as one.
pub struct Cluster {
    events: ClickHouse,
    state: Postgres,
}

/// What [`Cluster::init`] found and made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    /// The ClickHouse server's version.
    pub clickhouse_version: String,
    /// The state schema's version before (0: it was empty) and now.
    pub state_schema_before: i32,
    pub state_schema: i32,
}

impl Cluster {
    /// Open the stores of `[store]`: `events = "clickhouse://HOST:8123/DB"`, `state =
    /// "postgres://USER@HOST:5432/DB"`. The state schema must be this build's (else the error
    /// says to run `wardwatch cluster init`); nothing is sent to ClickHouse until first used.
    pub fn open(events: &str, state: &str) -> Result<Cluster, StoreError> {
        Ok(Cluster {
            events: ClickHouse::connect(events)?,
            state: Postgres::connect(state)?,
        })
    }

    /// Create (or bring up to date) ClickHouse's tables and PostgreSQL's schema, idempotently:
    /// what `wardwatch cluster init` runs before any node starts.
    pub fn init(
        events: &str,
        state: &str,
        layout: &Layout,
    ) -> Result<(Cluster, InitReport), StoreError> {
        let ch = ClickHouse::connect(events)?;
        ch.init(layout)?;
        let clickhouse_version = ch.version()?;
        let (pg, before) = Postgres::init(state)?;
        Ok((
            Cluster {
                events: ch,
                state: pg,
            },
            InitReport {
                clickhouse_version,
                state_schema_before: before,
                state_schema: wardwatch_store_postgres::schema::VERSION,
            },
        ))
    }

    /// The events store.
    pub fn events(&self) -> &ClickHouse {
        &self.events
    }

    /// The state store.
    pub fn state(&self) -> &Postgres {
        &self.state
    }

    pub fn state_mut(&mut self) -> &mut Postgres {
        &mut self.state
    }
}

fn level_name(level: u8) -> String {
    Severity::ALL
        .get(usize::from(level))
        .map_or("unknown", |s| s.as_str())
        .to_string()
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Journal for Cluster {
    fn append_encoded(
        &mut self,
        batches: &[Vec<Encoded>],
        _seqs: &mut Vec<i64>,
    ) -> Result<i64, StoreError> {
        Err(StoreError::Engine {
            engine: "clickhouse",
            message: format!(
                "cannot append {} batches here: in a cluster the ingest nodes publish events to the stream and the detection workers store them",
                batches.len()
            ),
        })
    }

    fn last_seq(&self) -> Result<i64, StoreError> {
        self.events.last_seq()
    }

    fn read_after(&self, seq: i64, limit: usize) -> Result<Vec<JournalEntry>, StoreError> {
        self.events.read_after(seq, limit)
    }

    fn read_docs_after(&self, seq: i64, limit: usize) -> Result<Vec<(i64, String)>, StoreError> {
        self.events.read_docs_after(seq, limit)
    }

    fn event_at(&self, seq: i64) -> Result<Option<JournalEntry>, StoreError> {
        self.events.event_at(seq)
    }

    fn seq_at_time(&self, ts: i64) -> Result<i64, StoreError> {
        self.events.seq_at_time(ts)
    }

    fn stats(&self) -> Result<Stats, StoreError> {
        let c = self.events.counts()?;
        Ok(Stats {
            events: signed(c.events),
            alerts: signed(c.alerts),
            last_seq: signed(c.last_seq),
            event_bytes: signed(c.event_bytes),
            cursors: self.state.cursors()?,
            alerts_by_level: c
                .alerts_by_level
                .into_iter()
                .map(|(l, n)| (level_name(l), signed(n)))
                .collect(),
        })
    }
}

impl ResendKeys for Cluster {
    fn secret(&mut self, name: &str) -> Result<[u8; 32], StoreError> {
        self.state.secret(name)
    }

    fn resend_keys_since(
        &self,
        since: jiff::Timestamp,
        max: usize,
    ) -> Result<Vec<u64>, StoreError> {
        self.state.resend_keys_since(since, max)
    }

    fn forget_resend_keys(
        &mut self,
        before: jiff::Timestamp,
        keep: usize,
    ) -> Result<usize, StoreError> {
        self.state.forget_resend_keys(before, keep)
    }
}

impl DetectionStore for Cluster {
    fn cursor(&self, worker: &str) -> Result<(i64, Option<String>), StoreError> {
        self.state.cursor(worker)
    }

    fn commit_detection(&mut self, c: &DetectionCommit<'_>) -> Result<usize, StoreError> {
        let mut new = 0;
        if !c.alerts.is_empty() {
            let ids: Vec<String> = c.alerts.iter().map(|(a, _, _)| a.id.0.clone()).collect();
            let stored = self.events.stored_alerts(&ids)?;
            let created_ns = i64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or(0);
            let mut index: HashMap<i64, u64> = HashMap::new();
            let mut rows = Vec::with_capacity(c.alerts.len());
            for (alert, seq, latency) in c.alerts {
                // Counted for every alert of the event, stored or not, so a replay gives each
                // the same order as the first time.
                let i = index.entry(*seq).or_default();
                let ord = u64::try_from(*seq).unwrap_or(0) * ORD_PER_EVENT + *i;
                *i += 1;
                if stored.contains(&alert.id.0)
                    || rows.iter().any(|r: &NewAlert<'_>| r.alert.id == alert.id)
                {
                    continue;
                }
                rows.push(NewAlert {
                    ord,
                    alert,
                    seq: u64::try_from(*seq).unwrap_or(0),
                    created_ns,
                    latency_ns: *latency,
                });
            }
            self.events.insert_alerts(&rows)?;
            new = rows.len();
        }
        self.state.commit_detection(&DetectionCommit {
            worker: c.worker,
            cursor: c.cursor,
            alerts: &[],
            incidents: c.incidents,
            suppressed: c.suppressed,
            state: c.state,
            ledger: c.ledger,
        })?;
        Ok(new)
    }

    fn open_incident_docs(&self) -> Result<Vec<String>, StoreError> {
        self.state.open_incident_docs()
    }
}

/// Forward trait methods to one of the two engines.
macro_rules! to {
    ($engine:ident: $(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(fn $name(&self $(, $arg: $ty)*) -> $ret {
            self.$engine.$name($($arg),*)
        })*
    };
    ($engine:ident mut: $(fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(fn $name(&mut self $(, $arg: $ty)*) -> $ret {
            self.$engine.$name($($arg),*)
        })*
    };
}

impl EventSearch for Cluster {
    to! { events:
        fn search_events(&self, req: &SearchRequest) -> Result<EventPage, StoreError>;
        fn events_between(&self, org: Option<&str>, from_ns: i64, to_ns: i64, cursor: Option<TimeCursor>, limit: usize) -> Result<(Vec<JournalEntry>, Option<TimeCursor>), StoreError>;
        fn events_by_source(&self, from: i64, to: i64, lookback: i64) -> Result<Vec<(String, u64, Option<i64>)>, StoreError>;
        fn source_rows(&self, after_seq: i64, upto_seq: i64) -> Result<Vec<SourceRow>, StoreError>;
        fn network_events_between(&self, orgs: Option<&[String]>, from_ns: i64, to_ns: i64, cursor: Option<TimeCursor>, limit: usize) -> Result<(Vec<wardwatch_core::Event>, Option<TimeCursor>), StoreError>;
    }
}

impl AlertStore for Cluster {
    to! { events:
        fn list_alerts(&self, req: &SearchRequest, min_level: Severity, rule_id: Option<&str>, host: Option<&str>) -> Result<AlertPage, StoreError>;
        fn alert(&self, id: &str) -> Result<Option<(Alert, Option<serde_json::Value>)>, StoreError>;
        fn alert_histogram(&self, from: i64, to: i64, bucket_ns: i64, orgs: Option<&[String]>) -> Result<Vec<(i64, u64)>, StoreError>;
        fn top_alert_hosts(&self, from: i64, limit: usize, orgs: Option<&[String]>) -> Result<Vec<(String, u64)>, StoreError>;
        fn top_alert_users(&self, from: i64, limit: usize, orgs: Option<&[String]>) -> Result<Vec<(String, u64)>, StoreError>;
        fn rule_hits(&self, from: i64, orgs: Option<&[String]>) -> Result<Vec<RuleHits>, StoreError>;
        fn rule_histogram(&self, rule_id: &str, from: i64, to: i64, bucket_ns: i64, orgs: Option<&[String]>) -> Result<Vec<(i64, u64)>, StoreError>;
        fn alert_counts_by_rule(&self, from: i64, to: i64, limit: usize) -> Result<Vec<(String, u64)>, StoreError>;
        fn alert_docs_with(&self, from: i64, to: i64, needles: &[&str], limit: usize) -> Result<Vec<String>, StoreError>;
    }
}

impl IncidentStore for Cluster {
    to! { state:
        fn list_incidents(&self, f: &IncidentFilter) -> Result<IncidentPage, StoreError>;
        fn incident(&self, id: &str) -> Result<Option<StoredIncident>, StoreError>;
        fn incident_doc(&self, id: &str) -> Result<Option<String>, StoreError>;
        fn incidents_naming(&self, list: &str, name: &str, orgs: Option<&[String]>, privacy: PrivacyScope, limit: usize) -> Result<Vec<StoredIncident>, StoreError>;
        fn open_incident_counts(&self, orgs: Option<&[String]>) -> Result<Vec<(i64, u64)>, StoreError>;
    }
    to! { state mut:
        fn change_lifecycle(&mut self, id: &str, change: &mut dyn FnMut(&StoredIncident) -> Option<LifecycleUpdate>) -> Result<bool, StoreError>;
    }
}

impl ExceptionStore for Cluster {
    to! { state mut:
        fn put_exception(&mut self, id: &str, org: &str, rule_id: &str, expires: i64, doc: &str) -> Result<(), StoreError>;
        fn delete_exception(&mut self, id: &str) -> Result<bool, StoreError>;
    }
    to! { state:
        fn exceptions(&self) -> Result<Vec<StoredException>, StoreError>;
    }
}

impl TokenStore for Cluster {
    to! { state mut:
        fn add_token(&mut self, name: &str, kind: TokenKind, secret: &str) -> Result<(), StoreError>;
        fn remove_token(&mut self, name: &str) -> Result<bool, StoreError>;
        fn set_token_grant(&mut self, name: &str, role: Option<&str>, org: Option<&str>) -> Result<bool, StoreError>;
    }
    to! { state:
        fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError>;
        fn token_hashes(&self, kind: TokenKind) -> Result<Vec<String>, StoreError>;
        fn token_grant(&self, kind: TokenKind, hash: &str) -> Result<Option<TokenGrant>, StoreError>;
        fn token_grants(&self, kind: TokenKind) -> Result<Vec<(String, TokenGrant)>, StoreError>;
    }
}

impl AccessStore for Cluster {
    to! { state mut:
        fn add_account(&mut self, name: &str, role: &str, orgs: &[String], hash: &str) -> Result<(), StoreError>;
        fn set_account_hash(&mut self, name: &str, hash: &str) -> Result<bool, StoreError>;
        fn remove_account(&mut self, name: &str) -> Result<bool, StoreError>;
        fn open_session(&mut self, id_hash: &str, account: &str, csrf: &str, expires: i64, addr: &str) -> Result<(), StoreError>;
        fn session(&mut self, id_hash: &str) -> Result<SessionLookup, StoreError>;
        fn close_session(&mut self, id_hash: &str) -> Result<(), StoreError>;
        fn audit(&mut self, r: &AuditRecord) -> Result<i64, StoreError>;
    }
    to! { state:
        fn account(&self, name: &str) -> Result<Option<Account>, StoreError>;
        fn accounts(&self) -> Result<Vec<Account>, StoreError>;
        fn audit_entries(&self, limit: usize, before_seq: Option<i64>, orgs: Option<&[String]>) -> Result<Vec<AuditEntry>, StoreError>;
        fn verify_audit(&self) -> Result<AuditVerdict, StoreError>;
    }
}

impl NotifyQueue for Cluster {
    to! { state:
        fn notify_state(&self) -> Result<(i64, Option<String>), StoreError>;
        fn incident_events_after(&self, seq: i64, limit: usize) -> Result<Vec<(i64, String)>, StoreError>;
        fn due_messages(&self, now: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
        fn messages(&self, status: Option<&str>, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
        fn outbox_counts(&self) -> Result<OutboxCounts, StoreError>;
    }
    to! { state mut:
        fn commit_plan(&mut self, messages: &[NewMessage], seq: i64, state: &str) -> Result<usize, StoreError>;
        fn enqueue(&mut self, m: &NewMessage) -> Result<bool, StoreError>;
        fn message_sent(&mut self, id: &str, now: i64) -> Result<(), StoreError>;
        fn message_failed(&mut self, id: &str, error: &str, retry_at: Option<i64>) -> Result<(), StoreError>;
    }
}

impl IdentityLedger for Cluster {
    to! { state mut:
        fn record_identity_uses(&mut self, batch: &LedgerBatch) -> Result<(), StoreError>;
        fn retain_ledger(&mut self, now: jiff::Timestamp, max_days: Option<u32>, max_rows: Option<u64>) -> Result<u64, StoreError>;
    }
    to! { state:
        fn ledger_rows(&self) -> Result<u64, StoreError>;
        fn identity_usage(&self, user: &str, orgs: Option<&[String]>, from: jiff::Timestamp, to: jiff::Timestamp) -> Result<Option<IdentityUsage>, StoreError>;
    }
}

impl TaxiiStore for Cluster {
    to! { state:
        fn taxii_collections(&self) -> Result<Vec<TaxiiCollection>, StoreError>;
        fn taxii_sightings(&self, limit: usize) -> Result<Vec<TaxiiSighting>, StoreError>;
        fn taxii_query(&self, q: &TaxiiQuery) -> Result<TaxiiPage, StoreError>;
        fn taxii_has_object(&self, collection: &str, id: &str, reader: &TaxiiReader) -> Result<bool, StoreError>;
        fn taxii_status(&self, id: &str) -> Result<Option<TaxiiStatusRow>, StoreError>;
        fn taxii_counts(&self) -> Result<Vec<(String, i64)>, StoreError>;
    }
    to! { state mut:
        fn taxii_set_collections(&mut self, list: &[TaxiiCollection]) -> Result<(), StoreError>;
        fn taxii_publish(&mut self, collection: &str, objects: &[NewTaxiiObject]) -> Result<Vec<AddOutcome>, StoreError>;
        fn taxii_add(&mut self, collection: &str, objects: &[NewTaxiiObject], posted_by: Option<&str>, status: &mut MakeStatus<'_>) -> Result<Vec<AddOutcome>, StoreError>;
        fn taxii_delete(&mut self, collection: &str, id: &str, reader: &TaxiiReader, versions: &VersionMatch, spec_versions: &[String]) -> Result<usize, StoreError>;
        fn taxii_retain(&mut self, collection: &str, before_us: i64) -> Result<(u64, u64), StoreError>;
    }
}

impl FeedStore for Cluster {
    to! { state mut:
        fn feed_apply(&mut self, feed: &str, groups: &[FeedGroup], poll: &FeedPoll) -> Result<FeedApplied, StoreError>;
        fn feed_failed(&mut self, feed: &str, error: &str) -> Result<i64, StoreError>;
        fn prune_feeds(&mut self, before_ns: i64) -> Result<u64, StoreError>;
        fn feed_retro_done(&mut self, done: &[RetroPending]) -> Result<(), StoreError>;
        fn queue_sightings(&mut self, sightings: &[SightingRow], cursor: i64) -> Result<(), StoreError>;
        fn sightings_sent(&mut self, ids: &[String]) -> Result<(), StoreError>;
        fn sightings_failed(&mut self, ids: &[String], error: &str, next_try_ns: i64) -> Result<(), StoreError>;
    }
    to! { state:
        fn feed_group_versions(&self, feed: &str) -> Result<HashMap<String, String>, StoreError>;
        fn feed_statuses(&self) -> Result<Vec<FeedStatus>, StoreError>;
        fn feed_status(&self, feed: &str) -> Result<Option<FeedStatus>, StoreError>;
        fn feed_indicator_docs(&self, now_ns: i64) -> Result<Vec<(String, String)>, StoreError>;
        fn feed_next_expiry(&self, now_ns: i64) -> Result<Option<i64>, StoreError>;
        fn feed_retro_pending(&self, limit: usize) -> Result<Vec<RetroPending>, StoreError>;
        fn due_sightings(&self, feed: &str, now_ns: i64, limit: usize) -> Result<Vec<SightingRow>, StoreError>;
        fn sightings_cursor(&self) -> Result<i64, StoreError>;
    }
}

impl Retention for Cluster {
    /// Whole received days of events and alerts past `max_age`, then the oldest days while
    /// the events hold more than `max_bytes`. `keep_after` has nothing to keep here: an event
    /// reaches ClickHouse only once a detection worker processed it.
    fn retain(
        &mut self,
        max_age: Option<Duration>,
        max_bytes: Option<i64>,
        _keep_after: i64,
    ) -> Result<RetentionReport, StoreError> {
        if max_age.is_none() && max_bytes.is_none() {
            return Ok(RetentionReport::default());
        }
        let before = self.events.counts()?;
        if let Some(age) = max_age {
            self.events.retain_days(jiff::Timestamp::now(), age)?;
        }
        if let Some(bytes) = max_bytes {
            self.events
                .retain_bytes(u64::try_from(bytes.max(0)).unwrap_or(0))?;
        }
        let after = self.events.counts()?;
        Ok(RetentionReport {
            events_removed: signed(before.events.saturating_sub(after.events)),
            alerts_removed: signed(before.alerts.saturating_sub(after.alerts)),
        })
    }
}
