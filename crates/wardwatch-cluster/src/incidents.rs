//! The incident stage of a cluster: one active consumer of the alerts stream, with standbys.
//! Grouping must see every partition's alerts in one place (an incident spans hosts), so
//! exactly one process groups at a time: the holder of the `incidents` lease (`lease.rs`).
//! Any other process running the role waits as a standby and takes over within the lease's
//! time when the active one dies, starting from the incidents and cursor it committed.
//!
//! Each batch of alert messages is grouped and committed — incidents with the alerts stream's
//! position, in one transaction of the shared state — before it is acknowledged; a batch
//! delivered again after a crash is at or below that position and only acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer};
use futures_util::StreamExt;
use tokio::runtime::Handle;
use wardwatch_core::Alert;
use wardwatch_store::StoreError;

use crate::lease::Leases;
use crate::watermark::{Cap, Watermark};
use crate::{
    ALERTS_STREAM, ClusterConfig, ClusterError, EVENTS_STREAM, INCIDENTS_CONSUMER, nats_error,
};

/// The lease the active incident stage holds.
pub const LEASE: &str = "incidents";
/// The incident stage's cursor name in the state store.
pub const CURSOR: &str = "incidents";

/// What groups alerts into incidents and commits them (the server's incident stage).
pub trait Grouping: Send {
    /// The alerts stream position committed last (0: none), after going back to the store's
    /// open incidents.
    fn load(&mut self) -> Result<u64, StoreError>;
    /// Group `alerts` (in time order) and commit the changed incidents with `cursor` in one
    /// transaction; returns how many incidents changed. `cap` is the watermark
    /// (`watermark.rs`): how far incidents may close on event time.
    fn commit(
        &mut self,
        alerts: &[(Alert, i64, i64)],
        cursor: u64,
        cap: Cap,
    ) -> Result<usize, StoreError>;
}

/// The incident stage's counters.
#[derive(Debug, Default)]
pub struct IncidentMetrics {
    pub alerts: AtomicU64,
    pub incidents_changed: AtomicU64,
    pub commit_failures: AtomicU64,
    /// 1 while this process is the active incident stage.
    pub active: AtomicU64,
}

/// Run the incident stage until `stop`: standby until the lease is free, then active.
pub fn run_incidents(
    cfg: &ClusterConfig,
    name: &str,
    mut grouping: Box<dyn Grouping>,
    handle: Handle,
    stop: Arc<AtomicBool>,
    metrics: Arc<IncidentMetrics>,
) -> Result<(), ClusterError> {
    let _runtime = handle.enter();
    let client = handle.block_on(crate::connect(cfg, name, true))?;
    let js = jetstream::new(client);
    let ttl = Duration::from_secs(cfg.ack_wait_secs.clamp(3, 30));
    let leases = handle.block_on(Leases::open(cfg, &js, name, ttl))?;
    let stream = handle
        .block_on(js.get_stream(ALERTS_STREAM))
        .map_err(|e| nats_error(cfg, format!("no stream {ALERTS_STREAM} ({e})")))?;
    let events = handle
        .block_on(js.get_stream(EVENTS_STREAM))
        .map_err(|e| nats_error(cfg, format!("no stream {EVENTS_STREAM} ({e})")))?;
    let consumer: PullConsumer = handle
        .block_on(async {
            stream
                .get_consumer(INCIDENTS_CONSUMER)
                .await
                .map_err(|e| async_nats::Error::from(e.to_string()))
        })
        .map_err(|e| {
            nats_error(
                cfg,
                format!("no consumer {INCIDENTS_CONSUMER} ({e}); run `wardwatch cluster init`"),
            )
        })?;
    while !stop.load(Ordering::Acquire) {
        let Some(mut held) = handle.block_on(leases.take(LEASE)) else {
            // Standby.
            std::thread::sleep(Duration::from_millis(500));
            continue;
        };
        metrics.active.store(1, Ordering::Relaxed);
        tracing::info!(stage = name, "incident stage active");
        let mut cursor = match grouping.load() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot load open incidents; retrying");
                handle.block_on(leases.release(&held));
                metrics.active.store(0, Ordering::Relaxed);
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let mut renewed = Instant::now();
        let mut watermark = Watermark::default();
        'active: while !stop.load(Ordering::Acquire) {
            if renewed.elapsed() >= ttl / 3 {
                match handle.block_on(leases.renew(&held)) {
                    Some(h) => {
                        held = h;
                        renewed = Instant::now();
                    }
                    None => {
                        tracing::warn!("incident stage lease lost; standing by");
                        break 'active;
                    }
                }
            }
            let messages = handle.block_on(fetch(&consumer));
            if messages.is_empty() {
                continue;
            }
            let messages =
                crate::worker::in_order(&handle, &stream, crate::ALERTS_SUBJECTS, messages, cursor);
            if messages.is_empty() {
                continue;
            }
            let mut alerts = Vec::new();
            let mut last = cursor;
            let mut fresh = Vec::new();
            for m in messages {
                let seq = m.info().map(|i| i.stream_sequence).unwrap_or(0);
                if seq <= cursor {
                    handle.block_on(async {
                        let _ = m.ack().await;
                    });
                    continue;
                }
                last = last.max(seq);
                alerts.extend(decode_alerts(&m.payload));
                fresh.push(m);
            }
            if fresh.is_empty() {
                continue;
            }
            // Time order across partitions, as one machine's grouper sees them.
            alerts.sort_by(|a, b| (a.0.timestamp, &a.0.id.0).cmp(&(b.0.timestamp, &b.0.id.0)));
            // Measured after the batch was fetched (see `watermark.rs`).
            let cap = handle.block_on(watermark.cap(&events, &stream, last));
            let mut attempt = 0u32;
            loop {
                match grouping.commit(&alerts, last, cap) {
                    Ok(changed) => {
                        metrics
                            .alerts
                            .fetch_add(alerts.len() as u64, Ordering::Relaxed);
                        metrics
                            .incidents_changed
                            .fetch_add(changed as u64, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => {
                        attempt += 1;
                        metrics.commit_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %e, attempt, "cannot commit incidents; retrying");
                        handle.block_on(async {
                            for m in &fresh {
                                let _ = m.ack_with(AckKind::Progress).await;
                            }
                        });
                        if stop.load(Ordering::Acquire) {
                            break 'active;
                        }
                        std::thread::sleep(Duration::from_millis(
                            (250u64 << attempt.min(4)).min(4000),
                        ));
                        // The grouper saw alerts that did not commit: back to the store's.
                        if let Err(e) = grouping.load() {
                            tracing::error!(error = %e, "cannot reload incidents");
                        }
                        if let Some(h) = handle.block_on(leases.renew(&held)) {
                            held = h;
                            renewed = Instant::now();
                        } else {
                            break 'active;
                        }
                    }
                }
            }
            handle.block_on(async {
                for m in &fresh {
                    let _ = m.double_ack().await;
                }
            });
            cursor = last;
        }
        metrics.active.store(0, Ordering::Relaxed);
        handle.block_on(leases.release(&held));
    }
    Ok(())
}

async fn fetch(consumer: &PullConsumer) -> Vec<jetstream::Message> {
    let mut out = Vec::new();
    match consumer
        .fetch()
        .max_messages(64)
        .expires(Duration::from_millis(500))
        .messages()
        .await
    {
        Ok(mut batch) => {
            while let Some(Ok(m)) = batch.next().await {
                out.push(m);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot fetch alerts; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    out
}

/// An alerts message's payload: a line `{"alert", "seq", "latency"}` an alert (what
/// [`decode_alerts`] reads).
pub fn alerts_payload(alerts: &[(Alert, i64, i64)]) -> bytes::Bytes {
    let mut payload = Vec::new();
    for (a, seq, latency) in alerts {
        let line = serde_json::json!({"alert": a, "seq": seq, "latency": latency});
        payload.extend_from_slice(line.to_string().as_bytes());
        payload.push(b'\n');
    }
    bytes::Bytes::from(payload)
}

/// Hand `alerts` to the incident stage from outside a detection worker (a retro-hunt's
/// findings): on partition `part`'s alerts subject with message id `id` (the same alerts sent
/// again under the same id within the stream's duplicate window are kept once; after it, the
/// incident stage still joins an alert it holds once), waiting for JetStream's
/// acknowledgement.
pub async fn publish_alerts(
    js: &jetstream::Context,
    part: u32,
    id: &str,
    alerts: &[(Alert, i64, i64)],
) -> Result<(), String> {
    let publish = jetstream::message::PublishMessage::build()
        .payload(alerts_payload(alerts))
        .message_id(id);
    js.send_publish(crate::alerts_subject(part), publish)
        .await
        .map_err(|e| format!("cannot hand alerts to the incident stage: {e}"))?
        .await
        .map_err(|e| format!("the alerts stream did not acknowledge: {e}"))?;
    Ok(())
}

/// The alerts of one message (lines of `{"alert", "seq", "latency"}`); a line that is not one
/// is logged and skipped (the alert itself is stored in ClickHouse already).
pub fn decode_alerts(payload: &[u8]) -> Vec<(Alert, i64, i64)> {
    #[derive(serde::Deserialize)]
    struct Line {
        alert: Alert,
        seq: i64,
        latency: i64,
    }
    let mut out = Vec::new();
    for line in payload.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<Line>(line) {
            Ok(l) => out.push((l.alert, l.seq, l.latency)),
            Err(e) => tracing::warn!(error = %e, "an alerts line is unreadable; skipped"),
        }
    }
    out
}
