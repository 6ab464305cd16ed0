//! What each account's successful uses so far looked like: the hosts and devices it was used
//! on and from, the classes of those machines, the countries, and the last place it was seen.
//!
//! # Why
//! "A new host", "a new country" and "impossible travel" compare a use with the account's own
//! past; the past must be learned before it can be compared, so an account is judged only
//! after a learning window — [`LEARN_SECS`] since the analytics first saw any event, and
//! [`LEARN_SECS`] since this account's first use (a new employee's first week is all new).
//!
//! Bounded: at most [`MAX_USERS`] accounts (the longest unseen go first) and at most
//! [`MAX_PER_LIST`] hosts, devices, classes and countries per account (the least recently
//! used go first, so a list holds the account's current habits).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// How long an account's habits are learned before they are judged.
pub(crate) const LEARN_SECS: i64 = 7 * 24 * 3600;
/// Accounts kept.
pub(crate) const MAX_USERS: usize = 20_000;
/// Entries kept per list of an account.
pub(crate) const MAX_PER_LIST: usize = 48;

/// Where an account was last seen, as a place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Located {
    pub t: i64,
    pub lat: f64,
    pub lon: f64,
    pub country: Option<String>,
    /// The address (or `reported by <provider>` when the identity provider placed it).
    pub from: String,
    /// How far off the place may be, in kilometres.
    pub accuracy_km: u16,
}

/// One account's habits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Profile {
    pub first: i64,
    pub last: i64,
    pub hosts: Vec<String>,
    pub devices: Vec<String>,
    /// Classes of the machines it was used on or from (`workstation`, `server`).
    pub classes: Vec<String>,
    pub countries: Vec<String>,
    pub last_place: Option<Located>,
}

/// Whether `list` holds `v`; moves it to the end (most recent) when it does.
pub(crate) fn seen(list: &mut Vec<String>, v: &str) -> bool {
    match list.iter().position(|x| x == v) {
        Some(i) => {
            let x = list.remove(i);
            list.push(x);
            true
        }
        None => false,
    }
}

/// Add `v` as the most recent entry of `list` (the oldest goes when it is full).
pub(crate) fn remember(list: &mut Vec<String>, v: &str) {
    if seen(list, v) {
        return;
    }
    if list.len() >= MAX_PER_LIST {
        list.remove(0);
    }
    list.push(v.to_string());
}

/// Every account's profile, and the organization's countries.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Profiles {
    /// When the analytics saw their first use (event time).
    started: Option<i64>,
    users: HashMap<String, Profile>,
    /// How many accounts have been seen in each country.
    country_users: HashMap<String, u32>,
    /// How many accounts have any country.
    located_users: u32,
}

impl Profiles {
    /// The profile of `user` as it stands before the use at `t`, and whether that use is still
    /// learning (not judged).
    pub(crate) fn get(&mut self, user: &str, t: i64) -> (&mut Profile, bool) {
        let started = *self.started.get_or_insert(t);
        if !self.users.contains_key(user) && self.users.len() >= MAX_USERS {
            let mut lasts: Vec<(i64, String)> = self
                .users
                .iter()
                .map(|(k, p)| (p.last, k.clone()))
                .collect();
            let cut = MAX_USERS / 10;
            lasts.select_nth_unstable(cut);
            for (_, k) in &lasts[..=cut] {
                self.users.remove(k);
            }
        }
        let p = self
            .users
            .entry(user.to_string())
            .or_insert_with(|| Profile {
                first: t,
                last: t,
                ..Profile::default()
            });
        p.last = p.last.max(t);
        let learning = t - started < LEARN_SECS || t - p.first < LEARN_SECS;
        (p, learning)
    }

    /// Count `country` for `user` (called when the user is seen there the first time).
    pub(crate) fn count_country(&mut self, country: &str, first_for_user: bool) {
        if first_for_user {
            self.located_users = self.located_users.saturating_add(1);
        }
        if self.country_users.len() < 300 || self.country_users.contains_key(country) {
            *self.country_users.entry(country.to_string()).or_default() += 1;
        }
    }

    /// Whether many of the organization's accounts are seen in `country` (at least 3, and at
    /// least one in twenty of the accounts seen anywhere): staff at home there, or a
    /// neighbouring country many commute from.
    pub(crate) fn common_country(&self, country: &str) -> bool {
        let n = self.country_users.get(country).copied().unwrap_or(0);
        n >= 3 && n * 20 >= self.located_users
    }
}

/// When each account last raised each kind of alert, so a habit is said once a while, not on
/// every use (bounded like the profiles).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Quiet {
    last: HashMap<String, i64>,
}

impl Quiet {
    /// Whether `key` may raise `kind` at `t`: not when it did within `quiet` seconds before.
    /// Says yes once and remembers.
    pub(crate) fn may(&mut self, key: &str, kind: &str, t: i64, quiet: i64) -> bool {
        let k = format!("{kind}\u{1f}{key}");
        if let Some(at) = self.last.get(&k)
            && t - at <= quiet
            && *at <= t
        {
            return false;
        }
        if self.last.len() >= MAX_USERS * 2 {
            self.last.retain(|_, at| t - *at <= quiet);
            if self.last.len() >= MAX_USERS * 2 {
                self.last.clear();
            }
        }
        self.last.insert(k, t);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_lists_and_bounds() {
        let mut p = Profiles::default();
        assert!(p.get("alice", 0).1, "the first week is learning");
        assert!(p.get("alice", LEARN_SECS - 1).1);
        assert!(!p.get("alice", LEARN_SECS).1);
        assert!(
            p.get("bob", LEARN_SECS + 5).1,
            "a new account learns its own week"
        );
        let mut list = Vec::new();
        for i in 0..MAX_PER_LIST + 3 {
            remember(&mut list, &format!("h{i}"));
        }
        assert_eq!(list.len(), MAX_PER_LIST);
        assert!(!list.contains(&"h0".to_string()));
        assert!(seen(&mut list, "h5"));
        assert_eq!(list.last().map(String::as_str), Some("h5"));
        for i in 0..MAX_USERS + 1 {
            p.get(&format!("u{i}"), 10 + i as i64);
        }
        assert!(p.users.len() <= MAX_USERS);
        p.count_country("NL", true);
        assert!(!p.common_country("NL"), "one account is not many");
    }
}
