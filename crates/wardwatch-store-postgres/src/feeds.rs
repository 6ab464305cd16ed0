//! The partners' feeds we poll: each feed's position and health, the version of each group it
//! sent, the indicators in force with the retro-hunts they owe, and the sightings owed back.
//!
//! As in the embedded store (`wardwatch_store::feeds`): a poll's groups and the feed's new
//! position commit in one transaction, so the position never runs ahead of what is stored.
//! Two nodes polling one feed at once take turns on a transaction-level advisory lock keyed by
//! the feed, so a group is never replaced by both. The sightings worker's position is a row of
//! `cursors` (`feed-sightings`), moved in the transaction that queues what it counted; the
//! indicators' version (`feed-indicators`, what the detection workers poll to reload) is one
//! too, moved by each poll that changed indicators.

use std::collections::{HashMap, HashSet};

use wardwatch_store::feeds::{INDICATORS_VERSION, SIGHTINGS_CURSOR};
use wardwatch_store::{
    FeedApplied, FeedGroup, FeedPoll, FeedStatus, FeedStore, RetroPending, SightingRow, StoreError,
};

use crate::{Postgres, now_ns};

/// The first half of the advisory lock key of a feed's polls.
const FEED_LOCK: i32 = 0x5758;

fn sighting(r: &postgres::Row) -> Result<SightingRow, postgres::Error> {
    Ok(SightingRow {
        id: r.try_get(0)?,
        feed: r.try_get(1)?,
        indicator: r.try_get(2)?,
        count: r.try_get(3)?,
        first_seen: r.try_get(4)?,
        last_seen: r.try_get(5)?,
        tlp: r.try_get(6)?,
        created: r.try_get(7)?,
        attempts: r.try_get(8)?,
    })
}

impl Postgres {
    /// One more attempt at sightings `ids`: sent at (ns), or failed with an error and when to
    /// try again.
    fn sightings_tried(
        &mut self,
        ids: &[String],
        outcome: Result<i64, (&str, i64)>,
    ) -> Result<(), StoreError> {
        let (sent, error, next_try) = match outcome {
            Ok(at) => (Some(at), None, None),
            Err((e, next)) => (None, Some(e), Some(next)),
        };
        self.with("cannot record a sighting's delivery", |c| {
            c.execute(
                "UPDATE feed_sightings SET attempts = attempts + 1, sent = $2, last_error = $3,
                   next_try = COALESCE($4, next_try)
                 WHERE id = ANY($1)",
                &[&ids, &sent, &error, &next_try],
            )?;
            Ok(())
        })
    }
}

impl FeedStore for Postgres {
    fn feed_apply(
        &mut self,
        feed: &str,
        groups: &[FeedGroup],
        poll: &FeedPoll,
    ) -> Result<FeedApplied, StoreError> {
        self.with("cannot store what a feed sent", |c| {
            let now = now_ns();
            let mut out = FeedApplied::default();
            let mut tx = c.transaction()?;
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&FEED_LOCK, &feed],
            )?;
            for g in groups {
                let stored: Option<String> = tx
                    .query_opt(
                        "SELECT version FROM feed_groups WHERE feed = $1 AND grp = $2",
                        &[&feed, &g.grp],
                    )?
                    .map(|r| r.try_get(0))
                    .transpose()?;
                if stored.as_deref().is_some_and(|v| v >= g.version.as_str()) {
                    out.unchanged += 1;
                    continue;
                }
                if stored.is_some() {
                    out.updated += 1;
                }
                let before: Vec<(String, String, bool)> = tx
                    .query(
                        "SELECT kind, value, retro FROM feed_indicators WHERE feed = $1 AND grp = $2",
                        &[&feed, &g.grp],
                    )?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect::<Result<_, postgres::Error>>()?;
                tx.execute(
                    "DELETE FROM feed_indicators WHERE feed = $1 AND grp = $2",
                    &[&feed, &g.grp],
                )?;
                for i in &g.indicators {
                    let previous = before
                        .iter()
                        .find(|(k, v, _)| *k == i.kind && *v == i.value)
                        .map(|(_, _, retro)| *retro);
                    let retro = match previous {
                        _ if i.revoked => false,
                        Some(r) => r,
                        None => true,
                    };
                    if previous.is_none() {
                        out.new += 1;
                    }
                    tx.execute(
                        "INSERT INTO feed_indicators
                         (feed, grp, kind, value, valid_until, revoked, received, retro, doc)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                         ON CONFLICT (feed, grp, kind, value) DO UPDATE SET
                           valid_until = excluded.valid_until, revoked = excluded.revoked,
                           received = excluded.received, retro = excluded.retro,
                           doc = excluded.doc",
                        &[
                            &feed,
                            &g.grp,
                            &i.kind,
                            &i.value,
                            &i.valid_until,
                            &i.revoked,
                            &now,
                            &retro,
                            &i.doc,
                        ],
                    )?;
                }
                tx.execute(
                    "INSERT INTO feed_groups (feed, grp, version) VALUES ($1, $2, $3)
                     ON CONFLICT (feed, grp) DO UPDATE SET version = excluded.version",
                    &[&feed, &g.grp, &g.version],
                )?;
            }
            if poll.replace_all {
                let keep: HashSet<&str> = groups.iter().map(|g| g.grp.as_str()).collect();
                let grps: Vec<String> = tx
                    .query("SELECT grp FROM feed_groups WHERE feed = $1", &[&feed])?
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<Result<_, _>>()?;
                for grp in grps.iter().filter(|g| !keep.contains(g.as_str())) {
                    out.removed += tx.execute(
                        "DELETE FROM feed_indicators WHERE feed = $1 AND grp = $2",
                        &[&feed, grp],
                    )?;
                    tx.execute(
                        "DELETE FROM feed_groups WHERE feed = $1 AND grp = $2",
                        &[&feed, grp],
                    )?;
                }
            }
            let objects = i64::try_from(poll.objects).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO feed_state (feed, position, modified, polled, succeeded, failures, objects)
                 VALUES ($1, $2, $3, $4, $4, 0, $5)
                 ON CONFLICT (feed) DO UPDATE SET
                   position = COALESCE(excluded.position, feed_state.position),
                   modified = COALESCE(excluded.modified, feed_state.modified),
                   polled = excluded.polled, succeeded = excluded.succeeded,
                   failures = 0, last_error = NULL,
                   objects = feed_state.objects + excluded.objects",
                &[&feed, &poll.position, &poll.modified, &now, &objects],
            )?;
            if out.new > 0 || out.updated > 0 || out.removed > 0 {
                tx.execute(
                    "INSERT INTO cursors (name, seq) VALUES ($1, 1)
                     ON CONFLICT (name) DO UPDATE SET seq = cursors.seq + 1",
                    &[&INDICATORS_VERSION],
                )?;
            }
            tx.commit()?;
            Ok(out)
        })
    }

    fn feed_group_versions(&self, feed: &str) -> Result<HashMap<String, String>, StoreError> {
        self.with("cannot read a feed's groups", |c| {
            c.query(
                "SELECT grp, version FROM feed_groups WHERE feed = $1",
                &[&feed],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })
    }

    fn feed_failed(&mut self, feed: &str, error: &str) -> Result<i64, StoreError> {
        self.with("cannot record a feed's failure", |c| {
            c.query_one(
                "INSERT INTO feed_state (feed, polled, failures, last_error) VALUES ($1, $2, 1, $3)
                 ON CONFLICT (feed) DO UPDATE SET polled = excluded.polled,
                   failures = feed_state.failures + 1, last_error = excluded.last_error
                 RETURNING failures",
                &[&feed, &now_ns(), &error],
            )?
            .try_get(0)
        })
    }

    fn feed_statuses(&self) -> Result<Vec<FeedStatus>, StoreError> {
        self.with("cannot read the feeds' state", |c| {
            c.query(
                "SELECT f.feed, s.position, s.modified, s.polled, s.succeeded,
                        COALESCE(s.failures, 0), s.last_error, COALESCE(s.objects, 0),
                        (SELECT COUNT(*) FROM feed_indicators i WHERE i.feed = f.feed),
                        (SELECT COUNT(*) FROM feed_indicators i WHERE i.feed = f.feed AND i.revoked),
                        (SELECT COUNT(*) FROM feed_indicators i WHERE i.feed = f.feed AND i.retro),
                        (SELECT COUNT(*) FROM feed_sightings g WHERE g.feed = f.feed AND g.sent IS NOT NULL),
                        (SELECT COUNT(*) FROM feed_sightings g WHERE g.feed = f.feed AND g.sent IS NULL)
                 FROM (SELECT feed FROM feed_state UNION SELECT feed FROM feed_indicators
                       UNION SELECT feed FROM feed_sightings) f
                 LEFT JOIN feed_state s ON s.feed = f.feed
                 ORDER BY f.feed COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(FeedStatus {
                    feed: r.try_get(0)?,
                    position: r.try_get(1)?,
                    modified: r.try_get(2)?,
                    polled: r.try_get(3)?,
                    succeeded: r.try_get(4)?,
                    failures: r.try_get(5)?,
                    last_error: r.try_get(6)?,
                    objects: r.try_get(7)?,
                    indicators: r.try_get(8)?,
                    revoked: r.try_get(9)?,
                    retro_pending: r.try_get(10)?,
                    sightings_sent: r.try_get(11)?,
                    sightings_unsent: r.try_get(12)?,
                })
            })
            .collect()
        })
    }

    fn feed_indicator_docs(&self, now_ns: i64) -> Result<Vec<(String, String)>, StoreError> {
        self.with("cannot read the feeds' indicators", |c| {
            c.query(
                "SELECT feed, doc FROM feed_indicators
                 WHERE NOT revoked AND (valid_until IS NULL OR valid_until > $1)
                 ORDER BY feed COLLATE \"C\", grp COLLATE \"C\", kind COLLATE \"C\",
                          value COLLATE \"C\"",
                &[&now_ns],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })
    }

    fn feed_next_expiry(&self, now_ns: i64) -> Result<Option<i64>, StoreError> {
        self.with("cannot read the feeds' indicators", |c| {
            c.query_one(
                "SELECT MIN(valid_until) FROM feed_indicators WHERE NOT revoked AND valid_until > $1",
                &[&now_ns],
            )?
            .try_get(0)
        })
    }

    fn prune_feeds(&mut self, before_ns: i64) -> Result<u64, StoreError> {
        self.with("cannot prune the feeds", |c| {
            let mut tx = c.transaction()?;
            let mut n = tx.execute(
                "DELETE FROM feed_indicators WHERE NOT retro
                   AND ((revoked AND received < $1) OR valid_until < $1)",
                &[&before_ns],
            )?;
            n += tx.execute(
                "DELETE FROM feed_sightings WHERE sent IS NOT NULL AND sent < $1",
                &[&before_ns],
            )?;
            tx.commit()?;
            Ok(n)
        })
    }

    fn feed_retro_pending(&self, limit: usize) -> Result<Vec<RetroPending>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with("cannot read the retro-hunts owed", |c| {
            c.query(
                "SELECT feed, grp, kind, value, doc FROM feed_indicators WHERE retro
                 ORDER BY received, feed COLLATE \"C\", grp COLLATE \"C\", kind COLLATE \"C\",
                          value COLLATE \"C\"
                 LIMIT $1",
                &[&limit],
            )?
            .iter()
            .map(|r| {
                Ok(RetroPending {
                    feed: r.try_get(0)?,
                    grp: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    value: r.try_get(3)?,
                    doc: r.try_get(4)?,
                })
            })
            .collect()
        })
    }

    fn feed_retro_done(&mut self, done: &[RetroPending]) -> Result<(), StoreError> {
        self.with("cannot mark retro-hunts done", |c| {
            let mut tx = c.transaction()?;
            for d in done {
                tx.execute(
                    "UPDATE feed_indicators SET retro = FALSE
                     WHERE feed = $1 AND grp = $2 AND kind = $3 AND value = $4",
                    &[&d.feed, &d.grp, &d.kind, &d.value],
                )?;
            }
            tx.commit()
        })
    }

    fn sightings_cursor(&self) -> Result<i64, StoreError> {
        self.with("cannot read the sightings' position", |c| {
            c.query_opt(
                "SELECT seq FROM cursors WHERE name = $1",
                &[&SIGHTINGS_CURSOR],
            )?
            .map_or(Ok(0), |r| r.try_get(0))
        })
    }

    fn queue_sightings(
        &mut self,
        sightings: &[SightingRow],
        cursor: i64,
    ) -> Result<(), StoreError> {
        self.with("cannot queue sightings", |c| {
            let mut tx = c.transaction()?;
            for s in sightings {
                tx.execute(
                    "INSERT INTO feed_sightings
                     (id, feed, indicator, count, first_seen, last_seen, tlp, created, next_try)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
                     ON CONFLICT (id) DO NOTHING",
                    &[
                        &s.id,
                        &s.feed,
                        &s.indicator,
                        &s.count,
                        &s.first_seen,
                        &s.last_seen,
                        &s.tlp,
                        &s.created,
                    ],
                )?;
            }
            tx.execute(
                "INSERT INTO cursors (name, seq) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
                &[&SIGHTINGS_CURSOR, &cursor],
            )?;
            tx.commit()
        })
    }

    fn due_sightings(
        &self,
        feed: &str,
        now_ns: i64,
        limit: usize,
    ) -> Result<Vec<SightingRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with("cannot read the sightings due", |c| {
            c.query(
                "SELECT id, feed, indicator, count, first_seen, last_seen, tlp, created, attempts
                 FROM feed_sightings WHERE feed = $1 AND sent IS NULL AND next_try <= $2
                 ORDER BY created, id COLLATE \"C\" LIMIT $3",
                &[&feed, &now_ns, &limit],
            )?
            .iter()
            .map(sighting)
            .collect()
        })
    }

    fn sightings_sent(&mut self, ids: &[String]) -> Result<(), StoreError> {
        self.sightings_tried(ids, Ok(now_ns()))
    }

    fn sightings_failed(
        &mut self,
        ids: &[String],
        error: &str,
        next_try_ns: i64,
    ) -> Result<(), StoreError> {
        self.sightings_tried(ids, Err((error, next_try_ns)))
    }
}
