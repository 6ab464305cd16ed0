//! Grouping alerts into incidents.
//!
//! Why: an attack is a chain — a phishing mail, a click, a script, a dumped password, a logon
//! on the next server — and each link raises its own alert. Shown one by one they are noise;
//! joined they are one story an IT team can act on. Two kinds of links join an alert to an open
//! incident:
//!
//! - **shared entities within the window** ([`GroupConfig::window`], default 2 h, measured on
//!   event time against the incident's first and last alert): the same host, the same user,
//!   the same source address, or the alert's *source host* being one of the incident's hosts
//!   (a logon on B from A's address or workstation name joins A's incident: lateral movement
//!   becomes one story). Noise is no link: built-in accounts (SYSTEM, LOCAL SERVICE, ANONYMOUS
//!   LOGON…), machine accounts (`…$`), loopback and unspecified addresses.
//! - **causal links while the incident is open**, however long ago: a process whose parent
//!   (`ParentProcessGuid`) or itself (`ProcessGuid`) already appears in the incident; a mail to a
//!   recipient (`email.to.address` or an `email` entity) and the roster account with that
//!   address, in both directions.
//!
//! An alert that links two or more open incidents merges them into the oldest; the others are
//! returned closed with `merged_into` set. An incident with no alert for [`GroupConfig::quiet`]
//! (default 6 h) closes. All times are the alerts' event times, so replaying a week of logs at
//! any speed gives the incidents a live run would have given.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use wardwatch_core::{Alert, AlertId};

use crate::context::Context;
use crate::model::Incident;

/// The actor named in history entries the grouper writes.
pub const SYSTEM_ACTOR: &str = "wardwatch";

/// The facts a [`Step`](crate::model::Step) keeps: what the narrative quotes and what links survive a restart.
pub const STEP_FACTS: &[&str] = &[
    "event.code",
    "event.outcome",
    "host.ip",
    "user.name",
    "source.ip",
    "url.full",
    "email.to.address",
    "email.from.address",
    "email.subject",
    "process.command_line",
    "process.executable",
    "process.parent.executable",
    "Image",
    "ParentImage",
    "CommandLine",
    "TargetImage",
    "TargetFilename",
    "TargetObject",
    "LogonType",
    "IpAddress",
    "WorkstationName",
    "TargetUserName",
    "SubjectUserName",
    "MemberName",
    "MemberSid",
    "TargetSid",
    "ServiceName",
    "ImagePath",
    "ShareName",
    "DestinationHostname",
    "DestinationIp",
    "DestinationPort",
    "QueryName",
    "SourceImage",
    "correlation.events",
    "correlation.accounts",
    "lateral.chain",
    "lateral.edge",
    "lateral.kind",
];

/// How alerts are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupConfig {
    /// An alert joins an incident through a shared host, user or address only when its event
    /// time is within this of the incident's alerts. Default 2 hours.
    pub window: Duration,
    /// An incident with no new alert for this long (event time) closes. Default 6 hours.
    pub quiet: Duration,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            window: Duration::from_secs(2 * 3600),
            quiet: Duration::from_secs(6 * 3600),
        }
    }
}
mod links;
mod update;

use links::{Key, Seen, incident_keys, ip_list, new_keys};
pub use links::{clean_ip, is_noise_user};
use update::{apply, describe_alert, merge, new_incident, refresh};

/// How many alert ids the grouper remembers to ignore a replay. A replay after a crash
/// re-raises only what detection had not committed — at most a detection batch's alerts — so
/// the most recent ids are the ones that matter. Before this bound the set grew with every
/// alert while incidents stayed open (and kept the ids past an incident's own cap of
/// [`crate::model::MAX_ALERT_IDS`] even after it closed): about 100 bytes an alert, 100 MB per
/// million (`cargo run --release -p wardwatch-incidents --example grouper_memory`).
pub const MAX_SEEN_ALERTS: usize = 50_000;

/// The last [`MAX_SEEN_ALERTS`] alert ids grouped.
#[derive(Debug, Default)]
struct SeenAlerts {
    set: HashSet<AlertId>,
    order: std::collections::VecDeque<AlertId>,
}

impl SeenAlerts {
    fn contains(&self, id: &AlertId) -> bool {
        self.set.contains(id)
    }

    fn insert(&mut self, id: AlertId) {
        if self.set.insert(id.clone()) {
            self.order.push_back(id);
        }
        while self.order.len() > MAX_SEEN_ALERTS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    fn len(&self) -> usize {
        self.order.len()
    }
}

/// Groups alerts into incidents. Holds the open incidents and indexes over them; build it
/// again from the store's open incidents after a restart.
#[derive(Debug)]
pub struct Grouper {
    config: GroupConfig,
    open: BTreeMap<String, Incident>,
    index: HashMap<Key, BTreeSet<String>>,
    /// Alert ids already grouped (a replay after a crash adds nothing twice): the last
    /// [`MAX_SEEN_ALERTS`], oldest forgotten first.
    seen: SeenAlerts,
    /// Host names by address, learned from alerts' `host.ip`.
    learned: HashMap<String, String>,
    /// The latest event time seen.
    clock: Option<Timestamp>,
    /// The event time closing may not pass (a cluster's watermark: the slowest partition with
    /// a backlog); `None` on one machine, where event time comes in order.
    close_cap: Option<Timestamp>,
}

impl Grouper {
    /// A grouper continuing from `open` incidents (closed ones are ignored).
    pub fn new(config: GroupConfig, open: Vec<Incident>) -> Self {
        let mut g = Grouper {
            config,
            open: BTreeMap::new(),
            index: HashMap::new(),
            seen: SeenAlerts::default(),
            learned: HashMap::new(),
            clock: None,
            close_cap: None,
        };
        for inc in open.into_iter().filter(|i| !i.closed) {
            g.clock = g.clock.max(Some(inc.last_seen));
            for step in &inc.timeline {
                if let (Some(h), Some(ips)) = (&step.host, step.facts.get("host.ip")) {
                    for ip in ip_list(ips) {
                        g.learned.entry(ip).or_insert_with(|| h.clone());
                    }
                }
            }
            for a in &inc.alert_ids {
                g.seen.insert(a.clone());
            }
            g.reindex(&inc);
            g.open.insert(inc.id.clone(), inc);
        }
        g
    }

    /// Whether alert `id` was grouped (among the last [`MAX_SEEN_ALERTS`], and those of the
    /// open incidents it started from).
    pub fn has_seen(&self, id: &AlertId) -> bool {
        self.seen.contains(id)
    }

    /// How many alert ids the grouper remembers (at most [`MAX_SEEN_ALERTS`]).
    pub fn remembered_alerts(&self) -> usize {
        self.seen.len()
    }

    /// The configuration in force.
    pub fn config(&self) -> GroupConfig {
        self.config
    }

    /// The open incidents, by id.
    pub fn open(&self) -> impl Iterator<Item = &Incident> {
        self.open.values()
    }

    /// The open incident `id`, to change it (acknowledge, assign...).
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Incident> {
        self.open.get_mut(id)
    }

    fn reindex(&mut self, inc: &Incident) {
        for k in incident_keys(inc) {
            self.index.entry(k).or_default().insert(inc.id.clone());
        }
    }

    fn unindex(&mut self, inc: &Incident) {
        for k in incident_keys(inc) {
            if let Some(set) = self.index.get_mut(&k) {
                set.remove(&inc.id);
                if set.is_empty() {
                    self.index.remove(&k);
                }
            }
        }
    }

    fn window(&self) -> SignedDuration {
        SignedDuration::try_from(self.config.window).unwrap_or(SignedDuration::MAX)
    }

    /// Close every incident with no alert for the quiet period before `now`; returns them.
    ///
    /// `now` is compared with alerts' event times: live, pass the wall clock; when replaying
    /// old logs, pass the replay's event time (or do not tick: [`Grouper::add`] closes what
    /// event time has left behind), or every incident closes at once.
    pub fn tick(&mut self, now: Timestamp) -> Vec<Incident> {
        self.close_quiet(now, now)
    }

    /// Close no incident on event time past `cap` from now on (`None`: no cap), and close
    /// what the newest alert's time, capped so, leaves quiet; returns those closed.
    ///
    /// Why: a cluster's incident stage sees the alerts of partitions that kept up before those
    /// of a partition that fell behind. Closing on the fast partitions' time would make the
    /// late alerts open a new incident where one machine, reading in event time, would have
    /// extended the old one; capped at the slowest partition's time, they join it. Joining is
    /// unchanged (the window is measured on each alert's own time).
    pub fn close_upto(&mut self, cap: Option<Timestamp>, at: Timestamp) -> Vec<Incident> {
        self.set_close_cap(cap);
        match self.clock {
            Some(clock) => self.close_quiet(clock, at),
            None => Vec::new(),
        }
    }

    /// Close no incident on event time past `cap` from now on (`None`: no cap), closing nothing
    /// yet (see [`Grouper::close_upto`]).
    pub fn set_close_cap(&mut self, cap: Option<Timestamp>) {
        self.close_cap = cap;
    }

    /// The event time incidents have been closed up to: the newest alert's, no further than
    /// the cap (`None` before any alert).
    pub fn closing_clock(&self) -> Option<Timestamp> {
        match (self.clock, self.close_cap) {
            (Some(clock), Some(cap)) => Some(clock.min(cap)),
            (clock, _) => clock,
        }
    }

    /// Close incidents quiet at event time `clock` (no further than the cap), writing `at` in
    /// their history.
    fn close_quiet(&mut self, clock: Timestamp, at: Timestamp) -> Vec<Incident> {
        let clock = self.close_cap.map_or(clock, |cap| clock.min(cap));
        let quiet = SignedDuration::try_from(self.config.quiet).unwrap_or(SignedDuration::MAX);
        let ids: Vec<String> = self
            .open
            .values()
            .filter(|i| clock.duration_since(i.last_seen) >= quiet)
            .map(|i| i.id.clone())
            .collect();
        let mut out = Vec::new();
        for id in ids {
            if let Some(mut inc) = self.open.remove(&id) {
                self.unindex(&inc);
                inc.closed = true;
                let detail = format!(
                    "no new alert since {}",
                    crate::narrative::clock(inc.last_seen, true)
                );
                inc.log(at, SYSTEM_ACTOR, "closed", detail);
                out.push(inc);
            }
        }
        out
    }

    /// Group `alert`; returns every incident created or changed, including incidents merged
    /// away (closed, `merged_into` set) and incidents closed because event time moved past
    /// their quiet period. `now` is the wall clock, used for `opened` and history entries.
    pub fn add(&mut self, alert: &Alert, ctx: &Context, now: Timestamp) -> Vec<Incident> {
        if self.seen.contains(&alert.id) {
            return Vec::new();
        }
        let mut changed = Vec::new();
        if self.clock.is_none_or(|c| alert.timestamp > c) {
            self.clock = Some(alert.timestamp);
            changed = self.close_quiet(alert.timestamp, now);
        }
        let seen = Seen::of(alert, ctx, &self.learned);
        if let Some(ips) = alert.facts.get("host.ip")
            && let Some(h) = seen.hosts.first()
        {
            for ip in ip_list(ips) {
                self.learned.insert(ip, h.clone());
            }
        }

        // Which open incidents this alert links to, and through what.
        let window = self.window();
        let mut links: BTreeMap<String, Key> = BTreeMap::new();
        for (key, causal) in seen.keys(ctx) {
            let Some(ids) = self.index.get(&key) else {
                continue;
            };
            for id in ids {
                let inc = &self.open[id];
                let near = alert.timestamp
                    >= inc
                        .first_seen
                        .saturating_sub(window)
                        .unwrap_or(inc.first_seen)
                    && alert.timestamp
                        <= inc
                            .last_seen
                            .saturating_add(window)
                            .unwrap_or(inc.last_seen);
                if causal || near {
                    links.entry(id.clone()).or_insert_with(|| key.clone());
                }
            }
        }

        let target_id = if links.is_empty() {
            let inc = new_incident(alert, now);
            let id = inc.id.clone();
            self.open.insert(id.clone(), inc);
            id
        } else {
            let mut ids: Vec<&String> = links.keys().collect();
            ids.sort_by_key(|id| {
                let i = &self.open[*id];
                (i.first_seen, i.opened, i.id.clone())
            });
            let target = ids[0].clone();
            for other in ids[1..].iter().map(|s| s.to_string()).collect::<Vec<_>>() {
                let mut gone = self.open.remove(&other).expect("linked incidents are open");
                self.unindex(&gone);
                let mut into = self.open.remove(&target).expect("target is open");
                self.unindex(&into);
                let why = links[&other].describe();
                merge(&mut into, &mut gone, &why, now);
                self.reindex(&into);
                self.open.insert(target.clone(), into);
                changed.push(gone);
            }
            target
        };

        let mut inc = self.open.remove(&target_id).expect("target is open");
        let created = inc.alert_count == 0;
        let grew = apply(&mut inc, alert, &seen, ctx);
        if created {
            let detail = format!("opened by {}", describe_alert(alert));
            inc.log(now, SYSTEM_ACTOR, "created", detail);
        } else if grew {
            let how = links
                .get(&target_id)
                .map_or(String::new(), |k| format!(" (linked by {})", k.describe()));
            let detail = format!("{}{how}", describe_alert(alert));
            inc.log(now, SYSTEM_ACTOR, "grew", detail);
        }
        refresh(&mut inc, ctx);
        self.seen.insert(alert.id.clone());
        // Entities only ever join an incident here, so indexing the alert's is enough.
        for key in new_keys(&inc, &seen, ctx) {
            self.index.entry(key).or_default().insert(inc.id.clone());
        }
        changed.push(inc.clone());
        self.open.insert(target_id, inc);
        changed
    }
}

#[cfg(test)]
mod tests;
