//! Segmentation: traffic the zone policy (`zones.csv`) forbids — a guest tablet reaching an
//! internal server, a medical device talking to the internet — naming both ends, the port, and
//! what the policy allows between those zones instead.
//!
//! Why: segmentation is a hospital's main defence for what it cannot patch (infusion pumps,
//! imaging modalities) and what it does not own (patients' and visitors' devices). A firewall
//! rule that is too wide, a device plugged into the wrong port, or malware calling home all
//! show as a conversation between two zones the policy keeps apart. Only conversations count
//! (something answered): an attempt the firewall dropped is the policy working.
//!
//! Without `zones.csv`, or for an address with no zone in the inventory, nothing is judged.
//! Each source, destination (or, for the internet, the destination zone) and port is reported
//! once.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wardwatch_core::Severity;

use super::lateral::policy_words;
use super::topology::{INTERNET, NetClass, Topology, Verdict};
use super::{Attempt, Hit, NetFacts, at_level, found, meta};
use crate::RuleMeta;

const MAX_REPORTED: usize = 200_000;

pub(super) fn rules() -> Vec<Arc<RuleMeta>> {
    vec![forbidden()]
}

fn forbidden() -> Arc<RuleMeta> {
    meta(
        "analytic-network-segmentation-violation",
        "Segmentation: Traffic Between Zones The Policy Keeps Apart",
        Severity::Medium,
        &[
            "attack.lateral_movement",
            "attack.command_and_control",
            "attack.t1599",
        ],
        "Two hosts in zones the segmentation policy (zones.csv) keeps apart talked on a port no row of the policy allows: a firewall rule wider than intended, a device on the wrong network, or an attacker or malware crossing the boundary.",
        "Check whether the traffic is needed. If it is, add the flow to zones.csv and the firewall on purpose; if not, block it at the firewall and check the source device (for a medical device, with its vendor).",
    )
}

#[derive(Default, Serialize, Deserialize)]
pub(super) struct Segmentation {
    reported: HashSet<String>,
}

impl Segmentation {
    pub(super) fn observe(&mut self, f: &NetFacts, _t: i64, topo: &Topology, out: &mut Vec<Hit>) {
        if !topo.has_policy() || f.attempt != Some(Attempt::Session) {
            return;
        }
        let (Some(src), Some(dst), Some(port)) = (f.src.as_deref(), f.dst.as_deref(), f.port)
        else {
            return;
        };
        let transport = f.transport.as_deref();
        if topo.verdict(src, dst, port, transport) != Verdict::Forbidden {
            return;
        }
        let (from, to) = (
            topo.zone(src).unwrap_or_default(),
            topo.zone(dst).unwrap_or_default(),
        );
        let target = if to == INTERNET { to.as_str() } else { dst };
        let key = format!("{src}|{target}|{port}");
        if self.reported.contains(&key) {
            return;
        }
        if self.reported.len() >= MAX_REPORTED {
            self.reported.clear();
        }
        self.reported.insert(key);
        let src_class = topo.class(src);
        let level = match src_class {
            c if c.fans_out_by_design() => Severity::Informational,
            NetClass::GuestWifi if to != INTERNET => Severity::High,
            NetClass::MedicalDevice => Severity::High,
            _ => Severity::Medium,
        };
        let t = transport.map(|t| format!("/{t}")).unwrap_or_default();
        let facts = vec![
            ("segmentation.from".into(), format!("{src} (zone {from})")),
            ("segmentation.to".into(), format!("{dst} (zone {to})")),
            ("segmentation.port".into(), format!("{port}{t}")),
            (
                "segmentation.policy".into(),
                policy_words(topo, src, dst, port, transport),
            ),
            ("source.class".into(), src_class.as_str().into()),
        ];
        out.push(found(
            &at_level(&forbidden(), level),
            src,
            &[dst],
            &[],
            facts,
        ));
    }
}
