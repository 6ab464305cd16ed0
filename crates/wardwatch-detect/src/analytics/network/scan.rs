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

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wardwatch_core::Severity;

use super::topology::{Topology, is_broadcast};
use super::{Attempt, Hit, NetFacts, at_level, found, listed, meta, subnet_of};
use crate::RuleMeta;
use crate::analytics::window::{MAX_PER_KEY, WindowCounter};

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
/// A scan is told again once its count has grown this many times (10, 40, 160 hosts...).
const GROWTH: usize = 4;

/// The stage of a count past its threshold: 0 at the threshold, 1 at `GROWTH` times it...
fn stage(count: usize, threshold: usize) -> u32 {
    (count / threshold).max(1).ilog(GROWTH)
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
    /// Source → hosts it attempted blindly (the fast and the sweep window).
    hosts: WindowCounter,
    /// `source|host` → ports it attempted blindly on that host.
    ports: WindowCounter,
    /// Source → ports it attempted blindly, whatever the host (for the facts).
    source_ports: WindowCounter,
    /// Source → `host:port` attempted blindly, over hours.
    slow: WindowCounter,
}

impl Default for Scan {
    fn default() -> Self {
        Scan {
            hosts: WindowCounter::new(FAST),
            ports: WindowCounter::new(FAST),
            source_ports: WindowCounter::new(FAST),
            slow: WindowCounter::new(SLOW),
        }
    }
}

impl Scan {
    pub(super) fn observe(&mut self, f: &NetFacts, t: i64, topo: &Topology, out: &mut Vec<Hit>) {
        let blind = matches!(f.attempt, Some(Attempt::Failed | Attempt::Probe));
        let (Some(src), Some(dst)) = (f.src.as_deref(), f.dst.as_deref()) else {
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
        self.hosts.push(src, t, dst);
        self.source_ports.push(src, t, &port);
        let pair = format!("{src}|{dst}");
        self.ports.push(&pair, t, &port);
        self.slow.push(src, t, &format!("{dst}:{port}"));

        let hosts = self.hosts.distinct(src, t, FAST);
        if hosts >= HORIZONTAL_HOSTS
            && self.hosts.should_alert(
                src,
                &format!("horizontal-{}", stage(hosts, HORIZONTAL_HOSTS)),
                t,
                FAST,
            )
        {
            let (targets, facts) = self.host_facts(src, t, "horizontal", FAST);
            let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
            out.push(found(
                &at_level(&horizontal(), level),
                src,
                &refs,
                &[],
                facts,
            ));
        }
        let ports = self.ports.distinct(&pair, t, FAST);
        if ports >= VERTICAL_PORTS
            && self.ports.should_alert(
                &pair,
                &format!("vertical-{}", stage(ports, VERTICAL_PORTS)),
                t,
                FAST,
            )
        {
            out.push(self.vertical_hit(&pair, src, dst, t, level));
        }
        let swept = self.hosts.distinct(src, t, SWEEP);
        let scanned = self
            .hosts
            .alerted_at(src, "horizontal-0")
            .is_some_and(|a| t - a <= FAST);
        if swept >= SWEEP_HOSTS && !scanned && self.hosts.should_alert(src, "sweep", t, FAST) {
            let (targets, facts) = self.host_facts(src, t, "sweep", SWEEP);
            let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
            out.push(found(
                &at_level(&sweep(), Severity::Low),
                src,
                &refs,
                &[],
                facts,
            ));
        }
        // Low and slow: many targets over hours while no ten minutes of it looks like a scan.
        let spread = self.slow.distinct(src, t, SLOW);
        if spread >= SLOW_TARGETS
            && hosts < HORIZONTAL_HOSTS
            && ports < VERTICAL_PORTS
            && self.slow.count(src, t, FAST) * 2 < self.slow.count(src, t, SLOW)
            && self.slow.should_alert(src, "slow", t, SLOW)
        {
            let (targets, facts) = self.slow_facts(src, t);
            let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
            out.push(found(&at_level(&slow(), level), src, &refs, &[], facts));
        }
    }

    /// The hosts `src` attempted within `span`, and the facts saying where and how many.
    fn host_facts(
        &self,
        src: &str,
        t: i64,
        kind: &str,
        span: i64,
    ) -> (Vec<String>, Vec<(String, String)>) {
        let mut hosts = self.hosts.distinct_values(src, t, span, MAX_PER_KEY);
        hosts.sort_unstable();
        let mut subnets: Vec<String> = hosts.iter().map(|h| subnet_of(h)).collect();
        subnets.sort_unstable();
        subnets.dedup();
        let mut ports = self.source_ports.distinct_values(src, t, span, MAX_PER_KEY);
        ports.sort_by_key(|p| p.parse::<u32>().unwrap_or(u32::MAX));
        let attempts = self.hosts.count(src, t, span);
        let mut facts = vec![
            ("scan.kind".into(), kind.into()),
            ("scan.hosts".into(), hosts.len().to_string()),
            ("scan.attempts".into(), attempts.to_string()),
            ("scan.window_secs".into(), span.to_string()),
            (
                "scan.subnets".into(),
                listed(subnets.iter().map(String::as_str), subnets.len(), 8),
            ),
            (
                "scan.targets".into(),
                listed(hosts.iter().map(String::as_str), hosts.len(), 10),
            ),
            (
                "scan.ports".into(),
                listed(ports.iter().map(String::as_str), ports.len(), 10),
            ),
            ("scan.port_count".into(), ports.len().to_string()),
        ];
        if attempts >= MAX_PER_KEY {
            facts.push(("scan.hosts_at_least".into(), "true".into()));
        }
        hosts.truncate(10);
        (hosts, facts)
    }

    fn vertical_hit(&self, pair: &str, src: &str, dst: &str, t: i64, level: Severity) -> Hit {
        let mut ports: Vec<u32> = self
            .ports
            .distinct_values(pair, t, FAST, MAX_PER_KEY)
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        ports.sort_unstable();
        let shown: Vec<String> = ports.iter().map(u32::to_string).collect();
        let facts = vec![
            ("scan.kind".into(), "vertical".into()),
            ("scan.hosts".into(), "1".into()),
            ("scan.targets".into(), dst.to_string()),
            ("scan.port_count".into(), ports.len().to_string()),
            (
                "scan.ports".into(),
                listed(shown.iter().map(String::as_str), shown.len(), 20),
            ),
            (
                "scan.attempts".into(),
                self.ports.count(pair, t, FAST).to_string(),
            ),
            ("scan.window_secs".into(), FAST.to_string()),
        ];
        found(&at_level(&vertical(), level), src, &[dst], &[], facts)
    }

    fn slow_facts(&self, src: &str, t: i64) -> (Vec<String>, Vec<(String, String)>) {
        let mut targets = self.slow.distinct_values(src, t, SLOW, MAX_PER_KEY);
        targets.sort_unstable();
        let mut hosts: Vec<String> = targets
            .iter()
            .map(|t| {
                t.rsplit_once(':')
                    .map_or(t.as_str(), |(h, _)| h)
                    .to_string()
            })
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
            ("scan.host_ports".into(), targets.len().to_string()),
            ("scan.port_count".into(), ports.len().to_string()),
            (
                "scan.attempts".into(),
                self.slow.count(src, t, SLOW).to_string(),
            ),
            ("scan.window_secs".into(), SLOW.to_string()),
            (
                "scan.subnets".into(),
                listed(subnets.iter().map(String::as_str), subnets.len(), 8),
            ),
            (
                "scan.targets".into(),
                listed(targets.iter().map(String::as_str), targets.len(), 10),
            ),
            (
                "scan.ports".into(),
                listed(ports.iter().copied(), ports.len(), 10),
            ),
        ];
        hosts.truncate(10);
        (hosts, facts)
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
