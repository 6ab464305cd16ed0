//! Syslog over UDP.
//!
//! # What it does
//! [`serve_udp`] receives datagrams; one datagram is one message (RFC 5426), except that some
//! senders pack several newline-separated messages into one, so a datagram is split at line
//! feeds (and NULs) and empty pieces are skipped. A datagram over `max_message_bytes` is kept cut
//! to that size (`raw.truncated = true`) and counted as malformed. Messages are batched (up to
//! `batch_max`, or `batch_delay_ms` after the first) and handed to a separate task that decodes
//! and submits them, so the receive loop never waits for the store. Events carry
//! `origin.source = "syslog-udp"` and the sender's address (`log.source.address`). Datagrams
//! from outside `allowed_networks` are dropped and counted in `refused_network`.
//!
//! A sender over its budget ([`super::fair`]) has its messages dropped and counted in
//! `throttled` (and `dropped`), so one flooding device does not push back on everyone else.
//!
//! UDP cannot be acknowledged nor slowed down. So when the sink says it is busy, when it refuses
//! a batch, or when [`QUEUE_BATCHES`] batches already wait for it, the batch is dropped and its
//! messages are counted in `dropped` (with a warning at most every ten seconds) — never a
//! blocked receive loop, never unbounded memory: at most `QUEUE_BATCHES + 2` batches of at most
//! `batch_max` messages of at most `max_message_bytes` are held.
//!
//! Datagrams the kernel drops because its socket buffer is full are not seen here; for high
//! rates, enlarge the buffer (`net.core.rmem_max`, `SO_RCVBUF`) when creating the socket, or
//! send over TCP, which is lossless.
//!
//! # Why it matters
//! Network gear, printers and many medical-device gateways can only send syslog over UDP. What
//! cannot be kept must at least be visible as a number on `/metrics`.
//!
//! # Example
//! `logger -d -n 127.0.0.1 -P 5514 'hello'` arrives as one event.
//!
//! # References
//! RFC 5426 (transmission of syslog messages over UDP); RFC 5424; RFC 3164.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, warn};

use super::SyslogConfig;
use super::fair::{Budgets, SourceKey};
use super::framing::Frame;
use super::stream::{Senders, decode_frames};
use crate::{Sink, SinkError, SourceCounters};

/// `origin.source` of events received by [`serve_udp`].
pub const SOURCE: &str = "syslog-udp";

/// Batches that may wait for the sink while one is being submitted.
pub const QUEUE_BATCHES: usize = 4;

/// Larger than any UDP payload (65507 bytes over IPv4, 65527 over IPv6 without jumbograms), so
/// the true size of every datagram is seen.
const RECEIVE_BUFFER: usize = 65_536;

/// Interval between two warnings about dropped datagrams.
const DROP_WARN_EVERY: Duration = Duration::from_secs(10);

/// Messages received and not yet handed to the submitting task.
struct Batch {
    frames: Vec<Frame>,
    /// The sender of each frame.
    peers: Vec<SocketAddr>,
    since: Instant,
    now: Timestamp,
}

/// Counts drops and warns about them at most every [`DROP_WARN_EVERY`].
struct DropLog {
    counters: Arc<SourceCounters>,
    last_warn: Option<Instant>,
    unreported: u64,
}

impl DropLog {
    fn drop_messages(&mut self, n: usize, why: &'static str) {
        if n == 0 {
            return;
        }
        SourceCounters::add(&self.counters.dropped, n as u64);
        self.unreported += n as u64;
        let due = self
            .last_warn
            .is_none_or(|at| at.elapsed() >= DROP_WARN_EVERY);
        if due {
            warn!(
                source = SOURCE,
                dropped = self.unreported,
                reason = why,
                "syslog datagrams dropped: UDP cannot be slowed down (use TCP for lossless delivery)"
            );
            self.last_warn = Some(Instant::now());
            self.unreported = 0;
        }
    }
}

/// Split one datagram into messages; the last one is marked oversize when the datagram was cut.
fn split_datagram(datagram: Bytes, cut: bool, out: &mut Vec<Frame>) {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, &b) in datagram.iter().enumerate() {
        if b == b'\n' || b == 0 {
            pieces.push(start..i);
            start = i + 1;
        }
    }
    pieces.push(start..datagram.len());
    let last = pieces.len() - 1;
    for (i, mut range) in pieces.into_iter().enumerate() {
        while range.end > range.start && datagram[range.end - 1] == b'\r' {
            range.end -= 1;
        }
        let oversize = cut && i == last;
        if range.is_empty() && !oversize {
            continue;
        }
        out.push(Frame {
            data: datagram.slice(range),
            oversize,
        });
    }
}

/// Serve syslog over UDP on `socket` until `shutdown` resolves; the last batch is handed over
/// before returning.
pub async fn serve_udp<S: Sink>(
    socket: UdpSocket,
    sink: Arc<S>,
    counters: Arc<SourceCounters>,
    cfg: SyslogConfig,
    shutdown: impl Future,
) {
    let cfg = cfg.sane();
    let (tx, rx) = mpsc::channel::<Batch>(QUEUE_BATCHES);
    let mut drops = DropLog {
        counters: counters.clone(),
        last_warn: None,
        unreported: 0,
    };
    let submitter = tokio::spawn(submit_loop(
        rx,
        sink.clone(),
        DropLog {
            counters: counters.clone(),
            last_warn: None,
            unreported: 0,
        },
    ));
    let limit = cfg.max_message_bytes;
    let mut buf = vec![0u8; RECEIVE_BUFFER];
    let mut batch = Batch {
        frames: Vec::new(),
        peers: Vec::new(),
        since: Instant::now(),
        now: Timestamp::now(),
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let deadline = batch.since + cfg.batch_delay();
        tokio::select! {
            _ = &mut shutdown => break,
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, peer)) => {
                    if !cfg.allow.permits(peer.ip()) {
                        SourceCounters::add(&counters.refused_network, 1);
                        continue;
                    }
                    SourceCounters::add(&counters.bytes, n as u64);
                    let cut = n > limit;
                    let datagram = Bytes::copy_from_slice(&buf[..n.min(limit)]);
                    if batch.frames.is_empty() {
                        batch.since = Instant::now();
                        batch.now = Timestamp::now();
                    }
                    let before = batch.frames.len();
                    split_datagram(datagram, cut, &mut batch.frames);
                    batch.peers.resize(batch.frames.len(), peer);
                    SourceCounters::add(&counters.received, (batch.frames.len() - before) as u64);
                    if cut {
                        debug!(source = SOURCE, %peer, bytes = n, "syslog datagram over the size limit; kept cut");
                    }
                    if batch.frames.len() >= cfg.batch_max {
                        hand_off(&mut batch, &tx, &*sink, &cfg.budgets.0, &mut drops);
                    }
                }
                // Linux reports ICMP errors of earlier sends here; nothing is lost.
                Err(e) => debug!(source = SOURCE, error = %e, "receiving a syslog datagram failed"),
            },
            _ = sleep_until(deadline), if !batch.frames.is_empty() => {
                hand_off(&mut batch, &tx, &*sink, &cfg.budgets.0, &mut drops);
            }
        }
    }
    if !batch.frames.is_empty() {
        let frames = std::mem::take(&mut batch.frames);
        let peers = std::mem::take(&mut batch.peers);
        let last = Batch {
            frames,
            peers,
            ..batch
        };
        if let Err(e) = tx.send(last).await {
            drops.drop_messages(e.0.frames.len(), "shutting down");
        }
    }
    drop(tx);
    if let Err(e) = submitter.await {
        warn!(source = SOURCE, error = %e, "the syslog UDP submitter ended abnormally");
    }
}

/// How many of a batch's messages each sender may send within its budget (the rest of its
/// messages are dropped).
fn within_budget(peers: &[SocketAddr], budgets: &Budgets, pressure: f64) -> HashMap<IpAddr, usize> {
    let mut per_sender: HashMap<IpAddr, usize> = HashMap::new();
    for p in peers {
        *per_sender.entry(p.ip().to_canonical()).or_default() += 1;
    }
    for (ip, n) in per_sender.iter_mut() {
        *n = budgets.take(SourceKey::Addr(*ip), *n, pressure);
    }
    per_sender
}

/// Give the batch to the submitting task, or drop it when the sink is busy, the sender over its
/// budget, or the queue full.
fn hand_off<S: Sink>(
    batch: &mut Batch,
    tx: &mpsc::Sender<Batch>,
    sink: &S,
    budgets: &Budgets,
    drops: &mut DropLog,
) {
    let mut frames = std::mem::take(&mut batch.frames);
    let mut peers = std::mem::take(&mut batch.peers);
    if sink.busy().is_some() {
        drops.drop_messages(frames.len(), "the pipeline is busy");
        return;
    }
    let mut granted = within_budget(&peers, budgets, sink.pressure());
    let before = frames.len();
    let keep: Vec<bool> = peers
        .iter()
        .map(|p| match granted.get_mut(&p.ip().to_canonical()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        })
        .collect();
    if keep.iter().any(|k| !k) {
        let mut it = keep.iter();
        frames.retain(|_| *it.next().unwrap_or(&true));
        let mut it = keep.iter();
        peers.retain(|_| *it.next().unwrap_or(&true));
        let n = before - frames.len();
        SourceCounters::add(&drops.counters.throttled, n as u64);
        drops.drop_messages(
            n,
            "a sender is over its budget (source_budget_events_per_sec)",
        );
        if frames.is_empty() {
            return;
        }
    }
    let full = Batch {
        frames,
        peers,
        since: batch.since,
        now: batch.now,
    };
    if let Err(e) = tx.try_send(full) {
        let lost = match e {
            mpsc::error::TrySendError::Full(b) | mpsc::error::TrySendError::Closed(b) => b,
        };
        drops.drop_messages(lost.frames.len(), "the queue to the pipeline is full");
    }
}

/// Decode and submit batches one at a time; whatever the sink refuses is dropped and counted.
async fn submit_loop<S: Sink>(mut rx: mpsc::Receiver<Batch>, sink: Arc<S>, mut drops: DropLog) {
    while let Some(batch) = rx.recv().await {
        let n = batch.frames.len();
        let senders = Senders::Each(&batch.peers);
        let (events, malformed) = decode_frames(&batch.frames, senders, SOURCE, batch.now);
        SourceCounters::add(&drops.counters.malformed, malformed);
        match sink.submit(events).await {
            Ok(()) => {}
            Err(SinkError::Busy { .. }) => drops.drop_messages(n, "the pipeline is busy"),
            Err(SinkError::Closed) => drops.drop_messages(n, "the pipeline is shutting down"),
            Err(SinkError::Failed(reason)) => {
                warn!(source = SOURCE, %reason, "storing a syslog batch failed");
                drops.drop_messages(n, "the store failed");
            }
            Err(SinkError::Unavailable { reason, .. }) => {
                warn!(source = SOURCE, %reason, "storing a syslog batch failed");
                drops.drop_messages(n, "the store is unreachable");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(datagram: &[u8], cut: bool) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        split_datagram(Bytes::copy_from_slice(datagram), cut, &mut out);
        out.into_iter()
            .map(|f| (String::from_utf8_lossy(&f.data).into_owned(), f.oversize))
            .collect()
    }

    #[test]
    fn datagrams_split_at_line_ends() {
        assert_eq!(split(b"<13>one\n", false), [("<13>one".into(), false)]);
        assert_eq!(
            split(b"<13>one\r\n<13>two\n\n<13>three", false),
            [
                ("<13>one".into(), false),
                ("<13>two".into(), false),
                ("<13>three".into(), false)
            ]
        );
        assert_eq!(split(b"\n", false), []);
        assert_eq!(
            split(b"<13>one\n<13>tw", true),
            [("<13>one".into(), false), ("<13>tw".into(), true)]
        );
    }
}
