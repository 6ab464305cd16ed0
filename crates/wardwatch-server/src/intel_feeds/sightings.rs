//! Sightings back to producers: every intelligence alert (live or retro-hunt) on an indicator
//! of a feed with `sightings = true` is counted into a STIX `sighting` of that indicator and
//! POSTed to the producer's collection — batched, retried with backoff, each at most once.
//!
//! Exactly one sighting per alert: on one machine the task reads the alerts table after its
//! own durable cursor and queues the sightings in the transaction that moves the cursor; in a
//! cluster the incident stage counts them from the alerts stream it consumes (`count`, per
//! alerts message) and queues them before it commits the stream's position, their ids made
//! from the alerts they count, so a message read again queues nothing twice. A queued
//! sighting is marked sent when the producer took it, and its id is made from what it counts,
//! so a retry after an answer that got lost is the same object to the producer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;
use wardwatch_intel::Tlp;
use wardwatch_intel::sighting::{Sighting, is_stix_indicator_id, objects, sighting_id};
use wardwatch_store::{SightingRow, SightingsStore};

use super::{Feed, OpenSightings, Shared, http, taxii};

/// How often alerts are looked at and due sightings sent.
const TICK: Duration = Duration::from_secs(2);
/// Sightings in one POST.
const BATCH: usize = 100;
/// The first retry of a refused POST, seconds (then doubling, up to 6 hours).
const RETRY_FIRST_SECS: i64 = 15;

fn ns(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX)
}

pub(super) async fn run(
    shared: &Arc<Shared>,
    open: Option<&OpenSightings>,
    feeds: &Arc<Vec<Feed>>,
    producer: &str,
    mut stop: watch::Receiver<bool>,
) {
    let mut clients = BTreeMap::new();
    for f in feeds.iter().filter(|f| f.cfg.sightings) {
        match http::Client::new(f.auth.clone(), f.ca_pem.as_deref(), Duration::from_secs(60)) {
            Ok(c) => {
                clients.insert(f.cfg.name.clone(), (f.clone(), c));
            }
            Err(e) => tracing::error!(feed = %f.cfg.name, error = %e, "sightings cannot be sent"),
        }
    }
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        if let Some(open) = open {
            let (open, f) = (open.clone(), feeds.clone());
            let counted = tokio::task::spawn_blocking(move || {
                queue(open().map_err(|e| e.to_string())?.as_mut(), &f)
            });
            match counted.await {
                Ok(Ok(n)) if n > 0 => tracing::debug!(sightings = n, "sightings queued"),
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot queue sightings; trying again"),
                _ => {}
            }
        }
        for (name, (feed, client)) in &clients {
            if let Err(e) = send(shared, feed, client, producer).await {
                tracing::warn!(feed = %name, error = %e, "sightings not sent; retried later");
            }
        }
    }
}

/// The alerts of one indicator counted into a sighting.
struct Counted {
    count: i64,
    /// Event times, ns.
    first: i64,
    last: i64,
    /// What the sighting's id is made from, with feed and indicator: the first alert's row
    /// (one machine) or id (a cluster).
    seed: String,
    tlp: Tlp,
}

/// Count the intelligence alerts of feeds with `sightings = true` into one sighting per (feed,
/// indicator), each alert with the seed of its sighting's id (the same alerts counted again
/// give the same ids). Alerts of other rules, feeds or indicators that are no STIX
/// indicator's are left out.
pub(crate) fn count<'a>(
    alerts: impl IntoIterator<Item = (&'a wardwatch_core::Alert, String)>,
    feeds: &[Feed],
    now: i64,
) -> Vec<SightingRow> {
    let mut counted: BTreeMap<(String, String), Counted> = BTreeMap::new();
    for (alert, seed) in alerts {
        let (Some(feed), Some(ind)) = (
            alert.facts.get("intel.source"),
            alert.facts.get("intel.indicator"),
        ) else {
            continue;
        };
        let Some(f) = feeds
            .iter()
            .find(|f| f.cfg.name == *feed && f.cfg.sightings)
        else {
            continue;
        };
        if !is_stix_indicator_id(ind) {
            continue;
        }
        let tlp = alert
            .facts
            .get("intel.tlp")
            .and_then(|t| Tlp::parse(t))
            .unwrap_or(f.tlp);
        let t = ns(alert.timestamp);
        let e = counted
            .entry((feed.clone(), ind.clone()))
            .or_insert(Counted {
                count: 0,
                first: t,
                last: t,
                seed,
                tlp,
            });
        e.count += 1;
        e.first = e.first.min(t);
        e.last = e.last.max(t);
    }
    counted
        .into_iter()
        .map(|((feed, indicator), c)| SightingRow {
            id: sighting_id(&format!("{feed}|{indicator}|{}", c.seed)),
            feed,
            indicator,
            count: c.count,
            first_seen: c.first,
            last_seen: c.last,
            tlp: c.tlp.as_str().to_string(),
            created: now,
            attempts: 0,
        })
        .collect()
}

/// Count the intelligence alerts after the cursor into sightings and queue them with the
/// cursor. Returns how many were queued.
fn queue(db: &mut dyn SightingsStore, feeds: &[Feed]) -> Result<usize, String> {
    let cursor = db.sightings_cursor().map_err(|e| e.to_string())?;
    let rows = db
        .intel_alerts_after(cursor, 5_000)
        .map_err(|e| e.to_string())?;
    let Some(last) = rows.last().map(|r| r.rowid) else {
        return Ok(0);
    };
    let alerts: Vec<(wardwatch_core::Alert, i64)> = rows
        .iter()
        .filter(|r| !r.doc.is_empty())
        .filter_map(|r| Some((serde_json::from_str(&r.doc).ok()?, r.rowid)))
        .collect();
    let sightings = count(
        alerts.iter().map(|(a, row)| (a, row.to_string())),
        feeds,
        ns(Timestamp::now()),
    );
    db.queue_sightings(&sightings, last)
        .map_err(|e| e.to_string())?;
    Ok(sightings.len())
}

/// POST the due sightings of `feed`, a batch at a time.
async fn send(
    shared: &Arc<Shared>,
    feed: &Feed,
    client: &http::Client,
    producer: &str,
) -> Result<(), String> {
    loop {
        let (s, name) = (shared.clone(), feed.cfg.name.clone());
        let due = tokio::task::spawn_blocking(move || {
            s.db()?
                .due_sightings(&name, ns(Timestamp::now()), BATCH)
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
        if due.is_empty() {
            return Ok(());
        }
        let t = |n: i64| Timestamp::from_nanosecond(i128::from(n)).unwrap_or(Timestamp::UNIX_EPOCH);
        let list: Vec<Sighting> = due
            .iter()
            .map(|r| Sighting {
                id: r.id.clone(),
                indicator: r.indicator.clone(),
                count: u32::try_from(r.count).unwrap_or(u32::MAX),
                first_seen: t(r.first_seen),
                last_seen: t(r.last_seen),
                tlp: Tlp::parse(&r.tlp).unwrap_or(feed.tlp),
            })
            .collect();
        let objs = objects(producer, &list, Timestamp::now());
        let ids: Vec<String> = due.iter().map(|r| r.id.clone()).collect();
        let result = taxii::post(client, feed, objs).await;
        let attempts = due.iter().map(|r| r.attempts).max().unwrap_or(0);
        let (s, ids2) = (shared.clone(), ids.clone());
        let err = result.as_ref().err().cloned();
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            let mut db = s.db()?;
            match err {
                None => db.sightings_sent(&ids2),
                Some(e) => {
                    let wait = RETRY_FIRST_SECS
                        .saturating_mul(1 << attempts.clamp(0, 12))
                        .min(6 * 3600);
                    db.sightings_failed(&ids2, &e, ns(Timestamp::now()) + wait * 1_000_000_000)
                }
            }
            .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
        result?;
        tracing::info!(feed = %feed.cfg.name, sightings = ids.len(), "sightings sent to the producer");
    }
}
