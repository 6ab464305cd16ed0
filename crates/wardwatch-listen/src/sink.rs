//! Where listeners hand the events they decoded, and the counters they keep.
//!
//! A listener never stores anything itself: it decodes, submits a batch to a [`Sink`], and
//! acknowledges its sender only when the sink says the batch is durable. When the sink is busy
//! (detection has fallen behind), the listener slows its sender down — HTTP 429 with
//! `Retry-After`, or by not reading the TCP socket — instead of buffering without bound.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wardwatch_core::Event;

/// Why a batch was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Too much is queued; try again after the given delay. Nothing of the batch was stored.
    #[error("busy: detection is behind, retry in {} s", retry_after.as_secs().max(1))]
    Busy { retry_after: Duration },
    /// The pipeline is shutting down. Nothing of the batch was stored.
    #[error("shutting down")]
    Closed,
    /// The store failed. Nothing of the batch was stored.
    #[error("store failed: {0}")]
    Failed(String),
    /// What stores the batch cannot be reached (in a cluster: no NATS server answers); try
    /// again after the given delay. Nothing of the batch was stored.
    #[error("unavailable: {reason}, retry in {} s", retry_after.as_secs().max(1))]
    Unavailable {
        reason: String,
        retry_after: Duration,
    },
}

/// Durable storage for decoded events, as seen by listeners.
pub trait Sink: Send + Sync + 'static {
    /// Store `batch`. Resolves `Ok` only once every event of the batch is committed, so the
    /// caller may acknowledge it; on `Err` nothing of the batch was stored.
    fn submit(&self, batch: Vec<Event>) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Whether a new batch would be refused as busy right now (a cheap check, so stream
    /// listeners can stop reading before they decode more).
    fn busy(&self) -> Option<Duration> {
        None
    }

    /// How far behind the pipeline is while it still accepts: 0 while it keeps up, rising to
    /// 1 where it turns busy. Listeners then admit only the sources well within their budget
    /// and slow the budgets' refill by this share ([`crate::fair`]), so light senders
    /// keep flowing while heavy ones are held to what the pipeline can take.
    fn pressure(&self) -> f64 {
        0.0
    }
}

/// Counters one listener (one source) keeps; read by `/metrics`.
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// Messages or documents received.
    pub received: AtomicU64,
    /// Refused with an error to the sender (bad token, malformed body): the sender knows.
    pub rejected: AtomicU64,
    /// Lost without the sender knowing (UDP while overloaded, a frame over the size limit on a
    /// stream that cannot be answered): counted so it is never silent.
    pub dropped: AtomicU64,
    /// Kept as raw text because they could not be parsed (malformed syslog, invalid UTF-8).
    pub malformed: AtomicU64,
    /// Bytes received.
    pub bytes: AtomicU64,
    /// Connections closed at once because their peer already had `max_connections_per_peer`.
    pub refused_peer_limit: AtomicU64,
    /// Connections or datagrams refused because the sender is outside `allowed_networks`.
    pub refused_network: AtomicU64,
    /// Times the listener had `max_connections` open and stopped accepting until one closed.
    pub listener_full: AtomicU64,
    /// Connections closed after `idle_timeout_secs` without a byte.
    pub idle_timeouts: AtomicU64,
    /// HTTP connections closed because a request's headers did not arrive within
    /// `header_timeout_secs`.
    pub header_timeouts: AtomicU64,
    /// Requests refused (408) because their body did not arrive within `body_timeout_secs`.
    pub body_timeouts: AtomicU64,
    /// TLS handshakes that failed or did not finish in time (also: a client without the
    /// required certificate).
    pub handshake_failures: AtomicU64,
    /// Messages or documents refused or dropped because their sender was over its budget
    /// (fair backpressure); for `_bulk`, a request refused before its body was read counts
    /// one.
    pub throttled: AtomicU64,
}

impl SourceCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
