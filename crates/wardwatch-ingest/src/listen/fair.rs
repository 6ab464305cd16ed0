//! Fair backpressure: a budget per source, so one flooding sender is throttled (and counted)
//! while the others keep flowing.
//!
//! # What it does
//! [`Budgets`] keeps a token bucket per [`SourceKey`] — the sender's address for syslog, the
//! ingest token for `_bulk` (shippers behind one proxy or NAT stay apart) — refilled at
//! `events_per_sec` and holding at most one second of it. [`Budgets::admit`] takes a batch's
//! events from its source's bucket ([`Budgets::take`] takes what it can, for UDP):
//! - a source within its budget is admitted;
//! - a source over it is refused: UDP drops the batch, TCP and TLS stop reading the connection
//!   for a moment, `_bulk` answers 429 — and the listener counts it in `throttled`;
//! - while the pipeline is behind (`behind = true`, more than `max_queued_events` wait for
//!   detection) only sources that used less than half their budget in the last second are
//!   admitted: the light senders keep flowing, the heavy ones wait.
//!
//! A batch larger than the bucket is admitted when the bucket is full, and leaves the source in
//! debt (down to minus one second of budget) so its average stays within the budget.
//!
//! Keys are bounded ([`MAX_KEYS`]): buckets idle for a while are forgotten, and beyond the bound
//! new sources share one bucket (a flood of spoofed UDP source addresses cannot grow memory).
//!
//! # Why it matters
//! Before this, backpressure was one global switch: a UDP flood from one printer pushed back on
//! every authenticated bulk shipper too, so a noisy (or hostile) device could blind the SOC to
//! its domain controllers' logs.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most sources tracked at once; beyond, new sources share one bucket.
pub const MAX_KEYS: usize = 65_536;

/// A bucket untouched this long is forgotten when the table is pruned.
const FORGET_AFTER: Duration = Duration::from_secs(30);

/// Whose budget a batch is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKey {
    /// A syslog sender's address.
    Addr(IpAddr),
    /// A bulk shipper's credentials (a hash of its `Authorization` header, never the token).
    Token(u64),
    /// Every new source once [`MAX_KEYS`] are tracked.
    Overflow,
}

impl SourceKey {
    /// The key of a shipper's credentials (its `Authorization` header as sent).
    pub fn token(token: &str) -> SourceKey {
        let mut h = DefaultHasher::new();
        token.hash(&mut h);
        SourceKey::Token(h.finish())
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Per-source budgets (see the module documentation).
#[derive(Debug)]
pub struct Budgets {
    /// Events per second per source; 0 means unlimited.
    rate: f64,
    buckets: Mutex<HashMap<SourceKey, Bucket>>,
}

impl Budgets {
    /// Budgets of `events_per_sec` per source (0: no budget, everything admitted).
    pub fn new(events_per_sec: u64) -> Budgets {
        Budgets {
            rate: events_per_sec as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// No budget at all.
    pub fn unlimited() -> Budgets {
        Budgets::new(0)
    }

    /// Take `n` events from `key`'s budget; `false` means the batch is refused (throttled) and
    /// nothing was taken. `behind` says whether the pipeline is behind (stricter admission).
    pub fn admit(&self, key: SourceKey, n: usize, behind: bool) -> bool {
        if self.rate <= 0.0 || n == 0 {
            return true;
        }
        self.with_bucket(key, |bucket, burst| {
            let need = (n as f64).min(burst);
            let floor = if behind { burst / 2.0 + need } else { need };
            if bucket.tokens < floor.min(burst) {
                return false;
            }
            bucket.tokens = (bucket.tokens - n as f64).max(-burst);
            true
        })
    }

    /// How many of `n` events `key` may send now (for UDP, where a batch can be cut): what its
    /// bucket holds, less half of it while the pipeline is behind. Those are taken.
    pub fn take(&self, key: SourceKey, n: usize, behind: bool) -> usize {
        if self.rate <= 0.0 || n == 0 {
            return n;
        }
        self.with_bucket(key, |bucket, burst| {
            let reserve = if behind { burst / 2.0 } else { 0.0 };
            let available = (bucket.tokens - reserve).floor().max(0.0) as usize;
            let granted = available.min(n);
            bucket.tokens -= granted as f64;
            granted
        })
    }

    /// Run `f` on `key`'s bucket, refilled to now.
    fn with_bucket<T>(&self, key: SourceKey, f: impl FnOnce(&mut Bucket, f64) -> T) -> T {
        let now = Instant::now();
        let burst = self.rate;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(&key) {
            buckets.retain(|_, b| now.duration_since(b.last) < FORGET_AFTER);
        }
        let key = if buckets.len() >= MAX_KEYS && !buckets.contains_key(&key) {
            SourceKey::Overflow
        } else {
            key
        };
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(burst);
        bucket.last = now;
        f(bucket, burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> SourceKey {
        SourceKey::Addr(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn a_flooding_source_is_throttled_and_the_others_are_not() {
        let b = Budgets::new(1000);
        // The flooder spends its second of budget and is refused after it.
        assert!(b.admit(addr(1), 600, false));
        assert!(b.admit(addr(1), 400, false));
        assert!(!b.admit(addr(1), 100, false));
        // Another source is untouched.
        assert!(b.admit(addr(2), 100, false));
        // While the pipeline is behind, a light source still flows, a heavy one does not.
        assert!(b.admit(addr(3), 10, true));
        assert!(b.admit(addr(4), 600, false));
        assert!(!b.admit(addr(4), 10, true));
        // A batch larger than the bucket goes through once, then the source is in debt.
        assert!(b.admit(addr(5), 5000, false));
        assert!(!b.admit(addr(5), 1, false));
        assert!(b.admit(SourceKey::token("t"), 1, false));
        // UDP takes what is left and drops the rest.
        assert_eq!(b.take(addr(6), 700, false), 700);
        assert_eq!(b.take(addr(6), 700, false), 300);
        assert_eq!(b.take(addr(6), 700, false), 0);
        assert_eq!(b.take(addr(7), 700, true), 500);
    }

    #[test]
    fn unlimited_admits_everything() {
        let b = Budgets::unlimited();
        for _ in 0..100 {
            assert!(b.admit(addr(1), 1_000_000, true));
        }
    }
}
