//! Syslog over TCP.
//!
//! # What it does
//! [`serve_tcp`] accepts connections (at most `max_connections` at once; more wait in the
//! kernel's backlog; at most `max_connections_per_peer` from one address and only from
//! `allowed_networks`, see [`super::gate`]; one that sends nothing for `idle_timeout_secs` is
//! closed, so idle connections cannot hold the listener) and reads each as a stream of syslog messages, octet-counted or
//! newline-framed, decided per frame (see [`super::framing`]). Messages are decoded with
//! [`wardwatch_ingest::syslog::decode_bytes`] (RFC 5424 and 3164; never fails: what is not syslog is kept as
//! raw text and counted as malformed) and submitted in batches of up to `batch_max` messages or
//! `batch_delay_ms`. Events carry `origin.source = "syslog-tcp"` and the sender's address
//! (`log.source.address`).
//!
//! A connection reads nothing more while a batch waits to be committed, so when the pipeline is
//! behind, the sender's TCP window fills and it slows down (rsyslog then queues on its side); a
//! batch refused as busy is submitted again after the delay the sink asks for and never lost. A
//! connection that ends or fails (logged at debug level) keeps every message it received, also
//! a last one without its line feed; an octet-counted one cut short is kept marked truncated and
//! counted as malformed. When the listener
//! stops, each connection first reads what the sender has already written (TCP acknowledged
//! it), stores it and then closes.
//!
//! # Why it matters
//! TCP is how rsyslog, syslog-ng and most appliances forward reliably; plain TCP has no
//! application acknowledgement, so the only way not to lose messages under load is to stop
//! reading until they are stored.
//!
//! # Example
//! `logger --tcp -n 127.0.0.1 -P 5514 'hello'` sends `<13>1 2024-... host user - - - hello\n`
//! (or octet-counted with `--octet-count`); both arrive as one event.
//!
//! # References
//! RFC 6587 (transmission of syslog messages over TCP); RFC 5424; RFC 3164.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::SyslogConfig;
use super::stream::{StreamCtx, Transport, accept_loop};
use crate::{Sink, SourceCounters};

/// `origin.source` of events received by [`serve_tcp`].
pub const SOURCE: &str = "syslog-tcp";

/// Serve syslog over TCP on `listener` until `shutdown` resolves; then stop accepting, let
/// every connection submit what it has received, and return.
pub async fn serve_tcp<S: Sink>(
    listener: TcpListener,
    sink: Arc<S>,
    counters: Arc<SourceCounters>,
    cfg: SyslogConfig,
    shutdown: impl Future,
) {
    let ctx = StreamCtx {
        sink,
        counters,
        cfg,
        source: SOURCE,
    };
    accept_loop(listener, Transport::Plain, ctx, shutdown).await
}
