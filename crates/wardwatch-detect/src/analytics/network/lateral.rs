//! Lateral movement on the wire: administrative protocols from one internal host to another —
//! a service created over svcctl, a scheduled task, WMI, DCOM, a program copied to ADMIN$, an
//! admin share mapped, WinRM, remote desktop — on an edge not seen before, judged by who the
//! two ends are and what the zone policy allows; chains A → B → C; and DCSync, directory
//! replication requested by a host that is no domain controller.
//!
//! Why: after the first foothold an attacker moves with the same tools administrators use
//! (PsExec, Impacket, WMI, PowerShell remoting, RDP), so the protocol alone proves nothing. What
//! gives them away is where: a workstation administering another workstation, an edge that
//! never existed, a path the segmentation policy forbids, a host that was itself just reached
//! reaching the next one. Domain controllers replicate with each other over drsuapi; anyone
//! else asking for replication is stealing every password hash in the domain.
//!
//! Levels: the admin jump host, a backup server or a scanner (by their inventory class) are
//! informational (seen, but no signal); a first-seen edge that runs code is medium, one that only reaches (RDP, WinRM, an admin
//! share) low; workstation to workstation, from guest Wi-Fi or a medical device, or against the
//! zone policy raises it (high for running code); a chain is high; DCSync is critical.
//!
//! Which hosts are domain controllers: the inventory's class, and every address seen answering
//! Kerberos or directory replication (so replication between two DCs stays quiet even without
//! an inventory).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wardwatch_core::Severity;

use super::topology::{NetClass, Topology, Verdict};
use super::{AdminKind, Hit, NetFacts, at_level, found, meta};
use crate::RuleMeta;

/// A host reached by an administrative action may pass it on within this many seconds (a
/// chain).
const CHAIN_WINDOW: i64 = 2 * 3600;
/// Hops remembered in a chain.
const CHAIN_MAX: usize = 6;
/// Edges remembered (the least recently seen are forgotten past this).
const MAX_EDGES: usize = 200_000;
const MAX_HOSTS: usize = 50_000;

pub(super) fn rules() -> Vec<Arc<RuleMeta>> {
    vec![lateral(), chain(), dcsync()]
}

fn lateral() -> Arc<RuleMeta> {
    meta(
        "analytic-network-lateral-movement",
        "Lateral Movement: Administrative Protocol On A New Edge Between Internal Hosts",
        Severity::Medium,
        &[
            "attack.lateral_movement",
            "attack.t1021.002",
            "attack.t1021.006",
            "attack.t1021.001",
            "attack.t1047",
            "attack.t1569.002",
            "attack.t1053.005",
        ],
        "One internal host used an administrative protocol on another for the first time: it created or started a service, registered a scheduled task, used WMI or DCOM, copied a program to an administrative share, mapped an admin share, or opened PowerShell remoting or remote desktop. Attackers move from host to host with exactly these tools; what is unusual here is the pair of hosts.",
        "Check with the IT team whether someone administered the target from the source at that time. If not, isolate both hosts, find the account used (the target's Security log, event 4624 from the source), and look for the same source on other hosts.",
    )
}

fn chain() -> Arc<RuleMeta> {
    meta(
        "analytic-network-lateral-chain",
        "Lateral Movement Chain: A Host Reached By Administration Reaches The Next",
        Severity::High,
        &["attack.lateral_movement", "attack.t1021", "attack.t1570"],
        "A host that another host had just administered (a service, task, WMI, remote desktop...) went on to administer a further host within two hours: a path through the network, the shape of an attacker moving towards what they want.",
        "Treat every host on the path as compromised: isolate them, starting from the last one reached, and reset the accounts used along the way.",
    )
}

fn dcsync() -> Arc<RuleMeta> {
    meta(
        "analytic-network-dcsync",
        "DCSync: Directory Replication Requested By A Host That Is No Domain Controller",
        Severity::Critical,
        &["attack.credential_access", "attack.t1003.006"],
        "A host that is not a domain controller asked a domain controller for directory replication (drsuapi DRSGetNCChanges). Only domain controllers replicate; anyone else doing it (Mimikatz, Impacket secretsdump) is copying the password hashes of every account, including krbtgt.",
        "Isolate the source host now and find the account it used: it holds replication rights it must not have. Assume every password hash is stolen: reset krbtgt twice, then privileged accounts, and review who holds replication rights.",
    )
}

#[derive(Default, Serialize, Deserialize)]
pub(super) struct Lateral {
    /// (source, target, kind) → last seen.
    #[serde(with = "super::as_pairs")]
    edges: HashMap<(String, String, AdminKind), i64>,
    /// Addresses seen answering Kerberos or replication.
    dcs: HashSet<String>,
    /// Host → (the path that reached it, ending in it; when).
    #[serde(with = "super::as_pairs")]
    reached: HashMap<String, (Vec<String>, i64)>,
    /// Chains reported.
    chains: HashSet<String>,
}

impl Lateral {
    pub(super) fn observe(&mut self, f: &NetFacts, t: i64, topo: &Topology, out: &mut Vec<Hit>) {
        let (Some(src), Some(dst)) = (f.src.as_deref(), f.dst.as_deref()) else {
            return;
        };
        if f.auth_protocol.as_deref() == Some("kerberos") && self.dcs.len() < MAX_HOSTS {
            self.dcs.insert(dst.to_string());
        }
        let Some(admin) = &f.admin else {
            return;
        };
        if src == dst || !topo.is_internal(src) || !topo.is_internal(dst) {
            return;
        }
        if admin.kind == AdminKind::Replication {
            self.dcs.insert(dst.to_string());
            let is_dc = topo.class(src) == NetClass::DomainController || self.dcs.contains(src);
            let key = format!("dcsync|{src}|{dst}");
            if !is_dc && self.chains.insert(key) {
                let facts = vec![
                    ("lateral.kind".into(), admin.kind.words().into()),
                    ("lateral.operation".into(), admin.what.clone()),
                    ("lateral.edge".into(), format!("{src} → {dst}")),
                    ("source.class".into(), topo.class(src).as_str().into()),
                ];
                out.push(found(&dcsync(), src, &[dst], &[], facts));
            }
            return;
        }
        let edge = (src.to_string(), dst.to_string(), admin.kind);
        let new = !self.edges.contains_key(&edge);
        self.edges.insert(edge, t);
        if self.edges.len() > MAX_EDGES {
            let mut lasts: Vec<i64> = self.edges.values().copied().collect();
            lasts.sort_unstable();
            let cut = lasts[lasts.len() / 4];
            self.edges.retain(|_, last| *last > cut);
        }
        let (src_class, dst_class) = (topo.class(src), topo.class(dst));
        let port = f.port.unwrap_or(0);
        let verdict = topo.verdict(src, dst, port, f.transport.as_deref());
        let level = level(admin.kind, src_class, dst_class, &verdict);

        // The chain: extend the path that reached the source.
        let path = match self.reached.get(src) {
            Some((path, when)) if t - when <= CHAIN_WINDOW && !path.iter().any(|h| h == dst) => {
                let mut p = path.clone();
                p.push(dst.to_string());
                p
            }
            _ => vec![src.to_string(), dst.to_string()],
        };
        // A jump host, backup server or scanner reaching a host is its job, not a chain's
        // first hop: the chain starts at the first host that is not one of them.
        let by_design = path
            .iter()
            .take_while(|h| topo.class(h).fans_out_by_design())
            .count();
        let path: Vec<String> = path.into_iter().skip(by_design).collect();
        if path.len() >= 3 && !src_class.fans_out_by_design() {
            let key = path.join(" → ");
            if self.chains.insert(key.clone()) {
                let hops: Vec<&str> = path.iter().map(String::as_str).collect();
                let facts = vec![
                    ("lateral.chain".into(), key),
                    ("lateral.hops".into(), (path.len() - 1).to_string()),
                    ("lateral.kind".into(), admin.kind.words().into()),
                    ("lateral.operation".into(), admin.what.clone()),
                ];
                // The chain's origin first, then the hops in order.
                out.push(found(&chain(), hops[0], &hops[1..], &[], facts));
            }
        }
        if path.len() <= CHAIN_MAX {
            let entry = self
                .reached
                .entry(dst.to_string())
                .or_insert_with(|| (path.clone(), t));
            // Keep the longest recent path into a host.
            if t - entry.1 > CHAIN_WINDOW || path.len() >= entry.0.len() {
                *entry = (path, t);
            }
        }
        if self.reached.len() > MAX_HOSTS {
            self.reached
                .retain(|_, (_, when)| t - *when <= CHAIN_WINDOW);
        }

        let Some(level) = level else {
            return;
        };
        if !new {
            return;
        }
        let mut facts = vec![
            ("lateral.kind".into(), admin.kind.words().into()),
            ("lateral.operation".into(), admin.what.clone()),
            ("lateral.edge".into(), format!("{src} → {dst}")),
            ("lateral.first_seen".into(), "true".into()),
            ("source.class".into(), src_class.as_str().into()),
            ("destination.class".into(), dst_class.as_str().into()),
        ];
        if let Some(p) = f.port {
            facts.push(("lateral.port".into(), p.to_string()));
        }
        match &verdict {
            Verdict::Forbidden => facts.push((
                "lateral.policy".into(),
                policy_words(topo, src, dst, port, f.transport.as_deref()),
            )),
            Verdict::Allowed(row) => {
                facts.push(("lateral.policy".into(), format!("allowed by {}", row.at)))
            }
            _ => {}
        }
        out.push(found(&at_level(&lateral(), level), src, &[dst], &[], facts));
    }
}

/// What the policy says of a forbidden flow, in words: which zones, and what is allowed
/// between them.
pub(super) fn policy_words(
    topo: &Topology,
    src: &str,
    dst: &str,
    port: u16,
    transport: Option<&str>,
) -> String {
    let from = topo.zone(src).unwrap_or_default();
    let to = topo.zone(dst).unwrap_or_default();
    let t = transport.map(|t| format!("/{t}")).unwrap_or_default();
    let rows = topo.rows_between(&from, &to);
    if rows.is_empty() {
        format!("zone {from} → {to} on {port}{t}: zones.csv allows nothing from {from} to {to}")
    } else {
        let at: Vec<&str> = rows.iter().map(|r| r.at.as_str()).collect();
        format!(
            "zone {from} → {to} on {port}{t}: not among the ports zones.csv allows from {from} to {to} ({})",
            at.join(", ")
        )
    }
}

/// The level of a first-seen administrative edge; `None`: not worth an alert.
fn level(kind: AdminKind, src: NetClass, dst: NetClass, verdict: &Verdict<'_>) -> Option<Severity> {
    if src.fans_out_by_design() {
        // Its job: visible, but neither an alert to act on nor a signal for the burst.
        return Some(Severity::Informational);
    }
    let runs = kind.executes();
    let peer_to_peer = src == NetClass::Workstation && dst == NetClass::Workstation;
    let untrusted_source = matches!(src, NetClass::GuestWifi | NetClass::MedicalDevice);
    let forbidden = matches!(verdict, Verdict::Forbidden);
    Some(
        match (runs, peer_to_peer || untrusted_source || forbidden) {
            (true, true) => Severity::High,
            (true, false) => Severity::Medium,
            (false, true) => Severity::Medium,
            (false, false) => Severity::Low,
        },
    )
}
