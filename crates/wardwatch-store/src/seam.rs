//! The storage seam: what the pipeline, the incident stage, the API, notifications and the
//! identity ledger ask of a store, as traits.
//!
//! Why traits: one machine keeps everything in one SQLite file ([`Db`] implements every trait
//! here), but a region outgrows it — events and alerts then live in ClickHouse and the small
//! mutable state (incidents' analyst side, exceptions, tokens, accounts, audit, the
//! notification queue) in PostgreSQL, each behind the same traits in a crate of its own. The
//! callers name the trait they need, never the engine, so the single binary's paths are the
//! same code whichever store sits below.
//!
//! The traits are object safe (the API keeps `Box<dyn Store>` connections); the pipeline's
//! threads take them as generic parameters, so the single binary pays nothing for the seam.
//! Every method is synchronous: callers run store work on their own threads (the pipeline's)
//! or on tokio's blocking pool (the API), and a backend over a network client waits there.

use std::collections::HashMap;
use std::time::Duration;

use wardwatch_core::{Alert, Severity};

use crate::overview::RuleHits;
use crate::{
    Account, AddOutcome, AlertPage, AlertRowRef, AuditEntry, AuditRecord, AuditVerdict, Db,
    DetectionCommit, Encoded, EventPage, FeedApplied, FeedGroup, FeedPoll, FeedStatus,
    IdentityUsage, IncidentFilter, IncidentPage, JournalEntry, LedgerBatch, LifecycleUpdate,
    MakeStatus, NewMessage, NewTaxiiObject, OutboxCounts, OutboxRow, PrivacyScope, RetentionReport,
    RetroPending, SearchRequest, SessionLookup, SightingRow, SourceRow, Stats, StoreError,
    StoredException, StoredIncident, TaxiiCollection, TaxiiPage, TaxiiQuery, TaxiiReader,
    TaxiiSighting, TaxiiStatusRow, TimeCursor, TokenGrant, TokenInfo, TokenKind, VersionMatch,
};

/// The journal: accepted events appended in order and read back by position.
pub trait Journal {
    /// Append batches in one durable commit, filling `seqs` with each event's position in
    /// order (0 for an event not stored because its sender id was already there); returns the
    /// last position written (0 when nothing new was). When this returns, every event is
    /// durable.
    fn append_encoded(
        &mut self,
        batches: &[Vec<Encoded>],
        seqs: &mut Vec<i64>,
    ) -> Result<i64, StoreError>;
    /// The highest position ever written (0 for an empty journal).
    fn last_seq(&self) -> Result<i64, StoreError>;
    /// Up to `limit` entries after `seq`, in order.
    fn read_after(&self, seq: i64, limit: usize) -> Result<Vec<JournalEntry>, StoreError>;
    /// Up to `limit` stored documents after `seq`, in order, as `(seq, JSON)`.
    fn read_docs_after(&self, seq: i64, limit: usize) -> Result<Vec<(i64, String)>, StoreError>;
    /// The entry at `seq`, if it is still stored.
    fn event_at(&self, seq: i64) -> Result<Option<JournalEntry>, StoreError>;
    /// The first position whose event time is at or after `ts` (ns), or the next position to
    /// be written when there is none.
    fn seq_at_time(&self, ts: i64) -> Result<i64, StoreError>;
    /// Counts of what is stored, with every journal reader's cursor.
    fn stats(&self) -> Result<Stats, StoreError>;
}

/// The keys that recognize a `_bulk` document sent again, and the store's secrets.
pub trait ResendKeys {
    /// The 32-byte secret named `name`, made (random) on first use and the same ever after.
    fn secret(&mut self, name: &str) -> Result<[u8; 32], StoreError>;
    /// The resend keys of documents received at or after `since`, newest first, at most `max`.
    fn resend_keys_since(&self, since: jiff::Timestamp, max: usize)
    -> Result<Vec<u64>, StoreError>;
    /// Forget keys received before `before`, keeping at least the newest `keep`.
    fn forget_resend_keys(
        &mut self,
        before: jiff::Timestamp,
        keep: usize,
    ) -> Result<usize, StoreError>;
}

/// The cursor names of a scale-out deployment's detection workers, one per stream partition
/// (`detect-part-N`). Their cursors never move back: see [`DetectionStore::commit_detection`].
pub const PARTITION_CURSOR_PREFIX: &str = "detect-part-";

/// What a detection worker commits: its results together with its durable cursor.
pub trait DetectionStore {
    /// A worker's durable cursor and state (0 and `None` for a new worker).
    fn cursor(&self, worker: &str) -> Result<(i64, Option<String>), StoreError>;
    /// Commit alerts, incidents, exception counters, ledger, cursor and state atomically
    /// (a commit without state keeps the state saved before); returns how many alerts were
    /// new (a replayed alert is not stored twice).
    ///
    /// Fencing: the cursor of a partition's worker ([`PARTITION_CURSOR_PREFIX`]) never moves
    /// back. A worker that lost its partition's lease while it worked (stalled past the lease)
    /// and commits after another worker committed further is refused with
    /// [`StoreError::Fenced`], and nothing of its commit is written: the state the other worker
    /// saved stays. The same cursor again (a retry of a commit that went through) is accepted.
    fn commit_detection(&mut self, c: &DetectionCommit<'_>) -> Result<usize, StoreError>;
    /// The documents of the incidents still open, for the grouper to go on from.
    fn open_incident_docs(&self) -> Result<Vec<String>, StoreError>;
}

/// Event search and the figures read from events.
pub trait EventSearch {
    /// Events matching the request's query and time range, newest first, with a total.
    fn search_events(&self, req: &SearchRequest) -> Result<EventPage, StoreError>;
    /// Events of `org` (every organization's when `None`) with event time in
    /// `[from_ns, to_ns)`, in time order, a page at a time.
    fn events_between(
        &self,
        org: Option<&str>,
        from_ns: i64,
        to_ns: i64,
        cursor: Option<TimeCursor>,
        limit: usize,
    ) -> Result<(Vec<JournalEntry>, Option<TimeCursor>), StoreError>;
    /// Per source: events in `[from, to)`, and when it was last heard from within `lookback`.
    fn events_by_source(
        &self,
        from: i64,
        to: i64,
        lookback: i64,
    ) -> Result<Vec<(String, u64, Option<i64>)>, StoreError>;
    /// Senders seen between two journal positions (the overview's source health).
    fn source_rows(&self, after_seq: i64, upto_seq: i64) -> Result<Vec<SourceRow>, StoreError>;
    /// Zeek and Suricata EVE events with event time in `[from_ns, to_ns)` of `orgs` (all when
    /// `None`), in time order a page at a time; the cursor is the last row read.
    fn network_events_between(
        &self,
        orgs: Option<&[String]>,
        from_ns: i64,
        to_ns: i64,
        cursor: Option<TimeCursor>,
        limit: usize,
    ) -> Result<(Vec<wardwatch_core::Event>, Option<TimeCursor>), StoreError>;
}

/// Alerts: listing, one by id, and the aggregates of the overview and the report.
pub trait AlertStore {
    fn list_alerts(
        &self,
        req: &SearchRequest,
        min_level: Severity,
        rule_id: Option<&str>,
        host: Option<&str>,
    ) -> Result<AlertPage, StoreError>;
    /// One alert with its event's stored document (when still kept).
    fn alert(&self, id: &str) -> Result<Option<(Alert, Option<serde_json::Value>)>, StoreError>;
    fn alert_histogram(
        &self,
        from: i64,
        to: i64,
        bucket_ns: i64,
        orgs: Option<&[String]>,
    ) -> Result<Vec<(i64, u64)>, StoreError>;
    fn top_alert_hosts(
        &self,
        from: i64,
        limit: usize,
        orgs: Option<&[String]>,
    ) -> Result<Vec<(String, u64)>, StoreError>;
    fn top_alert_users(
        &self,
        from: i64,
        limit: usize,
        orgs: Option<&[String]>,
    ) -> Result<Vec<(String, u64)>, StoreError>;
    fn rule_hits(&self, from: i64, orgs: Option<&[String]>) -> Result<Vec<RuleHits>, StoreError>;
    fn rule_histogram(
        &self,
        rule_id: &str,
        from: i64,
        to: i64,
        bucket_ns: i64,
        orgs: Option<&[String]>,
    ) -> Result<Vec<(i64, u64)>, StoreError>;
    fn alert_counts_by_rule(
        &self,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, StoreError>;
    fn alert_docs_with(
        &self,
        from: i64,
        to: i64,
        needles: &[&str],
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;
}

/// Incidents as the grouper left them, with the analysts' side.
pub trait IncidentStore {
    fn list_incidents(&self, f: &IncidentFilter) -> Result<IncidentPage, StoreError>;
    fn incident(&self, id: &str) -> Result<Option<StoredIncident>, StoreError>;
    /// The JSON document of incident `id`.
    fn incident_doc(&self, id: &str) -> Result<Option<String>, StoreError>;
    fn incidents_naming(
        &self,
        list: &str,
        name: &str,
        orgs: Option<&[String]>,
        privacy: PrivacyScope,
        limit: usize,
    ) -> Result<Vec<StoredIncident>, StoreError>;
    /// Open incidents per severity.
    fn open_incident_counts(&self, orgs: Option<&[String]>) -> Result<Vec<(i64, u64)>, StoreError>;
    /// Change the analysts' side of incident `id` in one transaction: `change` sees the
    /// incident as stored and returns its new side, or `None` to leave it as it is. Returns
    /// whether the incident exists. [`update_lifecycle`] is the typed form.
    fn change_lifecycle(
        &mut self,
        id: &str,
        change: &mut dyn FnMut(&StoredIncident) -> Option<LifecycleUpdate>,
    ) -> Result<bool, StoreError>;
}

/// Exceptions (what analysts decided is not an attack) and their counters.
pub trait ExceptionStore {
    /// Store an exception (replacing one with the same id, keeping its counters).
    fn put_exception(
        &mut self,
        id: &str,
        org: &str,
        rule_id: &str,
        expires: i64,
        doc: &str,
    ) -> Result<(), StoreError>;
    fn delete_exception(&mut self, id: &str) -> Result<bool, StoreError>;
    fn exceptions(&self) -> Result<Vec<StoredException>, StoreError>;
}

/// Ingest and API tokens (kept as hashes) with their role and organization.
pub trait TokenStore {
    fn add_token(&mut self, name: &str, kind: TokenKind, secret: &str) -> Result<(), StoreError>;
    fn remove_token(&mut self, name: &str) -> Result<bool, StoreError>;
    fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError>;
    fn token_hashes(&self, kind: TokenKind) -> Result<Vec<String>, StoreError>;
    fn set_token_grant(
        &mut self,
        name: &str,
        role: Option<&str>,
        org: Option<&str>,
    ) -> Result<bool, StoreError>;
    fn token_grant(&self, kind: TokenKind, hash: &str) -> Result<Option<TokenGrant>, StoreError>;
    fn token_grants(&self, kind: TokenKind) -> Result<Vec<(String, TokenGrant)>, StoreError>;
}

/// Console accounts, sessions and the hash-chained audit log.
pub trait AccessStore {
    fn add_account(
        &mut self,
        name: &str,
        role: &str,
        orgs: &[String],
        hash: &str,
    ) -> Result<(), StoreError>;
    fn set_account_hash(&mut self, name: &str, hash: &str) -> Result<bool, StoreError>;
    fn remove_account(&mut self, name: &str) -> Result<bool, StoreError>;
    fn account(&self, name: &str) -> Result<Option<Account>, StoreError>;
    fn accounts(&self) -> Result<Vec<Account>, StoreError>;
    fn open_session(
        &mut self,
        id_hash: &str,
        account: &str,
        csrf: &str,
        expires: i64,
        addr: &str,
    ) -> Result<(), StoreError>;
    fn session(&mut self, id_hash: &str) -> Result<SessionLookup, StoreError>;
    fn close_session(&mut self, id_hash: &str) -> Result<(), StoreError>;
    fn audit(&mut self, r: &AuditRecord) -> Result<i64, StoreError>;
    fn audit_entries(
        &self,
        limit: usize,
        before_seq: Option<i64>,
        orgs: Option<&[String]>,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    fn verify_audit(&self) -> Result<AuditVerdict, StoreError>;
}

/// The notification queue: incident events in, planned messages out, delivery state.
pub trait NotifyQueue {
    fn notify_state(&self) -> Result<(i64, Option<String>), StoreError>;
    fn incident_events_after(
        &self,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError>;
    fn commit_plan(
        &mut self,
        messages: &[NewMessage],
        seq: i64,
        state: &str,
    ) -> Result<usize, StoreError>;
    fn enqueue(&mut self, m: &NewMessage) -> Result<bool, StoreError>;
    fn due_messages(&self, now: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
    fn message_sent(&mut self, id: &str, now: i64) -> Result<(), StoreError>;
    fn message_failed(
        &mut self,
        id: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError>;
    fn messages(&self, status: Option<&str>, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
    fn outbox_counts(&self) -> Result<OutboxCounts, StoreError>;
}

/// The identity ledger: where and how each account was used, per day.
pub trait IdentityLedger {
    fn record_identity_uses(&mut self, batch: &LedgerBatch) -> Result<(), StoreError>;
    fn ledger_rows(&self) -> Result<u64, StoreError>;
    fn identity_usage(
        &self,
        user: &str,
        orgs: Option<&[String]>,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> Result<Option<IdentityUsage>, StoreError>;
    fn retain_ledger(
        &mut self,
        now: jiff::Timestamp,
        max_days: Option<u32>,
        max_rows: Option<u64>,
    ) -> Result<u64, StoreError>;
}

/// The TAXII server's state: the collections we serve, every version of the objects in them
/// (what we publish and what partners post), and the status resources of partners' POSTs.
pub trait TaxiiStore {
    /// Make the stored collections what is configured (new ones added, titles updated; one no
    /// longer configured keeps its objects but is not served).
    fn taxii_set_collections(&mut self, list: &[TaxiiCollection]) -> Result<(), StoreError>;
    fn taxii_collections(&self) -> Result<Vec<TaxiiCollection>, StoreError>;
    /// Add objects we publish to `collection` (no status resource: nobody polls for it).
    fn taxii_publish(
        &mut self,
        collection: &str,
        objects: &[NewTaxiiObject],
    ) -> Result<Vec<AddOutcome>, StoreError> {
        self.taxii_add(collection, objects, None, &mut |_, _| None)
    }
    /// Add object versions `posted_by` a partner (or published here, `None`) in one
    /// transaction, with the status resource `status` makes of the outcomes and the time of
    /// the request (ns) — `(id, partner, doc)` — stored in the same transaction. A version
    /// already there is `Present`; a new version of an object another creator made is refused.
    /// Dates added are unique and increasing within the collection.
    fn taxii_add(
        &mut self,
        collection: &str,
        objects: &[NewTaxiiObject],
        posted_by: Option<&str>,
        status: &mut MakeStatus<'_>,
    ) -> Result<Vec<AddOutcome>, StoreError>;
    /// A page of the object versions `q` asks for (visibility, `match[...]`, `added_after`,
    /// `next`), in the order they were added.
    fn taxii_query(&self, q: &TaxiiQuery) -> Result<TaxiiPage, StoreError>;
    /// Delete the versions of `id` that `versions` and `spec_versions` select among those
    /// `reader` sees; returns how many went.
    fn taxii_delete(
        &mut self,
        collection: &str,
        id: &str,
        reader: &TaxiiReader,
        versions: &VersionMatch,
        spec_versions: &[String],
    ) -> Result<usize, StoreError>;
    /// Whether any version of `id` in `collection` is visible to `reader`.
    fn taxii_has_object(
        &self,
        collection: &str,
        id: &str,
        reader: &TaxiiReader,
    ) -> Result<bool, StoreError>;
    /// The status resource `id`.
    fn taxii_status(&self, id: &str) -> Result<Option<TaxiiStatusRow>, StoreError>;
    /// The newest sightings partners posted to our collections, at most `limit`.
    fn taxii_sightings(&self, limit: usize) -> Result<Vec<TaxiiSighting>, StoreError>;
    /// How many object versions each collection holds, by collection id.
    fn taxii_counts(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// Remove the object versions of `collection` added before `before_us` and its status
    /// resources requested before then; returns how many of each went.
    fn taxii_retain(&mut self, collection: &str, before_us: i64) -> Result<(u64, u64), StoreError>;
}

/// The partners' feeds we poll: where each poll stands, the indicators each feed gave (with
/// the retro-hunts they still owe) and the sightings owed back to producers.
pub trait FeedStore {
    /// Store a poll's groups and the feed's new position in one transaction (see
    /// [`Db::feed_apply`](crate::Db::feed_apply)).
    fn feed_apply(
        &mut self,
        feed: &str,
        groups: &[FeedGroup],
        poll: &FeedPoll,
    ) -> Result<FeedApplied, StoreError>;
    /// The version kept of each group of `feed`.
    fn feed_group_versions(&self, feed: &str) -> Result<HashMap<String, String>, StoreError>;
    /// A failed poll: the error kept, position and indicators unchanged. Returns the failures
    /// in a row.
    fn feed_failed(&mut self, feed: &str, error: &str) -> Result<i64, StoreError>;
    /// Every feed that has state, indicators or sightings, by name.
    fn feed_statuses(&self) -> Result<Vec<FeedStatus>, StoreError>;
    /// The stored state of `feed`.
    fn feed_status(&self, feed: &str) -> Result<Option<FeedStatus>, StoreError> {
        Ok(self.feed_statuses()?.into_iter().find(|s| s.feed == feed))
    }
    /// `(feed, document)` of every indicator neither revoked nor expired at `now_ns`, in
    /// (feed, group, kind, value) order.
    fn feed_indicator_docs(&self, now_ns: i64) -> Result<Vec<(String, String)>, StoreError>;
    /// The soonest end after `now_ns` among indicators in force.
    fn feed_next_expiry(&self, now_ns: i64) -> Result<Option<i64>, StoreError>;
    /// Forget indicators revoked or expired before `before_ns` (once hunted for) and
    /// sightings sent before it; returns how many rows went.
    fn prune_feeds(&mut self, before_ns: i64) -> Result<u64, StoreError>;
    /// Up to `limit` indicators whose retro-hunt has not run, oldest first.
    fn feed_retro_pending(&self, limit: usize) -> Result<Vec<RetroPending>, StoreError>;
    fn feed_retro_done(&mut self, done: &[RetroPending]) -> Result<(), StoreError>;
    /// The sightings worker's position among the alerts it has counted (0 at first).
    fn sightings_cursor(&self) -> Result<i64, StoreError>;
    /// Queue `sightings` (each id once) and move the sightings cursor to `cursor`, together.
    fn queue_sightings(&mut self, sightings: &[SightingRow], cursor: i64)
    -> Result<(), StoreError>;
    /// Sightings of `feed` not yet sent and due at `now_ns`, oldest first.
    fn due_sightings(
        &self,
        feed: &str,
        now_ns: i64,
        limit: usize,
    ) -> Result<Vec<SightingRow>, StoreError>;
    /// The producer took `ids`.
    fn sightings_sent(&mut self, ids: &[String]) -> Result<(), StoreError>;
    /// Sending `ids` failed: kept with the error, tried again at `next_try_ns`.
    fn sightings_failed(
        &mut self,
        ids: &[String],
        error: &str,
        next_try_ns: i64,
    ) -> Result<(), StoreError>;
}

/// The alerts of intelligence rules in the order they were stored, for the sightings worker:
/// each read goes on after the last row the one before returned.
///
/// Only the embedded store has one commit order of alerts; a cluster's workers commit theirs
/// per partition, so a position there would pass alerts a slower partition commits later.
pub trait IntelAlerts {
    /// Up to `limit` alerts after row `after` whose rule is an `intel:` one, and last the
    /// last row read (with an empty rule id when it was no intelligence alert).
    fn intel_alerts_after(&self, after: i64, limit: usize) -> Result<Vec<AlertRowRef>, StoreError>;
}

/// What the sightings worker needs: the feeds' state and the intelligence alerts in order.
pub trait SightingsStore: FeedStore + IntelAlerts + Send {}

impl<T> SightingsStore for T where T: FeedStore + IntelAlerts + Send {}

/// Removing what is past its age or beyond its size.
pub trait Retention {
    /// Remove events received more than `max_age` ago and, oldest first, beyond `max_bytes`,
    /// never past `keep_after` (what a journal reader has not processed); alerts by age.
    fn retain(
        &mut self,
        max_age: Option<Duration>,
        max_bytes: Option<i64>,
        keep_after: i64,
    ) -> Result<RetentionReport, StoreError>;
}

/// Everything a store offers: what the console and the command line hold.
pub trait Store:
    Journal
    + ResendKeys
    + DetectionStore
    + EventSearch
    + AlertStore
    + IncidentStore
    + ExceptionStore
    + TokenStore
    + AccessStore
    + NotifyQueue
    + IdentityLedger
    + TaxiiStore
    + FeedStore
    + Retention
    + Send
{
}

impl<T> Store for T where
    T: Journal
        + ResendKeys
        + DetectionStore
        + EventSearch
        + AlertStore
        + IncidentStore
        + ExceptionStore
        + TokenStore
        + AccessStore
        + NotifyQueue
        + IdentityLedger
        + TaxiiStore
        + FeedStore
        + Retention
        + Send
{
}

/// [`IncidentStore::change_lifecycle`] with a change that may fail or return a value: `Ok(None)`
/// when the incident does not exist, the change's error (nothing written) when it fails.
pub fn update_lifecycle<S, T, E>(
    store: &mut S,
    id: &str,
    change: impl FnOnce(&StoredIncident) -> Result<(LifecycleUpdate, T), E>,
) -> Result<Option<T>, E>
where
    S: IncidentStore + ?Sized,
    E: From<StoreError>,
{
    let mut change = Some(change);
    let mut out = None;
    let mut failed = None;
    let found = store.change_lifecycle(id, &mut |current| {
        let change = change.take()?;
        match change(current) {
            Ok((update, value)) => {
                out = Some(value);
                Some(update)
            }
            Err(e) => {
                failed = Some(e);
                None
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(if found { out } else { None })
}

/// Forward trait methods to `Db`'s own methods of the same name and signature.
macro_rules! forward {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(fn $name(&self $(, $arg: $ty)*) -> $ret {
            Db::$name(self $(, $arg)*)
        })*
    };
    ($(fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(fn $name(&mut self $(, $arg: $ty)*) -> $ret {
            Db::$name(self $(, $arg)*)
        })*
    };
}

impl Journal for Db {
    forward! {
        fn append_encoded(&mut self, batches: &[Vec<Encoded>], seqs: &mut Vec<i64>) -> Result<i64, StoreError>;
    }
    forward! {
        fn last_seq(&self) -> Result<i64, StoreError>;
        fn read_after(&self, seq: i64, limit: usize) -> Result<Vec<JournalEntry>, StoreError>;
        fn read_docs_after(&self, seq: i64, limit: usize) -> Result<Vec<(i64, String)>, StoreError>;
        fn event_at(&self, seq: i64) -> Result<Option<JournalEntry>, StoreError>;
        fn seq_at_time(&self, ts: i64) -> Result<i64, StoreError>;
        fn stats(&self) -> Result<Stats, StoreError>;
    }
}

impl ResendKeys for Db {
    forward! {
        fn secret(&mut self, name: &str) -> Result<[u8; 32], StoreError>;
        fn forget_resend_keys(&mut self, before: jiff::Timestamp, keep: usize) -> Result<usize, StoreError>;
    }
    forward! {
        fn resend_keys_since(&self, since: jiff::Timestamp, max: usize) -> Result<Vec<u64>, StoreError>;
    }
}

impl DetectionStore for Db {
    forward! {
        fn cursor(&self, worker: &str) -> Result<(i64, Option<String>), StoreError>;
        fn open_incident_docs(&self) -> Result<Vec<String>, StoreError>;
    }
    forward! {
        fn commit_detection(&mut self, c: &DetectionCommit<'_>) -> Result<usize, StoreError>;
    }
}

impl EventSearch for Db {
    forward! {
        fn search_events(&self, req: &SearchRequest) -> Result<EventPage, StoreError>;
        fn events_between(&self, org: Option<&str>, from_ns: i64, to_ns: i64, cursor: Option<TimeCursor>, limit: usize) -> Result<(Vec<JournalEntry>, Option<TimeCursor>), StoreError>;
        fn events_by_source(&self, from: i64, to: i64, lookback: i64) -> Result<Vec<(String, u64, Option<i64>)>, StoreError>;
        fn source_rows(&self, after_seq: i64, upto_seq: i64) -> Result<Vec<SourceRow>, StoreError>;
        fn network_events_between(&self, orgs: Option<&[String]>, from_ns: i64, to_ns: i64, cursor: Option<TimeCursor>, limit: usize) -> Result<(Vec<wardwatch_core::Event>, Option<TimeCursor>), StoreError>;
    }
}

impl AlertStore for Db {
    forward! {
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

impl IncidentStore for Db {
    forward! {
        fn list_incidents(&self, f: &IncidentFilter) -> Result<IncidentPage, StoreError>;
        fn incident(&self, id: &str) -> Result<Option<StoredIncident>, StoreError>;
        fn incident_doc(&self, id: &str) -> Result<Option<String>, StoreError>;
        fn incidents_naming(&self, list: &str, name: &str, orgs: Option<&[String]>, privacy: PrivacyScope, limit: usize) -> Result<Vec<StoredIncident>, StoreError>;
        fn open_incident_counts(&self, orgs: Option<&[String]>) -> Result<Vec<(i64, u64)>, StoreError>;
    }

    fn change_lifecycle(
        &mut self,
        id: &str,
        change: &mut dyn FnMut(&StoredIncident) -> Option<LifecycleUpdate>,
    ) -> Result<bool, StoreError> {
        enum Outcome {
            Store(StoreError),
            /// The change chose to leave the incident as it is.
            Unchanged,
        }
        impl From<StoreError> for Outcome {
            fn from(e: StoreError) -> Self {
                Outcome::Store(e)
            }
        }
        match Db::update_lifecycle(self, id, |current| match change(current) {
            Some(update) => Ok((update, ())),
            None => Err(Outcome::Unchanged),
        }) {
            Ok(found) => Ok(found.is_some()),
            Err(Outcome::Unchanged) => Ok(true),
            Err(Outcome::Store(e)) => Err(e),
        }
    }
}

impl ExceptionStore for Db {
    forward! {
        fn put_exception(&mut self, id: &str, org: &str, rule_id: &str, expires: i64, doc: &str) -> Result<(), StoreError>;
        fn delete_exception(&mut self, id: &str) -> Result<bool, StoreError>;
    }
    forward! {
        fn exceptions(&self) -> Result<Vec<StoredException>, StoreError>;
    }
}

impl TokenStore for Db {
    forward! {
        fn add_token(&mut self, name: &str, kind: TokenKind, secret: &str) -> Result<(), StoreError>;
        fn remove_token(&mut self, name: &str) -> Result<bool, StoreError>;
        fn set_token_grant(&mut self, name: &str, role: Option<&str>, org: Option<&str>) -> Result<bool, StoreError>;
    }
    forward! {
        fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError>;
        fn token_hashes(&self, kind: TokenKind) -> Result<Vec<String>, StoreError>;
        fn token_grant(&self, kind: TokenKind, hash: &str) -> Result<Option<TokenGrant>, StoreError>;
        fn token_grants(&self, kind: TokenKind) -> Result<Vec<(String, TokenGrant)>, StoreError>;
    }
}

impl AccessStore for Db {
    forward! {
        fn add_account(&mut self, name: &str, role: &str, orgs: &[String], hash: &str) -> Result<(), StoreError>;
        fn set_account_hash(&mut self, name: &str, hash: &str) -> Result<bool, StoreError>;
        fn remove_account(&mut self, name: &str) -> Result<bool, StoreError>;
        fn open_session(&mut self, id_hash: &str, account: &str, csrf: &str, expires: i64, addr: &str) -> Result<(), StoreError>;
        fn session(&mut self, id_hash: &str) -> Result<SessionLookup, StoreError>;
        fn close_session(&mut self, id_hash: &str) -> Result<(), StoreError>;
        fn audit(&mut self, r: &AuditRecord) -> Result<i64, StoreError>;
    }
    forward! {
        fn account(&self, name: &str) -> Result<Option<Account>, StoreError>;
        fn accounts(&self) -> Result<Vec<Account>, StoreError>;
        fn audit_entries(&self, limit: usize, before_seq: Option<i64>, orgs: Option<&[String]>) -> Result<Vec<AuditEntry>, StoreError>;
        fn verify_audit(&self) -> Result<AuditVerdict, StoreError>;
    }
}

impl NotifyQueue for Db {
    forward! {
        fn notify_state(&self) -> Result<(i64, Option<String>), StoreError>;
        fn incident_events_after(&self, seq: i64, limit: usize) -> Result<Vec<(i64, String)>, StoreError>;
        fn due_messages(&self, now: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
        fn messages(&self, status: Option<&str>, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
        fn outbox_counts(&self) -> Result<OutboxCounts, StoreError>;
    }
    forward! {
        fn commit_plan(&mut self, messages: &[NewMessage], seq: i64, state: &str) -> Result<usize, StoreError>;
        fn enqueue(&mut self, m: &NewMessage) -> Result<bool, StoreError>;
        fn message_sent(&mut self, id: &str, now: i64) -> Result<(), StoreError>;
        fn message_failed(&mut self, id: &str, error: &str, retry_at: Option<i64>) -> Result<(), StoreError>;
    }
}

impl IdentityLedger for Db {
    forward! {
        fn record_identity_uses(&mut self, batch: &LedgerBatch) -> Result<(), StoreError>;
        fn retain_ledger(&mut self, now: jiff::Timestamp, max_days: Option<u32>, max_rows: Option<u64>) -> Result<u64, StoreError>;
    }
    forward! {
        fn ledger_rows(&self) -> Result<u64, StoreError>;
        fn identity_usage(&self, user: &str, orgs: Option<&[String]>, from: jiff::Timestamp, to: jiff::Timestamp) -> Result<Option<IdentityUsage>, StoreError>;
    }
}

impl TaxiiStore for Db {
    forward! {
        fn taxii_collections(&self) -> Result<Vec<TaxiiCollection>, StoreError>;
        fn taxii_sightings(&self, limit: usize) -> Result<Vec<TaxiiSighting>, StoreError>;
        fn taxii_query(&self, q: &TaxiiQuery) -> Result<TaxiiPage, StoreError>;
        fn taxii_has_object(&self, collection: &str, id: &str, reader: &TaxiiReader) -> Result<bool, StoreError>;
        fn taxii_status(&self, id: &str) -> Result<Option<TaxiiStatusRow>, StoreError>;
        fn taxii_counts(&self) -> Result<Vec<(String, i64)>, StoreError>;
    }
    forward! {
        fn taxii_set_collections(&mut self, list: &[TaxiiCollection]) -> Result<(), StoreError>;
        fn taxii_delete(&mut self, collection: &str, id: &str, reader: &TaxiiReader, versions: &VersionMatch, spec_versions: &[String]) -> Result<usize, StoreError>;
        fn taxii_retain(&mut self, collection: &str, before_us: i64) -> Result<(u64, u64), StoreError>;
    }

    fn taxii_add(
        &mut self,
        collection: &str,
        objects: &[NewTaxiiObject],
        posted_by: Option<&str>,
        status: &mut MakeStatus<'_>,
    ) -> Result<Vec<AddOutcome>, StoreError> {
        Db::taxii_add(self, collection, objects, posted_by, status)
    }
}

impl FeedStore for Db {
    forward! {
        fn feed_apply(&mut self, feed: &str, groups: &[FeedGroup], poll: &FeedPoll) -> Result<FeedApplied, StoreError>;
        fn feed_failed(&mut self, feed: &str, error: &str) -> Result<i64, StoreError>;
        fn prune_feeds(&mut self, before_ns: i64) -> Result<u64, StoreError>;
        fn feed_retro_done(&mut self, done: &[RetroPending]) -> Result<(), StoreError>;
        fn queue_sightings(&mut self, sightings: &[SightingRow], cursor: i64) -> Result<(), StoreError>;
        fn sightings_sent(&mut self, ids: &[String]) -> Result<(), StoreError>;
        fn sightings_failed(&mut self, ids: &[String], error: &str, next_try_ns: i64) -> Result<(), StoreError>;
    }
    forward! {
        fn feed_group_versions(&self, feed: &str) -> Result<HashMap<String, String>, StoreError>;
        fn feed_statuses(&self) -> Result<Vec<FeedStatus>, StoreError>;
        fn feed_status(&self, feed: &str) -> Result<Option<FeedStatus>, StoreError>;
        fn feed_indicator_docs(&self, now_ns: i64) -> Result<Vec<(String, String)>, StoreError>;
        fn feed_next_expiry(&self, now_ns: i64) -> Result<Option<i64>, StoreError>;
        fn feed_retro_pending(&self, limit: usize) -> Result<Vec<RetroPending>, StoreError>;
        fn due_sightings(&self, feed: &str, now_ns: i64, limit: usize) -> Result<Vec<SightingRow>, StoreError>;
    }

    fn sightings_cursor(&self) -> Result<i64, StoreError> {
        Ok(Db::cursor(self, crate::feeds::SIGHTINGS_CURSOR)?.0)
    }
}

impl IntelAlerts for Db {
    forward! {
        fn intel_alerts_after(&self, after: i64, limit: usize) -> Result<Vec<AlertRowRef>, StoreError>;
    }
}

impl Retention for Db {
    forward! {
        fn retain(&mut self, max_age: Option<Duration>, max_bytes: Option<i64>, keep_after: i64) -> Result<RetentionReport, StoreError>;
    }
}
