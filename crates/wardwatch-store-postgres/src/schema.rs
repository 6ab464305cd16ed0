//! The state schema and its migrations, keyed by the version in `wardwatch_schema`.
//!
//! Migrations run in one transaction (PostgreSQL's DDL is transactional: a failed migration
//! leaves the previous version whole) under a transaction-level advisory lock, so two nodes
//! running `wardwatch cluster init` at once apply each step once.

/// The schema version this code writes.
pub const VERSION: i32 = 4;

/// The advisory lock key of migrations (any fixed number no other lock of ours uses).
const MIGRATION_LOCK: i64 = 0x5757_0001;

/// Version 1: incidents, exceptions, the detection stages' cursors and partitions, the
/// notification queue's incident events, the identity ledger.
const V1: &str = r#"
-- Incidents. The grouping columns and `doc` (the incident and its narrative, JSON) are written
-- only by the incident stage; `status`, `resolution`, `assignee` and `lifecycle` (comments and
-- people's actions, JSON) only through the API. Neither side overwrites the other's columns.
-- `pos` breaks ties in listings where SQLite uses its rowid.
CREATE TABLE IF NOT EXISTS incidents (
    pos         BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id          TEXT PRIMARY KEY,
    org         TEXT NOT NULL,
    opened      BIGINT NOT NULL,                    -- ns since the epoch
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    severity    SMALLINT NOT NULL,                  -- 0 informational .. 4 critical
    score       DOUBLE PRECISION NOT NULL,
    closed      BOOLEAN NOT NULL,                   -- once quiet (or merged into another)
    merged_into TEXT,
    title       TEXT NOT NULL,
    doc         TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'new',        -- new | acknowledged | resolved
    resolution  TEXT,
    assignee    TEXT,
    lifecycle   TEXT
);
CREATE INDEX IF NOT EXISTS incidents_last_seen ON incidents (last_seen DESC, pos DESC);
CREATE INDEX IF NOT EXISTS incidents_open ON incidents (opened, id) WHERE NOT closed;

-- Exceptions (scoped suppressions made from alerts), and how much each suppressed.
CREATE TABLE IF NOT EXISTS exceptions (
    id              TEXT PRIMARY KEY,
    org             TEXT NOT NULL,
    rule_id         TEXT NOT NULL,
    expires         BIGINT NOT NULL,
    doc             TEXT NOT NULL,
    suppressed      BIGINT NOT NULL DEFAULT 0,
    last_suppressed BIGINT
);

-- Durable positions of the stages that read a log (the incident stage's stream sequence),
-- with their state (JSON).
CREATE TABLE IF NOT EXISTS cursors (
    name      TEXT PRIMARY KEY,
    seq       BIGINT NOT NULL,
    state     TEXT
);

-- Per stream partition: the last sequence the detection worker acknowledged, and its state.
CREATE TABLE IF NOT EXISTS partitions (
    part      BIGINT PRIMARY KEY,
    seq       BIGINT NOT NULL,
    state     BYTEA NOT NULL,
    saved     BIGINT NOT NULL                      -- ns since the epoch
);

-- Incidents changed by the incident stage, in commit order, for the notification planner.
CREATE TABLE IF NOT EXISTS incident_events (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident  TEXT NOT NULL
);

-- The identity ledger: one row per account, organization, UTC day, kind and value.
CREATE TABLE IF NOT EXISTS identity_usage (
    account     TEXT NOT NULL,
    org         TEXT NOT NULL,
    day         BIGINT NOT NULL,                    -- days since 1970-01-01 (UTC)
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    uses        BIGINT NOT NULL,
    succeeded   BIGINT NOT NULL,
    failed      BIGINT NOT NULL,
    PRIMARY KEY (account, org, day, kind, value)
);
CREATE INDEX IF NOT EXISTS identity_usage_day ON identity_usage (day);
"#;

/// Version 2: tokens, console accounts, sessions and the audit log, the notification queue,
/// the shared secrets and the resend keys, the TAXII collections we publish to.
const V2: &str = r#"
CREATE TABLE IF NOT EXISTS tokens (
    name      TEXT PRIMARY KEY,
    kind      TEXT NOT NULL,                      -- ingest | api | taxii
    sha256    TEXT NOT NULL UNIQUE,
    created   BIGINT NOT NULL,
    role      TEXT,                               -- API tokens: the role they act with
    org       TEXT                                -- API: '*' or ids; ingest: where events go
);

CREATE TABLE IF NOT EXISTS accounts (
    name      TEXT PRIMARY KEY,
    role      TEXT NOT NULL,
    orgs      TEXT NOT NULL,                      -- comma-separated organization ids; '*' = all
    hash      TEXT NOT NULL,                      -- Argon2id PHC string
    created   BIGINT NOT NULL,
    disabled  BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE IF NOT EXISTS sessions (
    id        TEXT PRIMARY KEY,                   -- SHA-256 of the cookie's secret
    account   TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
    csrf      TEXT NOT NULL,
    created   BIGINT NOT NULL,
    expires   BIGINT NOT NULL,
    addr      TEXT
);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);
CREATE INDEX IF NOT EXISTS sessions_account ON sessions (account);

CREATE TABLE IF NOT EXISTS audit (
    seq       BIGINT PRIMARY KEY,
    ts        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    org       TEXT NOT NULL,
    addr      TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev      TEXT NOT NULL,                      -- hash of the entry before ('0' x 64 first)
    hash      TEXT NOT NULL                       -- SHA-256 over prev and this entry's fields
);
-- The highest audit number handed out; appends lock this row, so they take turns.
CREATE TABLE IF NOT EXISTS audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       BIGINT NOT NULL
);
INSERT INTO audit_head (id, seq) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;

-- The notification planner's position in incident_events and its state (JSON).
CREATE TABLE IF NOT EXISTS notify_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       BIGINT NOT NULL,
    state     TEXT NOT NULL
);
-- Outgoing messages, one per recipient.
CREATE TABLE IF NOT EXISTS outbox (
    id           TEXT PRIMARY KEY,                -- incident event + recipient: queued once
    created      BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    incident     TEXT,
    recipient    TEXT NOT NULL,
    subject      TEXT NOT NULL,
    body         TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'queued',  -- queued | sent | failed
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL,
    last_error   TEXT,
    sent         BIGINT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt);

-- Secrets every node shares (random, made on first use).
CREATE TABLE IF NOT EXISTS secrets (
    name      TEXT PRIMARY KEY,
    value     BYTEA NOT NULL
);
-- Resend keys of `_bulk` documents without a sender id, in the order accepted.
CREATE TABLE IF NOT EXISTS resend_keys (
    pos       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received  BIGINT NOT NULL,
    key       BIGINT NOT NULL
);

-- The TAXII collections we publish to, and every version of the objects in them (ours and
-- the sightings partners post back).
CREATE TABLE IF NOT EXISTS taxii_collections (
    id          TEXT PRIMARY KEY,
    alias       TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    description TEXT NOT NULL,
    created     BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS taxii_objects (
    collection   TEXT NOT NULL,
    id           TEXT NOT NULL,                   -- the STIX id
    version_ns   BIGINT NOT NULL,                 -- `modified`, else `created`, else date_added
    version      TEXT NOT NULL,
    date_added   BIGINT NOT NULL,                 -- us since the epoch; unique per collection
    type         TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    tlp          SMALLINT NOT NULL,               -- 0 clear .. 4 red
    creator      TEXT,
    posted_by    TEXT,                            -- the partner who posted it; NULL: ours
    private      BOOLEAN NOT NULL DEFAULT FALSE,
    doc          TEXT NOT NULL,
    PRIMARY KEY (collection, id, version_ns)
);
CREATE UNIQUE INDEX IF NOT EXISTS taxii_objects_added ON taxii_objects (collection, date_added);
"#;

/// Version 3: the TAXII server's status resources, and the intel feeds we poll (their
/// positions, groups, indicators and the sightings owed back to producers).
const V3: &str = r#"
-- The status resource of each partner's POST, kept for `GET .../status/{id}/`.
CREATE TABLE IF NOT EXISTS taxii_status (
    id          TEXT PRIMARY KEY,
    collection  TEXT NOT NULL,
    partner     TEXT NOT NULL,
    requested   BIGINT NOT NULL,                  -- ns
    doc         TEXT NOT NULL                     -- the status resource, JSON
);

-- One row per feed ever polled.
CREATE TABLE IF NOT EXISTS feed_state (
    feed        TEXT PRIMARY KEY,
    position    TEXT,                             -- TAXII: added_after as written; lists: ETag
    modified    TEXT,                             -- lists: Last-Modified
    polled      BIGINT,                           -- last attempt, ns
    succeeded   BIGINT,                           -- last success, ns
    failures    BIGINT NOT NULL DEFAULT 0,        -- failed polls in a row
    last_error  TEXT,
    objects     BIGINT NOT NULL DEFAULT 0         -- objects, attributes or lines received in all
);
-- The version of each group a feed sent last (STIX `modified`, MISP `timestamp`).
CREATE TABLE IF NOT EXISTS feed_groups (
    feed        TEXT NOT NULL,
    grp         TEXT NOT NULL,
    version     TEXT NOT NULL,
    PRIMARY KEY (feed, grp)
);
CREATE TABLE IF NOT EXISTS feed_indicators (
    feed        TEXT NOT NULL,
    grp         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    valid_until BIGINT,                           -- ns; NULL: no end
    revoked     BOOLEAN NOT NULL,
    received    BIGINT NOT NULL,                  -- ns
    retro       BOOLEAN NOT NULL,                 -- its retro-hunt has not run
    doc         TEXT NOT NULL,                    -- the indicator, JSON
    PRIMARY KEY (feed, grp, kind, value)
);
CREATE INDEX IF NOT EXISTS feed_indicators_retro ON feed_indicators (received) WHERE retro;
-- Sightings owed to producers, each sent at most once.
CREATE TABLE IF NOT EXISTS feed_sightings (
    id          TEXT PRIMARY KEY,                 -- sighting--<uuid>, deterministic
    feed        TEXT NOT NULL,
    indicator   TEXT NOT NULL,
    count       BIGINT NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    tlp         TEXT NOT NULL,
    created     BIGINT NOT NULL,
    sent        BIGINT,
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_try    BIGINT NOT NULL,
    last_error  TEXT
);
CREATE INDEX IF NOT EXISTS feed_sightings_unsent ON feed_sightings (feed, next_try) WHERE sent IS NULL;
"#;

/// Version 4: the `partitions` table goes — the detection workers commit their partition's
/// cursor and state with the rest of their commit, as `detect-part-N` in `cursors` (fenced:
/// never moved back), and nothing read the table.
const V4: &str = r#"
DROP TABLE IF EXISTS partitions;
"#;

/// Each version's statements, in order.
const MIGRATIONS: &[(i32, &str)] = &[(1, V1), (2, V2), (3, V3), (4, V4)];

/// The tables of this schema, for status figures.
pub const TABLES: &[&str] = &[
    "incidents",
    "exceptions",
    "cursors",
    "incident_events",
    "identity_usage",
    "tokens",
    "accounts",
    "sessions",
    "audit",
    "notify_state",
    "outbox",
    "secrets",
    "resend_keys",
    "taxii_collections",
    "taxii_objects",
    "taxii_status",
    "feed_state",
    "feed_groups",
    "feed_indicators",
    "feed_sightings",
];

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS wardwatch_schema (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL,
    updated  BIGINT NOT NULL
)";

/// The version the database is at (0 without our tables).
pub(crate) fn version(c: &mut postgres::Client) -> Result<i32, postgres::Error> {
    let exists: bool = c
        .query_one("SELECT to_regclass('wardwatch_schema') IS NOT NULL", &[])?
        .try_get(0)?;
    if !exists {
        return Ok(0);
    }
    let row = c.query_opt("SELECT version FROM wardwatch_schema WHERE id = 1", &[])?;
    row.map_or(Ok(0), |r| r.try_get(0))
}

/// Bring the database to [`VERSION`]; returns the version it was at. A database newer than
/// this build is left as it is (the caller reports it).
pub(crate) fn migrate(c: &mut postgres::Client) -> Result<i32, postgres::Error> {
    let mut tx = c.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(VERSION_TABLE)?;
    let before: i32 = tx
        .query_opt("SELECT version FROM wardwatch_schema WHERE id = 1", &[])?
        .map_or(Ok(0), |r| r.try_get(0))?;
    if before >= VERSION {
        tx.commit()?;
        return Ok(before);
    }
    for (v, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > before) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO wardwatch_schema (id, version, updated) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, updated = excluded.updated",
            &[v, &crate::now_ns()],
        )?;
    }
    tx.commit()?;
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_end_at_the_version_and_name_every_table() {
        assert_eq!(MIGRATIONS.last().map(|m| m.0), Some(VERSION));
        assert!(MIGRATIONS.windows(2).all(|w| w[0].0 + 1 == w[1].0));
        let all: String = MIGRATIONS.iter().map(|m| m.1).collect();
        for t in TABLES {
            assert!(
                all.contains(&format!("CREATE TABLE IF NOT EXISTS {t} (")),
                "{t}"
            );
        }
    }
}
