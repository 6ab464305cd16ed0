//! Rare parent → child process pairs: a program starting a program it has never been seen to
//! start, anywhere, once enough process starts have been seen to know what is usual.
//!
//! Why: attackers need their code to run, and whatever delivers it (a document, a browser, a
//! service, the print spooler, a web server) ends up starting something it normally never
//! starts. A list of bad pairs goes stale; "never seen before here" does not. The alert is low:
//! alone it is a hint (new software does it too); with other signals it makes a burst.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use wardwatch_core::Severity;

use super::{Hit, field, hit, is_process_start, meta, program};

/// Process starts seen before a first-seen pair is worth reporting.
const WARMUP: u64 = 1_000;
/// Pairs remembered (new pairs past this are neither remembered nor reported).
const MAX_PAIRS: usize = 200_000;

pub(super) fn rule() -> std::sync::Arc<crate::RuleMeta> {
    meta(
        "analytic-rare-process-pair",
        "Program Started A Program It Was Never Seen To Start",
        Severity::Low,
        &["attack.execution", "attack.t1204", "attack.defense_evasion"],
        "A parent program started a child program that no parent of that name had started before in the data seen (after a warm-up of process starts). Delivery of attacker code (documents, browsers, services, exploited servers) shows as such never-seen pairs.",
        "Look at the command line of the child and at what the parent was doing. New software explains many such pairs; a document, browser, mail client or server process starting a shell does not.",
    )
}

#[derive(Default, Serialize, Deserialize)]
pub(super) struct RarePair {
    seen: u64,
    pairs: HashMap<String, u32>,
}

impl RarePair {
    pub(super) fn observe(&mut self, event: &wardwatch_core::Event, out: &mut Vec<Hit>) {
        if !is_process_start(event) {
            return;
        }
        let (Some(parent), Some(child)) = (field(event, "ParentImage"), field(event, "Image"))
        else {
            return;
        };
        self.seen += 1;
        let key = format!("{}>{}", program(parent), program(child));
        let full = self.pairs.len() >= MAX_PAIRS;
        match self.pairs.get_mut(&key) {
            Some(n) => *n = n.saturating_add(1),
            None if !full => {
                self.pairs.insert(key, 1);
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

    fn start(t: i64, parent: &str, child: &str) -> wardwatch_core::Event {
        ev(
            t,
            json!({"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
            "ParentImage": parent, "Image": child}),
        )
    }

    #[test]
    fn a_new_pair_after_warm_up_fires_once_and_known_pairs_never() {
        let mut a = RarePair::default();
        let mut out = Vec::new();
        for i in 0..WARMUP as i64 + 10 {
            a.observe(
                &start(
                    i,
                    "C:\\Windows\\explorer.exe",
                    "C:\\Program Files\\App\\app.exe",
                ),
                &mut out,
            );
        }
        assert!(out.is_empty(), "warm-up and a known pair stay quiet");
        // Variant 1: Word starting PowerShell; variant 2: the spooler starting cmd (4688 form).
        a.observe(
            &start(
                5000,
                "C:\\Program Files\\Office\\WINWORD.EXE",
                "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            ),
            &mut out,
        );
        a.observe(&ev(5001, json!({"EventID": 4688, "Channel": "Security",
            "ParentImage": "C:\\Windows\\System32\\spoolsv.exe", "Image": "C:\\Windows\\System32\\cmd.exe"})), &mut out);
        assert_eq!(out.len(), 2);
        a.observe(
            &start(
                5002,
                "C:\\Program Files\\Office\\WINWORD.EXE",
                "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            ),
            &mut out,
        );
        assert_eq!(out.len(), 2, "the second time is not new");
    }
}
