//! The schema and its migrations, keyed by SQLite's `user_version`.

/// The schema version this code writes.
pub const VERSION: i64 = 10;

/// Statements that bring an empty database to [`VERSION`].
pub const V1: &str = r#"
CREATE TABLE IF NOT EXISTS events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT, -- journal position, increasing, never reused
    ts        INTEGER NOT NULL,             -- event time, ns since the Unix epoch (UTC)
    received  INTEGER NOT NULL,             -- when it was committed, ns
    org       TEXT NOT NULL,
    source    TEXT NOT NULL,                -- listener or file it came from
    kind      TEXT NOT NULL,                -- decoder (SourceKind)
    host      TEXT,
    user      TEXT,
    code      TEXT,
    channel   TEXT,
    bytes     INTEGER NOT NULL,             -- size of doc, for retention by size
    ext_id    TEXT,                         -- the sender's id (bulk `_id`): stored once
    doc       TEXT NOT NULL                 -- the Event as JSON
);
CREATE UNIQUE INDEX IF NOT EXISTS events_ext_id ON events(org, source, ext_id) WHERE ext_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);

-- (The full-text index lives in its own file since version 3: see index.rs.)

CREATE TABLE IF NOT EXISTS alerts (
    id        TEXT PRIMARY KEY,             -- deterministic: same rule + same event = same id
    seq       INTEGER,                      -- the event it matched (NULL once the event is pruned)
    ts        INTEGER NOT NULL,
    org       TEXT NOT NULL,
    rule_id   TEXT NOT NULL,
    title     TEXT NOT NULL,
    level     INTEGER NOT NULL,             -- 0 informational .. 4 critical
    host      TEXT,
    created   INTEGER NOT NULL,
    latency   INTEGER,                      -- ingest-to-alert, ns
    doc       TEXT NOT NULL                 -- the Alert as JSON
);
CREATE INDEX IF NOT EXISTS alerts_ts ON alerts(ts);
CREATE INDEX IF NOT EXISTS alerts_level ON alerts(level, ts);

-- Durable positions of the workers that read the journal, and their state.
CREATE TABLE IF NOT EXISTS cursors (
    name      TEXT PRIMARY KEY,
    seq       INTEGER NOT NULL,
    state     TEXT                          -- e.g. correlation state, JSON
);

CREATE TABLE IF NOT EXISTS tokens (
    name      TEXT PRIMARY KEY,
    kind      TEXT NOT NULL,                -- ingest | api
    sha256    TEXT NOT NULL UNIQUE,
    created   INTEGER NOT NULL
);
"#;

/// Version 2: incidents and exceptions.
pub const V2: &str = r#"
-- Incidents. The grouping columns and `doc` (the incident and its narrative, JSON) are written
-- only by the detection worker; `status`, `resolution`, `assignee` and `lifecycle` (comments and
-- people's actions, JSON) only through the API. Neither side overwrites the other's columns.
CREATE TABLE IF NOT EXISTS incidents (
    id          TEXT PRIMARY KEY,
    org         TEXT NOT NULL,
    opened      INTEGER NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    severity    INTEGER NOT NULL,
    score       REAL NOT NULL,
    closed      INTEGER NOT NULL,                   -- 1 once quiet (or merged into another)
    merged_into TEXT,
    title       TEXT NOT NULL,
    doc         TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'new',       -- new | acknowledged | resolved
    resolution  TEXT,
    assignee    TEXT,
    lifecycle   TEXT
);
CREATE INDEX IF NOT EXISTS incidents_last_seen ON incidents(last_seen);
CREATE INDEX IF NOT EXISTS incidents_open ON incidents(closed, last_seen);

-- Exceptions (scoped suppressions made from alerts), and how much each suppressed.
CREATE TABLE IF NOT EXISTS exceptions (
    id              TEXT PRIMARY KEY,
    rule_id         TEXT NOT NULL,
    expires         INTEGER NOT NULL,
    doc             TEXT NOT NULL,
    suppressed      INTEGER NOT NULL DEFAULT 0,
    last_suppressed INTEGER
);
"#;

/// Version 3: the full-text index moves to its own file (`index.db`, see `index.rs`); the old
/// one goes, and the new one is built from the journal.
pub const V3: &str = r#"
DROP TABLE IF EXISTS events_fts;
DELETE FROM cursors WHERE name = 'index';
"#;

/// Version 5: the notification queue (see `outbox.rs`). (Version 4, accounts, sessions and
/// the audit log, is in `access.rs`.)
pub const V5: &str = crate::outbox::SCHEMA;

/// Version 6: the resend keys of `_bulk` documents and the server's secrets (see `resend.rs`).
pub const V6: &str = crate::resend::SCHEMA;

/// Version 7: the time index carries the columns search proves matches with (`org`, `host`,
/// `user`, `code`, `channel`), so walking a time range and counting the events those columns
/// prove read the index alone, never the journal's rows (64 KiB pages, documents inline).
/// `seq` follows `ts` in it so that the index's order is the search's `ts DESC, seq DESC`.
/// It replaces `events_ts` (a prefix of it) rather than sitting beside it: one index appended
/// at its right edge, as before, only wider. On an existing store the index is built on the
/// first open (reading the journal once: about 10 s per million events).
pub const V7: &str = r#"
CREATE INDEX IF NOT EXISTS events_ts_cols ON events(ts, seq, org, host, user, code, channel);
DROP INDEX IF EXISTS events_ts;
"#;

/// Version 8: the identity ledger (see `ledger.rs`).
pub const V8: &str = crate::ledger::SCHEMA;

/// Version 9: intelligence feeds, their indicators and the sightings owed back (see `feeds.rs`).
pub const V9: &str = crate::feeds::SCHEMA;

/// Version 10: the TAXII server's collections, objects and status resources (see `taxii.rs`).
pub const V10: &str = crate::taxii::SCHEMA;
