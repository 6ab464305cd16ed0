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
//! - while the pipeline is behind (more than `max_queued_events` wait for detection; its
//!   `pressure` rises from 0 there to 1 where it turns busy) only sources that used less than
//!   half their budget in the last second are admitted, and every bucket refills at
//!   `(1 - pressure)` of the budget: the light senders keep flowing, the heavy ones are held to
//!   a share of their budget that shrinks until what is admitted is what detection drains
//!   (without it, heavy sources went on at their full budgets until the queue hit busy and
//!   everyone, light senders included, was refused).
//!
//! A batch larger than the bucket is admitted when the bucket is full, and leaves the source in
//! debt (down to minus one second of budget) so its average stays within the budget.
//!
//! [`Budgets::reserve`] decides, before a `_bulk` body is even read, whether the source's bucket
//! can take a batch of the size it last sent, and takes that much at once (a [`Reservation`],
//! settled to the batch's true size once it is parsed, given back if the request fails before):
//! a refused shipper retries the same batch, and reading, decompressing and parsing every retry
//! only to refuse it after cost more than storing (measured: one shipper over 32 connections
//! retrying at 10x the sustainable rate had the server parse about 100,000 refused documents a
//! second, and it stored a third of what it could; deciding before reading without taking the
//! events still let a fifth of the refusals through the parser, as the 32 connections raced
//! for the same tokens).
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
use std::sync::{Arc, Mutex};
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
    /// Events in the source's last batch: what its next one is expected to hold.
    typical: f64,
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

    /// Events a second per source (0: unlimited).
    pub fn rate(&self) -> u64 {
        self.rate as u64
    }

    /// Take `n` events from `key`'s budget; `false` means the batch is refused (throttled) and
    /// nothing was taken. `pressure` is how far behind the pipeline is ([`crate::Sink::pressure`]:
    /// above 0, stricter admission and a slower refill).
    pub fn admit(&self, key: SourceKey, n: usize, pressure: f64) -> bool {
        self.admit_at(key, n, pressure, Instant::now())
    }

    fn admit_at(&self, key: SourceKey, n: usize, pressure: f64, now: Instant) -> bool {
        if self.rate <= 0.0 || n == 0 {
            return true;
        }
        self.with_bucket(key, pressure, now, |bucket, burst| {
            bucket.typical = n as f64;
            if bucket.tokens < floor(n as f64, burst, pressure) {
                return false;
            }
            bucket.tokens = (bucket.tokens - n as f64).max(-burst);
            true
        })
    }

    /// Admit a batch of `key`'s before it is read: taken at the size of its last batch (one
    /// event for a new source), by the rule of [`Budgets::admit`]. `None`: refused, nothing
    /// taken. The reservation is settled to the batch's size once known
    /// ([`Reservation::settle`]), or given back when dropped unsettled (the request failed
    /// before its events were counted).
    pub fn reserve(self: &Arc<Self>, key: SourceKey, pressure: f64) -> Option<Reservation> {
        let amount = if self.rate <= 0.0 {
            0.0
        } else {
            self.with_bucket(key, pressure, Instant::now(), |bucket, burst| {
                let need = bucket.typical.max(1.0).min(burst);
                if bucket.tokens < floor(need, burst, pressure) {
                    return None;
                }
                bucket.tokens -= need;
                Some(need)
            })?
        };
        Some(Reservation {
            budgets: self.clone(),
            key,
            amount,
        })
    }

    /// Put `amount` back into `key`'s bucket (at most a full one).
    fn give_back(&self, key: SourceKey, amount: f64) {
        if self.rate <= 0.0 || amount <= 0.0 {
            return;
        }
        self.with_bucket(key, 0.0, Instant::now(), |bucket, burst| {
            bucket.tokens = (bucket.tokens + amount).min(burst);
        });
    }

    /// How many of `n` events `key` may send now (for UDP, where a batch can be cut): what its
    /// bucket holds, less half of it while the pipeline is behind. Those are taken.
    pub fn take(&self, key: SourceKey, n: usize, pressure: f64) -> usize {
        self.take_at(key, n, pressure, Instant::now())
    }

    fn take_at(&self, key: SourceKey, n: usize, pressure: f64, now: Instant) -> usize {
        if self.rate <= 0.0 || n == 0 {
            return n;
        }
        self.with_bucket(key, pressure, now, |bucket, burst| {
            let reserve = if pressure > 0.0 { burst / 2.0 } else { 0.0 };
            let available = (bucket.tokens - reserve).floor().max(0.0) as usize;
            let granted = available.min(n);
            bucket.tokens -= granted as f64;
            granted
        })
    }

    /// Run `f` on `key`'s bucket, refilled to `now` — at the budget's rate, less the share
    /// `pressure` while the pipeline is behind, so that heavy sources together are held to what
    /// the pipeline drains instead of filling it until everyone is refused.
    fn with_bucket<T>(
        &self,
        key: SourceKey,
        pressure: f64,
        now: Instant,
        f: impl FnOnce(&mut Bucket, f64) -> T,
    ) -> T {
        let burst = self.rate;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(&key) {
            buckets.retain(|_, b| now.saturating_duration_since(b.last) < FORGET_AFTER);
        }
        let key = if buckets.len() >= MAX_KEYS && !buckets.contains_key(&key) {
            SourceKey::Overflow
        } else {
            key
        };
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            last: now,
            typical: 0.0,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        let refill = self.rate * (1.0 - pressure.clamp(0.0, 1.0));
        bucket.tokens = (bucket.tokens + elapsed * refill).min(burst);
        bucket.last = bucket.last.max(now);
        f(bucket, burst)
    }
}

/// Events taken from a source's budget before its batch was read ([`Budgets::reserve`]).
#[derive(Debug)]
pub struct Reservation {
    budgets: Arc<Budgets>,
    key: SourceKey,
    amount: f64,
}

impl Reservation {
    /// The batch holds `n` events: take what it holds instead of what was reserved. A batch
    /// no larger than the reservation is admitted; a larger one is admitted only if the bucket
    /// takes the difference by the rule of [`Budgets::admit`] — `false`: refused, and nothing
    /// stays taken. Either way `n` becomes the size expected of the source's next batch.
    pub fn settle(mut self, n: usize, pressure: f64) -> bool {
        let reserved = std::mem::take(&mut self.amount);
        let budgets = &self.budgets;
        if budgets.rate <= 0.0 {
            return true;
        }
        budgets.with_bucket(self.key, pressure, Instant::now(), |bucket, burst| {
            bucket.typical = n as f64;
            let n = n as f64;
            if n <= reserved {
                bucket.tokens = (bucket.tokens + reserved - n).min(burst);
                return true;
            }
            let extra = n - reserved;
            if bucket.tokens < floor(extra, burst, pressure) {
                bucket.tokens = (bucket.tokens + reserved).min(burst);
                return false;
            }
            bucket.tokens = (bucket.tokens - extra).max(-burst);
            true
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budgets.give_back(self.key, self.amount);
    }
}

/// What a bucket must hold to admit a batch of `n` events: the batch (at most a full bucket),
/// and while the pipeline is behind half a bucket more.
fn floor(n: f64, burst: f64, pressure: f64) -> f64 {
    let need = n.min(burst);
    let floor = if pressure > 0.0 {
        burst / 2.0 + need
    } else {
        need
    };
    floor.min(burst)
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
        assert!(b.admit(addr(1), 600, 0.0));
        assert!(b.admit(addr(1), 400, 0.0));
        assert!(!b.admit(addr(1), 100, 0.0));
        // Another source is untouched.
        assert!(b.admit(addr(2), 100, 0.0));
        // While the pipeline is behind, a light source still flows, a heavy one does not.
        assert!(b.admit(addr(3), 10, 0.5));
        assert!(b.admit(addr(4), 600, 0.0));
        assert!(!b.admit(addr(4), 10, 0.5));
        // A batch larger than the bucket goes through once, then the source is in debt.
        assert!(b.admit(addr(5), 5000, 0.0));
        assert!(!b.admit(addr(5), 1, 0.0));
        assert!(b.admit(SourceKey::token("t"), 1, 0.0));
        // UDP takes what is left and drops the rest.
        assert_eq!(b.take(addr(6), 700, 0.0), 700);
        assert_eq!(b.take(addr(6), 700, 0.0), 300);
        assert_eq!(b.take(addr(6), 700, 0.0), 0);
        assert_eq!(b.take(addr(7), 700, 0.5), 500);
    }

    #[test]
    fn a_source_that_would_be_refused_is_known_before_its_batch_is_read() {
        let b = Arc::new(Budgets::new(1000));
        let shipper = SourceKey::token("Bearer s");
        // A new source: one event is reserved; its batch of 800 takes the rest of it.
        let r = b.reserve(shipper, 0.0).unwrap();
        assert!(r.settle(800, 0.0));
        // About 200 left: a batch like the last one (800) does not fit, and is refused before
        // it is read.
        assert!(b.reserve(shipper, 0.0).is_none());
        assert!(!b.admit(shipper, 800, 0.0));
        // Its batches got smaller: the last one sets what is reserved.
        assert!(b.admit(shipper, 100, 0.0));
        let r = b.reserve(shipper, 0.0).unwrap();
        // Behind, half a bucket more is needed: a second one is refused meanwhile.
        assert!(b.reserve(shipper, 0.5).is_none());
        // A request that fails before its events are counted gives its reservation back.
        drop(r);
        let r = b.reserve(shipper, 0.0).unwrap();
        // Smaller than reserved: the difference comes back (about 60 left).
        assert!(r.settle(40, 0.0));
        // Larger than reserved and more than the bucket holds: refused, nothing taken.
        let r = b.reserve(shipper, 0.0).unwrap();
        assert!(!r.settle(900, 0.0));
        assert!(b.admit(shipper, 40, 0.0));
        assert!(!b.admit(shipper, 50, 0.0));
        // Unlimited: always admitted.
        let free = Arc::new(Budgets::unlimited());
        assert!(free.reserve(shipper, 1.0).unwrap().settle(1_000_000, 1.0));
    }

    #[test]
    fn behind_heavy_sources_are_held_to_a_share_of_their_budget_and_light_ones_flow() {
        let b = Budgets::new(1000);
        let heavy = addr(1);
        let light = addr(2);
        let t0 = Instant::now();
        // Ten seconds at three quarters of the way to busy: the heavy source asks every 10 ms
        // for 100 events, the light one for 10 every second.
        let (mut heavy_in, mut light_in) = (0, 0);
        for step in 0..1000u32 {
            let now = t0 + Duration::from_millis(10 * u64::from(step));
            if b.admit_at(heavy, 100, 0.75, now) {
                heavy_in += 100;
            }
            if step % 100 == 0 && b.admit_at(light, 10, 0.75, now) {
                light_in += 10;
            }
        }
        // The heavy one: its first half bucket, then a quarter of its budget a second.
        assert!((2_500..=3_200).contains(&heavy_in), "{heavy_in}");
        assert_eq!(light_in, 100);
        // UDP likewise: what is taken follows the slower refill.
        let udp = addr(3);
        let mut taken = 0;
        for step in 0..1000u32 {
            let now = t0 + Duration::from_millis(10 * u64::from(step));
            taken += b.take_at(udp, 100, 0.75, now);
        }
        assert!((2_500..=3_200).contains(&taken), "{taken}");
        // Keeping up again: the full budget.
        let later = t0 + Duration::from_secs(20);
        let mut again = 0;
        for step in 0..1000u32 {
            let now = later + Duration::from_millis(10 * u64::from(step));
            if b.admit_at(heavy, 100, 0.0, now) {
                again += 100;
            }
        }
        assert!((10_000..=11_100).contains(&again), "{again}");
    }

    #[test]
    fn unlimited_admits_everything() {
        let b = Budgets::unlimited();
        for _ in 0..100 {
            assert!(b.admit(addr(1), 1_000_000, 0.5));
        }
    }
}
