//! The listeners' door into the journal: stamps received times, drops `_bulk` resends, encodes
//! on the caller's thread and waits for the writer's commit before acknowledging.

use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use wardwatch_core::Event;
use wardwatch_listen::{Sink, SinkError};
use wardwatch_store::Encoded;

use super::Shared;
use crate::resend::ResendWindow;

pub(super) struct WriteRequest {
    pub(super) batch: Vec<Encoded>,
    pub(super) ack: tokio::sync::oneshot::Sender<Result<(), SinkError>>,
}

/// The listeners' door into the journal.
#[derive(Clone)]
pub struct JournalSink {
    pub(super) tx: SyncSender<WriteRequest>,
    pub(super) shared: Arc<Shared>,
    /// How far a sender's time is trusted (see `wardwatch_core::ClockWindow`).
    pub(super) clock: wardwatch_core::ClockWindow,
    pub(super) resend: Arc<ResendWindow>,
}

impl Sink for JournalSink {
    async fn submit(&self, batch: Vec<Event>) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        if let Some(retry_after) = self.shared.busy() {
            return Err(SinkError::Busy { retry_after });
        }
        let mut batch = batch;
        self.receive(&mut batch);
        let keys = self.drop_resends(&mut batch);
        if batch.is_empty() {
            return Ok(());
        }
        // Encode here, on the caller's thread, so the single journal writer only writes.
        // Resend keys are stored with their documents, for a restart to refill the window.
        // Into a vector sized up front: collecting `Result`s cannot know the length, and
        // growing a vector of thousands of events moves each of them several times.
        let mut encoded = Vec::with_capacity(batch.len());
        for (e, k) in batch.into_iter().zip(&keys) {
            let e = Encoded::new(e).map_err(|e| SinkError::Failed(e.to_string()))?;
            encoded.push(e.with_resend_key(*k));
        }
        let batch = encoded;
        let (ack, done) = tokio::sync::oneshot::channel();
        let mut req = WriteRequest { batch, ack };
        // The channel is bounded: when the writer is behind, wait (politely) for room.
        loop {
            match self.tx.try_send(req) {
                Ok(()) => break,
                Err(std::sync::mpsc::TrySendError::Full(r)) => {
                    req = r;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                    return Err(SinkError::Closed);
                }
            }
        }
        let stored = done.await.unwrap_or(Err(SinkError::Closed));
        if stored.is_ok() {
            self.resend.stored(keys.into_iter().flatten());
        }
        stored
    }

    fn busy(&self) -> Option<Duration> {
        self.shared.busy()
    }

    fn pressure(&self) -> f64 {
        self.shared.pressure()
    }
}

impl JournalSink {
    /// Stamp every event with the time it was received; flag and count (per source) those
    /// whose own time is outside the trusted window.
    fn receive(&self, batch: &mut [Event]) {
        let now = jiff::Timestamp::now();
        let mut skewed: Vec<(&str, u64)> = Vec::new();
        for e in batch.iter_mut() {
            if e.receive(now, &self.clock).is_some() {
                match skewed.iter_mut().find(|(s, _)| *s == e.origin.source) {
                    Some((_, n)) => *n += 1,
                    None => skewed.push((&e.origin.source, 1)),
                }
            }
        }
        for (source, n) in skewed {
            self.shared.metrics.time_skewed(source, n);
        }
    }

    /// Remove the `_bulk` documents without `_id` stored within the resend window (a
    /// shipper's retry), counting them; returns the resend keys of what is left, to remember
    /// once it is stored.
    fn drop_resends(&self, batch: &mut Vec<Event>) -> Vec<Option<u64>> {
        let keys: Vec<Option<u64>> = batch.iter().map(|e| self.resend.key(e)).collect();
        if keys.iter().all(Option::is_none) {
            return keys;
        }
        let resent = self.resend.resent(&keys);
        if !resent.contains(&true) {
            return keys;
        }
        let mut kept_keys = Vec::with_capacity(keys.len());
        let mut flags = resent.into_iter();
        let mut key_iter = keys.into_iter();
        batch.retain(|e| {
            let again = flags.next().unwrap_or(false);
            let key = key_iter.next().flatten();
            if again {
                self.shared.metrics.resent(&e.origin.source, 1);
            } else {
                kept_keys.push(key);
            }
            !again
        });
        kept_keys
    }
}
