//! Helpers shared by the listener tests: an in-memory sink that can be made busy or closed, and
//! a bounded wait for something to happen.

#![allow(dead_code)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use wardwatch_core::Event;
use wardwatch_listen::{Sink, SinkError, SourceCounters};

/// Keeps every committed event in memory.
#[derive(Default)]
pub struct TestSink {
    events: Mutex<Vec<Event>>,
    busy: Mutex<Option<Duration>>,
    /// `busy()` says "free" while `submit` still refuses: the race a real pipeline has.
    busy_on_submit_only: AtomicBool,
    closed: AtomicBool,
    /// Calls of `submit`, accepted or not.
    pub submits: AtomicU64,
    /// When set, `submit` waits for a permit of this semaphore before storing (see `hold`).
    gate: Mutex<Option<std::sync::Arc<tokio::sync::Semaphore>>>,
}

impl TestSink {
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(TestSink::default())
    }

    /// Refuse batches as busy (asking for `retry_after`), or accept them again with `None`.
    pub fn set_busy(&self, retry_after: Option<Duration>) {
        *self.busy.lock().unwrap() = retry_after;
    }

    pub fn set_busy_on_submit_only(&self, on: bool) {
        self.busy_on_submit_only.store(on, Ordering::SeqCst);
    }

    /// Make every later `submit` wait until the returned gate is given permits (one a submit).
    pub fn hold(&self) -> std::sync::Arc<tokio::sync::Semaphore> {
        let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
        *self.gate.lock().unwrap() = Some(gate.clone());
        gate
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.events.lock().unwrap().len()
    }
}

impl Sink for TestSink {
    fn submit(&self, batch: Vec<Event>) -> impl Future<Output = Result<(), SinkError>> + Send {
        self.submits.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate.lock().unwrap().clone();
        async move {
            if let Some(gate) = gate
                && let Ok(permit) = gate.acquire().await
            {
                permit.forget();
            }
            if self.closed.load(Ordering::SeqCst) {
                Err(SinkError::Closed)
            } else if let Some(retry_after) = *self.busy.lock().unwrap() {
                Err(SinkError::Busy { retry_after })
            } else {
                self.events.lock().unwrap().extend(batch);
                Ok(())
            }
        }
    }

    fn busy(&self) -> Option<Duration> {
        if self.busy_on_submit_only.load(Ordering::SeqCst) {
            None
        } else {
            *self.busy.lock().unwrap()
        }
    }
}

/// Wait (at most 20 s) until `done` holds; panics saying `what` did not happen.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// A counter's value.
pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::SeqCst)
}

/// All counters of a source, for assertion messages.
pub fn counts(c: &SourceCounters) -> String {
    format!(
        "received {} rejected {} dropped {} malformed {} bytes {}",
        get(&c.received),
        get(&c.rejected),
        get(&c.dropped),
        get(&c.malformed),
        get(&c.bytes)
    )
}
