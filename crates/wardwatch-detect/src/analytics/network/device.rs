//! Medical devices: a passive inventory from what the sensor sees (DHCP leases, DNS, HL7 v2
//! over MLLP on 2575, DICOM on 104 and 11112) and a per-device baseline of peers, ports and
//! protocols learnt over a window; an alert when a device talks to a new peer, on a new port,
//! or outside the hospital.
//!
//! Why: an infusion pump, a patient monitor or a CT scanner cannot run an agent and is rarely
//! patched, but its traffic is narrow and predictable — the interface engine, the PACS, the
//! DNS and time servers, the same ports every day. A deviation is the signal: malware on the
//! device looking around, an attacker reaching it, a vendor's remote access nobody agreed to.
//!
//! Which addresses are devices: the inventory's `medical-device` class, and any address the
//! inventory does not class that opens HL7 or DICOM connections (a modality, an analyser).
//! Devices of one kind behave alike, so each device has a class — the name's stem from the
//! inventory or its DHCP lease (`PUMP-ICU-07` → `PUMP-ICU`), else its /24 — and what one
//! device of a class does is normal for every device of it: a new pump that talks like the
//! other pumps is no anomaly, whenever it appears.
//!
//! Learning: a device's own baseline is what it (and its class) did within [`LEARN`] of its
//! first sighting; after that, a connection (either direction) on an edge — peer and port —
//! neither it nor its class used is new. Outside the hospital is reported at once. Each device
//! says a deviation at most once per [`QUIET`] (the alert counts what was new since).
//!
//! Bounded: at most [`MAX_DEVICES`] devices, [`MAX_EDGES`] edges per device and per class
//! (past it, an edge is not learnt and not reported: a device that busy is not narrow).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wardwatch_core::{Entity, EntityKind, Severity};

use super::topology::{NetClass, Topology, is_broadcast};
use super::{Attempt, Hit, NetFacts, at_level, found, listed, meta, subnet_of};
use crate::RuleMeta;

/// The learning window from a device's first sighting.
pub const LEARN: i64 = 24 * 3600;
/// A device says a deviation at most once within this.
const QUIET: i64 = 3600;
const MAX_DEVICES: usize = 20_000;
const MAX_EDGES: usize = 256;
const MAX_CLASSES: usize = 2_000;

/// Ports of the clinical protocols by which a device is recognized.
pub fn clinical_protocol(port: u16) -> Option<&'static str> {
    match port {
        2575 => Some("hl7"),
        104 | 11112 => Some("dicom"),
        _ => None,
    }
}

pub(super) fn rules() -> Vec<Arc<RuleMeta>> {
    vec![deviation()]
}

fn deviation() -> Arc<RuleMeta> {
    meta(
        "analytic-network-medical-device-deviation",
        "Medical Device Left Its Baseline: New Peer, New Port Or Outside The Hospital",
        Severity::Medium,
        &[
            "attack.discovery",
            "attack.lateral_movement",
            "attack.command_and_control",
            "attack.t0886",
            "attack.t0846",
        ],
        "A medical device (an infusion pump, a monitor, a modality) talked to a peer or on a port that neither it nor any device of its kind used while its baseline was learnt, or talked to an address outside the hospital. Their traffic is narrow and predictable; a change means a new integration nobody announced, a vendor's remote access, or an attacker or malware on or near the device.",
        "Ask biomedical engineering whether the change is planned (a new interface, a vendor session). If not, move the device to its isolated VLAN or block the new peer at the firewall, keep it in clinical use only if it is safe to, and call the vendor to check it.",
    )
}

/// What the sensor knows of one device.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Device {
    pub first: i64,
    pub last: i64,
    pub mac: Option<String>,
    pub name: Option<String>,
    /// Clinical protocols seen (`hl7`, `dicom`), and `dhcp`/`dns` when those were seen.
    pub protocols: BTreeSet<String>,
    /// `out peer:port` / `in peer:port` edges learnt.
    pub edges: BTreeSet<String>,
    /// Edges first used after learning, with when (at most one per edge: the edges are
    /// capped, so these are too).
    #[serde(default)]
    pub deviations: Vec<(i64, String)>,
    /// When it last said a deviation, and what was new since.
    told: Option<i64>,
    unsaid: Vec<String>,
}

/// The stem of a device name (`PUMP-ICU-07` → `PUMP-ICU`, `ct2` → `CT`).
pub fn name_stem(name: &str) -> String {
    let n = name.split('.').next().unwrap_or(name).to_ascii_uppercase();
    n.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_')
        .to_string()
}

#[derive(Default, Serialize, Deserialize)]
pub(super) struct Devices {
    devices: HashMap<String, Device>,
    /// Class → edges any of its devices used while learning (with the peer the same).
    classes: HashMap<String, BTreeSet<String>>,
}

impl Devices {
    /// The name a device gave itself in its DHCP lease.
    pub(super) fn leased_name(&self, ip: &str) -> Option<&str> {
        self.devices.get(ip).and_then(|d| d.name.as_deref())
    }

    pub(super) fn class_of(&self, ip: &str, topo: &Topology) -> String {
        // The name the device gives itself first: an inventory row may be a whole subnet's
        // ("Medical device network"), which names no class.
        let named = self
            .devices
            .get(ip)
            .and_then(|d| d.name.clone())
            .or_else(|| topo.role(ip).and_then(|r| r.name.clone()));
        match named.map(|n| name_stem(&n)).filter(|s| !s.is_empty()) {
            Some(stem) => stem,
            None => subnet_of(ip),
        }
    }

    /// Every device seen, by address.
    pub(super) fn each(&self) -> impl Iterator<Item = (&String, &Device)> {
        self.devices.iter()
    }

    /// Whether `ip` is a device: the inventory says so, or it was seen as one.
    fn is_device(&self, ip: &str, topo: &Topology) -> bool {
        match topo.class(ip) {
            NetClass::MedicalDevice => true,
            NetClass::Unknown => self.devices.contains_key(ip),
            _ => false,
        }
    }

    fn entry(&mut self, ip: &str, t: i64) -> Option<&mut Device> {
        if !self.devices.contains_key(ip) && self.devices.len() >= MAX_DEVICES {
            return None;
        }
        let d = self
            .devices
            .entry(ip.to_string())
            .or_insert_with(|| Device {
                first: t,
                ..Device::default()
            });
        d.last = t;
        Some(d)
    }

    pub(super) fn observe(&mut self, f: &NetFacts, t: i64, topo: &Topology, out: &mut Vec<Hit>) {
        let Some(src) = f.src.as_deref() else {
            return;
        };
        // Identity from DHCP: the lease names the device and its hardware address.
        if f.mac.is_some() {
            if self.is_device(src, topo)
                && let Some(d) = self.entry(src, t)
            {
                d.mac = f.mac.clone().or(d.mac.take());
                d.name = f.hostname.clone().or(d.name.take());
                d.protocols.insert("dhcp".into());
            }
            return;
        }
        if f.query.is_some() {
            if self.is_device(src, topo)
                && let Some(d) = self.entry(src, t)
            {
                d.protocols.insert("dns".into());
            }
            return;
        }
        let (Some(dst), Some(port), Some(_)) = (f.dst.as_deref(), f.port, f.attempt) else {
            return;
        };
        if is_broadcast(dst) {
            return;
        }
        let clinical = clinical_protocol(port);
        // An unclassed address opening HL7 or DICOM connections is a device seen in the logs.
        if clinical.is_some()
            && f.attempt == Some(Attempt::Session)
            && topo.class(src) == NetClass::Unknown
            && topo.is_internal(src)
        {
            self.entry(src, t);
        }
        if self.is_device(src, topo) {
            self.edge(
                src,
                dst,
                &format!("out {dst}:{port}"),
                clinical,
                t,
                topo,
                out,
            );
        }
        if self.is_device(dst, topo) && f.attempt == Some(Attempt::Session) {
            self.edge(
                dst,
                src,
                &format!("in {src}:{port}"),
                clinical,
                t,
                topo,
                out,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn edge(
        &mut self,
        device: &str,
        peer: &str,
        edge: &str,
        clinical: Option<&str>,
        t: i64,
        topo: &Topology,
        out: &mut Vec<Hit>,
    ) {
        let class = self.class_of(device, topo);
        if !self.classes.contains_key(&class) && self.classes.len() >= MAX_CLASSES {
            return;
        }
        let outside = !topo.is_internal(peer);
        let known_to_class = self.classes.get(&class).is_some_and(|c| c.contains(edge));
        let Some(d) = self.entry(device, t) else {
            return;
        };
        if let Some(p) = clinical {
            d.protocols.insert(p.to_string());
        }
        let learning = t - d.first <= LEARN;
        let known = d.edges.contains(edge) || known_to_class;
        if known && !outside {
            return;
        }
        if learning && !outside {
            if d.edges.len() < MAX_EDGES {
                d.edges.insert(edge.to_string());
            }
            let c = self.classes.entry(class).or_default();
            if c.len() < MAX_EDGES {
                c.insert(edge.to_string());
            }
            return;
        }
        if d.edges.len() >= MAX_EDGES || d.edges.contains(edge) {
            return;
        }
        // Learnt as seen (said once); the class keeps only what was learnt in the window.
        d.edges.insert(edge.to_string());
        d.deviations.push((t, edge.to_string()));
        d.unsaid.push(edge.to_string());
        if d.told.is_some_and(|told| t - told < QUIET) {
            return;
        }
        d.told = Some(t);
        let new: Vec<String> = std::mem::take(&mut d.unsaid);
        let d = d.clone();
        let baseline = self.classes.get(&class).map_or(0, BTreeSet::len);
        out.push(self.hit(
            device, peer, edge, &new, &d, &class, baseline, outside, topo,
        ));
    }

    #[allow(clippy::too_many_arguments)]
    fn hit(
        &self,
        device: &str,
        peer: &str,
        edge: &str,
        new: &[String],
        d: &Device,
        class: &str,
        baseline: usize,
        outside: bool,
        topo: &Topology,
    ) -> Hit {
        let kind =
            if outside {
                "outside the hospital"
            } else if d.edges.iter().filter(|e| e.as_str() != edge).any(|e| {
                e.rsplit_once(':').map(|(p, _)| p) == edge.rsplit_once(':').map(|(p, _)| p)
            }) {
                "new port"
            } else {
                "new peer"
            };
        let learnt: Vec<&str> = d
            .edges
            .iter()
            .filter(|e| !new.contains(e))
            .map(String::as_str)
            .collect();
        let mut facts = vec![
            ("device.ip".into(), device.to_string()),
            ("device.class".into(), class.to_string()),
            ("device.deviation".into(), kind.to_string()),
            (
                "device.new".into(),
                listed(new.iter().map(String::as_str), new.len(), 5),
            ),
            ("device.new_count".into(), new.len().to_string()),
            (
                "device.baseline".into(),
                listed(learnt.iter().copied(), learnt.len(), 6),
            ),
            ("device.class_edges".into(), baseline.to_string()),
            (
                "device.protocols".into(),
                d.protocols.iter().cloned().collect::<Vec<_>>().join(", "),
            ),
        ];
        if let Some(m) = &d.mac {
            facts.push(("device.mac".into(), m.clone()));
        }
        if let Some(n) = topo
            .role(device)
            .and_then(|r| r.name.clone())
            .or(d.name.clone())
        {
            facts.push(("device.name".into(), n));
        }
        let level = if outside {
            Severity::High
        } else {
            Severity::Medium
        };
        let mut hit = found(&at_level(&deviation(), level), device, &[peer], &[], facts);
        if let Some(m) = &d.mac {
            hit.entities
                .push(Entity::new(EntityKind::Device, m.as_str()));
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{conn, session};
    use super::super::tests::{of, run};
    use super::super::{NetClass, Role, Topology};
    use wardwatch_core::{Event, Severity};

    fn devices() -> Topology {
        let mut t = Topology::default();
        for (ip, name) in [
            ("10.30.1.11", "PUMP-ICU-01"),
            ("10.30.1.12", "PUMP-ICU-02"),
            ("10.30.1.13", "PUMP-ICU-03"),
        ] {
            t.add(
                format!("{ip}/32").parse().unwrap(),
                Role {
                    class: NetClass::MedicalDevice,
                    zone: Some("iomt".into()),
                    name: Some(name.into()),
                },
            );
        }
        t
    }

    #[test]
    fn a_device_leaving_its_baseline_and_a_new_device_like_its_class() {
        let day = 86_400;
        let mut events: Vec<Event> = Vec::new();
        // Learning: two pumps send HL7 to the interface engine and ask the time.
        for h in 0..30 {
            for pump in ["10.30.1.11", "10.30.1.12"] {
                events.push(session(h * 3600, pump, "10.10.0.60", 2575, 900, 80));
            }
        }
        events.push(session(2 * 3600, "10.30.1.11", "10.10.0.10", 123, 48, 48));
        // The third pump appears on day two and does what pumps do (the class's time server).
        events.push(session(
            day + 100,
            "10.30.1.13",
            "10.10.0.60",
            2575,
            900,
            80,
        ));
        events.push(session(
            2 * day + 100,
            "10.30.1.13",
            "10.10.0.10",
            123,
            48,
            48,
        ));
        // After learning: pump 1 on a new port of its peer, pump 2 to a new peer, then the internet.
        events.push(session(2 * day, "10.30.1.11", "10.10.0.60", 22, 3000, 3000));
        events.push(conn(2 * day + 10, "10.30.1.12", "10.20.4.9", 445, "S0", 0));
        events.push(session(
            3 * day,
            "10.30.1.12",
            "203.0.113.66",
            443,
            9_000,
            2_000,
        ));
        events.sort_by_key(|e| e.timestamp);
        let alerts = run(&events, devices());
        let d = of(&alerts, "analytic-network-medical-device-deviation");
        assert_eq!(d.len(), 3, "{d:#?}");
        assert_eq!(d[0].entities[0].value, "10.30.1.11");
        assert_eq!(d[0].facts["device.deviation"], "new port");
        assert_eq!(d[0].facts["device.class"], "PUMP-ICU");
        assert!(d[0].facts["device.baseline"].contains("out 10.10.0.60:2575"));
        assert_eq!(d[1].facts["device.deviation"], "new peer");
        assert_eq!(d[1].level, Severity::Medium);
        assert_eq!(d[2].facts["device.deviation"], "outside the hospital");
        assert_eq!(d[2].level, Severity::High);
        assert!(d.iter().all(|a| a.entities[0].value != "10.30.1.13"));
    }

    #[test]
    fn an_unclassed_host_speaking_dicom_is_a_device_and_stems_name_classes() {
        assert_eq!(super::name_stem("PUMP-ICU-07"), "PUMP-ICU");
        assert_eq!(super::name_stem("ct2.hospital.local"), "CT");
        assert_eq!(super::clinical_protocol(11112), Some("dicom"));
        let mut events = vec![session(0, "10.40.0.5", "10.10.0.30", 104, 5_000_000, 900)];
        events.push(session(
            2 * 86_400,
            "10.40.0.5",
            "10.10.0.77",
            3389,
            900,
            900,
        ));
        let alerts = run(&events, Topology::default());
        let d = of(&alerts, "analytic-network-medical-device-deviation");
        assert_eq!(d.len(), 1, "{alerts:#?}");
        assert_eq!(d[0].facts["device.protocols"], "dicom");
        assert_eq!(d[0].facts["device.class"], "10.40.0.0/24");
    }
}
