//! The partners' feeds on a cluster (docs/SCALE.md): one poller, every worker matching.
//!
//! ```text
//!  incidents-role nodes: the holder of the `intel-feeds` lease polls (standbys wait)
//!     poll ──▶ shared state: indicators + position + indicators' version (one transaction)
//!     retro-hunt: new indicators × ClickHouse's events of the look-back ──▶ alerts:
//!        exceptions ──▶ alerts stream (the incident stage groups them) ──▶ ClickHouse
//!     sightings: sends what the incident stage queued
//!  detect-role nodes: every REFRESH, read the indicators' version; moved (or an indicator
//!     expired) ──▶ reload the indicators in force into the node's live set
//!  incident stage: alerts of feeds with sightings = true ──▶ queued sightings (`sightings`)
//! ```
//!
//! Why a lease and the incidents role: polling twice would only cost the partners' servers
//! twice (a poll is stored whole under a per-feed lock either way), but retro-hunting twice
//! would walk a month of ClickHouse twice; one poller at a time, taken over within the lease's
//! time when its node dies, is what one machine did. The incidents role is the cluster's
//! stage of which one process works with standbys already, on the nodes that consume the
//! alerts stream the retro-hunts feed and the sightings come from; the API nodes stay the
//! analysts' and the partners' door with no outbound polling of their own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use wardwatch_cluster::ClusterConfig;
use wardwatch_cluster::lease::{Singleton, while_held};
use wardwatch_console::OpenStore;
use wardwatch_core::Alert;
use wardwatch_intel::{Indicator, IndicatorSet};
use wardwatch_store::feeds::INDICATORS_VERSION;
use wardwatch_store::{DetectionCommit, SightingRow, Store};

use super::{Feed, FeedHealth, Start};
use crate::incidents::ExceptionFilter;
use crate::intel::LiveIntel;
use crate::pipeline::RetroBatch;

/// The lease the polling node holds in `ww-leases`.
pub const LEASE: &str = "intel-feeds";
/// How often a detection node reads the indicators' version: an indicator stored by the
/// poller matches on every worker within this (plus the reload, milliseconds for thousands).
pub const REFRESH: Duration = Duration::from_secs(2);
/// The name the retro-hunts' exception counters commit under (their cursor is not a position).
const RETRO_WORKER: &str = "intel-retro";

/// Keep `live` (a detection node's indicators) equal to the shared state's: the files'
/// indicators and the configured feeds' in force, reloaded when the indicators' version moved
/// and when the next indicator expires. A thread of its own with one connection kept.
pub fn refresh_live(
    open: OpenStore,
    feeds: &[Feed],
    files: Vec<Indicator>,
    live: LiveIntel,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let names: Vec<String> = feeds.iter().map(|f| f.cfg.name.clone()).collect();
    std::thread::Builder::new()
        .name("wardwatch-intel-refresh".into())
        .spawn(move || {
            let mut db: Option<Box<dyn Store>> = None;
            let mut loaded: Option<i64> = None;
            let mut next_expiry: Option<i64> = None;
            let mut last_try = Instant::now() - REFRESH;
            while !stop.load(Ordering::Acquire) {
                if last_try.elapsed() < REFRESH {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                last_try = Instant::now();
                if db.is_none() {
                    db = open()
                        .map_err(|e| tracing::warn!(error = %e, "cannot read the feeds' indicators; the last set stays"))
                        .ok();
                }
                let Some(store) = db.as_deref() else { continue };
                match refresh_once(store, &names, &files, &live, loaded, next_expiry) {
                    Ok(Some((version, expiry, n))) => {
                        tracing::info!(indicators = n, version, "indicators in force reloaded from the shared state");
                        loaded = Some(version);
                        next_expiry = expiry;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot reload the feeds' indicators; the last set stays");
                        db = None;
                    }
                }
            }
        })
        .expect("the OS can start a thread")
}

/// One look at the shared state: `Some((version, next expiry, indicators))` when the set was
/// reloaded (the version moved from `loaded`, or `next_expiry` passed).
fn refresh_once(
    db: &dyn Store,
    names: &[String],
    files: &[Indicator],
    live: &LiveIntel,
    loaded: Option<i64>,
    next_expiry: Option<i64>,
) -> Result<Option<(i64, Option<i64>, usize)>, String> {
    let (version, _) = db.cursor(INDICATORS_VERSION).map_err(|e| e.to_string())?;
    let now = jiff::Timestamp::now().as_nanosecond() as i64;
    let expired = next_expiry.is_some_and(|t| t <= now);
    if loaded == Some(version) && !expired {
        return Ok(None);
    }
    let (all, _) = super::in_force(db, names, files)?;
    let expiry = db.feed_next_expiry(now).map_err(|e| e.to_string())?;
    let n = all.len();
    live.replace(IndicatorSet::new(all));
    Ok(Some((version, expiry, n)))
}

/// What the polling node needs.
pub struct Poller {
    pub cluster: ClusterConfig,
    pub feeds: Vec<Feed>,
    pub open: OpenStore,
    pub files: Vec<Indicator>,
    /// This node's live set (its detection workers', when it runs that role too).
    pub live: LiveIntel,
    pub health: Arc<FeedHealth>,
    pub producer: String,
    /// This process's name among the lease holders.
    pub name: String,
}

/// Poll the feeds from this node while it holds the [`LEASE`], standing by otherwise, until
/// `stop`.
pub fn start_poller(p: Poller, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let ttl = Duration::from_secs(p.cluster.ack_wait_secs.clamp(3, 30));
        let link = match Singleton::connect(&p.cluster, &p.name, ttl).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "intel feeds are not polled from this node");
                return;
            }
        };
        let p = Arc::new(p);
        while_held(&link.leases, LEASE, stop, |term| {
            let (p, link) = (p.clone(), link.clone());
            async move { poll_term(&p, link, term).await }
        })
        .await;
    })
}

/// One term as the poller: the single binary's feed tasks over the shared state, retro-hunts
/// handed to [`retro_sink`], until `term`.
async fn poll_term(p: &Poller, link: Singleton, term: watch::Receiver<bool>) {
    tracing::info!(
        feeds = p.feeds.len(),
        "intel feeds: this node polls (it holds the lease)"
    );
    let (tx, rx) = std::sync::mpsc::sync_channel::<RetroBatch>(4);
    let start = Start {
        feeds: p.feeds.clone(),
        open: p.open.clone(),
        sightings: None,
        files: p.files.clone(),
        live: p.live.clone(),
        health: p.health.clone(),
        producer: p.producer.clone(),
        retro: tx,
        stop: term.clone(),
    };
    // Off the runtime's threads: starting reads the shared state (a blocking client).
    let started = tokio::task::spawn_blocking(move || {
        let mut tasks = Vec::new();
        super::start(start, &mut tasks).map(|()| tasks)
    })
    .await
    .unwrap_or_else(|e| Err(format!("the feeds' start failed: {e}")));
    let tasks = match started {
        Ok(tasks) => tasks,
        Err(e) => {
            tracing::error!(error = %e, "intel feeds cannot start on this node; trying again");
            // Let another node (or this one, a little later) try: the lease is given up.
            let mut term = term;
            tokio::select! {
                _ = term.wait_for(|s| *s) => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            return;
        }
    };
    let sink = {
        let (open, partitions) = (p.open.clone(), p.cluster.partitions);
        let handle = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("wardwatch-retro-sink".into())
            .spawn(move || retro_sink(&rx, &open, &link, &handle, partitions))
            .expect("the OS can start a thread")
    };
    for t in tasks {
        let _ = t.await;
    }
    // The retro thread has returned with the tasks, and its sender with it: the sink ends.
    let _ = tokio::task::spawn_blocking(move || sink.join()).await;
}

/// The retro-hunts' alerts on a cluster: exceptions applied, handed to the incident stage on
/// the alerts stream, then stored in ClickHouse (an alert already there is not stored twice:
/// its id is the rule and the old event's position, as a live one's), before the hunt marks
/// its indicators done.
fn retro_sink(
    rx: &Receiver<RetroBatch>,
    open: &OpenStore,
    link: &Singleton,
    handle: &tokio::runtime::Handle,
    partitions: u32,
) {
    let mut db: Option<Box<dyn Store>> = None;
    let mut exceptions = ExceptionFilter::default();
    while let Ok(batch) = rx.recv() {
        let mut alerts: Vec<(Alert, i64, i64)> = batch
            .alerts
            .into_iter()
            .map(|(a, seq)| (a, seq, 0))
            .collect();
        let result = (|| -> Result<(), String> {
            if db.is_none() {
                db = Some(open().map_err(|e| e.to_string())?);
            }
            let store = db.as_mut().expect("opened above");
            exceptions.refresh(store.as_ref());
            let suppressed = exceptions.apply(&mut alerts, jiff::Timestamp::now());
            let mut parts: std::collections::BTreeMap<u32, Vec<(Alert, i64, i64)>> =
                Default::default();
            for a in &alerts {
                let part = wardwatch_cluster::partition(
                    &a.0.organization,
                    a.0.host.as_deref(),
                    partitions,
                );
                parts.entry(part).or_default().push(a.clone());
            }
            for (part, list) in &parts {
                let id = format!(
                    "retro-{}-{}-{}",
                    list[0].0.id.0,
                    list[list.len() - 1].0.id.0,
                    list.len()
                );
                handle.block_on(link.publish_alerts(*part, &id, list))?;
            }
            store
                .commit_detection(&DetectionCommit {
                    worker: RETRO_WORKER,
                    cursor: 0,
                    alerts: &alerts,
                    incidents: &[],
                    suppressed: &suppressed,
                    state: None,
                    ledger: None,
                })
                .map_err(|e| e.to_string())?;
            Ok(())
        })();
        if result.is_err() {
            db = None;
        }
        let _ = batch.done.send(result);
    }
}

/// The sightings owed for `alerts` (a batch of the incident stage, fresh ones only), counted
/// per alerts message — the alerts of one events message, whole in any batch — so reading a
/// message again gives the same sightings with the same ids.
pub fn sightings_of(alerts: &[(Alert, i64, i64)], feeds: &[Feed]) -> Vec<SightingRow> {
    if !feeds.iter().any(|f| f.cfg.sightings) {
        return Vec::new();
    }
    let mut by_message: std::collections::BTreeMap<i64, Vec<&Alert>> = Default::default();
    for (a, seq, _) in alerts {
        if a.facts.contains_key("intel.indicator") {
            by_message
                .entry(seq.div_euclid(wardwatch_cluster::worker::SLOTS))
                .or_default()
                .push(a);
        }
    }
    let now = jiff::Timestamp::now().as_nanosecond() as i64;
    let mut out = Vec::new();
    for (_, mut list) in by_message {
        list.sort_by(|a, b| a.id.0.cmp(&b.id.0));
        out.extend(super::sightings::count(
            list.into_iter().map(|a| (a, a.id.0.clone())),
            feeds,
            now,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_cluster::worker::SLOTS;

    fn partner() -> Vec<Feed> {
        super::super::check(&[super::super::FeedConfig {
            name: "partner".into(),
            url: "https://partner.example/taxii2/".into(),
            sightings: true,
            ..Default::default()
        }])
        .unwrap()
    }

    fn alert(id: &str, indicator: &str, second: i64) -> Alert {
        let facts = [
            ("intel.source".to_string(), "partner".to_string()),
            ("intel.indicator".to_string(), indicator.to_string()),
        ];
        Alert {
            id: wardwatch_core::AlertId(id.into()),
            rule_id: "intel:partner:domain".into(),
            rule_title: "Partner indicator".into(),
            level: wardwatch_core::Severity::High,
            tags: Vec::new(),
            timestamp: jiff::Timestamp::from_second(1_800_000_000 + second).unwrap(),
            organization: "default".into(),
            host: Some("ws-1".into()),
            entities: Vec::new(),
            event: wardwatch_core::EventRef {
                origin: Default::default(),
                event_code: None,
                channel: None,
            },
            recommendation: None,
            awareness: None,
            facts: facts.into_iter().collect(),
        }
    }

    /// Sightings are counted per alerts message (the alerts of one events message), so the
    /// same messages read again — in another batch, in another order — give the same rows.
    #[test]
    fn sightings_are_counted_per_alerts_message_and_the_same_when_read_again() {
        let ind = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
        let feeds = partner();
        let batch = vec![
            (alert("a1", ind, 1), 7 * SLOTS, 0),
            (alert("a2", ind, 3), 7 * SLOTS + 1, 0),
            (alert("a3", ind, 2), 9 * SLOTS, 0),
            // Not a STIX indicator's id: nothing to sight.
            (alert("other", "not-a-stix-id", 2), 9 * SLOTS, 0),
        ];
        let got = sightings_of(&batch, &feeds);
        assert_eq!(got.len(), 2, "one a message: {got:?}");
        let counts: Vec<i64> = got.iter().map(|s| s.count).collect();
        assert_eq!(counts.iter().sum::<i64>(), 3);
        let mut again = batch.clone();
        again.reverse();
        let ids = |rows: &[SightingRow]| {
            let mut v: Vec<(String, i64)> = rows.iter().map(|r| (r.id.clone(), r.count)).collect();
            v.sort();
            v
        };
        assert_eq!(ids(&sightings_of(&again, &feeds)), ids(&got));
        // The second message alone (another batch's cut) gives that message's sighting.
        let second = sightings_of(&batch[2..3], &feeds);
        assert!(ids(&got).contains(&ids(&second)[0]));
        // A feed without sightings owes none.
        let mut quiet = partner();
        quiet[0].cfg.sightings = false;
        assert!(sightings_of(&batch, &quiet).is_empty());
    }
}
