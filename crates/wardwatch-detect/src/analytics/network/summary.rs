//! "Where and how many" over a period of the network sensor's records: per source, its blind
//! attempts (by target, subnet, zone and port), the scans they amounted to, its lateral attempts
//! (administrative protocols to other internal hosts) and failed logons; the host graph of
//! administrative edges with counts, those absent from the baseline marked first-seen; and the
//! medical devices seen, with their class, zone, learnt peers and ports, and deviations.
//!
//! Why one summariser: `hunt --summary network` (files) and `GET /api/v1/network/summary`
//! (the store) must say the same of the same records. Both feed [`Summariser`] the events in
//! time order — hunt from its ordered stage, serve from the store — and it reads them through
//! [`NetFacts::of`], the analytics' own vocabulary (a reduced copy and the whole record give the
//! same facts), so a Zeek `conn` and an EVE `flow` count alike. It does no I/O.
//!
//! The baseline: records before `from` only teach it which administrative edges are usual (the
//! API reads the [`BASELINE_DAYS`] before `from`); without `from` (a folder of logs), the first
//! day of the records is the baseline, and is summarised too. Scans are the scan analytic's own
//! findings, and the device inventory is the device analytic's state, run here over the same
//! records: the summary and the alerts cannot disagree.
//!
//! Bounded: sources, edges and the distinct targets per tally are capped (what does not fit is
//! counted, not named), and the answer shows the busiest first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use wardwatch_core::Event;

use super::topology::{Topology, is_broadcast};
use super::{AdminKind, Attempt, Hit, NetFacts, device, scan, subnet_of};

/// The days before `from` whose administrative edges are the baseline (the API's).
pub const BASELINE_DAYS: i64 = 7;
/// Without `from`, the first this-many seconds of the records are the baseline.
const FIRST_DAY: i64 = 24 * 3600;
const MAX_SOURCES: usize = 50_000;
const MAX_EDGES: usize = 100_000;
/// Distinct keys (targets, subnets, ports...) one tally names; past it they are counted only.
const MAX_KEYS: usize = 1_000;
const SHOWN_SOURCES: usize = 500;
const SHOWN_KEYS: usize = 20;
const SHOWN_EDGES: usize = 2_000;
const SHOWN_SCANS: usize = 20;
const SHOWN_DEVICE_EDGES: usize = 50;

/// A summary of one period (see the module documentation).
pub struct Summariser {
    topology: Arc<Topology>,
    from: Option<i64>,
    to: Option<i64>,
    /// Records before this teach the baseline (set by `from`, or by the first record).
    baseline_until: Option<i64>,
    first: Option<i64>,
    last: Option<i64>,
    records: u64,
    sources: HashMap<String, Tally>,
    sources_dropped: u64,
    edges: HashMap<(String, String, AdminKind), EdgeTally>,
    edges_dropped: u64,
    known: HashSet<(String, String, AdminKind)>,
    scan: scan::Scan,
    devices: device::Devices,
}

/// Counts per key, capped.
#[derive(Default)]
struct Counts {
    kept: HashMap<String, u64>,
    other: u64,
}

impl Counts {
    fn add(&mut self, key: &str) {
        if let Some(c) = self.kept.get_mut(key) {
            *c += 1;
        } else if self.kept.len() < MAX_KEYS {
            self.kept.insert(key.to_string(), 1);
        } else {
            self.other += 1;
        }
    }

    /// The busiest `n`, then by key.
    fn top(&self, n: usize) -> Vec<Count> {
        let mut all: Vec<Count> = self
            .kept
            .iter()
            .map(|(k, c)| Count {
                value: k.clone(),
                count: *c,
            })
            .collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        all.truncate(n);
        all
    }
}

/// Attempts of one kind from one source.
#[derive(Default)]
struct Activity {
    attempts: u64,
    first: i64,
    last: i64,
    hosts: Counts,
    subnets: Counts,
    zones: Counts,
    ports: Counts,
    /// Lateral: the protocols; failed logons: the accounts.
    what: Counts,
}

impl Activity {
    fn add(&mut self, dst: &str, port: Option<u16>, t: i64, topo: &Topology) {
        if self.attempts == 0 {
            self.first = t;
        }
        self.attempts += 1;
        self.last = t;
        self.hosts.add(dst);
        self.subnets.add(&subnet_of(dst));
        self.zones.add(&zone_words(topo, dst));
        if let Some(p) = port {
            self.ports.add(&p.to_string());
        }
    }

    fn summary(&self) -> Option<ActivitySummary> {
        (self.attempts > 0).then(|| ActivitySummary {
            attempts: self.attempts,
            hosts: self.hosts.kept.len() as u64,
            hosts_at_least: self.hosts.other > 0,
            first: ts(self.first),
            last: ts(self.last),
            targets: self.hosts.top(SHOWN_KEYS),
            subnets: self.subnets.top(SHOWN_KEYS),
            zones: self.zones.top(SHOWN_KEYS),
            ports: self.ports.top(SHOWN_KEYS),
            kinds: self.what.top(SHOWN_KEYS),
        })
    }
}

#[derive(Default)]
struct Tally {
    blind: Activity,
    lateral: Activity,
    logons: Activity,
    /// The first scans reported, in full.
    scans: Vec<ScanSeen>,
    /// Every scan reported, by kind (a scanner reports hundreds: only the first are listed).
    scan_kinds: BTreeMap<String, u64>,
}

impl Tally {
    fn weight(&self) -> u64 {
        self.blind.attempts + self.lateral.attempts + self.logons.attempts
    }
}

struct EdgeTally {
    count: u64,
    first: i64,
    last: i64,
    ports: Counts,
}

/// The zone an address is in, in words (`internet` outside the hospital, `unknown` when the
/// inventory does not say).
fn zone_words(topo: &Topology, ip: &str) -> String {
    match topo.zone(ip) {
        Some(z) => z,
        None if !topo.is_internal(ip) => super::topology::INTERNET.to_string(),
        None => "unknown".to_string(),
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn ts(secs: i64) -> Option<Timestamp> {
    Timestamp::from_second(secs).ok()
}

/// The summary of a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkSummary {
    /// The period summarised: as asked, else the first and last record's time.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Whose administrative edges are not first-seen.
    pub baseline: Baseline,
    /// Network records in the period.
    pub records: u64,
    /// Sources with blind attempts, lateral attempts or failed logons in the period (shown:
    /// the busiest).
    pub sources_total: u64,
    pub sources: Vec<SourceSummary>,
    /// Records about a source or an edge past the caps: counted in `records`, named nowhere.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub overflow: u64,
    pub graph: Graph,
    pub devices: Vec<DeviceSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// How the baseline was chosen, in words.
    pub rule: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Count {
    pub value: String,
    pub count: u64,
}

/// What one source did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSummary {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub zone: String,
    pub class: String,
    /// Connection attempts refused, unanswered or without a byte exchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blind: Option<ActivitySummary>,
    /// The scans those amounted to, as the scan analytic reported them: the first
    /// `SHOWN_SCANS` (20) in full...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scans: Vec<ScanSeen>,
    /// ...and how many there were in all, by kind (most first); more than `scans` lists when
    /// `scans_total` is larger than its length.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub scans_total: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scan_kinds: Vec<Count>,
    /// Administrative protocols used on other internal hosts (`kinds`: which).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lateral: Option<ActivitySummary>,
    /// Failed logons (`kinds`: the accounts tried).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_logons: Option<ActivitySummary>,
}

/// Attempts from one source: how many, to how many hosts, and where (the busiest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivitySummary {
    pub attempts: u64,
    pub hosts: u64,
    /// More hosts than could be named were tried.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hosts_at_least: bool,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub targets: Vec<Count>,
    pub subnets: Vec<Count>,
    pub zones: Vec<Count>,
    pub ports: Vec<Count>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<Count>,
}

/// One scan the scan analytic reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanSeen {
    pub at: Option<Timestamp>,
    /// `horizontal`, `vertical`, `sweep`, `low-and-slow`.
    pub kind: String,
    pub level: String,
    pub hosts: u64,
    pub ports: u64,
    pub attempts: u64,
}

/// The host graph of administrative edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub hosts: u64,
    pub edges_total: u64,
    pub first_seen_total: u64,
    /// First-seen edges first, then the busiest.
    pub edges: Vec<EdgeSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeSummary {
    pub source: String,
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
    pub kind: AdminKind,
    pub ports: Vec<Count>,
    pub count: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// Absent from the baseline.
    pub first_seen: bool,
}

/// A medical device seen in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceSummary {
    pub ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Devices of one class share a baseline (the name's stem, else the /24).
    pub class: String,
    pub zone: String,
    pub protocols: Vec<String>,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// Peers and ports learnt (`out peer:port`, `in peer:port`).
    pub baseline_total: u64,
    pub baseline: Vec<String>,
    /// Edges first used after learning, within the period.
    pub deviations: Vec<Deviation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deviation {
    pub at: Option<Timestamp>,
    pub edge: String,
}

impl Summariser {
    /// A summary of the records in `[from, to)` (seconds since the epoch). Records before `from`
    /// are the baseline; without `from`, the first day of the records is.
    pub fn new(topology: Arc<Topology>, from: Option<i64>, to: Option<i64>) -> Summariser {
        Summariser {
            topology,
            from,
            to,
            baseline_until: from,
            first: None,
            last: None,
            records: 0,
            sources: HashMap::new(),
            sources_dropped: 0,
            edges: HashMap::new(),
            edges_dropped: 0,
            known: HashSet::new(),
            scan: scan::Scan::default(),
            devices: device::Devices::default(),
        }
    }

    /// Whether the summary reads `event` (a network sensor's record).
    pub fn wants(event: &Event) -> bool {
        super::wants(event)
    }

    /// Feed one event; events come in time order.
    pub fn observe(&mut self, event: &Event) {
        if let Some(facts) = NetFacts::of(event) {
            self.observe_facts(&facts, event.timestamp.as_second());
        }
    }

    /// Feed one record's facts at `t`.
    pub fn observe_facts(&mut self, f: &NetFacts, t: i64) {
        if self.to.is_some_and(|to| t >= to) {
            return;
        }
        if self.first.is_none() {
            self.first = Some(t);
            if self.from.is_none() {
                self.baseline_until = Some(t + FIRST_DAY);
            }
        }
        let topo = self.topology.clone();
        let in_baseline = self.baseline_until.is_some_and(|b| t < b);
        let counted = self.from.is_none_or(|from| t >= from);
        let mut hits: Vec<Hit> = Vec::new();
        self.scan.observe(f, t, &topo, &mut hits);
        let mut quiet = Vec::new();
        self.devices.observe(f, t, &topo, &mut quiet);

        let (src, dst) = (f.src.as_deref(), f.dst.as_deref());
        let admin = match (src, dst, &f.admin) {
            (Some(s), Some(d), Some(a)) if s != d && topo.is_internal(s) && topo.is_internal(d) => {
                Some((s, d, a.kind))
            }
            _ => None,
        };
        if let Some((s, d, kind)) = admin {
            let key = (s.to_string(), d.to_string(), kind);
            if in_baseline && self.known.len() < MAX_EDGES {
                self.known.insert(key.clone());
            }
            if counted {
                self.edge(key, f.port, t);
            }
        }
        if !counted {
            return;
        }
        self.records += 1;
        self.last = Some(t);
        for hit in &hits {
            if let Some(src) = hit.entities.first().map(|e| e.value.clone())
                && let Some(tally) = self.tally(&src)
            {
                let seen = scan_seen(hit, t);
                *tally.scan_kinds.entry(seen.kind.clone()).or_default() += 1;
                if tally.scans.len() < SHOWN_SCANS {
                    tally.scans.push(seen);
                }
            }
        }
        let Some(src) = src else {
            return;
        };
        let blind = matches!(f.attempt, Some(Attempt::Failed | Attempt::Probe))
            && !matches!(f.transport.as_deref(), Some("udp" | "icmp" | "ipv6-icmp"));
        if let Some(dst) = dst
            && blind
            && !is_broadcast(dst)
            && src != dst
            && let Some(tally) = self.tally(src)
        {
            tally.blind.add(dst, f.port, t, &topo);
        }
        if let Some((s, d, kind)) = admin
            && let Some(tally) = self.tally(s)
        {
            tally.lateral.add(d, f.port, t, &topo);
            tally.lateral.what.add(kind_name(kind));
        }
        if f.auth_ok == Some(false)
            && let Some(dst) = dst
            && let Some(tally) = self.tally(src)
        {
            tally.logons.add(dst, f.port, t, &topo);
            if let Some(a) = &f.account {
                tally.logons.what.add(a);
            }
        }
    }

    fn tally(&mut self, src: &str) -> Option<&mut Tally> {
        if !self.sources.contains_key(src) && self.sources.len() >= MAX_SOURCES {
            self.sources_dropped += 1;
            return None;
        }
        Some(self.sources.entry(src.to_string()).or_default())
    }

    fn edge(&mut self, key: (String, String, AdminKind), port: Option<u16>, t: i64) {
        if !self.edges.contains_key(&key) && self.edges.len() >= MAX_EDGES {
            self.edges_dropped += 1;
            return;
        }
        let e = self.edges.entry(key).or_insert(EdgeTally {
            count: 0,
            first: t,
            last: t,
            ports: Counts::default(),
        });
        e.count += 1;
        e.last = t;
        if let Some(p) = port {
            e.ports.add(&p.to_string());
        }
    }

    /// The summary of what was fed.
    pub fn finish(&self) -> NetworkSummary {
        let topo = &self.topology;
        let name = |ip: &str| topo.role(ip).and_then(|r| r.name.clone());
        let mut sources: Vec<(&String, &Tally)> = self
            .sources
            .iter()
            .filter(|(_, t)| t.weight() > 0 || !t.scans.is_empty())
            .collect();
        let sources_total = sources.len() as u64;
        sources.sort_by(|a, b| b.1.weight().cmp(&a.1.weight()).then_with(|| a.0.cmp(b.0)));
        sources.truncate(SHOWN_SOURCES);
        let sources = sources
            .into_iter()
            .map(|(ip, t)| SourceSummary {
                source: ip.clone(),
                name: name(ip),
                zone: zone_words(topo, ip),
                class: topo.class(ip).as_str().to_string(),
                blind: t.blind.summary(),
                scans: t.scans.clone(),
                scans_total: t.scan_kinds.values().sum(),
                scan_kinds: by_count(&t.scan_kinds),
                lateral: t.lateral.summary(),
                failed_logons: t.logons.summary(),
            })
            .collect();

        let mut hosts: HashSet<&str> = HashSet::new();
        let mut edges: Vec<EdgeSummary> = self
            .edges
            .iter()
            .map(|((s, d, kind), e)| {
                hosts.insert(s);
                hosts.insert(d);
                EdgeSummary {
                    source: s.clone(),
                    target: d.clone(),
                    source_name: name(s),
                    target_name: name(d),
                    kind: *kind,
                    ports: e.ports.top(SHOWN_KEYS),
                    count: e.count,
                    first: ts(e.first),
                    last: ts(e.last),
                    first_seen: !self.known.contains(&(s.clone(), d.clone(), *kind)),
                }
            })
            .collect();
        let first_seen_total = edges.iter().filter(|e| e.first_seen).count() as u64;
        edges.sort_by(|a, b| {
            b.first_seen
                .cmp(&a.first_seen)
                .then_with(|| b.count.cmp(&a.count))
                .then_with(|| (&a.source, &a.target, a.kind).cmp(&(&b.source, &b.target, b.kind)))
        });
        let edges_total = edges.len() as u64;
        edges.truncate(SHOWN_EDGES);

        let from = self.from.or(self.first);
        let mut devices: Vec<DeviceSummary> = self
            .devices
            .each()
            .filter(|(_, d)| from.is_none_or(|f| d.last >= f))
            .map(|(ip, d)| {
                let new: HashSet<&str> = d.deviations.iter().map(|(_, e)| e.as_str()).collect();
                let learnt: Vec<String> = d
                    .edges
                    .iter()
                    .filter(|e| !new.contains(e.as_str()))
                    .cloned()
                    .collect();
                DeviceSummary {
                    ip: ip.clone(),
                    name: d.name.clone().or_else(|| name(ip)),
                    mac: d.mac.clone(),
                    class: self.devices.class_of(ip, topo),
                    zone: zone_words(topo, ip),
                    protocols: d.protocols.iter().cloned().collect(),
                    first: ts(d.first),
                    last: ts(d.last),
                    baseline_total: learnt.len() as u64,
                    baseline: learnt.into_iter().take(SHOWN_DEVICE_EDGES).collect(),
                    deviations: d
                        .deviations
                        .iter()
                        .filter(|(t, _)| from.is_none_or(|f| *t >= f))
                        .map(|(t, e)| Deviation {
                            at: ts(*t),
                            edge: e.clone(),
                        })
                        .collect(),
                }
            })
            .collect();
        devices.sort_by(|a, b| {
            b.deviations
                .len()
                .cmp(&a.deviations.len())
                .then_with(|| a.ip.cmp(&b.ip))
        });

        let baseline = match self.from {
            Some(f) => Baseline {
                from: ts(f - BASELINE_DAYS * 24 * 3600),
                to: ts(f),
                rule: format!("the {BASELINE_DAYS} days before `from`"),
            },
            None => Baseline {
                from: self.first.and_then(ts),
                to: self.baseline_until.and_then(ts),
                rule: "the first day of the records".into(),
            },
        };
        NetworkSummary {
            from: from.and_then(ts),
            to: self.to.or(self.last).and_then(ts),
            baseline,
            records: self.records,
            sources_total,
            sources,
            overflow: self.sources_dropped + self.edges_dropped,
            graph: Graph {
                hosts: hosts.len() as u64,
                edges_total,
                first_seen_total,
                edges,
            },
            devices,
        }
    }
}

fn kind_name(kind: AdminKind) -> &'static str {
    match kind {
        AdminKind::Service => "service",
        AdminKind::Task => "task",
        AdminKind::Wmi => "wmi",
        AdminKind::Dcom => "dcom",
        AdminKind::FileCopy => "file-copy",
        AdminKind::AdminShare => "admin-share",
        AdminKind::WinRm => "win-rm",
        AdminKind::Rdp => "rdp",
        AdminKind::Replication => "replication",
    }
}

/// `counts` as a list, the largest first (ties by value).
fn by_count(counts: &BTreeMap<String, u64>) -> Vec<Count> {
    let mut out: Vec<Count> = counts
        .iter()
        .map(|(value, count)| Count {
            value: value.clone(),
            count: *count,
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    out
}

/// A scan finding in the summary's words.
fn scan_seen(hit: &Hit, t: i64) -> ScanSeen {
    let fact = |k: &str| {
        hit.finding
            .as_ref()
            .and_then(|f| f.facts.iter().find(|(n, _)| n == k))
            .map(|(_, v)| v.as_str())
    };
    let num = |k: &str| fact(k).and_then(|v| v.parse().ok()).unwrap_or(0);
    ScanSeen {
        at: ts(t),
        kind: fact("scan.kind").unwrap_or("scan").to_string(),
        level: hit.rule.level.to_string(),
        hosts: num("scan.hosts"),
        ports: num("scan.port_count"),
        attempts: num("scan.attempts"),
    }
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
