//! Who contacts a destination: the distinct internal hosts seen reaching an address or asking
//! for a domain within a day, counted up to a small cap.
//!
//! Why: the regular connections of an update service, an antivirus cloud lookup or a time
//! server look exactly like a beacon, and a reputation service's hashed DNS names look like a
//! tunnel — but every host in the hospital does them alike. Malware calling home is one host
//! (or a few). Beaconing and DNS tunnelling ask "how many of our hosts talk to this?" and stay
//! quiet for destinations many hosts share.
//!
//! Bounded: at most [`CAP`] sources per destination are remembered (past it, the destination is
//! popular), entries unseen for a day are forgotten, and at most [`MAX_KEYS`] destinations are
//! kept (the least recently seen are dropped first).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::analytics::window::make_room;

/// Sources remembered per destination.
pub(super) const CAP: usize = 16;
/// Destinations remembered.
const MAX_KEYS: usize = 200_000;
/// How long a source counts as contacting a destination.
const DAY: i64 = 24 * 3600;

#[derive(Default, Serialize, Deserialize)]
pub(super) struct Audience {
    /// Destination → (source, last seen) for up to [`CAP`] sources.
    seen: HashMap<String, Vec<(String, i64)>>,
}

impl Audience {
    /// `src` contacted `dst` at `t`.
    pub(super) fn push(&mut self, dst: &str, src: &str, t: i64) {
        if !self.seen.contains_key(dst) && self.seen.len() >= MAX_KEYS {
            make_room(&mut self.seen, MAX_KEYS, t, DAY, |v| {
                v.iter().map(|(_, last)| *last).max().unwrap_or(i64::MIN)
            });
        }
        let v = self.seen.entry(dst.to_string()).or_default();
        if let Some(slot) = v.iter_mut().find(|(s, _)| s == src) {
            slot.1 = t;
            return;
        }
        v.retain(|(_, last)| t - last <= DAY);
        if v.len() < CAP {
            v.push((src.to_string(), t));
        } else if let Some(oldest) = v.iter_mut().min_by_key(|(_, l)| *l) {
            *oldest = (src.to_string(), t);
        }
    }

    /// How many distinct sources contacted `dst` within the day before `t` (at most [`CAP`]).
    pub(super) fn sources(&self, dst: &str, t: i64) -> usize {
        self.seen
            .get(dst)
            .map_or(0, |v| v.iter().filter(|(_, l)| t - l <= DAY).count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_sources_within_a_day_up_to_the_cap() {
        let mut a = Audience::default();
        for i in 0..40 {
            a.push("203.0.113.5", &format!("10.0.0.{i}"), i);
            a.push("203.0.113.5", "10.0.0.1", i);
        }
        assert_eq!(a.sources("203.0.113.5", 40), CAP);
        a.push("198.51.100.9", "10.0.0.7", 0);
        assert_eq!(a.sources("198.51.100.9", 10), 1);
        assert_eq!(
            a.sources("198.51.100.9", DAY + 1),
            0,
            "a day later forgotten"
        );
        assert_eq!(a.sources("192.0.2.1", 0), 0);
    }
}
