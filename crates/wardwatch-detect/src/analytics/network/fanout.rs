//! A windowed count of distinct things per key: how many different hosts one source failed to
//! reach in the last ten minutes, how many accounts failed from one address in half an hour.
//!
//! Why its own type: every "how many different X from one Y" analytic (scans, brute force,
//! spraying) needs the same bounded sliding window, and a copy per analytic would drift. State is
//! bounded twice: each key remembers at most `max_items` things (past that the count says "at
//! least"), and keys quiet for longer than the window are dropped when the table grows past
//! `max_keys`.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

/// One key's window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Window {
    /// Thing → (last seen, times seen) within the window.
    items: HashMap<String, (i64, u64)>,
    /// Events counted in this episode (since the key was last quiet for a whole window).
    pub events: u64,
    /// When this episode started.
    pub first: i64,
    /// The last event's time.
    pub last: i64,
    /// Whether `items` was full at some point (the distinct count is then a lower bound).
    pub saturated: bool,
}

impl Window {
    /// Distinct things seen within the window.
    pub fn distinct(&self) -> usize {
        self.items.len()
    }

    /// The things seen, most frequent first (ties by name), at most `n`.
    pub fn top(&self, n: usize) -> Vec<(&str, u64)> {
        let mut all: Vec<(&str, u64)> = self.items.iter().map(|(k, v)| (k.as_str(), v.1)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        all.truncate(n);
        all
    }

    /// Every thing seen.
    pub fn items(&self) -> impl Iterator<Item = &str> {
        self.items.keys().map(String::as_str)
    }
}

/// Distinct things per key within a sliding window of event time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Eq + Hash",
    deserialize = "K: Deserialize<'de> + Eq + Hash"
))]
pub struct FanOut<K> {
    window: i64,
    max_items: usize,
    max_keys: usize,
    #[serde(with = "as_pairs")]
    keys: HashMap<K, Window>,
}

/// A map saved as a list of pairs: JSON object keys must be text, and these keys are tuples.
pub(crate) mod as_pairs {
    use std::collections::HashMap;
    use std::hash::Hash;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, K: Serialize, V: Serialize>(
        map: &HashMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, D, K, V>(d: D) -> Result<HashMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

impl<K: Eq + Hash + Clone> FanOut<K> {
    /// A window of `window` seconds, at most `max_items` things per key and about `max_keys`
    /// keys.
    pub fn new(window: i64, max_items: usize, max_keys: usize) -> Self {
        FanOut {
            window,
            max_items,
            max_keys,
            keys: HashMap::new(),
        }
    }

    /// Count `item` for `key` at time `t` (seconds); the key's window after it.
    pub fn add(&mut self, key: &K, item: &str, t: i64) -> &Window {
        if !self.keys.contains_key(key) && self.keys.len() >= self.max_keys {
            self.expire(t);
        }
        let window = self.window;
        let w = self.keys.entry(key.clone()).or_default();
        if w.events > 0 && t - w.last > window {
            *w = Window::default();
        }
        if w.events == 0 {
            w.first = t;
        }
        w.events += 1;
        w.last = w.last.max(t);
        if let Some(seen) = w.items.get_mut(item) {
            seen.0 = seen.0.max(t);
            seen.1 += 1;
        } else {
            if w.items.len() >= self.max_items {
                w.items.retain(|_, (last, _)| t - *last <= window);
            }
            if w.items.len() < self.max_items {
                w.items.insert(item.to_string(), (t, 1));
            } else {
                w.saturated = true;
            }
        }
        // Things older than the window leave it (checked when the count matters: cheaply, as
        // the table is small).
        if w.items.len() > 8 && w.items.len().is_power_of_two() {
            w.items.retain(|_, (last, _)| t - *last <= window);
        }
        w
    }

    /// The key's window, if it has one.
    pub fn get(&self, key: &K) -> Option<&Window> {
        self.keys.get(key)
    }

    /// Drop keys quiet for longer than the window (and, if still over the bound, the quietest).
    pub fn expire(&mut self, now: i64) {
        let window = self.window;
        self.keys.retain(|_, w| now - w.last <= window);
        if self.keys.len() >= self.max_keys {
            let mut lasts: Vec<i64> = self.keys.values().map(|w| w.last).collect();
            lasts.sort_unstable();
            let cut = lasts[lasts.len() / 2];
            self.keys.retain(|_, w| w.last > cut);
        }
    }

    /// Keys held (for tests and memory checks).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_things_in_the_window_and_restarts_after_quiet() {
        let mut f: FanOut<String> = FanOut::new(600, 100, 10);
        let k = "10.0.0.5".to_string();
        for (i, host) in ["a", "b", "a", "c"].iter().enumerate() {
            f.add(&k, host, i as i64 * 10);
        }
        let w = f.get(&k).unwrap();
        assert_eq!((w.distinct(), w.events), (3, 4));
        assert_eq!(w.top(1), vec![("a", 2)]);
        // Quiet for longer than the window: a new episode.
        let w = f.add(&k, "d", 10_000);
        assert_eq!((w.distinct(), w.events, w.first), (1, 1, 10_000));
    }

    #[test]
    fn things_older_than_the_window_leave_it_and_memory_is_bounded() {
        let mut f: FanOut<u32> = FanOut::new(100, 16, 4);
        // One thing every 20 s: at most about 6 are within 100 s.
        for i in 0..200 {
            f.add(&1, &format!("h{i}"), i * 20);
        }
        let w = f.get(&1).unwrap();
        assert!(w.distinct() <= 16, "{}", w.distinct());
        for key in 2..50 {
            f.add(&key, "x", 4000 + i64::from(key));
        }
        assert!(f.len() <= 4, "{}", f.len());
        let mut full: FanOut<u32> = FanOut::new(10_000, 8, 4);
        for i in 0..20 {
            full.add(&1, &format!("h{i}"), i);
        }
        let w = full.get(&1).unwrap();
        assert_eq!(w.distinct(), 8);
        assert!(w.saturated);
    }
}
