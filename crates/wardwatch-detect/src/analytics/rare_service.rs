//! Rare service installs: a service whose name and program were never installed before in the
//! data seen, once enough installs have been seen to know the usual ones.
//!
//! Why: a service runs as SYSTEM and survives reboots, so attackers install one to execute
//! remotely (PsExec-likes, Impacket, Cobalt Strike) or to persist; the names are random or
//! borrowed, so no list keeps up, but a planned deployment installs the same service on many
//! hosts and is soon "seen". Low alone; with other signals it makes a burst.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use wardwatch_core::Severity;

use super::{Hit, field, hit, is_service_install, meta, program};

/// Service installs seen before a first-seen one is worth reporting.
const WARMUP: u64 = 30;
/// Services remembered.
const MAX_SERVICES: usize = 50_000;

pub(super) fn rule() -> std::sync::Arc<crate::RuleMeta> {
    meta(
        "analytic-rare-service-install",
        "Service Installed That Was Never Installed Before",
        Severity::Low,
        &[
            "attack.persistence",
            "attack.t1543.003",
            "attack.execution",
            "attack.t1569.002",
        ],
        "A service was installed (System 7045 or Security 4697) whose name and program had not been installed anywhere before in the data seen (after a warm-up of installs). Remote execution tools and persistence install such one-off services; planned deployments repeat across hosts.",
        "Check the program the service runs and who installed it. If it is not planned software, stop and delete the service, keep its binary for analysis, and look for the network logon that preceded the install.",
    )
}

#[derive(Default, Serialize, Deserialize)]
pub(super) struct RareService {
    seen: u64,
    services: HashMap<String, u32>,
}

impl RareService {
    pub(super) fn observe(&mut self, event: &wardwatch_core::Event, out: &mut Vec<Hit>) {
        if !is_service_install(event) {
            return;
        }
        let Some(name) = field(event, "ServiceName") else {
            return;
        };
        let path = field(event, "ImagePath")
            .or_else(|| field(event, "ServiceFileName"))
            .map(|p| program(p.split(" -").next().unwrap_or(p).trim_matches('"')))
            .unwrap_or_default();
        self.seen += 1;
        let key = format!("{}|{path}", name.to_ascii_lowercase());
        let full = self.services.len() >= MAX_SERVICES;
        match self.services.get_mut(&key) {
            Some(n) => *n = n.saturating_add(1),
            None if !full => {
                self.services.insert(key, 1);
                if self.seen > WARMUP {
                    out.push(hit(&rule(), event));
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::analytics::testkit::ev;

    #[test]
    fn one_off_services_after_warm_up_fire_repeated_ones_do_not() {
        let mut a = RareService::default();
        let mut out = Vec::new();
        for i in 0..WARMUP as i64 + 5 {
            a.observe(&ev(i, json!({"EventID": 7045, "Channel": "System", "ServiceName": format!("Agent{}", i % 3), "ImagePath": "C:\\Program Files\\Agent\\agent.exe"})), &mut out);
        }
        let warm = out.len();
        // Variant 1: a random-named service running cmd; variant 2: a 4697 with a new binary.
        a.observe(&ev(100, json!({"EventID": 7045, "Channel": "System", "ServiceName": "xKqzT", "ImagePath": "%COMSPEC% /Q /c echo x"})), &mut out);
        a.observe(&ev(101, json!({"EventID": 4697, "Channel": "Security", "ServiceName": "WinUpdHelper", "ServiceFileName": "C:\\ProgramData\\u.exe"})), &mut out);
        assert_eq!(out.len(), warm + 2);
        a.observe(&ev(102, json!({"EventID": 7045, "Channel": "System", "ServiceName": "Agent1", "ImagePath": "C:\\Program Files\\Agent\\agent.exe"})), &mut out);
        assert_eq!(out.len(), warm + 2, "a known service is quiet");
        assert_eq!(warm, 0, "the warm-up is quiet");
    }
}
