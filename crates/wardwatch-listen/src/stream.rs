//! What TCP and TLS syslog share: the accept loop with its connection limit, and serving one
//! connection — framing, batching, and submitting with backpressure.
//!
//! A connection reads, frames and batches; a batch goes to the sink when it holds
//! `batch_max` messages or its first message has waited `batch_delay_ms`. While the sink has
//! not committed a batch the connection reads nothing more, so the sender's TCP window fills and
//! it slows down: nothing is buffered beyond one batch and one read per connection. On `Busy` the
//! same batch is submitted again after `retry_after`; it is kept as received bytes and decoded
//! again, so the common path never copies events. When the listener stops, a connection still
//! reads what the sender has already written (TCP acknowledged it) until the peer is quiet for
//! 50 ms, submits it, and closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until};
use tracing::{debug, warn};
use wardwatch_core::{Event, Origin};

use super::SyslogConfig;
use super::fair::{Budgets, SourceKey};
use super::framing::{Frame, Framer};
use super::gate::ConnGate;
use super::tls::client_subject;
use crate::{Sink, SinkError, SourceCounters};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;
/// Longest a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// When stopping, a connection is read until it has been quiet this long...
const DRAIN_QUIET: Duration = Duration::from_millis(50);
/// ...or this much more was read.
const MAX_DRAIN_BYTES: usize = 16 * 1024 * 1024;
/// How long a sender over its budget waits before its batch is tried again.
const THROTTLE_WAIT: Duration = Duration::from_millis(200);
/// Longest wait between two submits of a batch the store failed to write.
const MAX_FAILED_BACKOFF: Duration = Duration::from_secs(5);

/// Who sent a connection's messages: the peer address and, over TLS, the subject of its client
/// certificate. Recorded on every event (`log.source.address`, `tls.client.subject`).
#[derive(Debug, Clone)]
pub(crate) struct Sender {
    pub addr: SocketAddr,
    pub subject: Option<String>,
}

/// The senders of a batch's frames.
#[derive(Clone, Copy)]
pub(crate) enum Senders<'a> {
    /// Every frame came from one connection.
    One(&'a Sender),
    /// Frame `i` came from address `i` (UDP).
    Each(&'a [SocketAddr]),
}

/// Decode syslog frames into events with `now` as the receive time; the second value is how many
/// were malformed (cut to the size limit, not syslog, or not UTF-8).
pub(crate) fn decode_frames(
    frames: &[Frame],
    senders: Senders<'_>,
    source: &str,
    now: Timestamp,
) -> (Vec<Event>, u64) {
    let mut malformed = 0;
    let events = frames
        .iter()
        .enumerate()
        .map(|(i, frame)| {
            let origin = Origin {
                source: source.to_string(),
                record_id: None,
                offset: None,
                id: None,
            };
            let mut event = wardwatch_ingest::syslog::decode_bytes(&frame.data, origin, now);
            let raw = event.raw.as_object_mut();
            let flagged = raw.as_ref().is_some_and(|r| {
                r.get("unparsed") == Some(&Value::Bool(true))
                    || r.get("invalid_utf8") == Some(&Value::Bool(true))
            });
            if frame.oversize
                && let Some(raw) = raw
            {
                raw.insert("truncated".into(), Value::Bool(true));
            }
            if frame.oversize || flagged {
                malformed += 1;
            }
            match senders {
                Senders::One(sender) => {
                    event.ecs.log_source_address = Some(sender.addr.to_string());
                    event.ecs.tls_client_subject = sender.subject.clone();
                }
                Senders::Each(addrs) => {
                    event.ecs.log_source_address = addrs.get(i).map(|a| a.to_string());
                }
            }
            event
        })
        .collect();
    (events, malformed)
}

/// Whether the listener is stopping (the flag is set, or its sender is gone).
fn stopping(rx: &watch::Receiver<bool>) -> bool {
    *rx.borrow() || rx.has_changed().is_err()
}

/// Resolves when the listener starts stopping.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|&v| v).await;
}

/// The connection must end (the sink is closed, or the listener stops and the sink is busy).
pub(crate) struct Stop;

/// Submit `frames` until the sink commits them. `Busy` waits `retry_after` and tries again; a
/// store failure backs off and tries again. When the listener stops during a wait, one last
/// attempt is made and, failing it, the batch is counted as dropped.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn submit_frames<S: Sink>(
    sink: &S,
    budgets: &Budgets,
    counters: &SourceCounters,
    source: &str,
    sender: &Sender,
    frames: &[Frame],
    now: Timestamp,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Stop> {
    if frames.is_empty() {
        return Ok(());
    }
    // A sender over its budget waits (its connection is not read meanwhile), counted once.
    let key = SourceKey::Addr(sender.addr.ip().to_canonical());
    let mut counted = false;
    while !budgets.admit(key, frames.len(), sink.pressure()) {
        if !counted {
            SourceCounters::add(&counters.throttled, frames.len() as u64);
            counted = true;
        }
        if stopping(stop) {
            break;
        }
        tokio::select! {
            _ = sleep(THROTTLE_WAIT) => {}
            _ = stopped(stop) => {}
        }
    }
    let senders = Senders::One(sender);
    let (mut events, malformed) = decode_frames(frames, senders, source, now);
    SourceCounters::add(&counters.malformed, malformed);
    let mut backoff = Duration::from_millis(100);
    loop {
        let wait = match sink.submit(events).await {
            Ok(()) => return Ok(()),
            Err(SinkError::Closed) => {
                SourceCounters::add(&counters.dropped, frames.len() as u64);
                debug!(source, lost = frames.len(), "sink closed; connection ends");
                return Err(Stop);
            }
            Err(SinkError::Busy { retry_after }) => retry_after,
            Err(SinkError::Unavailable {
                reason,
                retry_after,
            }) => {
                warn!(source, %reason, retry_in_ms = retry_after.as_millis() as u64, "the store is unreachable; not reading until it answers");
                retry_after
            }
            Err(SinkError::Failed(reason)) => {
                warn!(source, %reason, retry_in_ms = backoff.as_millis() as u64, "storing a syslog batch failed; retrying");
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_FAILED_BACKOFF);
                wait
            }
        };
        if stopping(stop) {
            SourceCounters::add(&counters.dropped, frames.len() as u64);
            warn!(
                source,
                lost = frames.len(),
                "listener stopping while the store is unavailable; batch dropped"
            );
            return Err(Stop);
        }
        tokio::select! {
            _ = sleep(wait) => {}
            _ = stopped(stop) => {}
        }
        (events, _) = decode_frames(frames, senders, source, now);
    }
}

/// Messages waiting for their batch to be submitted.
struct Pending {
    frames: Vec<Frame>,
    /// When the first message arrived: the batch's deadline runs from here.
    since: Instant,
    /// Receive time given to messages without a usable time stamp.
    now: Timestamp,
}

impl Pending {
    fn push(&mut self, frame: Frame) {
        if self.frames.is_empty() {
            self.since = Instant::now();
            self.now = Timestamp::now();
        }
        self.frames.push(frame);
    }
}

/// One listener's shared settings.
pub(crate) struct StreamCtx<S> {
    pub sink: Arc<S>,
    pub counters: Arc<SourceCounters>,
    pub cfg: SyslogConfig,
    pub source: &'static str,
}

/// Serve one connection until the peer closes it, it fails, the sink closes or the listener
/// stops. Never panics on input.
pub(crate) async fn serve_connection<R, S>(
    mut reader: R,
    sender: Sender,
    ctx: &StreamCtx<S>,
    mut stop: watch::Receiver<bool>,
) where
    R: AsyncRead + Unpin,
    S: Sink,
{
    let StreamCtx {
        sink,
        counters,
        cfg,
        source,
    } = ctx;
    let source = *source;
    let peer = sender.addr;
    let mut framer = Framer::new(cfg.max_message_bytes);
    let mut pending = Pending {
        frames: Vec::with_capacity(cfg.batch_max.min(4096)),
        since: Instant::now(),
        now: Timestamp::now(),
    };
    let mut buf = vec![0u8; READ_CHUNK];
    let mut eof = false;
    let mut drained = 0;
    loop {
        // Frame what was read; a full batch is committed before anything more is read.
        loop {
            let frame = if eof {
                framer.finish()
            } else {
                framer.next_frame()
            };
            let Some(frame) = frame else { break };
            SourceCounters::add(&counters.received, 1);
            pending.push(frame);
            if pending.frames.len() >= cfg.batch_max {
                if submit_frames(
                    &**sink,
                    &cfg.budgets.0,
                    counters,
                    source,
                    &sender,
                    &pending.frames,
                    pending.now,
                    &mut stop,
                )
                .await
                .is_err()
                {
                    return;
                }
                pending.frames.clear();
            }
        }
        if eof {
            let _ = submit_frames(
                &**sink,
                &cfg.budgets.0,
                counters,
                source,
                &sender,
                &pending.frames,
                pending.now,
                &mut stop,
            )
            .await;
            debug!(source, %peer, "syslog connection closed");
            return;
        }
        if stopping(&stop) {
            // The kernel has already acknowledged to the sender what waits in the socket: read
            // it too, until the peer is quiet for a moment.
            if drained >= MAX_DRAIN_BYTES {
                eof = true;
                continue;
            }
            match tokio::time::timeout(DRAIN_QUIET, reader.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {
                    SourceCounters::add(&counters.bytes, n as u64);
                    framer.push(&buf[..n]);
                    drained += n;
                }
                _ => eof = true,
            }
            continue;
        }
        // Nothing pending and the sink already says it is busy: do not read (or decode) more.
        if pending.frames.is_empty()
            && let Some(wait) = sink.busy()
        {
            tokio::select! {
                _ = sleep(wait) => {}
                _ = stopped(&mut stop) => {}
            }
            continue;
        }
        let deadline = pending.since + cfg.batch_delay();
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) => eof = true,
                Ok(n) => {
                    SourceCounters::add(&counters.bytes, n as u64);
                    framer.push(&buf[..n]);
                }
                // A TLS peer that closes without `close_notify` ends the stream all the same.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => eof = true,
                Err(e) => {
                    debug!(source, %peer, error = %e, "syslog connection failed; keeping what was received");
                    eof = true;
                }
            },
            _ = sleep_until(deadline), if !pending.frames.is_empty() => {
                if submit_frames(&**sink, &cfg.budgets.0, counters, source, &sender, &pending.frames, pending.now, &mut stop)
                    .await
                    .is_err()
                {
                    return;
                }
                pending.frames.clear();
            }
            _ = stopped(&mut stop) => {}
        }
    }
}

/// How a connection becomes a stream of bytes: as it is, or after a TLS handshake.
#[derive(Clone)]
pub(crate) enum Transport {
    Plain,
    Tls(tokio_rustls::TlsAcceptor),
}

/// Accept connections until `shutdown` resolves, within the listener's connection limits
/// ([`ConnGate`]); then tell every connection to stop, and wait for them to submit what they hold.
pub(crate) async fn accept_loop<S: Sink>(
    listener: TcpListener,
    transport: Transport,
    ctx: StreamCtx<S>,
    shutdown: impl Future,
) {
    let ctx = Arc::new(StreamCtx {
        cfg: ctx.cfg.sane(),
        ..ctx
    });
    let source = ctx.source;
    let gate = ConnGate::new(&ctx.cfg.conn_limits(), ctx.counters.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        while let Some(done) = tasks.try_join_next() {
            if let Err(e) = done {
                warn!(source, error = %e, "a syslog connection task ended abnormally");
            }
        }
        let Some((tcp, peer, admitted)) = gate.accept(&listener, source, &mut shutdown).await
        else {
            break;
        };
        debug!(source, %peer, "syslog connection accepted");
        let ctx = ctx.clone();
        let stop = stop_rx.clone();
        let transport = transport.clone();
        let io = gate.idle(tcp);
        tasks.spawn(async move {
            let _admitted = admitted;
            let sender = |subject| Sender {
                addr: peer,
                subject,
            };
            match transport {
                Transport::Plain => serve_connection(io, sender(None), &ctx, stop).await,
                Transport::Tls(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                        Ok(Ok(tls)) => {
                            let subject = client_subject(tls.get_ref().1);
                            serve_connection(tls, sender(subject), &ctx, stop).await
                        }
                        Ok(Err(e)) => {
                            SourceCounters::add(&ctx.counters.handshake_failures, 1);
                            debug!(source = ctx.source, %peer, error = %e, "TLS handshake failed")
                        }
                        Err(_) => {
                            SourceCounters::add(&ctx.counters.handshake_failures, 1);
                            debug!(source = ctx.source, %peer, "TLS handshake timed out")
                        }
                    }
                }
            }
        });
    }
    let _ = stop_tx.send(true);
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            warn!(source, error = %e, "a syslog connection task ended abnormally");
        }
    }
}
