//! Recognizing a `_bulk` document sent again without `_id`.
//!
//! Why: a shipper that loses an acknowledgement (a timeout, a restart of either side) sends
//! the batch again. Documents with an `_id` are stored once by the journal's unique index; most
//! shippers send none, and those were stored twice. A document is recognized by a hash of its
//! organization, source and text — the sender's own bytes, so a retry matches exactly — for
//! [`ResendWindow`]'s window after it was stored.
//!
//! Bounds: at most `max_documents` hashes are kept (8-byte keys in a set plus a queue in
//! arrival order, about 40 bytes a document); past that the oldest are forgotten first, so
//! under heavy load the window is shorter than configured.
//!
//! Across a restart: each key is stored beside its document, in the journal's transaction
//! (`wardwatch-store`'s `resend_keys`), and the hash is keyed with a secret the store keeps,
//! so after a `kill -9` the window is refilled from those keys ([`ResendWindow::refill`]) and
//! a retry of a batch stored just before the kill (and never acknowledged) is still
//! recognized. Reading back keys, not documents, keeps the start fast whatever the journal
//! holds: parsing the last ten minutes of documents took 17 s at a few thousand a second.
//! The writer forgets stored keys older than the window ([`ResendWindow::prune`]).
//! Documents stored before the store kept keys (an upgrade) are not in the refilled window.
//!
//! Only documents stored are remembered (after their commit): a batch that failed to commit
//! and is sent again is stored, never dropped as a resend. Two equal documents in one request
//! are both stored: a retry is a new request.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wardwatch_core::Event;

use crate::config::ResendSection;

/// Whether events from `source` are `_bulk` documents (the only ones a shipper resends).
pub fn is_bulk(source: &str) -> bool {
    source == "bulk" || source.starts_with("bulk:")
}

/// Recently stored `_bulk` documents without `_id`, by content hash.
pub struct ResendWindow {
    window: Duration,
    max: usize,
    /// The hash's key, kept by the store: nobody outside can craft two documents with the
    /// same hash, and keys stored before a restart still match.
    secret: [u8; 32],
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    seen: HashSet<u64, BuildU64>,
    order: VecDeque<(Instant, u64)>,
}

/// The keys are already hashes: no second hashing.
#[derive(Default, Clone, Copy)]
struct BuildU64;

#[derive(Default)]
struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl BuildHasher for BuildU64 {
    type Hasher = U64Hasher;
    fn build_hasher(&self) -> U64Hasher {
        U64Hasher(0)
    }
}

impl ResendWindow {
    /// A window whose hashes are keyed with `secret` (the store's, see
    /// `wardwatch_store::Db::secret`).
    pub fn new(cfg: &ResendSection, secret: [u8; 32]) -> ResendWindow {
        ResendWindow {
            window: Duration::from_secs(cfg.window_secs),
            max: if cfg.window_secs == 0 {
                0
            } else {
                cfg.max_documents
            },
            secret,
            state: Mutex::new(State::default()),
        }
    }

    /// Whether recognition is on.
    pub fn enabled(&self) -> bool {
        self.max > 0
    }

    /// The key of `event` when it is a `_bulk` document without `_id`: the first 64 bits of
    /// SHA-256 over the secret, its organization, source and the text its record was stored
    /// from (SHA-256 runs on the CPU's SHA instructions where there are some: a few GB/s).
    pub fn key(&self, event: &Event) -> Option<u64> {
        if !self.enabled() || event.origin.id.is_some() || !is_bulk(&event.origin.source) {
            return None;
        }
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(event.organization.as_bytes());
        h.update([0xff]);
        h.update(event.origin.source.as_bytes());
        h.update([0xff]);
        match event.raw_text.as_str() {
            Some(text) => h.update(text.as_bytes()),
            None => h.update(
                serde_json::to_string(&event.raw)
                    .unwrap_or_default()
                    .as_bytes(),
            ),
        }
        let digest = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Some(u64::from_le_bytes(first))
    }

    /// Which of `keys` (one per event, `None` for events never resends) were stored within the
    /// window: those events are resends.
    pub fn resent(&self, keys: &[Option<u64>]) -> Vec<bool> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.expire(&mut st, Instant::now());
        keys.iter()
            .map(|k| k.is_some_and(|k| st.seen.contains(&k)))
            .collect()
    }

    /// Remember `keys` of documents just stored.
    pub fn stored(&self, keys: impl IntoIterator<Item = u64>) {
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for k in keys {
            if st.seen.insert(k) {
                st.order.push_back((now, k));
            }
        }
        self.expire(&mut st, now);
    }

    fn expire(&self, st: &mut State, now: Instant) {
        while let Some(&(at, k)) = st.order.front() {
            if st.order.len() <= self.max && now.duration_since(at) < self.window {
                break;
            }
            st.order.pop_front();
            st.seen.remove(&k);
        }
    }

    /// How many documents are remembered.
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .order
            .len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When the window began, `now` being its end.
    fn start(&self, now: jiff::Timestamp) -> jiff::Timestamp {
        now.checked_sub(jiff::SignedDuration::try_from(self.window).unwrap_or_default())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    /// Remember the keys of the `_bulk` documents without `_id` stored within the window (at
    /// most `max_documents`, the newest), after a restart.
    pub fn refill(
        &self,
        db: &(impl wardwatch_store::ResendKeys + ?Sized),
    ) -> Result<usize, wardwatch_store::StoreError> {
        if !self.enabled() {
            return Ok(0);
        }
        let mut keys = db.resend_keys_since(self.start(jiff::Timestamp::now()), self.max)?;
        keys.reverse();
        let n = keys.len();
        self.stored(keys);
        Ok(n)
    }

    /// Remove the stored keys the window no longer needs (older than it, or beyond
    /// `max_documents`); returns how many went.
    pub fn prune(
        &self,
        db: &mut (impl wardwatch_store::ResendKeys + ?Sized),
    ) -> Result<usize, wardwatch_store::StoreError> {
        db.forget_resend_keys(self.start(jiff::Timestamp::now()), self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_core::{RawText, SourceKind};

    fn doc(source: &str, text: &str, id: Option<&str>) -> Event {
        let mut e = Event::new(
            SourceKind::Json,
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::from_str(text).unwrap(),
        );
        e.origin.source = source.into();
        e.origin.id = id.map(str::to_string);
        e.raw_text = RawText::new(text);
        e
    }

    #[test]
    fn a_resent_document_is_recognized_within_the_window_and_bounds() {
        let w = ResendWindow::new(
            &ResendSection {
                window_secs: 600,
                max_documents: 3,
            },
            [7; 32],
        );
        let a = doc("bulk", r#"{"m":"a"}"#, None);
        let b = doc("bulk:logs", r#"{"m":"a"}"#, None);
        let with_id = doc("bulk", r#"{"m":"a"}"#, Some("x"));
        let syslog = doc("syslog-tcp", r#"{"m":"a"}"#, None);
        assert_eq!(w.key(&with_id), None);
        assert_eq!(w.key(&syslog), None);
        let keys = [w.key(&a), w.key(&b)];
        assert_ne!(keys[0], keys[1], "the source is part of the key");
        assert_eq!(w.resent(&keys), [false, false]);
        w.stored(keys.iter().flatten().copied());
        assert_eq!(w.resent(&keys), [true, true]);
        // The oldest is forgotten past the bound.
        for m in ["b", "c"] {
            let e = doc("bulk", &format!(r#"{{"m":"{m}"}}"#), None);
            w.stored(w.key(&e));
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.resent(&keys), [false, true]);
        // Off.
        let off = ResendWindow::new(
            &ResendSection {
                window_secs: 0,
                max_documents: 10,
            },
            [7; 32],
        );
        assert_eq!(off.key(&a), None);
    }

    #[test]
    fn the_key_depends_on_the_secret_and_is_the_same_for_the_same_secret() {
        let cfg = ResendSection::default();
        let a = doc("bulk", r#"{"m":"a"}"#, None);
        let one = ResendWindow::new(&cfg, [1; 32]);
        let again = ResendWindow::new(&cfg, [1; 32]);
        let other = ResendWindow::new(&cfg, [2; 32]);
        assert_eq!(one.key(&a), again.key(&a));
        assert_ne!(one.key(&a), other.key(&a));
        // Without the sender's text (an event made in-process), its JSON is hashed.
        let mut parsed = a.clone();
        parsed.raw_text = RawText::default();
        assert!(one.key(&parsed).is_some());
    }

    #[test]
    fn a_window_is_refilled_from_the_keys_stored_with_the_documents() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = wardwatch_store::Db::open(dir.path(), &Default::default()).unwrap();
        let secret = db.secret("resend").unwrap();
        let cfg = ResendSection::default();
        let w = ResendWindow::new(&cfg, secret);
        let events: Vec<Event> = (0..5)
            .map(|n| doc("bulk", &format!(r#"{{"n":{n}}}"#), None))
            .collect();
        let keys: Vec<Option<u64>> = events.iter().map(|e| w.key(e)).collect();
        let encoded = events
            .into_iter()
            .zip(&keys)
            .map(|(e, k)| {
                wardwatch_store::Encoded::new(e)
                    .unwrap()
                    .with_resend_key(*k)
            })
            .collect();
        db.append_encoded(&[encoded], &mut Vec::new()).unwrap();

        // A new process: same secret from the store, keys from the table.
        let after = ResendWindow::new(&cfg, db.secret("resend").unwrap());
        assert_eq!(after.refill(&db).unwrap(), 5);
        assert_eq!(after.resent(&keys), [true; 5]);
        // Nothing is old yet: pruning keeps them.
        assert_eq!(after.prune(&mut db).unwrap(), 0);
        assert_eq!(after.refill(&db).unwrap(), 5);
    }
}
