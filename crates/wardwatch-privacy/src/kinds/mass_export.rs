//! Mass export or print: many records exported or printed by one user within the hour.
//!
//! Why: exporting or printing is how records leave the hospital; a ward prints a discharge
//! letter now and then, not dozens of records in an hour.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use wardwatch_core::Severity;
use wardwatch_detect::{Detection, RuleMeta};

use crate::{Access, finding, meta};

/// Exports or prints within [`WINDOW_SECS`] that make a mass export.
pub const MIN_RECORDS: usize = 25;
pub const WINDOW_SECS: i64 = 3600;
const MAX_USERS: usize = 10_000;

pub fn rule() -> Arc<RuleMeta> {
    meta(
        "mass-export",
        "Privacy: Many Patient Records Exported Or Printed",
        Severity::High,
        "One user exported or printed many patient records within an hour. Bulk export or printing is how records leave the hospital (a USB stick, a personal mailbox, a bag).",
        "Ask the user and their manager what the export was for; find where the files or prints went. If there is no business reason, treat it as a possible data breach (the privacy officer assesses whether it must be reported).",
    )
}

/// A user's recent exports (time, patient) and when they last raised the alert.
type Recent = (VecDeque<(i64, String)>, Option<i64>);

#[derive(Default, Serialize, Deserialize)]
pub struct State {
    users: HashMap<String, Recent>,
}

pub(crate) fn is_export(action: &str) -> bool {
    matches!(action, "export" | "print" | "download")
}

impl State {
    pub fn observe(&mut self, a: &Access) -> Option<Detection> {
        if !is_export(&a.action) {
            return None;
        }
        let t = a.at.as_second();
        if self.users.len() >= MAX_USERS && !self.users.contains_key(&a.user) {
            self.users
                .retain(|_, (q, _)| q.back().is_some_and(|(s, _)| t - s <= WINDOW_SECS));
        }
        let (recent, alerted) = self
            .users
            .entry(a.user.clone())
            .or_insert((VecDeque::new(), None));
        while recent.front().is_some_and(|(s, _)| t - s > WINDOW_SECS) {
            recent.pop_front();
        }
        if recent.len() < 4 * MIN_RECORDS {
            recent.push_back((t, a.patient.clone()));
        }
        if recent.len() < MIN_RECORDS || alerted.is_some_and(|at| t - at <= WINDOW_SECS) {
            return None;
        }
        *alerted = Some(t);
        let distinct: HashSet<&str> = recent.iter().map(|(_, p)| p.as_str()).collect();
        let mut patients: Vec<String> = distinct.iter().take(10).map(|p| p.to_string()).collect();
        patients.sort();
        Some(finding(
            rule(),
            format!(
                "{} exports or prints ({} patients) within the hour",
                recent.len(),
                distinct.len()
            ),
            recent.len() as u64,
            WINDOW_SECS as u64,
            patients,
        ))
    }
}
