//! Break-the-glass followed by broad browsing: after emergency access, the user opens many
//! other patients' records within the hour.
//!
//! Why: once the glass is broken, some systems leave the restrictions lifted for the session;
//! an emergency justifies one record, not a tour of the hospital.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use wardwatch_core::Severity;
use wardwatch_detect::{Detection, RuleMeta};

use crate::{Access, finding, meta};

/// Other patients opened within [`WINDOW_SECS`] after breaking the glass that make it broad.
pub const MIN_PATIENTS: usize = 10;
pub const WINDOW_SECS: i64 = 3600;
/// Users followed at once (the oldest break is forgotten first).
const MAX_USERS: usize = 10_000;

pub fn rule() -> Arc<RuleMeta> {
    meta(
        "break-glass-broad-browsing",
        "Privacy: Many Records Opened After Break-The-Glass",
        Severity::High,
        "After using emergency (break-the-glass) access, the user opened the records of many other patients within the hour. An emergency justifies the record of the patient in front of them, not browsing.",
        "Review the list of records the user opened after breaking the glass with their manager; follow the hospital's procedure for unauthorised access for those without a care reason.",
    )
}

#[derive(Serialize, Deserialize)]
struct Open {
    since: i64,
    btg_patient: String,
    others: HashSet<String>,
    alerted: bool,
}

#[derive(Default, Serialize, Deserialize)]
pub struct State {
    open: HashMap<String, Open>,
}

impl State {
    pub fn observe(&mut self, a: &Access) -> Option<Detection> {
        let t = a.at.as_second();
        if a.break_the_glass {
            if self.open.len() >= MAX_USERS {
                self.open.retain(|_, o| t - o.since <= WINDOW_SECS);
            }
            self.open.insert(
                a.user.clone(),
                Open {
                    since: t,
                    btg_patient: a.patient.clone(),
                    others: HashSet::new(),
                    alerted: false,
                },
            );
            return None;
        }
        let o = self.open.get_mut(&a.user)?;
        if t - o.since > WINDOW_SECS {
            self.open.remove(&a.user);
            return None;
        }
        if a.patient != o.btg_patient && o.others.len() < 1000 {
            o.others.insert(a.patient.clone());
        }
        if o.alerted || o.others.len() < MIN_PATIENTS {
            return None;
        }
        o.alerted = true;
        let mut patients: Vec<String> = o.others.iter().take(10).cloned().collect();
        patients.sort();
        Some(finding(
            rule(),
            format!(
                "{} other patients opened within {} minutes of breaking the glass on {}",
                o.others.len(),
                (t - o.since) / 60 + 1,
                o.btg_patient
            ),
            o.others.len() as u64,
            WINDOW_SECS as u64,
            patients,
        ))
    }
}
