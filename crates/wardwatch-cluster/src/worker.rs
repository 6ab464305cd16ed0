//! Detection workers: each holds some partitions (leases, `lease.rs`) and, per partition, pulls
//! the next messages from its durable consumer in order, runs the caller's detection [`Stage`]
//! on their events, and commits — events, alerts and undecodable lines into ClickHouse, alerts
//! on to the incident stage's stream, then the partition's cursor, ordered state, exception
//! counters and identity uses through the storage seam — and only then acknowledges.
//!
//! Exactly once, whatever dies when: an event's position is its message's stream sequence ×
//! [`SLOTS`] + its line, and an alert's id comes from rule + position, so detecting again gives
//! the same rows. A message at or below the partition's saved cursor was committed before a
//! crash: acknowledged and skipped. A message delivered again (a worker died between ClickHouse
//! and its acknowledgement), or a group retried after a failed commit, first asks ClickHouse
//! which positions and alert ids it already has (`stored_among`, `stored_alerts`) and inserts
//! only the rest; the alerts' message to the incident stage has a message id JetStream keeps
//! once. A failed commit (ClickHouse or the state store down) is retried with the same messages
//! held — acknowledgements stop, the stream keeps the rest, and the worker catches up once the
//! store answers — after the ordered stage went back to its last committed state.
//!
//! Poison: a line that is not an event (or a message that is not UTF-8) is kept in ClickHouse's
//! `undecodable` table with its reason, counted, and acknowledged with its message; it never
//! blocks the partition.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer};
use futures_util::StreamExt;
use tokio::runtime::Handle;
use wardwatch_core::{Alert, ClockWindow};
use wardwatch_store::{DetectionCommit, DetectionStore, Encoded, LedgerBatch, StoreError};
use wardwatch_store_clickhouse::{ClickHouse, NewAlert, NewEvent, Undecodable};

use crate::lease::{Held, Leases};
use crate::{
    ClusterConfig, ClusterError, EVENTS_STREAM, alerts_subject, detect_consumer, nats_error,
    partition_filter, wire,
};

/// Positions per message: an event's position is `stream sequence × SLOTS + line`.
pub const SLOTS: i64 = 4096;
/// Alert listing order per event position (an event raises fewer alerts than this).
const ALERT_SLOTS: u64 = 64;

/// The name a partition's cursor and state are saved under in the state store (a name the
/// store fences: its cursor never moves back).
pub fn state_name(part: u32) -> String {
    format!("{}{part}", wardwatch_store::PARTITION_CURSOR_PREFIX)
}

/// One event of a message, as the stage sees it.
pub struct Entry {
    /// Its position: stream sequence × [`SLOTS`] + line.
    pub seq: i64,
    /// When the ingest node received it, ns.
    pub received_ns: i64,
    /// The event (stamped with its received time) and its stored document.
    pub encoded: Encoded,
}

/// What the stage made of a group of entries.
#[derive(Default)]
pub struct Detected {
    /// Alerts in order, exceptions applied: (alert, entry position, ingest-to-alert ns).
    pub alerts: Vec<(Alert, i64, i64)>,
    /// Exceptions that stopped alerts: (id, how many, when last ns).
    pub suppressed: Vec<(String, u64, i64)>,
    /// The identity uses of the entries.
    pub ledger: Option<LedgerBatch>,
}

/// Detection on one partition's events: the server's pipeline stages (rules and indicators,
/// the ordered stage, exceptions). One a partition, since each keeps its partition's order.
pub trait Stage: Send {
    /// Go back to the state saved with the partition's cursor (`None`: none was).
    fn restore(&mut self, state: Option<&str>);
    /// The state to save with the cursor.
    fn export_state(&self) -> Option<String>;
    /// The alerts of `entries`, in order.
    fn detect(&mut self, entries: &[Entry]) -> Detected;
}

/// Makes partition `p`'s stage.
pub type StageFactory = Arc<dyn Fn(u32) -> Box<dyn Stage> + Send + Sync>;
/// Opens a connection to the shared state (the partition cursors and states).
pub type OpenState =
    Arc<dyn Fn() -> Result<Box<dyn DetectionStore + Send>, StoreError> + Send + Sync>;

/// What a worker needs.
#[derive(Clone)]
pub struct WorkerSetup {
    pub cluster: ClusterConfig,
    pub events: ClickHouse,
    pub state: OpenState,
    pub stages: StageFactory,
    /// How far a sender's time is trusted (`[time]`), as on one machine.
    pub clock: ClockWindow,
    /// This worker's name in the leases (unique per process).
    pub name: String,
    /// Most messages taken per commit.
    pub batch_messages: usize,
    /// A lease not renewed for this long passes to another worker.
    pub lease_ttl: Duration,
}

/// A worker's counters (for `/metrics` and the benchmark).
#[derive(Debug, Default)]
pub struct WorkerMetrics {
    pub messages: AtomicU64,
    pub events: AtomicU64,
    pub alerts: AtomicU64,
    pub undecodable: AtomicU64,
    /// Messages acknowledged without work: committed before a crash.
    pub skipped: AtomicU64,
    /// Events and alerts found already stored on a redelivery.
    pub deduplicated: AtomicU64,
    pub commit_failures: AtomicU64,
    /// Commits refused because another worker had committed the partition further (this one
    /// lost its lease while it worked): the partition was left.
    pub fenced: AtomicU64,
    /// Partitions held now.
    pub partitions: AtomicU64,
}

/// Run a worker until `stop`: hold a fair share of the partitions (leases), run each on a
/// thread of its own, hand partitions over when workers come and go. Blocks; call from a
/// thread that is not a runtime's (NATS calls run on `handle`).
pub fn run_worker(
    setup: WorkerSetup,
    handle: Handle,
    stop: Arc<AtomicBool>,
    metrics: Arc<WorkerMetrics>,
) -> Result<(), ClusterError> {
    let _runtime = handle.enter();
    let cfg = setup.cluster.clone();
    let client = handle.block_on(crate::connect(&cfg, &setup.name, true))?;
    let js = jetstream::new(client);
    let leases = handle.block_on(Leases::open(&cfg, &js, &setup.name, setup.lease_ttl))?;
    let partitions = cfg.partitions;
    // Start looking at a different partition per worker, so they do not all race for 0.
    let offset = (crate::partition(&setup.name, None, partitions.max(1))) % partitions.max(1);
    let me = format!("worker.{}", crate::org_token(&setup.name));
    let mut presence: Option<Held> = None;
    let mut running: Vec<(u32, Held, Arc<AtomicBool>, std::thread::JoinHandle<()>)> = Vec::new();
    let renew_every = setup.lease_ttl / 3;
    let mut renewed = Instant::now() - renew_every;
    while !stop.load(Ordering::Acquire) {
        if renewed.elapsed() >= renew_every {
            renewed = Instant::now();
            presence = match presence.take() {
                Some(h) => handle.block_on(leases.renew(&h)),
                None => None,
            };
            if presence.is_none() {
                presence = handle.block_on(leases.take(&me));
            }
            let mut kept = Vec::new();
            for (part, held, halt, thread) in running.drain(..) {
                match handle.block_on(leases.renew(&held)) {
                    Some(h) if !thread.is_finished() => kept.push((part, h, halt, thread)),
                    Some(h) => {
                        // The partition's thread ended (it says why in the log): let another
                        // worker (or this one, next round) take it up again.
                        let _ = thread.join();
                        handle.block_on(leases.release(&h));
                    }
                    None => {
                        tracing::warn!(part, "lease lost: another worker took the partition");
                        halt.store(true, Ordering::Release);
                        let _ = thread.join();
                    }
                }
            }
            running = kept;
        }
        let workers = handle.block_on(leases.held("worker.")).len().max(1) as u32;
        let target = partitions.div_ceil(workers) as usize;
        if running.len() < target {
            for i in 0..partitions {
                if running.len() >= target {
                    break;
                }
                let part = (offset + i) % partitions;
                if running.iter().any(|(p, ..)| *p == part) {
                    continue;
                }
                if let Some(held) = handle.block_on(leases.take(&part_key(part))) {
                    let halt = Arc::new(AtomicBool::new(false));
                    let thread = spawn_partition(&setup, &js, &handle, part, &halt, &metrics);
                    tracing::info!(part, worker = %setup.name, "partition taken");
                    running.push((part, held, halt, thread));
                }
            }
        } else if running.len() > target {
            // More workers now: hand the last partitions over, after their current batch.
            while running.len() > target {
                let Some((part, held, halt, thread)) = running.pop() else {
                    break;
                };
                halt.store(true, Ordering::Release);
                let _ = thread.join();
                handle.block_on(leases.release(&held));
                tracing::info!(part, worker = %setup.name, "partition handed over");
            }
        }
        metrics
            .partitions
            .store(running.len() as u64, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(500));
    }
    for (_, held, halt, thread) in running {
        halt.store(true, Ordering::Release);
        let _ = thread.join();
        handle.block_on(leases.release(&held));
    }
    if let Some(h) = presence {
        handle.block_on(leases.release(&h));
    }
    Ok(())
}

pub fn part_key(part: u32) -> String {
    format!("part.{part}")
}

fn spawn_partition(
    setup: &WorkerSetup,
    js: &jetstream::Context,
    handle: &Handle,
    part: u32,
    halt: &Arc<AtomicBool>,
    metrics: &Arc<WorkerMetrics>,
) -> std::thread::JoinHandle<()> {
    let p = Partition {
        setup: setup.clone(),
        js: js.clone(),
        handle: handle.clone(),
        part,
        halt: halt.clone(),
        metrics: metrics.clone(),
    };
    std::thread::Builder::new()
        .name(format!("wardwatch-part-{part}"))
        .spawn(move || {
            if let Err(e) = p.run() {
                tracing::error!(part, error = %e, "partition worker stopped");
            }
        })
        .expect("the OS can start a thread")
}

/// One partition's loop.
struct Partition {
    setup: WorkerSetup,
    js: jetstream::Context,
    handle: Handle,
    part: u32,
    halt: Arc<AtomicBool>,
    metrics: Arc<WorkerMetrics>,
}

/// A group of messages taken together, decoded.
struct Group {
    messages: Vec<jetstream::Message>,
    entries: Vec<Entry>,
    bad: Vec<(u64, u32, i64, String, String)>,
    /// The last stream sequence of the group.
    last: u64,
    /// Whether any was delivered before.
    redelivered: bool,
}

impl Partition {
    fn halted(&self) -> bool {
        self.halt.load(Ordering::Acquire)
    }

    fn run(self) -> Result<(), ClusterError> {
        let cfg = &self.setup.cluster;
        let stream = self
            .handle
            .block_on(self.js.get_stream(EVENTS_STREAM))
            .map_err(|e| nats_error(cfg, format!("no stream {EVENTS_STREAM} ({e})")))?;
        let consumer: PullConsumer = self
            .handle
            .block_on(async {
                stream
                    .get_consumer(&detect_consumer(self.part))
                    .await
                    .map_err(|e| async_nats::Error::from(e.to_string()))
            })
            .map_err(|e| {
                nats_error(
                    cfg,
                    format!(
                        "no consumer {} ({e}); run `wardwatch cluster init`",
                        detect_consumer(self.part)
                    ),
                )
            })?;
        let mut state = loop {
            match (self.setup.state)() {
                Ok(s) => break s,
                Err(e) => {
                    tracing::error!(part = self.part, error = %e, "cannot open the state store; retrying");
                    if self.halted() {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        };
        let name = state_name(self.part);
        let (cursor, saved) = loop {
            match state.cursor(&name) {
                Ok(c) => break c,
                Err(e) => {
                    tracing::error!(part = self.part, error = %e, "cannot read the partition's cursor; retrying");
                    if self.halted() {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        };
        let mut cursor = u64::try_from(cursor).unwrap_or(0);
        let mut stage = (self.setup.stages)(self.part);
        stage.restore(saved.as_deref());
        let mut committed = saved;
        // The first group after taking the partition may overlap what a dead worker stored.
        let mut first = true;
        while !self.halted() {
            let messages = self.fetch(&consumer);
            if messages.is_empty() {
                continue;
            }
            let messages = in_order(
                &self.handle,
                &stream,
                &partition_filter(self.part),
                messages,
                cursor,
            );
            if messages.is_empty() {
                continue;
            }
            let Some(group) = self.decode(messages, cursor) else {
                continue;
            };
            let mut attempt = 0u32;
            loop {
                let detected = stage.detect(&group.entries);
                let next_state = stage.export_state();
                let check = first || group.redelivered || attempt > 0;
                match self.commit(
                    &mut *state,
                    &group,
                    &detected,
                    next_state.as_deref(),
                    check,
                    cursor,
                ) {
                    Ok(()) => {
                        committed = next_state;
                        let m = &self.metrics;
                        m.messages
                            .fetch_add(group.messages.len() as u64, Ordering::Relaxed);
                        m.events
                            .fetch_add(group.entries.len() as u64, Ordering::Relaxed);
                        m.alerts
                            .fetch_add(detected.alerts.len() as u64, Ordering::Relaxed);
                        m.undecodable
                            .fetch_add(group.bad.len() as u64, Ordering::Relaxed);
                        break;
                    }
                    Err(StoreError::Fenced { stored, given, .. }) => {
                        // Another worker took the partition while this one worked (its lease
                        // ran out) and committed further: what this one holds is stale. Let
                        // the messages go at once (whoever holds the partition skips what its
                        // cursor covers) and leave the partition.
                        self.metrics.fenced.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            part = self.part,
                            stored,
                            given,
                            "another worker committed this partition further (this worker lost its lease); leaving it"
                        );
                        self.handle.block_on(async {
                            for m in &group.messages {
                                let _ = m.ack_with(AckKind::Nak(None)).await;
                            }
                        });
                        return Ok(());
                    }
                    Err(e) => {
                        self.metrics.commit_failures.fetch_add(1, Ordering::Relaxed);
                        attempt += 1;
                        tracing::error!(part = self.part, error = %e, attempt, "cannot commit; holding the messages and retrying");
                        // Keep the messages ours while the store is down.
                        self.handle.block_on(async {
                            for m in &group.messages {
                                let _ = m.ack_with(AckKind::Progress).await;
                            }
                        });
                        stage.restore(committed.as_deref());
                        if self.halted() {
                            // Unacknowledged: delivered again after `ack_wait_secs`.
                            return Ok(());
                        }
                        std::thread::sleep(Duration::from_millis(
                            (250u64 << attempt.min(4)).min(4000),
                        ));
                    }
                }
            }
            self.handle.block_on(async {
                for m in &group.messages {
                    if let Err(e) = m.double_ack().await {
                        // Committed: a redelivery will be skipped by the cursor.
                        tracing::warn!(part = self.part, error = %e, "acknowledgement not confirmed");
                    }
                }
            });
            cursor = group.last;
            first = false;
        }
        Ok(())
    }

    /// The next messages of the partition, in order (empty after a second without any).
    fn fetch(&self, consumer: &PullConsumer) -> Vec<jetstream::Message> {
        let n = self.setup.batch_messages.max(1);
        self.handle.block_on(async {
            let mut out = Vec::new();
            let batch = consumer
                .fetch()
                .max_messages(n)
                .expires(Duration::from_secs(1))
                .messages()
                .await;
            match batch {
                Ok(mut batch) => {
                    while let Some(m) = batch.next().await {
                        match m {
                            Ok(m) => out.push(m),
                            Err(e) => {
                                tracing::warn!(part = self.part, error = %e, "fetch interrupted");
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(part = self.part, error = %e, "cannot fetch; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            out
        })
    }

    /// Decode `messages`; those at or below `cursor` (committed before a crash) are
    /// acknowledged and left out. `None` when nothing is left.
    fn decode(&self, messages: Vec<jetstream::Message>, cursor: u64) -> Option<Group> {
        let mut group = Group {
            messages: Vec::new(),
            entries: Vec::new(),
            bad: Vec::new(),
            last: cursor,
            redelivered: false,
        };
        let clock = &self.setup.clock;
        for m in messages {
            let Ok(info) = m.info() else {
                continue;
            };
            let (seq, delivered) = (info.stream_sequence, info.delivered);
            if seq <= cursor {
                self.metrics.skipped.fetch_add(1, Ordering::Relaxed);
                self.handle.block_on(async {
                    let _ = m.ack().await;
                });
                continue;
            }
            group.redelivered |= delivered > 1;
            group.last = group.last.max(seq);
            let received_ns = m
                .headers
                .as_ref()
                .and_then(|h| h.get(wire::RECEIVED))
                .and_then(|v| v.as_str().parse::<i64>().ok())
                .unwrap_or_else(|| jiff::Timestamp::now().as_nanosecond() as i64);
            let received = jiff::Timestamp::from_nanosecond(i128::from(received_ns))
                .unwrap_or_else(|_| jiff::Timestamp::now());
            let base = i64::try_from(seq).unwrap_or(i64::MAX / SLOTS) * SLOTS;
            for (line, doc) in wire::decode_docs(&m.payload).into_iter().enumerate() {
                let line = line.min(SLOTS as usize - 1);
                match doc {
                    Ok((mut event, _)) => {
                        event.receive(received, clock);
                        match Encoded::new(event) {
                            Ok(encoded) => group.entries.push(Entry {
                                seq: base + line as i64,
                                received_ns,
                                encoded,
                            }),
                            Err(e) => group.bad.push((
                                seq,
                                line as u32,
                                received_ns,
                                e.to_string(),
                                String::new(),
                            )),
                        }
                    }
                    Err(reason) => {
                        let text = line_text(&m.payload, line);
                        group
                            .bad
                            .push((seq, line as u32, received_ns, reason, text));
                    }
                }
            }
            group.messages.push(m);
        }
        if group.messages.is_empty() {
            return None;
        }
        if !group.bad.is_empty() {
            tracing::warn!(
                part = self.part,
                lines = group.bad.len(),
                "undecodable lines kept in ClickHouse (table undecodable)"
            );
        }
        Some(group)
    }

    /// Store what the group produced; `check`: skip what ClickHouse already has; `before`: the
    /// partition's cursor as this worker last committed (or found) it.
    fn commit(
        &self,
        state: &mut dyn DetectionStore,
        group: &Group,
        detected: &Detected,
        next_state: Option<&str>,
        check: bool,
        before: u64,
    ) -> Result<(), StoreError> {
        let ch = &self.setup.events;
        let part = self.part;
        // Fencing, first: when another worker committed the partition since (this one stalled
        // past its lease), write nothing — not even to ClickHouse. The state store refuses the
        // commit itself too, should the other commit come between this check and ours.
        let name = state_name(part);
        let (stored, _) = state.cursor(&name)?;
        if u64::try_from(stored).unwrap_or(0) > before {
            return Err(StoreError::Fenced {
                worker: name,
                stored,
                given: i64::try_from(group.last).unwrap_or(i64::MAX),
            });
        }
        let mut events: Vec<NewEvent<'_>> = group
            .entries
            .iter()
            .map(|e| NewEvent {
                seq: e.seq as u64,
                part,
                received_ns: e.received_ns,
                event: &e.encoded,
            })
            .collect();
        let mut alerts: Vec<&(Alert, i64, i64)> = detected.alerts.iter().collect();
        let mut bad: Vec<&(u64, u32, i64, String, String)> = group.bad.iter().collect();
        if check {
            let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
            let stored = ch.stored_among(part, &seqs)?;
            let ids: Vec<String> = alerts.iter().map(|(a, ..)| a.id.0.clone()).collect();
            let stored_alerts = ch.stored_alerts(&ids)?;
            let msgs: Vec<u64> = bad.iter().map(|b| b.0).collect();
            let stored_bad = ch.undecodable_among(part, &msgs)?;
            let before = events.len() + alerts.len();
            events.retain(|e| stored.binary_search(&e.seq).is_err());
            alerts.retain(|(a, ..)| stored_alerts.binary_search(&a.id.0).is_err());
            bad.retain(|b| !stored_bad.contains(&b.0));
            self.metrics.deduplicated.fetch_add(
                (before - events.len() - alerts.len()) as u64,
                Ordering::Relaxed,
            );
        }
        ch.insert(&events)?;
        let now = jiff::Timestamp::now().as_nanosecond() as i64;
        let mut rows = Vec::with_capacity(alerts.len());
        let mut last_seq = -1;
        let mut k = 0u64;
        for (a, seq, latency) in &alerts {
            k = if *seq == last_seq { k + 1 } else { 0 };
            last_seq = *seq;
            rows.push(NewAlert {
                ord: (*seq as u64)
                    .saturating_mul(ALERT_SLOTS)
                    .saturating_add(k.min(ALERT_SLOTS - 1)),
                alert: a,
                seq: *seq as u64,
                created_ns: now,
                latency_ns: *latency,
            });
        }
        ch.insert_alerts(&rows)?;
        let bad_rows: Vec<Undecodable<'_>> = bad
            .iter()
            .map(|(seq, line, received_ns, reason, payload)| Undecodable {
                part,
                seq: *seq,
                line: *line,
                received_ns: *received_ns,
                reason,
                payload,
            })
            .collect();
        ch.insert_undecodable(&bad_rows)?;
        self.publish_alerts(&detected.alerts)?;
        state.commit_detection(&DetectionCommit {
            worker: &name,
            cursor: i64::try_from(group.last).unwrap_or(i64::MAX),
            alerts: &[],
            incidents: &[],
            suppressed: &detected.suppressed,
            state: next_state,
            ledger: detected.ledger.as_ref(),
        })?;
        Ok(())
    }

    /// Hand the group's alerts to the incident stage: one message per events message that
    /// raised any, its id naming that message, so handing them again (a retry after a failed
    /// commit, or another worker after a crash, however it groups the messages) is a
    /// duplicate JetStream drops.
    fn publish_alerts(&self, alerts: &[(Alert, i64, i64)]) -> Result<(), StoreError> {
        let engine = |e: String| StoreError::Engine {
            engine: "nats",
            message: format!(
                "cannot hand alerts to the incident stage at {}: {e}",
                self.setup.cluster.nats
            ),
        };
        let subject = alerts_subject(self.part);
        let mut acks = Vec::new();
        for chunk in alerts.chunk_by(|a, b| a.1 / SLOTS == b.1 / SLOTS) {
            let id = format!("alerts-{}", chunk[0].1 / SLOTS);
            let publish = jetstream::message::PublishMessage::build()
                .payload(crate::incidents::alerts_payload(chunk))
                .message_id(id);
            let ack = self
                .handle
                .block_on(self.js.send_publish(subject.clone(), publish))
                .map_err(|e| engine(e.to_string()))?;
            acks.push(ack);
        }
        self.handle.block_on(async {
            for ack in acks {
                ack.await.map_err(|e| engine(e.to_string()))?;
            }
            Ok::<(), StoreError>(())
        })
    }
}

/// The leading run of `messages` that follows `cursor` without a gap: a message of `filter`
/// still in the stream below one of them (delivered to a worker that died, not yet delivered
/// again) must be processed first, or the ordered stages would see it out of order and the
/// cursor would pass it. The rest is handed back to JetStream for a moment. (A work queue keeps
/// only unacknowledged messages, so the next message of `filter` in the stream is the next one
/// to process.)
pub(crate) fn in_order(
    handle: &Handle,
    stream: &jetstream::stream::Stream,
    filter: &str,
    mut messages: Vec<jetstream::Message>,
    cursor: u64,
) -> Vec<jetstream::Message> {
    let seq = |m: &jetstream::Message| m.info().map_or(0, |i| i.stream_sequence);
    messages.sort_by_key(|m| seq(m));
    let mut keep = 0;
    let mut after = cursor;
    for m in &messages {
        let s = seq(m);
        if s <= cursor {
            // Processed already: the caller acknowledges it.
            keep += 1;
            continue;
        }
        let next = handle.block_on(async {
            stream
                .get_first_raw_message_by_subject(filter, after + 1)
                .await
                .map(|r| r.sequence)
        });
        match next {
            Ok(n) if n == s => {
                keep += 1;
                after = s;
            }
            // Something earlier is pending, or the stream could not say: wait.
            _ => break,
        }
    }
    let later = messages.split_off(keep);
    if !later.is_empty() {
        tracing::debug!(
            filter,
            held = later.len(),
            "an earlier message is still pending; waiting for it"
        );
        handle.block_on(async {
            for m in &later {
                let _ = m
                    .ack_with(AckKind::Nak(Some(Duration::from_millis(500))))
                    .await;
            }
        });
        if messages.is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    messages
}

/// Line `n` of a payload, as text (lossy), at most 64 KiB.
fn line_text(payload: &[u8], n: usize) -> String {
    let line = payload
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .nth(n)
        .unwrap_or(payload);
    let line = &line[..line.len().min(64 * 1024)];
    String::from_utf8_lossy(line).into_owned()
}
