//! Scans and blind attempts: one source's connection attempts that nothing answered, that were
//! refused, or that reached an open port without a byte exchanged — fanning out to many hosts
//! (horizontal), many ports of one host (vertical), or spread over hours (low and slow).
//!
//! Why: an attacker inside the network has to find what to attack next, and every tool that
//! does it (nmap, masscan, a worm, a ransomware's spreader, a script trying port 445 everywhere)
//! leaves the same trace in the sensor's connection log: many attempts, few answers. Counting
//! distinct hosts and ports per source does not depend on the tool. Each alert says where
//! (source, target hosts, subnets, ports) and how many.
//!
//! Quiet by design: a vulnerability scanner, a backup server or the admin jump host in the
//! inventory sweeps by design (its alerts are informational); a source outside the hospital's address
//! space probing the perimeter is background noise of the internet (low). UDP without an answer
//! is not a failure (syslog, SNMP traps and NetBIOS broadcasts never get one), nor is anything
//! sent to a broadcast or multicast address.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wardwatch_core::Severity;

use super::fanout::{FanOut, Window};
use super::topology::{Topology, is_broadcast};
use super::{Attempt, Hit, NetFacts, at_level, found, listed, meta, subnet_of};
use crate::RuleMeta;

/// Distinct hosts one source attempted blindly within [`FAST`]: a horizontal scan.
const HORIZONTAL_HOSTS: usize = 10;
/// Distinct ports of one host one source attempted blindly within [`FAST`]: a vertical scan.
const VERTICAL_PORTS: usize = 15;
/// The window of horizontal and vertical scans.
const FAST: i64 = 10 * 60;
/// Distinct hosts attempted blindly within [`SWEEP`]: a quick discovery sweep (low).
const SWEEP_HOSTS: usize = 5;
const SWEEP: i64 = 2 * 60;
/// Distinct host:port targets attempted blindly within [`SLOW`], when neither fast scan fired.
const SLOW_TARGETS: usize = 20;
const SLOW: i64 = 6 * 3600;
/// A new alert in one episode once the count has grown this many times since the last.
const GROWTH: usize = 4;
/// Items remembered per source, and sources remembered.
const MAX_ITEMS: usize = 4096;
const MAX_KEYS: usize = 50_000;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Kind {
    Horizontal,
    Vertical,
    Sweep,
    Slow,
}

pub(super) fn rules() -> Vec<Arc<RuleMeta>> {
    vec![horizontal(), vertical(), sweep(), slow()]
}

fn horizontal() -> Arc<RuleMeta> {
    meta(
        "analytic-network-horizontal-scan",
        "Horizontal Scan: One Source Tried Many Hosts Without Answer",
        Severity::Medium,
        &["attack.discovery", "attack.t1046", "attack.t1018"],
        "Within ten minutes one source tried to connect to many different hosts, and most of those attempts were refused, went unanswered or closed without a byte exchanged. Attackers and worms do this to find their next target (file shares, remote desktop, databases).",
        "Find the source machine and who was using it. Unless it is a scanner the IT team runs, isolate it and check it for malware; list the hosts it reached on the ports it tried.",
    )
}

fn vertical() -> Arc<RuleMeta> {
    meta(
        "analytic-network-vertical-scan",
        "Vertical Scan: One Source Tried Many Ports Of One Host",
        Severity::Medium,
        &["attack.discovery", "attack.t1046"],
        "Within ten minutes one source tried many different ports of one host, most of them refused or unanswered: a port scan looking for services to attack.",
        "Find the source machine and who was using it. Unless it is a scanner the IT team runs, isolate it and check it for malware; check the target for the services that answered.",
    )
}

fn sweep() -> Arc<RuleMeta> {
    meta(
        "analytic-network-discovery-sweep",
        "Discovery Sweep: Blind Attempts To Several Hosts Within Two Minutes",
        Severity::Low,
        &["attack.discovery", "attack.t1018"],
        "Within two minutes one source made blind connection attempts (refused, unanswered or without data) to several hosts: the beginning of a host discovery, or a machine looking for servers it lost.",
        "Check what the source is and whether the hosts it tried are ones it should know; if other alerts name it, treat it as part of that incident.",
    )
}

fn slow() -> Arc<RuleMeta> {
    meta(
        "analytic-network-low-and-slow-scan",
        "Low-And-Slow Scan: Blind Attempts Spread Over Hours",
        Severity::Medium,
        &["attack.discovery", "attack.t1046", "attack.defense_evasion"],
        "Over several hours one source made blind connection attempts to many different host and port combinations, each burst too small to look like a scan. Patient attackers probe this way to stay under scan detectors.",
        "Find the source machine and who was using it; unless it is a known scanner, isolate it and check it for malware, and review the targets it tried.",
    )
}

#[derive(Serialize, Deserialize)]
pub(super) struct Scan {
    /// Source → hosts attempted blindly (fast window).
    hosts: FanOut<String>,
    /// Source → hosts attempted blindly (sweep window).
    sweep: FanOut<String>,
    /// (source, host) → ports attempted blindly.
    ports: FanOut<(String, String)>,
    /// Source → `host:port` attempted blindly (slow window).
    slow: FanOut<String>,
    /// Source → distinct ports it tried, and how many attempts (fast window; for the facts).
    tried_ports: FanOut<String>,
    /// (source, kind) → (episode start, count last reported).
    #[serde(with = "super::fanout::as_pairs")]
    alerted: HashMap<(String, Kind), (i64, usize)>,
}

impl Default for Scan {
    fn default() -> Self {
        Scan {
            hosts: FanOut::new(FAST, MAX_ITEMS, MAX_KEYS),
            sweep: FanOut::new(SWEEP, 64, MAX_KEYS),
            ports: FanOut::new(FAST, MAX_ITEMS, MAX_KEYS),
            slow: FanOut::new(SLOW, MAX_ITEMS, MAX_KEYS),
            tried_ports: FanOut::new(FAST, 1024, MAX_KEYS),
            alerted: HashMap::new(),
        }
    }
}

impl Scan {
    pub(super) fn observe(&mut self, f: &NetFacts, t: i64, topo: &Topology, out: &mut Vec<Hit>) {
        let blind = matches!(f.attempt, Some(Attempt::Failed | Attempt::Probe));
        let (Some(src), Some(dst)) = (&f.src, &f.dst) else {
            return;
        };
        if !blind
            || matches!(f.transport.as_deref(), Some("udp" | "icmp" | "ipv6-icmp"))
            || is_broadcast(dst)
            || src == dst
        {
            return;
        }
        let port = f.port.map(|p| p.to_string()).unwrap_or_default();
        let level = level(src, topo);
        self.tried_ports.add(src, &port, t);
        let w = self.hosts.add(src, dst, t);
        if w.distinct() >= HORIZONTAL_HOSTS
            && let Some(hit) = self.report(Kind::Horizontal, src, t, level, &horizontal(), |s| {
                facts_hosts(s, src, "horizontal", FAST)
            })
        {
            out.push(hit);
        }
        let pair = (src.clone(), dst.clone());
        let w = self.ports.add(&pair, &port, t);
        if w.distinct() >= VERTICAL_PORTS {
            let (first, count) = (w.first, w.distinct());
            let last = self.alerted.get(&(src.clone(), Kind::Vertical)).copied();
            if fresh(last, first, count) {
                self.alerted
                    .insert((src.clone(), Kind::Vertical), (first, count));
                let w = self.ports.get(&pair).expect("just added");
                out.push(vertical_hit(w, src, dst, level));
            }
        }
        let w = self.sweep.add(src, dst, t);
        if w.distinct() >= SWEEP_HOSTS
            && !self.fired_recently(src, Kind::Horizontal, t)
            && let Some(hit) = self.report(Kind::Sweep, src, t, Severity::Low, &sweep(), |s| {
                let w = s.sweep.get(&src.to_string()).expect("just added");
                window_facts(w, s, src, "sweep", SWEEP)
            })
        {
            out.push(hit);
        }
        let w = self.slow.add(src, &format!("{dst}:{port}"), t);
        if w.distinct() >= SLOW_TARGETS
            && t - w.first > FAST
            && !self.fired_recently(src, Kind::Horizontal, t)
            && !self.fired_recently(src, Kind::Vertical, t)
            && let Some(hit) = self.report(Kind::Slow, src, t, level, &slow(), |s| {
                let w = s.slow.get(&src.to_string()).expect("just added");
                slow_facts(w, s, src)
            })
        {
            out.push(hit);
        }
        if self.alerted.len() > MAX_KEYS {
            self.alerted.retain(|_, (first, _)| t - *first <= SLOW);
        }
    }

    /// Whether `kind` fired for `src` in an episode still open at `t`.
    fn fired_recently(&self, src: &str, kind: Kind, t: i64) -> bool {
        let window = match kind {
            Kind::Slow => SLOW,
            _ => FAST,
        };
        self.alerted
            .get(&(src.to_string(), kind))
            .is_some_and(|(first, _)| t - *first <= window.max(FAST) * 2)
    }

    /// The hit for `kind` when it is news: a new episode, or the count grown [`GROWTH`] times.
    fn report(
        &mut self,
        kind: Kind,
        src: &str,
        _t: i64,
        level: Severity,
        rule: &Arc<RuleMeta>,
        facts: impl Fn(&Scan) -> Finding,
    ) -> Option<Hit> {
        let w = match kind {
            Kind::Horizontal => self.hosts.get(&src.to_string()),
            Kind::Sweep => self.sweep.get(&src.to_string()),
            Kind::Slow => self.slow.get(&src.to_string()),
            Kind::Vertical => None,
        }?;
        let (first, count) = (w.first, w.distinct());
        let last = self.alerted.get(&(src.to_string(), kind)).copied();
        if !fresh(last, first, count) {
            return None;
        }
        self.alerted.insert((src.to_string(), kind), (first, count));
        let f = facts(self);
        let targets: Vec<&str> = f.targets.iter().map(String::as_str).collect();
        Some(found(&at_level(rule, level), src, &targets, &[], f.facts))
    }
}

/// A finding's parts before they become a hit.
struct Finding {
    targets: Vec<String>,
    facts: Vec<(String, String)>,
}

fn fresh(last: Option<(i64, usize)>, first: i64, count: usize) -> bool {
    match last {
        Some((episode, reported)) if episode == first => count >= reported * GROWTH,
        _ => true,
    }
}

fn level(src: &str, topo: &Topology) -> Severity {
    if topo.class(src).fans_out_by_design() {
        // Informational: visible (where and how many) but no signal for the burst analytic.
        Severity::Informational
    } else if !topo.is_internal(src) {
        Severity::Low
    } else {
        Severity::Medium
    }
}

/// Facts of a window of hosts: how many hosts, which subnets, which ports, how many attempts.
fn window_facts(w: &Window, s: &Scan, src: &str, kind: &str, span: i64) -> Finding {
    let mut hosts: Vec<&str> = w.items().collect();
    hosts.sort_unstable();
    let mut subnets: Vec<String> = hosts.iter().map(|h| subnet_of(h)).collect();
    subnets.sort_unstable();
    subnets.dedup();
    let ports = s.tried_ports.get(&src.to_string());
    let port_list = ports
        .map(|p| {
            let top = p.top(10);
            listed(top.iter().map(|(p, _)| *p), p.distinct(), 10)
        })
        .unwrap_or_default();
    let mut facts = vec![
        ("scan.kind".into(), kind.into()),
        ("scan.hosts".into(), w.distinct().to_string()),
        ("scan.attempts".into(), w.events.to_string()),
        ("scan.window_secs".into(), span.to_string()),
        (
            "scan.subnets".into(),
            listed(subnets.iter().map(String::as_str), subnets.len(), 8),
        ),
        (
            "scan.targets".into(),
            listed(hosts.iter().copied(), hosts.len(), 10),
        ),
        ("scan.ports".into(), port_list),
        (
            "scan.port_count".into(),
            ports.map_or(0, Window::distinct).to_string(),
        ),
    ];
    if w.saturated {
        facts.push(("scan.hosts_at_least".into(), "true".into()));
    }
    Finding {
        targets: hosts.iter().take(10).map(|h| h.to_string()).collect(),
        facts,
    }
}

fn facts_hosts(s: &Scan, src: &str, kind: &str, span: i64) -> Finding {
    let w = s.hosts.get(&src.to_string()).expect("just added");
    window_facts(w, s, src, kind, span)
}

fn vertical_hit(w: &Window, src: &str, dst: &str, level: Severity) -> Hit {
    let mut ports: Vec<u32> = w.items().filter_map(|p| p.parse().ok()).collect();
    ports.sort_unstable();
    let shown: Vec<String> = ports.iter().map(u32::to_string).collect();
    let facts = vec![
        ("scan.kind".into(), "vertical".into()),
        ("scan.hosts".into(), "1".into()),
        ("scan.targets".into(), dst.to_string()),
        ("scan.port_count".into(), w.distinct().to_string()),
        (
            "scan.ports".into(),
            listed(shown.iter().map(String::as_str), shown.len(), 20),
        ),
        ("scan.attempts".into(), w.events.to_string()),
        ("scan.window_secs".into(), FAST.to_string()),
    ];
    found(&at_level(&vertical(), level), src, &[dst], &[], facts)
}

fn slow_facts(w: &Window, _s: &Scan, _src: &str) -> Finding {
    let mut targets: Vec<&str> = w.items().collect();
    targets.sort_unstable();
    let mut hosts: Vec<&str> = targets
        .iter()
        .map(|t| t.rsplit_once(':').map_or(*t, |(h, _)| h))
        .collect();
    hosts.dedup();
    let mut subnets: Vec<String> = hosts.iter().map(|h| subnet_of(h)).collect();
    subnets.sort_unstable();
    subnets.dedup();
    let mut ports: Vec<&str> = targets
        .iter()
        .filter_map(|t| t.rsplit_once(':').map(|(_, p)| p))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    let facts = vec![
        ("scan.kind".into(), "low-and-slow".into()),
        ("scan.hosts".into(), hosts.len().to_string()),
        ("scan.host_ports".into(), w.distinct().to_string()),
        ("scan.attempts".into(), w.events.to_string()),
        ("scan.span_secs".into(), (w.last - w.first).to_string()),
        (
            "scan.subnets".into(),
            listed(subnets.iter().map(String::as_str), subnets.len(), 8),
        ),
        (
            "scan.targets".into(),
            listed(targets.iter().copied(), targets.len(), 10),
        ),
        (
            "scan.ports".into(),
            listed(ports.iter().copied(), ports.len(), 10),
        ),
    ];
    Finding {
        targets: hosts.iter().take(10).map(|h| h.to_string()).collect(),
        facts,
    }
}
