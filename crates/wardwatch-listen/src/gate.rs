//! Who may connect, how many at once, and how long a quiet connection is kept: what every TCP
//! listener (syslog TCP and TLS, HTTP) shares.
//!
//! # What it does
//! - [`Allow`] — the sender networks a listener accepts (CIDR list; empty: everyone). Others are
//!   closed at once (datagrams dropped) and counted in `refused_network`.
//! - [`ConnGate`] — at most `max_connections` open on the listener (further ones wait in the
//!   kernel's backlog; each wait is counted in `listener_full`) and at most
//!   `max_connections_per_peer` from one address (further ones are closed at once and counted in
//!   `refused_peer_limit`), so one host — or one attacker — cannot take every slot.
//! - [`IdleIo`] — a socket that fails with `TimedOut` when a read or a write has waited
//!   `idle_timeout` for the peer; the connection then ends and `idle_timeouts` counts it.
//!
//! # Why it matters
//! A monitoring system that a few idle or slow connections can blind is worse than none: before
//! these limits 300 slow senders from one address held every HTTP bulk slot, and idle syslog
//! connections filled `max_connections` for good.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep, sleep};
use tracing::debug;

use super::ListenError;
use crate::SourceCounters;

/// The sender networks a listener accepts; empty accepts every address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow(Vec<IpNet>);

impl Allow {
    /// Parse a list of CIDR networks (`10.0.0.0/8`) or single addresses (`192.0.2.7`); `what`
    /// names the setting in errors.
    pub fn parse(list: &[String], what: &str) -> Result<Allow, ListenError> {
        list.iter()
            .map(|text| {
                let t = text.trim();
                t.parse::<IpNet>()
                    .or_else(|_| t.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| ListenError::BadNetwork {
                        setting: what.to_string(),
                        value: text.clone(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Allow)
    }

    /// Whether `ip` may send (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.is_empty() || self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether every address is accepted.
    pub fn is_open(&self) -> bool {
        self.0.is_empty()
    }
}

/// Connection limits of one TCP listener.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Most connections open at once on the listener.
    pub max_connections: usize,
    /// Most connections open at once from one address.
    pub max_connections_per_peer: usize,
    /// A connection waiting this long for its peer to send or to read is closed.
    pub idle_timeout: Duration,
    /// Sender networks accepted.
    pub allow: Allow,
}

/// The connection limits of one listener, shared by its accept loop and its connections.
pub(crate) struct ConnGate {
    slots: Arc<Semaphore>,
    per_peer: usize,
    peers: Mutex<HashMap<IpAddr, usize>>,
    allow: Allow,
    pub(crate) counters: Arc<SourceCounters>,
    pub(crate) idle_timeout: Duration,
}

/// A connection the gate let in; dropping it frees its slots.
pub(crate) struct Admitted {
    _slot: OwnedSemaphorePermit,
    gate: Arc<ConnGate>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut peers = self.gate.peers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = peers.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                peers.remove(&self.ip);
            }
        }
    }
}

impl ConnGate {
    pub(crate) fn new(limits: &ConnLimits, counters: Arc<SourceCounters>) -> Arc<ConnGate> {
        Arc::new(ConnGate {
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            per_peer: limits.max_connections_per_peer.max(1),
            peers: Mutex::new(HashMap::new()),
            allow: limits.allow.clone(),
            counters,
            idle_timeout: limits.idle_timeout.max(Duration::from_millis(10)),
        })
    }

    /// Accept the next connection the limits let in; `None` once `shutdown` resolves. Refused
    /// connections are closed and counted here.
    pub(crate) async fn accept<F: Future>(
        self: &Arc<Self>,
        listener: &TcpListener,
        source: &str,
        shutdown: &mut Pin<&mut F>,
    ) -> Option<(TcpStream, SocketAddr, Admitted)> {
        loop {
            let slot = match self.slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    SourceCounters::add(&self.counters.listener_full, 1);
                    debug!(source, "listener at max_connections; new connections wait");
                    tokio::select! {
                        p = self.slots.clone().acquire_owned() => p.ok()?,
                        _ = shutdown.as_mut() => return None,
                    }
                }
            };
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors, or a connection reset before it was accepted.
                        debug!(source, error = %e, "accepting a connection failed");
                        sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.as_mut() => return None,
            };
            let ip = peer.ip().to_canonical();
            if !self.allow.permits(ip) {
                SourceCounters::add(&self.counters.refused_network, 1);
                debug!(source, %peer, "connection from outside allowed_networks refused");
                continue;
            }
            {
                let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
                let n = peers.entry(ip).or_insert(0);
                if *n >= self.per_peer {
                    drop(peers);
                    SourceCounters::add(&self.counters.refused_peer_limit, 1);
                    debug!(source, %peer, "connection over max_connections_per_peer refused");
                    continue;
                }
                *n += 1;
            }
            let admitted = Admitted {
                _slot: slot,
                gate: self.clone(),
                ip,
            };
            return Some((tcp, peer, admitted));
        }
    }

    /// `io` with this listener's idle timeout.
    pub(crate) fn idle<T>(&self, io: T) -> IdleIo<T> {
        IdleIo::new(io, self.idle_timeout, self.counters.clone())
    }
}

/// A socket whose reads and writes fail with `TimedOut` after waiting `timeout` for the peer.
/// Only time spent waiting on the peer counts: a connection we do not read (backpressure) is
/// not idle.
pub struct IdleIo<T> {
    inner: T,
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
    /// A read or write is waiting on the peer and the timer runs for it.
    armed: bool,
    counters: Arc<SourceCounters>,
}

impl<T> IdleIo<T> {
    pub(crate) fn new(inner: T, timeout: Duration, counters: Arc<SourceCounters>) -> Self {
        IdleIo {
            inner,
            timeout,
            timer: Box::pin(sleep(timeout)),
            armed: false,
            counters,
        }
    }

    /// The wrapped socket.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Called when the inner socket is pending: start the timer, or fail once it has run out.
    fn waiting(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if !self.armed {
            self.armed = true;
            let deadline = Instant::now() + self.timeout;
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                SourceCounters::add(&self.counters.idle_timeouts, 1);
                Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection was idle longer than idle_timeout_secs",
                ))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.armed = false;
                Poll::Ready(r)
            }
            Poll::Pending => this.waiting(cx).map(Err),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Ready(r) => {
                this.armed = false;
                Poll::Ready(r)
            }
            Poll::Pending => this.waiting(cx).map(Err),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(r) => {
                this.armed = false;
                Poll::Ready(r)
            }
            Poll::Pending => this.waiting(cx).map(Err),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_networks() {
        let allow = Allow::parse(&["10.0.0.0/8".into(), "192.0.2.7".into()], "x").unwrap();
        assert!(allow.permits("10.1.2.3".parse().unwrap()));
        assert!(allow.permits("192.0.2.7".parse().unwrap()));
        assert!(allow.permits("::ffff:10.9.9.9".parse().unwrap()));
        assert!(!allow.permits("192.0.2.8".parse().unwrap()));
        assert!(Allow::default().permits("203.0.113.1".parse().unwrap()));
        let e = Allow::parse(&["10.0.0.0/33".into()], "syslog.allowed_networks")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("syslog.allowed_networks") && e.contains("10.0.0.0/33"),
            "{e}"
        );
    }
}
