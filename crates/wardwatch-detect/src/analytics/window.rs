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

use std::collections::{HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

/// Observations kept per key.
pub(crate) const MAX_PER_KEY: usize = 1024;
/// Keys kept at once.
pub(crate) const MAX_KEYS: usize = 50_000;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(from = "SavedSlot")]
struct Slot {
    seen: VecDeque<(i64, String)>,
    /// When this key last raised an alert, per alert kind.
    alerted: HashMap<String, i64>,
    /// How many of `seen` hold each value, so "how many distinct over everything kept" is a
    /// length rather than a set built from up to [`MAX_PER_KEY`] strings (that was 8% of
    /// `hunt`'s time and 4% of `serve`'s on network records). Not saved: rebuilt from `seen`.
    #[serde(skip)]
    values: HashMap<String, u32>,
    /// Neighbours in `seen` out of time order (a sender's late record): while there are none,
    /// the front is the oldest and the back the newest. Not saved: rebuilt from `seen`.
    #[serde(skip)]
    disorder: usize,
}

/// A slot as saved (states saved before `values` existed read the same).
#[derive(Deserialize)]
struct SavedSlot {
    seen: VecDeque<(i64, String)>,
    alerted: HashMap<String, i64>,
}

impl From<SavedSlot> for Slot {
    fn from(saved: SavedSlot) -> Slot {
        let mut slot = Slot {
            alerted: saved.alerted,
            ..Slot::default()
        };
        for (t, v) in saved.seen {
            slot.push_back(t, v);
        }
        slot
    }
}

impl Slot {
    fn push_back(&mut self, t: i64, value: String) {
        if self.seen.back().is_some_and(|(last, _)| *last > t) {
            self.disorder += 1;
        }
        match self.values.get_mut(&value) {
            Some(n) => *n += 1,
            None => {
                self.values.insert(value.clone(), 1);
            }
        }
        self.seen.push_back((t, value));
    }

    fn pop_front(&mut self) {
        let Some((t, value)) = self.seen.pop_front() else {
            return;
        };
        if self.seen.front().is_some_and(|(next, _)| *next < t) {
            self.disorder -= 1;
        }
        if let Some(n) = self.values.get_mut(&value) {
            *n -= 1;
            if *n == 0 {
                self.values.remove(&value);
            }
        }
    }

    /// Distinct values among the observations within `window` up to `t`, when that is every
    /// observation kept (in order, none newer than `t`, the oldest within the window).
    fn distinct_if_all_recent(&self, t: i64, window: i64) -> Option<usize> {
        let all = self.disorder == 0
            && self.seen.back().is_none_or(|(last, _)| *last <= t)
            && self
                .seen
                .front()
                .is_none_or(|(first, _)| t - first <= window);
        all.then_some(self.values.len())
    }
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
            make_room(&mut self.keys, MAX_KEYS, t, self.keep_secs, |s| {
                s.seen.back().map_or(i64::MIN, |(last, _)| *last)
            });
        }
        let keep = self.keep_secs;
        let slot = self.keys.entry(key.to_string()).or_default();
        while slot.seen.front().is_some_and(|(s, _)| t - s > keep) {
            slot.pop_front();
        }
        if slot.seen.len() >= MAX_PER_KEY {
            slot.pop_front();
        }
        slot.push_back(t, value.to_string());
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
        let Some(slot) = self.keys.get(key) else {
            return 0;
        };
        slot.distinct_if_all_recent(t, window)
            .unwrap_or_else(|| self.recent(key, t, window).collect::<HashSet<_>>().len())
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

/// Make room in a map of per-key state that has reached `cap` keys, before a new key joins: forget
/// the keys quiet for longer than `keep` seconds before `now`, and if it is still full of live
/// keys, the quietest tenth at once, so a flood of new keys costs one partial sort per thousands
/// of them, not a scan each. `last` tells when a key was last seen (`i64::MIN`: never).
pub(crate) fn make_room<V>(
    map: &mut HashMap<String, V>,
    cap: usize,
    now: i64,
    keep: i64,
    last: impl Fn(&V) -> i64,
) {
    let since = now.saturating_sub(keep);
    map.retain(|_, v| last(v) >= since);
    if map.len() >= cap && !map.is_empty() {
        let mut lasts: Vec<(i64, String)> = map.iter().map(|(k, v)| (last(v), k.clone())).collect();
        let cut = (cap / 10).min(lasts.len() - 1);
        lasts.select_nth_unstable(cut);
        for (_, k) in &lasts[..=cut] {
            map.remove(k);
        }
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
    fn distinct_counts_stay_exact_out_of_order_past_the_cap_and_after_a_restore() {
        // Times mostly rising with late records among them, few values, past MAX_PER_KEY.
        let mut w = WindowCounter::new(500);
        let mut t = 0;
        for i in 0..3000i64 {
            t += i % 3;
            let at = if i % 17 == 0 { t - 40 } else { t };
            w.push("k", at, &format!("v{}", (i * 7) % 23 + (i / 600)));
            if i % 5 == 0 {
                let restored: WindowCounter =
                    serde_json::from_value(serde_json::to_value(&w).unwrap()).unwrap();
                for (q, window) in [(t, 500), (t, 60), (t - 30, 500), (t + 400, 500)] {
                    let brute: HashSet<&str> = w.recent("k", q, window).collect();
                    assert_eq!(w.distinct("k", q, window), brute.len(), "{i} {q} {window}");
                    assert_eq!(restored.distinct("k", q, window), brute.len());
                }
            }
        }
        assert_eq!(w.distinct("nobody", t, 500), 0);
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

    #[test]
    fn making_room_forgets_the_stale_then_the_quietest_tenth() {
        let mut map: HashMap<String, i64> = (0..100).map(|i| (format!("k{i}"), i)).collect();
        // Keys last seen before 50 are stale at 100 with 50 s kept: only they go.
        make_room(&mut map, 100, 100, 50, |v| *v);
        assert_eq!(map.len(), 50);
        assert!(map.values().all(|v| *v >= 50));
        // All live and still at the cap: the quietest tenth (and the cut key) go at once.
        make_room(&mut map, 50, 100, 1_000, |v| *v);
        assert_eq!(map.len(), 44);
        assert!(map.values().all(|v| *v >= 56), "{map:?}");
        // Never-seen keys count as quietest; an empty map with no room is left alone.
        map.insert("never".into(), i64::MIN);
        make_room(&mut map, 45, 100, i64::MAX, |v| *v);
        assert!(!map.contains_key("never"));
        make_room(&mut HashMap::<String, i64>::new(), 0, 0, 0, |v| *v);
    }
}
