//! Intelligence received from partners' feeds (TAXII collections, MISP feeds, IOC lists by
//! URL): where each feed's poll stands, the indicators it gave, the retro-hunts they still
//! owe, and the sightings owed back to producers.
//!
//! Why durable, and per feed: a hospital restarts its server; the partner's collection must
//! not be read again from the beginning (nor its new objects missed), and an indicator that
//! arrived just before the restart must still be hunted for in the past. A poll's objects and
//! the feed's new position commit in one transaction ([`Db::feed_apply`]), so the position
//! never runs ahead of what is stored.
//!
//! A *group* is the unit a feed replaces whole: a STIX object (its indicators share its id; a
//! newer `modified` replaces them, `revoked` ends them), a MISP event (a newer `timestamp`
//! replaces its attributes), or a whole IOC list (the newest download is the list). The store
//! keeps indicator documents as the intel crate wrote them; it does not read them.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::StoreError;
use crate::db::{Db, now_ns};

/// Version 9: feeds, their indicators and sightings.
pub const SCHEMA: &str = r#"
-- One row per configured feed that was ever polled.
CREATE TABLE IF NOT EXISTS feed_state (
    feed        TEXT PRIMARY KEY,
    position    TEXT,                       -- TAXII: added_after as the server wrote it; lists: ETag
    modified    TEXT,                       -- lists: Last-Modified
    polled      INTEGER,                    -- last attempt, ns
    succeeded   INTEGER,                    -- last success, ns
    failures    INTEGER NOT NULL DEFAULT 0, -- failed polls in a row
    last_error  TEXT,
    objects     INTEGER NOT NULL DEFAULT 0  -- objects (STIX), attributes or lines received in all
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
    valid_until INTEGER,                    -- ns; NULL: no end
    revoked     INTEGER NOT NULL,
    received    INTEGER NOT NULL,           -- ns
    retro       INTEGER NOT NULL,           -- 1 while its retro-hunt has not run
    doc         TEXT NOT NULL,              -- the indicator, JSON (wardwatch-intel's Indicator)
    PRIMARY KEY (feed, grp, kind, value)
);
CREATE INDEX IF NOT EXISTS feed_indicators_retro ON feed_indicators(retro) WHERE retro = 1;

-- Sightings owed to producers, each sent at most once (`sent` set when the producer took it).
CREATE TABLE IF NOT EXISTS feed_sightings (
    id          TEXT PRIMARY KEY,           -- sighting--<uuid>, deterministic
    feed        TEXT NOT NULL,
    indicator   TEXT NOT NULL,              -- the producer's indicator id
    count       INTEGER NOT NULL,
    first_seen  INTEGER NOT NULL,           -- ns
    last_seen   INTEGER NOT NULL,           -- ns
    tlp         TEXT NOT NULL,              -- the marking it goes out with
    created     INTEGER NOT NULL,           -- ns
    sent        INTEGER,                    -- ns
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_try    INTEGER NOT NULL,           -- ns
    last_error  TEXT
);
CREATE INDEX IF NOT EXISTS feed_sightings_unsent ON feed_sightings(feed, next_try) WHERE sent IS NULL;
"#;

/// The cursor (in the `cursors` table) of the sightings worker over the alerts table's rows.
pub const SIGHTINGS_CURSOR: &str = "feed-sightings";

/// The version of the feeds' indicators (a row of the `cursors` table): moved on by every poll
/// that adds, changes or removes indicators, in the poll's transaction. A cluster's detection
/// workers read it every few seconds and reload the indicators in force only when it moved.
pub const INDICATORS_VERSION: &str = "feed-indicators";

/// One indicator of a group, as the intel crate wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedIndicator {
    pub kind: String,
    pub value: String,
    /// ns; `None`: no end.
    pub valid_until: Option<i64>,
    pub revoked: bool,
    /// The indicator as JSON.
    pub doc: String,
}

/// A group as a poll found it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedGroup {
    pub grp: String,
    /// Compared as text with the stored one: RFC 3339 stamps and zero-padded numbers order so.
    pub version: String,
    pub indicators: Vec<FeedIndicator>,
}

/// What a poll commits besides its groups.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedPoll {
    /// The new position (`None` keeps the stored one).
    pub position: Option<String>,
    pub modified: Option<String>,
    /// Objects, attributes or lines read.
    pub objects: u64,
    /// The list replaces every group (a whole IOC list): groups not in it are removed.
    pub replace_all: bool,
}

/// What [`Db::feed_apply`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FeedApplied {
    /// Indicators not held before (each owes a retro-hunt unless revoked).
    pub new: u64,
    /// Groups replaced by a newer version.
    pub updated: u64,
    /// Groups whose version was not newer (sent again): left as they were.
    pub unchanged: u64,
    /// Indicators removed (a list that no longer has them).
    pub removed: u64,
}

/// A feed's state, for `wardwatch intel feeds` and the log.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FeedStatus {
    pub feed: String,
    pub position: Option<String>,
    pub modified: Option<String>,
    pub polled: Option<i64>,
    pub succeeded: Option<i64>,
    pub failures: i64,
    pub last_error: Option<String>,
    pub objects: i64,
    /// Indicators held, of them revoked, and those whose retro-hunt has not run.
    pub indicators: i64,
    pub revoked: i64,
    pub retro_pending: i64,
    pub sightings_sent: i64,
    pub sightings_unsent: i64,
}

/// An indicator whose retro-hunt has not run.
#[derive(Debug, Clone, PartialEq)]
pub struct RetroPending {
    pub feed: String,
    pub grp: String,
    pub kind: String,
    pub value: String,
    pub doc: String,
}

/// A sighting owed to a producer.
#[derive(Debug, Clone, PartialEq)]
pub struct SightingRow {
    pub id: String,
    pub feed: String,
    pub indicator: String,
    pub count: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    /// The TLP it goes out with (`amber`...).
    pub tlp: String,
    pub created: i64,
    pub attempts: i64,
}

/// An alert row as the sightings worker reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRowRef {
    pub rowid: i64,
    pub rule_id: String,
    pub doc: String,
}

impl Db {
    /// Store a poll's groups and the feed's new position in one transaction. A group whose
    /// version is not newer than the stored one is left alone; a newer one replaces the
    /// group's indicators (values it held before keep their retro-hunt state; new values owe
    /// one unless revoked).
    pub fn feed_apply(
        &mut self,
        feed: &str,
        groups: &[FeedGroup],
        poll: &FeedPoll,
    ) -> Result<FeedApplied, StoreError> {
        let now = now_ns();
        let tx = self.write_tx()?;
        let mut out = FeedApplied::default();
        {
            let mut version_of =
                tx.prepare_cached("SELECT version FROM feed_groups WHERE feed = ?1 AND grp = ?2")?;
            let mut had = tx.prepare_cached(
                "SELECT kind, value, retro FROM feed_indicators WHERE feed = ?1 AND grp = ?2",
            )?;
            let mut drop_grp =
                tx.prepare_cached("DELETE FROM feed_indicators WHERE feed = ?1 AND grp = ?2")?;
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO feed_indicators
                 (feed, grp, kind, value, valid_until, revoked, received, retro, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut set_version = tx.prepare_cached(
                "INSERT INTO feed_groups (feed, grp, version) VALUES (?1, ?2, ?3)
                 ON CONFLICT(feed, grp) DO UPDATE SET version = excluded.version",
            )?;
            for g in groups {
                let stored: Option<String> = version_of
                    .query_row(params![feed, g.grp], |r| r.get(0))
                    .optional()?;
                if stored.as_deref().is_some_and(|v| v >= g.version.as_str()) {
                    out.unchanged += 1;
                    continue;
                }
                if stored.is_some() {
                    out.updated += 1;
                }
                let before: Vec<(String, String, i64)> = had
                    .query_map(params![feed, g.grp], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?
                    .collect::<Result<_, _>>()?;
                drop_grp.execute(params![feed, g.grp])?;
                for i in &g.indicators {
                    let previous = before
                        .iter()
                        .find(|(k, v, _)| *k == i.kind && *v == i.value)
                        .map(|(_, _, retro)| *retro);
                    let retro = match previous {
                        _ if i.revoked => 0,
                        Some(r) => r,
                        None => 1,
                    };
                    if previous.is_none() {
                        out.new += 1;
                    }
                    put.execute(params![
                        feed,
                        g.grp,
                        i.kind,
                        i.value,
                        i.valid_until,
                        i.revoked,
                        now,
                        retro,
                        i.doc
                    ])?;
                }
                set_version.execute(params![feed, g.grp, g.version])?;
            }
            if poll.replace_all {
                let keep: std::collections::HashSet<&str> =
                    groups.iter().map(|g| g.grp.as_str()).collect();
                let grps: Vec<String> = tx
                    .prepare_cached("SELECT grp FROM feed_groups WHERE feed = ?1")?
                    .query_map(params![feed], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                for grp in grps.iter().filter(|g| !keep.contains(g.as_str())) {
                    out.removed += drop_grp.execute(params![feed, grp])? as u64;
                    tx.execute(
                        "DELETE FROM feed_groups WHERE feed = ?1 AND grp = ?2",
                        params![feed, grp],
                    )?;
                }
            }
            tx.execute(
                "INSERT INTO feed_state (feed, position, modified, polled, succeeded, failures, objects)
                 VALUES (?1, ?2, ?3, ?4, ?4, 0, ?5)
                 ON CONFLICT(feed) DO UPDATE SET
                   position = COALESCE(excluded.position, position),
                   modified = COALESCE(excluded.modified, modified),
                   polled = excluded.polled, succeeded = excluded.succeeded,
                   failures = 0, last_error = NULL, objects = objects + excluded.objects",
                params![feed, poll.position, poll.modified, now, poll.objects as i64],
            )?;
            if out.new > 0 || out.updated > 0 || out.removed > 0 {
                tx.execute(
                    "INSERT INTO cursors (name, seq) VALUES (?1, 1)
                     ON CONFLICT(name) DO UPDATE SET seq = seq + 1",
                    params![INDICATORS_VERSION],
                )?;
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// The version kept of each group of `feed`.
    pub fn feed_group_versions(
        &self,
        feed: &str,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT grp, version FROM feed_groups WHERE feed = ?1")?;
        let rows = stmt.query_map(params![feed], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A poll that found nothing new (the list had not changed): the attempt counts as a
    /// success, the position stays.
    pub fn feed_unchanged(&mut self, feed: &str) -> Result<(), StoreError> {
        self.feed_apply(feed, &[], &FeedPoll::default()).map(|_| ())
    }

    /// A poll that failed: the error is kept (for `wardwatch intel feeds` and health), the
    /// position and indicators stay. Returns the failures in a row.
    pub fn feed_failed(&mut self, feed: &str, error: &str) -> Result<i64, StoreError> {
        let now = now_ns();
        self.conn.execute(
            "INSERT INTO feed_state (feed, polled, failures, last_error) VALUES (?1, ?2, 1, ?3)
             ON CONFLICT(feed) DO UPDATE SET polled = excluded.polled,
               failures = failures + 1, last_error = excluded.last_error",
            params![feed, now, error],
        )?;
        Ok(self.conn.query_row(
            "SELECT failures FROM feed_state WHERE feed = ?1",
            params![feed],
            |r| r.get(0),
        )?)
    }

    /// The stored state of `feed`.
    pub fn feed_status(&self, feed: &str) -> Result<Option<FeedStatus>, StoreError> {
        Ok(self.feed_statuses()?.into_iter().find(|s| s.feed == feed))
    }

    /// Every feed that has state or indicators, by name.
    pub fn feed_statuses(&self) -> Result<Vec<FeedStatus>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT f.feed, s.position, s.modified, s.polled, s.succeeded,
                    COALESCE(s.failures, 0), s.last_error, COALESCE(s.objects, 0),
                    (SELECT COUNT(*) FROM feed_indicators i WHERE i.feed = f.feed),
                    (SELECT COUNT(*) FROM feed_indicators i WHERE i.feed = f.feed AND i.revoked = 1),
                    (SELECT COUNT(*) FROM feed_indicators i WHERE i.feed = f.feed AND i.retro = 1),
                    (SELECT COUNT(*) FROM feed_sightings g WHERE g.feed = f.feed AND g.sent IS NOT NULL),
                    (SELECT COUNT(*) FROM feed_sightings g WHERE g.feed = f.feed AND g.sent IS NULL)
             FROM (SELECT feed FROM feed_state UNION SELECT feed FROM feed_indicators
                   UNION SELECT feed FROM feed_sightings) f
             LEFT JOIN feed_state s ON s.feed = f.feed
             ORDER BY f.feed",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(FeedStatus {
                feed: r.get(0)?,
                position: r.get(1)?,
                modified: r.get(2)?,
                polled: r.get(3)?,
                succeeded: r.get(4)?,
                failures: r.get(5)?,
                last_error: r.get(6)?,
                objects: r.get(7)?,
                indicators: r.get(8)?,
                revoked: r.get(9)?,
                retro_pending: r.get(10)?,
                sightings_sent: r.get(11)?,
                sightings_unsent: r.get(12)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The documents of every indicator not revoked and not expired at `now_ns`, with their
    /// feed, in (feed, group) order.
    pub fn feed_indicator_docs(&self, now_ns: i64) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT feed, doc FROM feed_indicators
             WHERE revoked = 0 AND (valid_until IS NULL OR valid_until > ?1)
             ORDER BY feed, grp, kind, value",
        )?;
        let rows = stmt.query_map(params![now_ns], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The soonest `valid_until` after `now_ns` among indicators in force: when the live set
    /// must next drop one.
    pub fn feed_next_expiry(&self, now_ns: i64) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT MIN(valid_until) FROM feed_indicators WHERE revoked = 0 AND valid_until > ?1",
            params![now_ns],
            |r| r.get(0),
        )?)
    }

    /// Forget indicators revoked or expired before `before_ns` and sightings sent before it
    /// (the groups' versions stay, so an old version sent again is still recognized).
    /// Returns how many rows went.
    pub fn prune_feeds(&mut self, before_ns: i64) -> Result<u64, StoreError> {
        let tx = self.write_tx()?;
        let mut n = tx.execute(
            "DELETE FROM feed_indicators WHERE retro = 0
               AND ((revoked = 1 AND received < ?1) OR valid_until < ?1)",
            params![before_ns],
        )?;
        n += tx.execute(
            "DELETE FROM feed_sightings WHERE sent IS NOT NULL AND sent < ?1",
            params![before_ns],
        )?;
        tx.commit()?;
        Ok(n as u64)
    }

    /// Up to `limit` indicators whose retro-hunt has not run, oldest first.
    pub fn feed_retro_pending(&self, limit: usize) -> Result<Vec<RetroPending>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT feed, grp, kind, value, doc FROM feed_indicators INDEXED BY feed_indicators_retro
             WHERE retro = 1 ORDER BY received, feed, grp, kind, value LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            Ok(RetroPending {
                feed: r.get(0)?,
                grp: r.get(1)?,
                kind: r.get(2)?,
                value: r.get(3)?,
                doc: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Mark the retro-hunts of `done` as run.
    pub fn feed_retro_done(&mut self, done: &[RetroPending]) -> Result<(), StoreError> {
        let tx = self.write_tx()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE feed_indicators SET retro = 0
                 WHERE feed = ?1 AND grp = ?2 AND kind = ?3 AND value = ?4",
            )?;
            for d in done {
                stmt.execute(params![d.feed, d.grp, d.kind, d.value])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Up to `limit` alerts of intelligence rules (`intel:` ids) stored after the alert row
    /// `after`, in row order.
    pub fn intel_alerts_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<AlertRowRef>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT rowid, rule_id, doc FROM alerts WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after, limit as i64], |r| {
            Ok(AlertRowRef {
                rowid: r.get(0)?,
                rule_id: r.get(1)?,
                doc: r.get(2)?,
            })
        })?;
        let mut out: Vec<AlertRowRef> = rows.collect::<Result<_, _>>()?;
        // The last row read is where the next read starts, even when it is no intel alert.
        let last = out.last().map(|a| a.rowid);
        out.retain(|a| a.rule_id.starts_with("intel:"));
        if let Some(rowid) = last
            && out.last().is_none_or(|a| a.rowid != rowid)
        {
            out.push(AlertRowRef {
                rowid,
                rule_id: String::new(),
                doc: String::new(),
            });
        }
        Ok(out)
    }

    /// Queue `sightings` and move the sightings worker's cursor to `cursor`, together.
    pub fn queue_sightings(
        &mut self,
        sightings: &[SightingRow],
        cursor: i64,
    ) -> Result<(), StoreError> {
        let tx = self.write_tx()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT OR IGNORE INTO feed_sightings
                 (id, feed, indicator, count, first_seen, last_seen, tlp, created, next_try)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            )?;
            for s in sightings {
                put.execute(params![
                    s.id,
                    s.feed,
                    s.indicator,
                    s.count,
                    s.first_seen,
                    s.last_seen,
                    s.tlp,
                    s.created
                ])?;
            }
            tx.execute(
                "INSERT INTO cursors (name, seq) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET seq = excluded.seq",
                params![SIGHTINGS_CURSOR, cursor],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Sightings of `feed` not yet sent and due at `now_ns`, oldest first.
    pub fn due_sightings(
        &self,
        feed: &str,
        now_ns: i64,
        limit: usize,
    ) -> Result<Vec<SightingRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, feed, indicator, count, first_seen, last_seen, tlp, created, attempts
             FROM feed_sightings WHERE feed = ?1 AND sent IS NULL AND next_try <= ?2
             ORDER BY created, id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![feed, now_ns, limit as i64], |r| {
            Ok(SightingRow {
                id: r.get(0)?,
                feed: r.get(1)?,
                indicator: r.get(2)?,
                count: r.get(3)?,
                first_seen: r.get(4)?,
                last_seen: r.get(5)?,
                tlp: r.get(6)?,
                created: r.get(7)?,
                attempts: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The producer took `ids`.
    pub fn sightings_sent(&mut self, ids: &[String]) -> Result<(), StoreError> {
        self.sightings_tried(ids, Ok(now_ns()))
    }

    /// Sending `ids` failed with `error`: try again at `next_try_ns`.
    pub fn sightings_failed(
        &mut self,
        ids: &[String],
        error: &str,
        next_try_ns: i64,
    ) -> Result<(), StoreError> {
        self.sightings_tried(ids, Err((error, next_try_ns)))
    }

    /// One more attempt at `ids`: sent at (ns), or failed with an error and when to retry.
    fn sightings_tried(
        &mut self,
        ids: &[String],
        outcome: Result<i64, (&str, i64)>,
    ) -> Result<(), StoreError> {
        let (sent, error, next_try) = match outcome {
            Ok(at) => (Some(at), None, None),
            Err((e, next)) => (None, Some(e), Some(next)),
        };
        let tx = self.write_tx()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE feed_sightings SET attempts = attempts + 1, sent = ?2, last_error = ?3,
                   next_try = COALESCE(?4, next_try)
                 WHERE id = ?1",
            )?;
            for id in ids {
                stmt.execute(params![id, sent, error, next_try])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbOptions;

    fn ind(kind: &str, value: &str, revoked: bool) -> FeedIndicator {
        FeedIndicator {
            kind: kind.into(),
            value: value.into(),
            valid_until: None,
            revoked,
            doc: format!("{{\"kind\":\"{kind}\",\"value\":\"{value}\"}}"),
        }
    }

    fn group(grp: &str, version: &str, inds: Vec<FeedIndicator>) -> FeedGroup {
        FeedGroup {
            grp: grp.into(),
            version: version.into(),
            indicators: inds,
        }
    }

    #[test]
    fn a_poll_stores_groups_and_position_and_newer_versions_replace_older() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
        let poll = |p: &str| FeedPoll {
            position: Some(p.into()),
            objects: 2,
            ..FeedPoll::default()
        };
        let got = db
            .feed_apply(
                "partner",
                &[
                    group(
                        "indicator--a",
                        "2026-01-01T00:00:00Z",
                        vec![ind("domain", "bad.example", false)],
                    ),
                    group(
                        "indicator--b",
                        "2026-01-01T00:00:00Z",
                        vec![ind("ip", "203.0.113.5", false)],
                    ),
                ],
                &poll("2026-01-02T00:00:00.000Z"),
            )
            .unwrap();
        assert_eq!(got.new, 2);
        let version = |db: &Db| db.cursor(INDICATORS_VERSION).unwrap().0;
        assert_eq!(
            version(&db),
            1,
            "a poll that brought indicators moves the version"
        );
        assert_eq!(db.feed_retro_pending(10).unwrap().len(), 2);
        let s = db.feed_status("partner").unwrap().unwrap();
        assert_eq!(s.position.as_deref(), Some("2026-01-02T00:00:00.000Z"));
        assert_eq!((s.indicators, s.retro_pending, s.objects), (2, 2, 2));
        let pending = db.feed_retro_pending(10).unwrap();
        db.feed_retro_done(&pending).unwrap();
        // The same version again: nothing changes; a newer one revoking b: b stays, revoked.
        let got = db
            .feed_apply(
                "partner",
                &[
                    group(
                        "indicator--a",
                        "2026-01-01T00:00:00Z",
                        vec![ind("domain", "bad.example", false)],
                    ),
                    group(
                        "indicator--b",
                        "2026-01-03T00:00:00Z",
                        vec![ind("ip", "203.0.113.5", true)],
                    ),
                ],
                &poll("2026-01-04T00:00:00.000Z"),
            )
            .unwrap();
        assert_eq!((got.new, got.updated, got.unchanged), (0, 1, 1));
        assert_eq!(version(&db), 2);
        db.feed_apply("partner", &[], &poll("2026-01-05T00:00:00.000Z"))
            .unwrap();
        assert_eq!(version(&db), 2, "a poll that changed nothing leaves it");
        assert!(db.feed_retro_pending(10).unwrap().is_empty());
        let live = db.feed_indicator_docs(0).unwrap();
        assert_eq!(live.len(), 1, "the revoked one is not in force: {live:?}");
        // A list replaces every group: what it no longer has goes.
        db.feed_apply(
            "list",
            &[group(
                "list",
                "1",
                vec![
                    ind("domain", "x.example", false),
                    ind("domain", "y.example", false),
                ],
            )],
            &FeedPoll {
                replace_all: true,
                ..FeedPoll::default()
            },
        )
        .unwrap();
        let got = db
            .feed_apply(
                "list",
                &[group("list", "2", vec![ind("domain", "y.example", false)])],
                &FeedPoll {
                    replace_all: true,
                    ..FeedPoll::default()
                },
            )
            .unwrap();
        assert_eq!(got.new, 0);
        assert_eq!(db.feed_status("list").unwrap().unwrap().indicators, 1);
    }

    #[test]
    fn failures_are_counted_and_cleared_by_a_success_and_expiry_drops_indicators() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
        assert_eq!(db.feed_failed("f", "connection refused").unwrap(), 1);
        assert_eq!(db.feed_failed("f", "connection refused").unwrap(), 2);
        let s = db.feed_status("f").unwrap().unwrap();
        assert_eq!(s.last_error.as_deref(), Some("connection refused"));
        let mut i = ind("domain", "old.example", false);
        i.valid_until = Some(1_000);
        db.feed_apply("f", &[group("g", "1", vec![i])], &FeedPoll::default())
            .unwrap();
        let s = db.feed_status("f").unwrap().unwrap();
        assert_eq!((s.failures, s.last_error), (0, None));
        assert_eq!(db.feed_indicator_docs(999).unwrap().len(), 1);
        assert_eq!(db.feed_next_expiry(999).unwrap(), Some(1_000));
        assert!(db.feed_indicator_docs(1_000).unwrap().is_empty());
        // Kept until its retro-hunt ran, then pruned once long expired.
        assert_eq!(db.prune_feeds(2_000).unwrap(), 0);
        let pending = db.feed_retro_pending(10).unwrap();
        db.feed_retro_done(&pending).unwrap();
        assert_eq!(db.prune_feeds(999).unwrap(), 0);
        assert_eq!(db.prune_feeds(2_000).unwrap(), 1);
        assert_eq!(db.feed_status("f").unwrap().unwrap().indicators, 0);
    }

    #[test]
    fn sightings_are_queued_with_the_cursor_and_sent_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
        let row = SightingRow {
            id: "sighting--1".into(),
            feed: "p".into(),
            indicator: "indicator--a".into(),
            count: 2,
            first_seen: 10,
            last_seen: 20,
            tlp: "amber".into(),
            created: 5,
            attempts: 0,
        };
        db.queue_sightings(std::slice::from_ref(&row), 7).unwrap();
        db.queue_sightings(std::slice::from_ref(&row), 8).unwrap();
        assert_eq!(db.cursor(SIGHTINGS_CURSOR).unwrap().0, 8);
        let due = db.due_sightings("p", 5, 10).unwrap();
        assert_eq!(due, vec![row.clone()]);
        db.sightings_failed(std::slice::from_ref(&row.id), "HTTP 503", 100)
            .unwrap();
        assert!(db.due_sightings("p", 50, 10).unwrap().is_empty());
        assert_eq!(db.due_sightings("p", 100, 10).unwrap().len(), 1);
        db.sightings_sent(std::slice::from_ref(&row.id)).unwrap();
        assert!(db.due_sightings("p", i64::MAX, 10).unwrap().is_empty());
        let s = db.feed_status("p").unwrap().unwrap();
        assert_eq!((s.sightings_sent, s.sightings_unsent), (1, 0));
    }
}
