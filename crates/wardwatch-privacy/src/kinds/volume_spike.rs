//! Volume spike: a day on which a user opens far more patients' records than they usually do.
//!
//! Why: a user harvesting records, or an account used by someone else, shows as volume before
//! anything else; the baseline is the user's own, so a busy ward's nurse and a part-time
//! secretary are each compared with themselves.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use wardwatch_core::Severity;
use wardwatch_detect::{Detection, RuleMeta};

use crate::{Access, finding, meta};

/// Days of the user's own history needed before a spike is judged.
pub const MIN_HISTORY_DAYS: usize = 5;
/// Days of history kept.
const HISTORY_DAYS: usize = 28;
/// A spike: at least this many distinct patients in a day...
pub const MIN_PATIENTS: usize = 30;
/// ...and this many times the user's usual day (the mean of the active days kept).
pub const FACTOR: f64 = 4.0;
const MAX_USERS: usize = 50_000;
const MAX_PER_DAY: usize = 5_000;

pub fn rule() -> Arc<RuleMeta> {
    meta(
        "volume-spike",
        "Privacy: User Opened Far More Records Than Usual",
        Severity::Medium,
        "On one day the user opened the records of many more patients than on their usual days (compared with their own history). Harvesting records, or an account used by someone else, shows as volume first.",
        "Ask the user's manager whether the day explains it (a new ward, a project, covering for colleagues); if not, review which records were opened and whether the account was the user's at all.",
    )
}

#[derive(Default, Serialize, Deserialize)]
struct User {
    day: i64,
    today: HashSet<String>,
    history: VecDeque<usize>,
    alerted_day: i64,
}

#[derive(Default, Serialize, Deserialize)]
pub struct State {
    users: HashMap<String, User>,
}

impl State {
    pub fn observe(&mut self, a: &Access) -> Option<Detection> {
        if a.action != "read" {
            return None;
        }
        let day = a.at.as_second().div_euclid(86_400);
        if self.users.len() >= MAX_USERS && !self.users.contains_key(&a.user) {
            self.users.retain(|_, u| day - u.day <= HISTORY_DAYS as i64);
        }
        let u = self.users.entry(a.user.clone()).or_insert_with(|| User {
            day,
            alerted_day: i64::MIN,
            ..User::default()
        });
        if day != u.day {
            if !u.today.is_empty() {
                u.history.push_back(u.today.len());
                if u.history.len() > HISTORY_DAYS {
                    u.history.pop_front();
                }
            }
            u.today.clear();
            u.day = day;
        }
        if u.today.len() < MAX_PER_DAY {
            u.today.insert(a.patient.clone());
        }
        if u.history.len() < MIN_HISTORY_DAYS || u.alerted_day == day {
            return None;
        }
        let usual = u.history.iter().sum::<usize>() as f64 / u.history.len() as f64;
        let n = u.today.len();
        if n < MIN_PATIENTS || (n as f64) < FACTOR * usual {
            return None;
        }
        u.alerted_day = day;
        Some(finding(
            rule(),
            format!("{n} patients opened today against a usual {usual:.0} a day"),
            n as u64,
            86_400,
            Vec::new(),
        ))
    }
}
