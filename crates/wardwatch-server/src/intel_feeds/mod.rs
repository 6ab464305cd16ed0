//! The partners' feeds inside `serve`: TAXII 2.1 collections, MISP feeds and IOC lists polled
//! on their schedules, their indicators kept in the store by feed, put in force for live
//! matching at once, hunted for in the stored past, and sightings sent back.
//!
//! ```text
//!  feed task (one a feed) ──poll──▶ store: indicators + position (one transaction)
//!        │ new, changed or revoked            │
//!        ▼                                    ▼
//!  reload: files + feeds' indicators in force ──▶ LiveIntel ──▶ detection worker (next batch)
//!  retro thread: new indicators × stored events of the feed's look-back ──▶ RetroBatch
//!        ──▶ detection worker: exceptions, incidents, commit (same path as live alerts)
//!  sightings task: intel alerts (rows after its cursor) of feeds with sightings = true
//!        ──▶ queued with the cursor ──▶ POST to the producer's collection, once each
//! ```
//!
//! Why this shape: a feed being down, slow or sending garbage must never stop `serve` — each
//! feed is its own task, its failures are counted, logged once per change and shown in
//! `/metrics`, the stats and `wardwatch intel feeds`, and retried with backoff. Nothing is
//! half-imported: a TAXII page, a MISP event or a list is stored whole or not at all, and a
//! feed's position advances in the transaction that stores what it covers. Retro-hunt
//! alerts take their ids from the rule and the old event's journal position (as live ones do),
//! so a re-poll, a restart or a live hit on the same event never doubles them.

pub mod cluster;
pub mod config;
pub mod http;
mod list;
mod misp;
mod retro;
pub(crate) mod sightings;
pub mod taxii;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use wardwatch_console::OpenStore;
use wardwatch_intel::{Indicator, IndicatorSet};
use wardwatch_store::{Db, DbOptions, FeedIndicator, SightingsStore, Store, StoreError};

pub use config::{Feed, FeedConfig, FeedKind, check};

use crate::intel::LiveIntel;
use crate::pipeline::RetroBatch;

/// An indicator as the store keeps it.
pub(crate) fn stored(ind: &Indicator) -> FeedIndicator {
    FeedIndicator {
        kind: ind.kind.as_str().to_string(),
        value: ind.value.clone(),
        valid_until: ind
            .valid_until
            .map(|t| i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX)),
        revoked: ind.revoked,
        doc: serde_json::to_string(ind).unwrap_or_default(),
    }
}

/// Opens a connection for the sightings worker: the feeds' state and the intelligence alerts
/// in the order they were stored (the embedded store's; see [`wardwatch_store::IntelAlerts`]).
pub type OpenSightings = Arc<dyn Fn() -> Result<Box<dyn SightingsStore>, StoreError> + Send + Sync>;

/// The sightings worker's store: the SQLite store in `dir`.
pub fn sqlite_sightings(dir: PathBuf) -> OpenSightings {
    Arc::new(move || {
        Db::open(&dir, &DbOptions::default()).map(|db| Box::new(db) as Box<dyn SightingsStore>)
    })
}

/// Each feed's health, for `/metrics`, the stats and the log.
#[derive(Default)]
pub struct FeedHealth(Mutex<BTreeMap<String, FeedHealthEntry>>);

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FeedHealthEntry {
    pub kind: &'static str,
    pub up: bool,
    /// Failed polls in a row.
    pub failures: u64,
    pub last_error: Option<String>,
    pub last_success: Option<jiff::Timestamp>,
    /// Indicators of the feed in force.
    pub indicators: u64,
}

impl FeedHealth {
    fn update(&self, feed: &str, f: impl FnOnce(&mut FeedHealthEntry)) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(m.entry(feed.to_string()).or_default());
    }

    /// Each configured feed's health as the shared state keeps it (a cluster's API nodes,
    /// which do not poll): up when its last poll succeeded, its failures in a row and last
    /// error, and the indicators it holds that are not revoked (expired ones included).
    pub fn load(&self, feeds: &[Feed], statuses: &[wardwatch_store::FeedStatus]) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.clear();
        for f in feeds {
            let e = m.entry(f.cfg.name.clone()).or_default();
            e.kind = f.cfg.kind.as_str();
            let Some(s) = statuses.iter().find(|s| s.feed == f.cfg.name) else {
                continue;
            };
            e.up = s.succeeded.is_some() && s.failures == 0;
            e.failures = u64::try_from(s.failures).unwrap_or(0);
            e.last_error = s.last_error.clone();
            e.last_success = s
                .succeeded
                .and_then(|n| jiff::Timestamp::from_nanosecond(i128::from(n)).ok());
            e.indicators = u64::try_from(s.indicators - s.revoked).unwrap_or(0);
        }
    }

    /// The feeds' state as JSON (the stats' `feeds`).
    pub fn json(&self) -> serde_json::Value {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::to_value(&*m).unwrap_or_default()
    }

    /// Prometheus text.
    pub fn render(&self) -> String {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.is_empty() {
            return String::new();
        }
        let mut out = String::new();
        let mut family = |name: &str, help: &str, value: &dyn Fn(&FeedHealthEntry) -> u64| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
            for (feed, e) in m.iter() {
                out.push_str(&format!("{name}{{feed=\"{feed}\"}} {}\n", value(e)));
            }
        };
        family(
            "wardwatch_intel_feed_up",
            "Whether the feed's last poll succeeded.",
            &|e| u64::from(e.up),
        );
        family(
            "wardwatch_intel_feed_failures",
            "Failed polls of the feed in a row.",
            &|e| e.failures,
        );
        family(
            "wardwatch_intel_feed_indicators",
            "Indicators of the feed in force.",
            &|e| e.indicators,
        );
        out
    }
}

/// What the feed tasks share.
struct Shared {
    /// Opens a connection to the store that keeps the feeds' state (through the seam).
    open: OpenStore,
    /// The configured feeds' names: only their indicators are in force (a feed taken out of
    /// the configuration stops matching; its rows stay for `wardwatch intel feeds`).
    names: Vec<String>,
    /// The indicators of `[intel] paths`, read at start.
    files: Vec<Indicator>,
    live: LiveIntel,
    health: Arc<FeedHealth>,
    /// Wakes the retro thread when indicators arrive.
    retro_wake: Arc<(Mutex<bool>, std::sync::Condvar)>,
    /// Wakes the reload task.
    reload: Notify,
}

impl Shared {
    fn db(&self) -> Result<Box<dyn Store>, String> {
        (self.open)().map_err(|e| e.to_string())
    }

    /// Put the files' indicators and the feeds' in force now into the live set.
    fn rebuild(&self) -> Result<usize, String> {
        let db = self.db()?;
        let (all, per_feed) = in_force(db.as_ref(), &self.names, &self.files)?;
        let n = all.len();
        self.live.replace(IndicatorSet::new(all));
        let mut m = self.health.0.lock().unwrap_or_else(|e| e.into_inner());
        for (feed, e) in m.iter_mut() {
            e.indicators = per_feed.get(feed).copied().unwrap_or(0);
        }
        Ok(n)
    }

    fn wake_retro(&self) {
        let (lock, cv) = &*self.retro_wake;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }
}

/// The indicators in force now: `files`' and those the store holds of the feeds `names`
/// (neither revoked nor expired), with how many each feed gave.
pub(crate) fn in_force(
    db: &dyn Store,
    names: &[String],
    files: &[Indicator],
) -> Result<(Vec<Indicator>, BTreeMap<String, u64>), String> {
    let now = jiff::Timestamp::now();
    let docs = db
        .feed_indicator_docs(i64::try_from(now.as_nanosecond()).unwrap_or(i64::MAX))
        .map_err(|e| e.to_string())?;
    let mut all = files.to_vec();
    let mut per_feed: BTreeMap<String, u64> = BTreeMap::new();
    for (feed, doc) in docs {
        if !names.contains(&feed) {
            continue;
        }
        match serde_json::from_str::<Indicator>(&doc) {
            Ok(i) => {
                *per_feed.entry(feed).or_default() += 1;
                all.push(i);
            }
            Err(e) => {
                tracing::warn!(feed, error = %e, "a stored indicator cannot be read; skipped")
            }
        }
    }
    Ok((all, per_feed))
}

/// Where the feeds start from.
pub struct Start {
    pub feeds: Vec<Feed>,
    /// The store of the feeds' state (`roles::sqlite_state` for the single binary).
    pub open: OpenStore,
    /// Where the sightings worker counts alerts into sightings (the embedded store's commit
    /// order); `None` in a cluster, whose incident stage counts them from the alerts stream
    /// (`cluster.rs`): the worker then only sends what is queued.
    pub sightings: Option<OpenSightings>,
    pub files: Vec<Indicator>,
    pub live: LiveIntel,
    pub health: Arc<FeedHealth>,
    /// Our name as partners know it (the sightings' identity).
    pub producer: String,
    pub retro: std::sync::mpsc::SyncSender<RetroBatch>,
    pub stop: watch::Receiver<bool>,
}

/// Start a task per feed, the reload task, the retro-hunt thread and the sightings task.
/// The live set is built from the store before this returns (indicators kept from earlier
/// polls match from the first event).
pub fn start(s: Start, tasks: &mut Vec<JoinHandle<()>>) -> Result<(), String> {
    let shared = Arc::new(Shared {
        open: s.open,
        names: s.feeds.iter().map(|f| f.cfg.name.clone()).collect(),
        files: s.files,
        live: s.live,
        health: s.health,
        retro_wake: Arc::new((Mutex::new(true), std::sync::Condvar::new())),
        reload: Notify::new(),
    });
    for f in &s.feeds {
        shared
            .health
            .update(&f.cfg.name, |e| e.kind = f.cfg.kind.as_str());
    }
    let n = shared.rebuild()?;
    if !s.feeds.is_empty() {
        tracing::info!(
            feeds = s.feeds.len(),
            indicators = n,
            "intelligence feeds started"
        );
    }
    let feeds = Arc::new(s.feeds);
    for (i, _) in feeds.iter().enumerate() {
        let (shared, feeds, stop) = (shared.clone(), feeds.clone(), s.stop.clone());
        tasks.push(tokio::spawn(async move {
            poll_loop(&feeds[i], &shared, stop).await;
        }));
    }
    {
        let (shared, stop) = (shared.clone(), s.stop.clone());
        tasks.push(tokio::spawn(reload_loop(shared, stop)));
    }
    {
        // The retro thread waits on a condition variable: wake it to see the stop.
        let (shared, mut stop) = (shared.clone(), s.stop.clone());
        tasks.push(tokio::spawn(async move {
            let _ = stop.wait_for(|s| *s).await;
            shared.wake_retro();
        }));
    }
    {
        let (shared, feeds, stop, tx) = (shared.clone(), feeds.clone(), s.stop.clone(), s.retro);
        tasks.push(tokio::task::spawn_blocking(move || {
            retro::run(&shared, &feeds, &tx, &stop)
        }));
    }
    if feeds.iter().any(|f| f.cfg.sightings) {
        let (shared, feeds, stop) = (shared.clone(), feeds.clone(), s.stop.clone());
        let (producer, open) = (s.producer, s.sightings);
        tasks.push(tokio::spawn(async move {
            sightings::run(&shared, open.as_ref(), &feeds, &producer, stop).await;
        }));
    }
    Ok(())
}

/// How long indicators revoked or expired, and sightings sent, are kept (for `wardwatch intel
/// feeds` and an analyst's look back) before they are pruned.
const KEEP_ENDED: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 90);

/// Rebuild the live set when told (indicators arrived) and when the next one expires; prune
/// what ended long ago once an hour.
async fn reload_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut pruned = std::time::Instant::now() - Duration::from_secs(3600);
    loop {
        if pruned.elapsed() >= Duration::from_secs(3600) {
            pruned = std::time::Instant::now();
            let s = shared.clone();
            let before = jiff::Timestamp::now() - KEEP_ENDED;
            let _ = tokio::task::spawn_blocking(move || {
                let gone = s.db()?.prune_feeds(before.as_nanosecond() as i64);
                match gone {
                    Ok(n) if n > 0 => tracing::info!(
                        rows = n,
                        "intel feeds: ended indicators and sent sightings pruned"
                    ),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot prune the feeds' ended indicators")
                    }
                }
                Ok::<(), String>(())
            })
            .await;
        }
        let wait = {
            let s = shared.clone();
            tokio::task::spawn_blocking(move || -> Option<Duration> {
                let db = s.db().ok()?;
                let now = jiff::Timestamp::now().as_nanosecond() as i64;
                let next = db.feed_next_expiry(now).ok()??;
                Some(Duration::from_nanos((next - now).max(0) as u64 + 1_000_000))
            })
            .await
            .ok()
            .flatten()
            .unwrap_or(Duration::from_secs(3600))
            .min(Duration::from_secs(3600))
        };
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = shared.reload.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || s.rebuild()).await {
            Ok(Ok(n)) => tracing::debug!(indicators = n, "indicators in force reloaded"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot reload the indicators; the last set stays")
            }
            Err(_) => {}
        }
    }
}

/// Poll `feed` on its interval until `stop`; a failure is kept, logged and retried with
/// backoff.
async fn poll_loop(feed: &Feed, shared: &Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let client = match http::Client::new(
        feed.auth.clone(),
        feed.ca_pem.as_deref(),
        Duration::from_secs(60),
    ) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(feed = %feed.cfg.name, error = %e, "the feed cannot be polled");
            shared.health.update(&feed.cfg.name, |h| {
                h.up = false;
                h.last_error = Some(e);
            });
            return;
        }
    };
    let interval = Duration::from_secs(feed.cfg.interval_secs.max(1));
    let mut failures: u32 = 0;
    loop {
        let result = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            r = poll_once(feed, &client, shared) => r,
        };
        let wait = match result {
            Ok(changed) => {
                if failures > 0 {
                    tracing::info!(feed = %feed.cfg.name, "the feed answers again");
                }
                failures = 0;
                shared.health.update(&feed.cfg.name, |h| {
                    h.up = true;
                    h.failures = 0;
                    h.last_error = None;
                    h.last_success = Some(jiff::Timestamp::now());
                });
                if changed {
                    shared.reload.notify_one();
                    shared.wake_retro();
                }
                interval
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let error = format!("intel feed `{}`: {e}", feed.cfg.name);
                let s = shared.clone();
                let (name, err) = (feed.cfg.name.clone(), error.clone());
                let _ = tokio::task::spawn_blocking(move || {
                    s.db()
                        .and_then(|mut db| db.feed_failed(&name, &err).map_err(|e| e.to_string()))
                })
                .await;
                let wait = backoff(interval, failures);
                // Logged when it starts failing and now and then while it lasts, not each try.
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(feed = %feed.cfg.name, failures, retry_in_secs = wait.as_secs(), error = %e, "intel feed poll failed; serve goes on");
                }
                shared.health.update(&feed.cfg.name, |h| {
                    h.up = false;
                    h.failures = u64::from(failures);
                    h.last_error = Some(error);
                });
                wait
            }
        };
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// How long to wait after `failures` failed polls in a row: from the interval (at most
/// 30 s) doubling, up to the interval or an hour, whichever is longer.
fn backoff(interval: Duration, failures: u32) -> Duration {
    let first = interval.min(Duration::from_secs(30));
    let cap = interval.max(Duration::from_secs(3600));
    first
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)))
        .min(cap)
}

/// One poll of `feed`: everything new stored; `Ok(true)` when indicators changed.
async fn poll_once(
    feed: &Feed,
    client: &http::Client,
    shared: &Arc<Shared>,
) -> Result<bool, String> {
    let name = feed.cfg.name.clone();
    let state = {
        let (s, name) = (shared.clone(), name.clone());
        tokio::task::spawn_blocking(move || -> Result<_, String> {
            let db = s.db()?;
            let st = db.feed_status(&name).map_err(|e| e.to_string())?;
            let versions = db.feed_group_versions(&name).map_err(|e| e.to_string())?;
            Ok((st, versions))
        })
        .await
        .map_err(|e| e.to_string())??
    };
    let (status, versions) = state;
    let apply = |groups: Vec<wardwatch_store::FeedGroup>, poll: wardwatch_store::FeedPoll| {
        let (s, name) = (shared.clone(), name.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                s.db()?
                    .feed_apply(&name, &groups, &poll)
                    .map_err(|e| format!("cannot store what the feed sent: {e}"))
            })
            .await
            .map_err(|e| e.to_string())?
        }
    };
    let mut changed = false;
    let mut note = |a: wardwatch_store::FeedApplied| {
        if a.new > 0 || a.updated > 0 || a.removed > 0 {
            changed = true;
            tracing::info!(feed = %name, new = a.new, updated = a.updated, removed = a.removed, "intel feed: indicators received");
        }
    };
    match feed.cfg.kind {
        FeedKind::Taxii => {
            let mut ask = Some(taxii::Ask {
                added_after: status.as_ref().and_then(|s| s.position.clone()),
                next: None,
            });
            let mut pages = 0;
            while let Some(a) = ask.take() {
                let (page, more) = taxii::page(client, feed, &a).await?;
                note(apply(page.groups, page.poll).await?);
                pages += 1;
                if pages >= taxii::MAX_PAGES {
                    break;
                }
                ask = more;
            }
        }
        FeedKind::Misp => {
            let url = misp::file_url(feed, "manifest.json");
            let resp = client.get(&url, &[]).await.map_err(|e| e.to_string())?;
            if !resp.is_success() {
                return Err(format!("{url}: HTTP {}", resp.status));
            }
            let events = misp::manifest(&resp.body).map_err(|e| format!("{url}: {e}"))?;
            let mut fetched = 0;
            for (uuid, version) in events {
                if versions.get(&uuid).is_some_and(|v| *v >= version) {
                    continue;
                }
                let (group, objects) = misp::event(client, feed, &uuid, &version).await?;
                let poll = wardwatch_store::FeedPoll {
                    objects,
                    ..Default::default()
                };
                note(apply(vec![group], poll).await?);
                fetched += 1;
            }
            if fetched == 0 {
                note(apply(Vec::new(), Default::default()).await?);
            }
        }
        FeedKind::Ioc => {
            let etag = status.as_ref().and_then(|s| s.position.clone());
            let modified = status.as_ref().and_then(|s| s.modified.clone());
            match list::fetch(client, feed, etag.as_deref(), modified.as_deref()).await? {
                Some((groups, poll)) => note(apply(groups, poll).await?),
                None => note(apply(Vec::new(), Default::default()).await?),
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_intel::Kind;

    fn group(feed: &str, value: &str, edit: impl Fn(&mut Indicator)) -> (String, FeedIndicator) {
        let mut i = Indicator::new(Kind::Domain, value, feed).unwrap();
        edit(&mut i);
        (feed.to_string(), stored(&i))
    }

    /// The live set holds the files' indicators and the configured feeds' in force: not a
    /// revoked one, not an expired one, not one of a feed taken out of the configuration.
    #[test]
    fn the_live_set_is_rebuilt_from_the_files_and_the_configured_feeds_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let past = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
        let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
        for (feed, ind) in [
            group("partner", "active.example", |_| {}),
            group("partner", "revoked.example", |i| i.revoked = true),
            group("partner", "expired.example", |i| i.valid_until = Some(past)),
            group("gone", "unconfigured.example", |_| {}),
        ] {
            let g = wardwatch_store::FeedGroup {
                grp: ind.value.clone(),
                version: "1".into(),
                indicators: vec![ind],
            };
            db.feed_apply(&feed, &[g], &Default::default()).unwrap();
        }
        let live = LiveIntel::default();
        let shared = Shared {
            open: crate::roles::sqlite_state(dir.path().to_path_buf()),
            names: vec!["partner".into()],
            files: vec![Indicator::new(Kind::Domain, "from-a-file.example", "file").unwrap()],
            live: live.clone(),
            health: Arc::new(FeedHealth::default()),
            retro_wake: Arc::new((Mutex::new(false), std::sync::Condvar::new())),
            reload: Notify::new(),
        };
        shared.health.update("partner", |_| {});
        assert_eq!(shared.rebuild().unwrap(), 2);
        let set = live.current().unwrap();
        let mut values: Vec<&str> = set
            .set()
            .indicators()
            .iter()
            .map(|i| i.value.as_str())
            .collect();
        values.sort();
        assert_eq!(values, ["active.example", "from-a-file.example"]);
        assert!(
            shared
                .health
                .render()
                .contains("wardwatch_intel_feed_indicators{feed=\"partner\"} 1")
        );
    }

    #[test]
    fn backoff_starts_short_doubles_and_stops_at_the_cap() {
        let five_min = Duration::from_secs(300);
        assert_eq!(backoff(five_min, 1), Duration::from_secs(30));
        assert_eq!(backoff(five_min, 2), Duration::from_secs(60));
        assert_eq!(backoff(five_min, 30), Duration::from_secs(3600));
        let day = Duration::from_secs(86_400);
        assert_eq!(backoff(day, 40), day);
        assert_eq!(backoff(Duration::from_secs(1), 1), Duration::from_secs(1));
    }
}
