//! Recent observations per key within a time window: how many, and how many distinct values.
//!
//! # What it does
//! [`WindowCounter`] keeps, for each key (a source address, an account), the time and value of
//! its recent observations, forgets those older than the window it is asked about, and answers
//! "how many in the last N seconds, over how many distinct values" — failures per source, and
//! accounts or hosts per source, are the usual questions. It also remembers when a key last
//! raised an alert, so an analytic says a burst once instead of on every later event.
//!
//! # Why it matters
//! Brute force, password spraying and fan-out ("blind attempts": where and how many) are all
//! "too many, or too many different, from one place in a short time". One bounded counter keeps
//! the analytics that ask it small and alike.
//!
//! Bounded: at most [`MAX_PER_KEY`] observations per key (the oldest go first; a count past it
//! is at least that many) and at most [`MAX_KEYS`] keys (keys with nothing recent are dropped
//! first).
//!
//! # Example
//! Ten failures from 203.0.113.9 for `root` within a minute: `push("203.0.113.9", t, "root")`
//! ten times, then `count(key, t, 300)` is 10 and `distinct(key, t, 300)` is 1.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// Observations kept per key.
pub(crate) const MAX_PER_KEY: usize = 1024;
/// Keys kept at once.
pub(crate) const MAX_KEYS: usize = 50_000;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Slot {
    seen: VecDeque<(i64, String)>,
    /// When this key last raised an alert, per alert kind.
    alerted: HashMap<String, i64>,
}

/// See the module documentation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WindowCounter {
    /// The longest window any question asks about: older observations are forgotten.
    keep_secs: i64,
    keys: HashMap<String, Slot>,
}

impl WindowCounter {
    pub(crate) fn new(keep_secs: i64) -> Self {
        WindowCounter {
            keep_secs,
            keys: HashMap::new(),
        }
    }

    /// Record `value` seen for `key` at `t` (seconds; observations come in time order).
    pub(crate) fn push(&mut self, key: &str, t: i64, value: &str) {
        if !self.keys.contains_key(key) && self.keys.len() >= MAX_KEYS {
            let keep = self.keep_secs;
            self.keys
                .retain(|_, s| s.seen.back().is_some_and(|(last, _)| t - last <= keep));
            if self.keys.len() >= MAX_KEYS {
                // Still full of live keys: forget the quietest tenth at once, so a flood of
                // new keys costs one sort per thousands of them, not a scan each.
                let mut lasts: Vec<(i64, String)> = self
                    .keys
                    .iter()
                    .map(|(k, s)| (s.seen.back().map_or(i64::MIN, |(l, _)| *l), k.clone()))
                    .collect();
                let cut = MAX_KEYS / 10;
                lasts.select_nth_unstable(cut);
                for (_, k) in &lasts[..=cut] {
                    self.keys.remove(k);
                }
            }
        }
        let keep = self.keep_secs;
        let slot = self.keys.entry(key.to_string()).or_default();
        while slot.seen.front().is_some_and(|(s, _)| t - s > keep) {
            slot.seen.pop_front();
        }
        if slot.seen.len() >= MAX_PER_KEY {
            slot.seen.pop_front();
        }
        slot.seen.push_back((t, value.to_string()));
    }

    fn recent<'a>(&'a self, key: &str, t: i64, window: i64) -> impl Iterator<Item = &'a str> {
        self.keys
            .get(key)
            .into_iter()
            .flat_map(|s| s.seen.iter())
            .filter(move |(s, _)| t - s <= window && *s <= t)
            .map(|(_, v)| v.as_str())
    }

    /// Observations of `key` in the `window` seconds up to `t`.
    pub(crate) fn count(&self, key: &str, t: i64, window: i64) -> usize {
        self.recent(key, t, window).count()
    }

    /// Distinct values among them.
    pub(crate) fn distinct(&self, key: &str, t: i64, window: i64) -> usize {
        self.recent(key, t, window).collect::<BTreeSet<_>>().len()
    }

    /// Whether `key` may raise alert `kind` at `t`: not when it raised it within `quiet` seconds
    /// before. Says yes once and remembers.
    pub(crate) fn should_alert(&mut self, key: &str, kind: &str, t: i64, quiet: i64) -> bool {
        let Some(slot) = self.keys.get_mut(key) else {
            return false;
        };
        match slot.alerted.get(kind) {
            Some(last) if t - last <= quiet => false,
            _ => {
                slot.alerted.insert(kind.to_string(), t);
                true
            }
        }
    }

    /// The distinct values of `key` in the window, most recent first, at most `max`.
    pub(crate) fn distinct_values(
        &self,
        key: &str,
        t: i64,
        window: i64,
        max: usize,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let recent: Vec<&str> = self.recent(key, t, window).collect();
        for v in recent.into_iter().rev() {
            if out.len() >= max {
                break;
            }
            if !out.iter().any(|o| o == v) {
                out.push(v.to_string());
            }
        }
        out
    }

    /// Forget everything about `key`.
    pub(crate) fn forget(&mut self, key: &str) {
        self.keys.remove(key);
    }

    /// When `key` last raised alert `kind`.
    pub(crate) fn alerted_at(&self, key: &str, kind: &str) -> Option<i64> {
        self.keys.get(key)?.alerted.get(kind).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_forget_the_old_and_distinct_values_count_once() {
        let mut w = WindowCounter::new(600);
        for i in 0..10 {
            w.push("a", i, if i % 2 == 0 { "root" } else { "admin" });
        }
        assert_eq!(w.count("a", 9, 300), 10);
        assert_eq!(w.distinct("a", 9, 300), 2);
        assert_eq!(w.distinct_values("a", 9, 300, 5), vec!["admin", "root"]);
        assert_eq!(w.distinct_values("a", 9, 300, 1), vec!["admin"]);
        assert_eq!(w.count("a", 400, 300), 0, "all older than the window");
        w.push("a", 1000, "x");
        assert_eq!(
            w.count("a", 1000, 10_000),
            1,
            "older than keep_secs forgotten"
        );
        assert_eq!(w.count("b", 1000, 300), 0);
    }

    #[test]
    fn alerts_once_per_quiet_period() {
        let mut w = WindowCounter::new(600);
        assert!(!w.should_alert("a", "k", 0, 60), "unknown key");
        w.push("a", 0, "x");
        assert!(w.should_alert("a", "k", 0, 60));
        assert!(!w.should_alert("a", "k", 30, 60));
        assert!(w.should_alert("a", "other", 30, 60));
        assert!(w.should_alert("a", "k", 100, 60));
        assert_eq!(w.alerted_at("a", "k"), Some(100));
    }

    #[test]
    fn bounded_per_key_and_in_keys() {
        let mut w = WindowCounter::new(1_000_000);
        for i in 0..(MAX_PER_KEY as i64 + 10) {
            w.push("a", i, "v");
        }
        assert_eq!(w.count("a", 2000, 1_000_000), MAX_PER_KEY);
        for i in 0..(MAX_KEYS + 5) {
            w.push(&format!("k{i}"), 5000, "v");
        }
        assert!(w.keys.len() <= MAX_KEYS);
    }
}
