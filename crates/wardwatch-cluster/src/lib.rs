//! Scale-out on NATS JetStream: when a region or a managed SOC outgrows one machine, ingest
//! nodes publish what they accept to a replicated, acknowledged log, and detection workers
//! consume it partition by partition, writing events and alerts to ClickHouse.
//!
//! ```text
//!  senders ─▶ ingest (NatsSink) ──publish, wait for JetStream's ack──▶ WARDWATCH_EVENTS
//!             answer 200 only then; 503 when NATS is unreachable,     ww.events.<part>.<org>
//!             429 when the stream is full (workers behind)                 │ one durable pull
//!                                                                          ▼ consumer a partition
//!                                detect workers: decode, detect, insert events + alerts in
//!                                ClickHouse, save the partition's state, then ack
//! ```
//!
//! Why partitions by organization and host: one host's events stay in order on one partition
//! (the ordered stage — correlations, analytics — sees them as the single binary does), and
//! partitions spread over workers. The partition is `hash(org, lowercased host) % partitions`
//! ([`partition`]); the subject carries the organization too, for operators' filters.
//!
//! Why the ingest node stamps nothing into the payload: a message is the batch's events as the
//! decoder made them (the received time travels in a header), so a sender retrying a batch
//! after a lost answer — through any ingest node — publishes the same bytes with the same
//! `Nats-Msg-Id`, and JetStream keeps it once within the duplicate window.
//!
//! Why a work-queue stream: a message leaves the stream when its partition's worker
//! acknowledged it (after ClickHouse has it), so the stream's size is exactly the backlog, and
//! `max_bytes` with "discard new" turns a backlog too large into 429 for senders instead of
//! lost events.
//!
//! **Architecture Invariant:** transport only: this crate moves batches and commits through
//! the storage seam and ClickHouse; what detection does with a batch is the caller's (the
//! server's pipeline stages).

mod admin;
pub mod incidents;
pub mod keeper;
pub mod lease;
mod partition;
mod publish;
pub mod watermark;
mod wire;
pub mod worker;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use admin::{ConsumerStatus, Lease, Status, StreamStatus, init, status};
pub use partition::{org_token, partition};
pub use publish::NatsSink;
pub use wire::{Batch, decode_docs};
pub use worker::{Detected, Entry, Stage, WorkerMetrics, WorkerSetup, run_worker};

/// The stream ingest publishes accepted events to.
pub const EVENTS_STREAM: &str = "WARDWATCH_EVENTS";
/// Subjects of [`EVENTS_STREAM`]: `ww.events.<partition>.<organization token>`.
pub const EVENTS_SUBJECTS: &str = "ww.events.>";

/// The stream detection workers hand alerts to the incident stage on.
pub const ALERTS_STREAM: &str = "WARDWATCH_ALERTS";
/// Subjects of [`ALERTS_STREAM`]: `ww.alerts.<partition>`.
pub const ALERTS_SUBJECTS: &str = "ww.alerts.>";
/// The incident stage's durable consumer (one active holder at a time, see `lease.rs`).
pub const INCIDENTS_CONSUMER: &str = "ww-incidents";

/// The subject of partition `part`'s alerts.
pub fn alerts_subject(part: u32) -> String {
    format!("ww.alerts.{part}")
}

/// The durable consumer of partition `part`'s events.
pub fn detect_consumer(part: u32) -> String {
    format!("ww-detect-{part}")
}

/// The subject of an event of `org` on partition `part`.
pub fn events_subject(part: u32, org: &str) -> String {
    format!("ww.events.{part}.{}", org_token(org))
}

/// The subjects of partition `part` (what its consumer filters on).
pub fn partition_filter(part: u32) -> String {
    format!("ww.events.{part}.>")
}

/// `[cluster]`: where NATS is and how the events stream is cut. Absent from the configuration:
/// `serve` is the single binary, nothing of this is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// NATS servers, comma-separated (`nats://host:4222`; `tls://` for TLS).
    pub nats: String,
    /// Partitions of the events stream: the most detection workers that can share the work.
    /// Changing it moves hosts between partitions: only with the stream drained.
    pub partitions: u32,
    /// Copies of each stream in a NATS cluster (3 in a region; 1 on one server).
    pub replicas: usize,
    /// The most unprocessed events held, MiB; past it ingest answers 429 (the workers are
    /// behind), past 80% of it senders are slowed. Default 1024: JetStream reserves it on
    /// its store's disk (on each replica) and refuses more than its `max_file_store` allows
    /// (by default a share of the free disk); raise both for hours of backlog.
    pub max_backlog_mb: u64,
    /// A batch a sender sends again within this many seconds (a retry after a lost answer) is
    /// stored once.
    pub duplicate_window_secs: u64,
    /// A worker that took a message and does not acknowledge it within this many seconds
    /// (it died, or ClickHouse is down) gets it delivered again, to itself or another worker.
    pub ack_wait_secs: u64,
    /// How long ingest waits for JetStream's acknowledgement before answering 503.
    pub publish_timeout_secs: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats: "nats://127.0.0.1:4222".into(),
            partitions: 8,
            replicas: 1,
            max_backlog_mb: 1024,
            duplicate_window_secs: 120,
            ack_wait_secs: 60,
            publish_timeout_secs: 5,
        }
    }
}

impl ClusterConfig {
    /// What is wrong with this configuration, in words naming the key.
    pub fn check(&self) -> Result<(), ClusterError> {
        let bad = |m: String| Err(ClusterError::Config(m));
        if self.nats.trim().is_empty() {
            return bad("cluster.nats is empty: name the NATS servers (nats://host:4222)".into());
        }
        if self.partitions == 0 || self.partitions > 1024 {
            return bad(format!(
                "cluster.partitions is {}: between 1 and 1024",
                self.partitions
            ));
        }
        if !(1..=5).contains(&self.replicas) {
            return bad(format!(
                "cluster.replicas is {}: between 1 and 5 (NATS' own limit)",
                self.replicas
            ));
        }
        if self.max_backlog_mb == 0 {
            return bad("cluster.max_backlog_mb is 0: the stream could hold nothing".into());
        }
        if self.ack_wait_secs == 0 || self.publish_timeout_secs == 0 {
            return bad(
                "cluster.ack_wait_secs and cluster.publish_timeout_secs must be above 0".into(),
            );
        }
        Ok(())
    }

    fn servers(&self) -> Vec<String> {
        self.nats
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }
}

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("configuration: {0}")]
    Config(String),
    /// NATS did not answer, or answered with an error.
    #[error("NATS at {servers}: {message}")]
    Nats { servers: String, message: String },
    #[error(transparent)]
    Store(#[from] wardwatch_store::StoreError),
}

/// A client of the configured NATS servers. With `wait`, fails when none answers; without, it
/// returns at once and connects (and reconnects) in the background — what an ingest node
/// wants, so it starts and answers 503 while NATS is down rather than not starting.
pub async fn connect(
    cfg: &ClusterConfig,
    name: &str,
    wait: bool,
) -> Result<async_nats::Client, ClusterError> {
    cfg.check()?;
    let servers = cfg.servers();
    let mut opts = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        // Keep what was not acknowledged out of the client's own buffers while disconnected:
        // ingest answers 503 instead.
        .client_capacity(4096);
    if !wait {
        opts = opts.retry_on_initial_connect();
    }
    let addrs: Vec<async_nats::ServerAddr> = servers
        .iter()
        .map(|s| {
            s.parse().map_err(|e| {
                ClusterError::Config(format!("cluster.nats: `{s}` is not a NATS address: {e}"))
            })
        })
        .collect::<Result<_, _>>()?;
    opts.connect(addrs).await.map_err(|e| nats_error(cfg, e))
}

/// A [`ClusterError::Nats`] naming the servers.
pub(crate) fn nats_error(cfg: &ClusterConfig, e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Nats {
        servers: cfg.nats.clone(),
        message: e.to_string(),
    }
}
