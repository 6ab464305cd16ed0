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
//! under heavy load the window is shorter than configured. After a restart the window is
//! refilled from the journal's newest documents ([`ResendWindow::refill`]), so a retry of a
//! batch that was stored just before a `kill -9` (and never acknowledged) is still recognized.
//!
//! Only documents stored are remembered (after their commit): a batch that failed to commit
//! and is sent again is stored, never dropped as a resend. Two equal documents in one request
//! are both stored: a retry is a new request.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// Keyed per process, so nobody outside can craft two documents with the same hash.
    hasher: std::collections::hash_map::RandomState,
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
    pub fn new(cfg: &ResendSection) -> ResendWindow {
        ResendWindow {
            window: Duration::from_secs(cfg.window_secs),
            max: if cfg.window_secs == 0 {
                0
            } else {
                cfg.max_documents
            },
            hasher: Default::default(),
            state: Mutex::new(State::default()),
        }
    }

    /// Whether recognition is on.
    pub fn enabled(&self) -> bool {
        self.max > 0
    }

    /// The key of `event` when it is a `_bulk` document without `_id`: a hash of its
    /// organization, source and the text its record was stored from.
    pub fn key(&self, event: &Event) -> Option<u64> {
        if !self.enabled() || event.origin.id.is_some() || !is_bulk(&event.origin.source) {
            return None;
        }
        let mut h = self.hasher.build_hasher();
        h.write(event.organization.as_bytes());
        h.write_u8(0xff);
        h.write(event.origin.source.as_bytes());
        h.write_u8(0xff);
        match event.raw_text.as_str() {
            Some(text) => h.write(text.as_bytes()),
            None => h.write(
                serde_json::to_string(&event.raw)
                    .unwrap_or_default()
                    .as_bytes(),
            ),
        }
        Some(h.finish())
    }

    /// The key of a stored document (as the journal keeps it), for [`ResendWindow::refill`].
    fn key_of_stored(&self, doc: &str) -> Option<u64> {
        let mut event: Event = serde_json::from_str(doc).ok()?;
        // The journal keeps the sender's text of `raw` as the document's last member.
        if let Some(at) = doc.find(",\"raw\":") {
            let text = &doc[at + ",\"raw\":".len()..doc.len().saturating_sub(1)];
            event.raw_text = wardwatch_core::RawText::new(text);
        }
        self.key(&event)
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

    /// Remember the journal's newest `_bulk` documents without `_id` received within the
    /// window (at most `max_documents`), after a restart.
    pub fn refill(&self, db: &wardwatch_store::Db) -> Result<usize, wardwatch_store::StoreError> {
        if !self.enabled() {
            return Ok(0);
        }
        let since = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::try_from(self.window).unwrap_or_default())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let docs = db.recent_docs_without_id(since, self.max, "bulk")?;
        let keys: Vec<u64> = docs
            .iter()
            .rev()
            .filter_map(|d| self.key_of_stored(d))
            .collect();
        let n = keys.len();
        self.stored(keys);
        Ok(n)
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
        let w = ResendWindow::new(&ResendSection {
            window_secs: 600,
            max_documents: 3,
        });
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
        let off = ResendWindow::new(&ResendSection {
            window_secs: 0,
            max_documents: 10,
        });
        assert_eq!(off.key(&a), None);
    }
}
