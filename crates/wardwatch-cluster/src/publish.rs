//! The ingest node's sink: the listeners hand it a batch, it publishes the batch's events to
//! the events stream, one message per partition share, and says "stored" only once JetStream
//! acknowledged every message — the same promise the single binary's journal makes.
//!
//! Refusals, so senders retry rather than lose events: no NATS server connected, or an
//! acknowledgement that does not come in time → `Unavailable` (HTTP 503 with `Retry-After`,
//! TCP syslog stops reading); the stream at its `max_backlog_mb` (workers behind) →
//! `Busy` (429). A watcher reads the stream's size every second: past 80% of the backlog
//! senders are slowed ([`Sink::pressure`]), past 95% refused before they send.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use wardwatch_core::Event;
use wardwatch_listen::{Sink, SinkError};
use wardwatch_store::Encoded;

use crate::wire::{self, Batch};
use crate::{ClusterConfig, ClusterError, EVENTS_STREAM, events_subject, partition};

/// How long a sender is asked to wait after a refusal.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// The listeners' door into the events stream.
#[derive(Clone)]
pub struct NatsSink {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    js: jetstream::Context,
    cfg: ClusterConfig,
    /// The stream's fill, in thousandths of `max_backlog_mb` (read every second).
    fill: AtomicU64,
    /// Messages and events acknowledged by JetStream, and batches a sender sent again that
    /// JetStream recognized.
    pub published: AtomicU64,
    pub events: AtomicU64,
    pub duplicates: AtomicU64,
}

impl NatsSink {
    /// A sink publishing to the cluster's events stream. Returns at once: while no NATS server
    /// answers, batches are refused as unavailable (503), and the client keeps reconnecting.
    /// Starts the stream watcher on the current runtime.
    pub async fn start(cfg: &ClusterConfig, name: &str) -> Result<NatsSink, ClusterError> {
        let client = crate::connect(cfg, name, false).await?;
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(cfg.publish_timeout_secs))
            .build(client.clone());
        let inner = Arc::new(Inner {
            client,
            js,
            cfg: cfg.clone(),
            fill: AtomicU64::new(0),
            published: AtomicU64::new(0),
            events: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&inner);
        tokio::spawn(async move {
            while let Some(inner) = weak.upgrade() {
                inner.watch().await;
                drop(inner);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Ok(NatsSink { inner })
    }

    /// The cluster's transport as NATS reports it now ([`crate::status`]), over this sink's
    /// connection (an API node reads it every few seconds for its health and overview).
    pub async fn status(&self) -> Result<crate::Status, ClusterError> {
        crate::admin::status_of(&self.inner.cfg, &self.inner.js).await
    }

    /// Messages and events JetStream acknowledged, and resent batches it recognized.
    pub fn counts(&self) -> (u64, u64, u64) {
        let i = &self.inner;
        (
            i.published.load(Ordering::Relaxed),
            i.events.load(Ordering::Relaxed),
            i.duplicates.load(Ordering::Relaxed),
        )
    }

    /// Whether a NATS server is connected now.
    pub fn connected(&self) -> bool {
        self.inner.client.connection_state() == async_nats::connection::State::Connected
    }
}

impl Inner {
    /// Read the stream's size into `fill`.
    async fn watch(&self) {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return;
        }
        let Ok(mut stream) = self.js.get_stream(EVENTS_STREAM).await else {
            return;
        };
        if let Ok(info) = stream.info().await {
            let max = (self.cfg.max_backlog_mb * 1024 * 1024).max(1);
            let fill = info.state.bytes.saturating_mul(1000) / max;
            self.fill.store(fill, Ordering::Relaxed);
        }
    }

    fn unavailable(&self, why: impl std::fmt::Display) -> SinkError {
        SinkError::Unavailable {
            reason: format!("NATS at {}: {why}", self.cfg.nats),
            retry_after: RETRY_AFTER,
        }
    }

    /// The batch's events by partition, encoded.
    fn split(&self, batch: Vec<Event>) -> Result<Vec<Batch>, SinkError> {
        let n = self.cfg.partitions.max(1);
        let mut parts: Vec<Batch> = Vec::new();
        for e in batch {
            let part = partition(&e.organization, e.ecs.host_name.as_deref(), n);
            let org = e.organization.clone();
            let doc = Encoded::new(e)
                .map_err(|e| SinkError::Failed(e.to_string()))?
                .doc;
            match parts.iter_mut().find(|b| b.part == part) {
                Some(b) => b.docs.push(doc),
                None => parts.push(Batch {
                    part,
                    org,
                    docs: vec![doc],
                }),
            }
        }
        Ok(parts)
    }
}

/// Whether a JetStream refusal says the stream is full.
fn full(e: &impl std::fmt::Display) -> bool {
    let text = e.to_string().to_lowercase();
    text.contains("maximum bytes")
        || text.contains("maximum messages")
        || text.contains("insufficient resources")
        || text.contains("exceeded")
}

impl Sink for NatsSink {
    async fn submit(&self, batch: Vec<Event>) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let inner = &self.inner;
        if !self.connected() {
            return Err(inner.unavailable("no server connected"));
        }
        if let Some(retry_after) = self.busy() {
            return Err(SinkError::Busy { retry_after });
        }
        let received = jiff::Timestamp::now().as_nanosecond().to_string();
        let max_payload = inner.client.server_info().max_payload.max(64 * 1024);
        let parts = inner.split(batch)?;
        let mut acks = Vec::new();
        for b in &parts {
            let subject = events_subject(b.part, &b.org);
            for (payload, n) in b.payloads(max_payload).map_err(SinkError::Failed)? {
                let mut headers = HeaderMap::new();
                headers.insert(wire::RECEIVED, received.as_str());
                headers.insert(wire::EVENTS, n.to_string().as_str());
                let id = wire::message_id(b.part, &payload);
                let publish = PublishMessage::build()
                    .payload(payload)
                    .headers(headers)
                    .message_id(id);
                let ack = inner
                    .js
                    .send_publish(subject.clone(), publish)
                    .await
                    .map_err(|e| inner.unavailable(e))?;
                acks.push((ack, n));
            }
        }
        // Every message sent: now wait for each acknowledgement. One missing fails the batch
        // (the sender sends it again; what was acknowledged is recognized as a duplicate).
        let mut failed = None;
        for (ack, n) in acks {
            match ack.await {
                Ok(a) => {
                    inner.published.fetch_add(1, Ordering::Relaxed);
                    if a.duplicate {
                        inner.duplicates.fetch_add(1, Ordering::Relaxed);
                    } else {
                        inner.events.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
                Err(e) if full(&e) => {
                    failed.get_or_insert(SinkError::Busy {
                        retry_after: RETRY_AFTER,
                    });
                }
                Err(e) => {
                    failed.get_or_insert(inner.unavailable(e));
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn busy(&self) -> Option<Duration> {
        (self.inner.fill.load(Ordering::Relaxed) >= 950).then_some(RETRY_AFTER)
    }

    fn pressure(&self) -> f64 {
        let fill = self.inner.fill.load(Ordering::Relaxed) as f64 / 1000.0;
        ((fill - 0.8) / 0.15).clamp(0.0, 1.0)
    }
}
