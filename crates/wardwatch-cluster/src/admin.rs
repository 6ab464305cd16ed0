//! `wardwatch cluster init` and `status`, NATS' part: the events stream and one durable
//! consumer per partition, made idempotently; and what an operator asks of a running cluster —
//! how much waits in the stream, and per partition how far its consumer is behind and whether
//! a worker is pulling from it.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use serde::Serialize;

use crate::{
    ALERTS_STREAM, ALERTS_SUBJECTS, ClusterConfig, ClusterError, EVENTS_STREAM, EVENTS_SUBJECTS,
    INCIDENTS_CONSUMER, detect_consumer, nats_error, partition_filter,
};

/// Deliveries a worker may hold unacknowledged per partition (a few messages ahead).
pub(crate) const MAX_ACK_PENDING: i64 = 16;

/// What to change when JetStream refuses a stream for its size: it reserves the stream's
/// `max_bytes` on its store and refuses more than its `max_file_store` (by default a share of
/// the free disk) allows.
fn storage_hint(cfg: &ClusterConfig, e: &impl std::fmt::Display) -> String {
    let text = e.to_string();
    if !(text.contains("insufficient storage") || text.contains("10047")) {
        return String::new();
    }
    format!(
        " — the backlog asked for ({} MiB, `[cluster] max_backlog_mb`) is more than the NATS server grants: lower `max_backlog_mb`, or give the server more room (`jetstream {{ max_file_store }}` in its configuration, and the disk for it)",
        cfg.max_backlog_mb
    )
}

/// The events stream as configured.
pub(crate) fn events_stream(cfg: &ClusterConfig) -> stream::Config {
    stream::Config {
        name: EVENTS_STREAM.into(),
        description: Some("Wardwatch: accepted events, by partition (org + host hash)".into()),
        subjects: vec![EVENTS_SUBJECTS.into()],
        // A message leaves once its partition's worker acknowledged it: the stream is the
        // backlog, and a full one refuses new batches (ingest answers 429).
        retention: stream::RetentionPolicy::WorkQueue,
        discard: stream::DiscardPolicy::New,
        max_bytes: i64::try_from(cfg.max_backlog_mb.saturating_mul(1024 * 1024))
            .unwrap_or(i64::MAX),
        storage: stream::StorageType::File,
        num_replicas: cfg.replicas,
        duplicate_window: Duration::from_secs(cfg.duplicate_window_secs.max(1)),
        ..Default::default()
    }
}

/// The alerts stream: what detection workers hand the incident stage.
pub(crate) fn alerts_stream(cfg: &ClusterConfig) -> stream::Config {
    stream::Config {
        name: ALERTS_STREAM.into(),
        description: Some("Wardwatch: alerts on their way to the incident stage".into()),
        subjects: vec![ALERTS_SUBJECTS.into()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        num_replicas: cfg.replicas,
        // A worker that failed to commit hands the same alerts again, maybe minutes later
        // (its store was down): recognized within this window.
        duplicate_window: Duration::from_secs(cfg.duplicate_window_secs.max(600)),
        ..Default::default()
    }
}

/// The incident stage's consumer.
pub(crate) fn incidents_consumer_config(cfg: &ClusterConfig) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(INCIDENTS_CONSUMER.into()),
        description: Some("Wardwatch incident stage (one active, standbys wait)".into()),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(cfg.ack_wait_secs),
        deliver_policy: consumer::DeliverPolicy::All,
        max_ack_pending: MAX_ACK_PENDING,
        num_replicas: cfg.replicas,
        ..Default::default()
    }
}

/// Partition `part`'s durable consumer as configured.
pub(crate) fn detect_consumer_config(cfg: &ClusterConfig, part: u32) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(detect_consumer(part)),
        description: Some(format!("Wardwatch detection, partition {part}")),
        filter_subject: partition_filter(part),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(cfg.ack_wait_secs),
        deliver_policy: consumer::DeliverPolicy::All,
        max_ack_pending: MAX_ACK_PENDING,
        num_replicas: cfg.replicas,
        ..Default::default()
    }
}

/// Create (or bring up to date) the events stream and every partition's consumer, and the
/// alerts stream with the incident stage's consumer. Running it
/// again changes nothing; it fails, naming the servers, when NATS does not answer.
pub async fn init(cfg: &ClusterConfig) -> Result<Status, ClusterError> {
    let client = crate::connect(cfg, "wardwatch-cluster-init", true).await?;
    let js = jetstream::new(client);
    for config in [events_stream(cfg), alerts_stream(cfg)] {
        let name = config.name.clone();
        if let Err(e) = js.create_or_update_stream(config).await {
            // A server refuses an update it cannot apply in place; the existing stream of
            // that name still serves.
            if js.get_stream(&name).await.is_err() {
                return Err(nats_error(
                    cfg,
                    format!(
                        "cannot create the stream {name}: {e}{}",
                        storage_hint(cfg, &e)
                    ),
                ));
            }
        }
    }
    js.get_stream(ALERTS_STREAM)
        .await
        .map_err(|e| nats_error(cfg, e))?
        .get_or_create_consumer(INCIDENTS_CONSUMER, incidents_consumer_config(cfg))
        .await
        .map_err(|e| {
            nats_error(
                cfg,
                format!("cannot create the consumer {INCIDENTS_CONSUMER}: {e}"),
            )
        })?;
    let s = js
        .get_stream(EVENTS_STREAM)
        .await
        .map_err(|e| nats_error(cfg, e))?;
    for part in 0..cfg.partitions {
        s.get_or_create_consumer(&detect_consumer(part), detect_consumer_config(cfg, part))
            .await
            .map_err(|e| {
                nats_error(
                    cfg,
                    format!("cannot create the consumer {}: {e}", detect_consumer(part)),
                )
            })?;
    }
    status_of(cfg, &js).await
}

/// The events stream and its consumers, as NATS reports them now.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub nats: String,
    pub stream: StreamStatus,
    pub partitions: Vec<ConsumerStatus>,
    /// Alerts waiting for the incident stage (messages), and whether it pulls.
    pub alerts_pending: u64,
    pub incidents_waiting: usize,
    /// The leases held now (`lease.rs`): which worker holds each partition (`part.N`), the
    /// incident stage (`incidents`), and the workers present (`worker.NAME`).
    pub leases: Vec<Lease>,
}

/// One lease and the worker holding it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Lease {
    pub key: String,
    pub owner: String,
}

impl Status {
    /// Who holds `key` now.
    pub fn holder(&self, key: &str) -> Option<&str> {
        self.leases
            .iter()
            .find(|l| l.key == key)
            .map(|l| l.owner.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamStatus {
    pub name: String,
    /// Messages (batches) and bytes not yet acknowledged by a worker: the backlog.
    pub messages: u64,
    pub bytes: u64,
    /// Its share of `max_backlog_mb` (ingest answers 429 near 1).
    pub fill: f64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub replicas: usize,
}

/// One partition's consumer.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerStatus {
    pub partition: u32,
    pub consumer: String,
    /// Messages not yet delivered to a worker (the lag).
    pub pending: u64,
    /// Delivered, not yet acknowledged (a worker holds them, or died holding them).
    pub ack_pending: usize,
    /// Delivered more than once so far (after a worker died or ClickHouse was down).
    pub redelivered: usize,
    /// Pull requests waiting: a worker is attached when above 0.
    pub waiting: usize,
    /// The last stream sequence acknowledged.
    pub ack_floor: u64,
    /// `false` when the consumer does not exist (run `wardwatch cluster init`).
    pub exists: bool,
}

/// The cluster's transport as NATS reports it: fails when NATS does not answer or the stream
/// was never made (`wardwatch cluster init` makes it).
pub async fn status(cfg: &ClusterConfig) -> Result<Status, ClusterError> {
    let client = crate::connect(cfg, "wardwatch-cluster-status", true).await?;
    status_of(cfg, &jetstream::new(client)).await
}

pub(crate) async fn status_of(
    cfg: &ClusterConfig,
    js: &jetstream::Context,
) -> Result<Status, ClusterError> {
    let mut s = js.get_stream(EVENTS_STREAM).await.map_err(|e| {
        nats_error(
            cfg,
            format!("no stream {EVENTS_STREAM} ({e}); run `wardwatch cluster init`"),
        )
    })?;
    let info = s.info().await.map_err(|e| nats_error(cfg, e))?.clone();
    let max = info.config.max_bytes.max(1) as f64;
    let stream = StreamStatus {
        name: info.config.name.clone(),
        messages: info.state.messages,
        bytes: info.state.bytes,
        fill: info.state.bytes as f64 / max,
        first_seq: info.state.first_sequence,
        last_seq: info.state.last_sequence,
        replicas: info.config.num_replicas,
    };
    let mut partitions = Vec::new();
    for part in 0..cfg.partitions {
        let name = detect_consumer(part);
        let row = match s.consumer_info(&name).await {
            Ok(c) => ConsumerStatus {
                partition: part,
                consumer: name,
                pending: c.num_pending,
                ack_pending: c.num_ack_pending,
                redelivered: c.num_redelivered,
                waiting: c.num_waiting,
                ack_floor: c.ack_floor.stream_sequence,
                exists: true,
            },
            Err(_) => ConsumerStatus {
                partition: part,
                consumer: name,
                pending: 0,
                ack_pending: 0,
                redelivered: 0,
                waiting: 0,
                ack_floor: 0,
                exists: false,
            },
        };
        partitions.push(row);
    }
    let (mut alerts_pending, mut incidents_waiting) = (0, 0);
    if let Ok(a) = js.get_stream(ALERTS_STREAM).await
        && let Ok(c) = a.consumer_info(INCIDENTS_CONSUMER).await
    {
        alerts_pending = c.num_pending + c.num_ack_pending as u64;
        incidents_waiting = c.num_waiting;
    }
    // Read only: the bucket is made by the first worker (no worker yet, no leases).
    let mut leases = Vec::new();
    if let Ok(kv) = js.get_key_value(crate::lease::BUCKET).await
        && let Ok(mut keys) = kv.keys().await
    {
        use futures_util::StreamExt;
        while let Some(Ok(key)) = keys.next().await {
            if let Ok(Some(v)) = kv.get(&key).await {
                let owner = String::from_utf8_lossy(&v).into_owned();
                leases.push(Lease { key, owner });
            }
        }
    }
    leases.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Status {
        nats: cfg.nats.clone(),
        stream,
        partitions,
        alerts_pending,
        incidents_waiting,
        leases,
    })
}
