//! The HTTP listener: serves an axum router (bulk ingest, the API) over plain TCP or TLS, with
//! the limits a port exposed to a hospital network needs.
//!
//! # What it does
//! [`serve_http`] runs its own accept loop instead of `axum::serve`, because every limit below
//! lives at the connection level:
//! - at most `max_connections` open, at most `max_connections_per_peer` from one address, only
//!   from `allowed_networks` ([`super::gate::ConnGate`]);
//! - a request's headers must arrive within `header_timeout` (hyper's header read timeout;
//!   counted in `header_timeouts`), and a connection waiting `idle_timeout` on its peer — between
//!   requests, or a client that sends or reads nothing — is closed (`idle_timeouts`);
//! - over TLS ([`super::tls`]) the handshake must finish within 10 s (`handshake_failures`).
//!
//! A request body's own time limit is the handler's (the bulk API's `body_timeout`). Every
//! request carries a [`Peer`] extension: who is on the other end, with the subject of the client
//! certificate when one was presented. On shutdown, connections finish the request in progress
//! and close.
//!
//! # Why it matters
//! Without these limits 300 slow senders from one address held every bulk slot and a normal
//! shipper from another host got nothing through in a minute.
//!
//! # References
//! RFC 9112 (HTTP/1.1); hyper's `http1::Builder` (`header_read_timeout`, `timer`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::{debug, warn};

use super::gate::{ConnGate, ConnLimits};
use super::tls::client_subject;
use crate::SourceCounters;

/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Limits of one HTTP listener.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub conn: ConnLimits,
    /// A request's headers must arrive within this.
    pub header_timeout: Duration,
}

/// Who sent a request; in every request's extensions.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// Subject of the TLS client certificate, when one was presented.
    pub client_subject: Option<String>,
}

/// Serve `app` on `listener` (over TLS when `tls` is given) until `shutdown` resolves; then let
/// each connection finish its request in progress, and return.
pub async fn serve_http(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: HttpLimits,
    counters: Arc<SourceCounters>,
    shutdown: impl Future,
) {
    let gate = ConnGate::new(&limits.conn, counters.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let source = "http";
    loop {
        while let Some(done) = tasks.try_join_next() {
            if let Err(e) = done {
                warn!(error = %e, "an HTTP connection task ended abnormally");
            }
        }
        let Some((tcp, addr, admitted)) = gate.accept(&listener, source, &mut shutdown).await
        else {
            break;
        };
        let _ = tcp.set_nodelay(true);
        let io = gate.idle(tcp);
        let (app, tls, stop, counters) =
            (app.clone(), tls.clone(), stop_rx.clone(), counters.clone());
        let header_timeout = limits.header_timeout;
        tasks.spawn(async move {
            let _admitted = admitted;
            match tls {
                None => {
                    let peer = Peer {
                        addr,
                        client_subject: None,
                    };
                    connection(io, peer, app, header_timeout, &counters, stop).await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                        Ok(Ok(tls)) => {
                            let peer = Peer {
                                addr,
                                client_subject: client_subject(tls.get_ref().1),
                            };
                            connection(tls, peer, app, header_timeout, &counters, stop).await
                        }
                        Ok(Err(e)) => {
                            SourceCounters::add(&counters.handshake_failures, 1);
                            debug!(peer = %addr, error = %e, "HTTPS handshake failed");
                        }
                        Err(_) => {
                            SourceCounters::add(&counters.handshake_failures, 1);
                            debug!(peer = %addr, "HTTPS handshake timed out");
                        }
                    }
                }
            }
        });
    }
    let _ = stop_tx.send(true);
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            warn!(error = %e, "an HTTP connection task ended abnormally");
        }
    }
}

/// Serve HTTP/1.1 requests on one connection.
async fn connection<IO>(
    io: IO,
    peer: Peer,
    app: Router,
    header_timeout: Duration,
    counters: &SourceCounters,
    mut stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let addr = peer.addr;
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(peer.clone());
        // What axum's `ConnectInfo<SocketAddr>` extractor reads (the console's audit log).
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer.addr));
        app.clone().oneshot(request)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = async { let _ = stop.wait_for(|&v| v).await; } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        if e.is_timeout() {
            SourceCounters::add(&counters.header_timeouts, 1);
            debug!(peer = %addr, "request headers did not arrive within header_timeout_secs; connection closed");
        } else {
            debug!(peer = %addr, error = %e, "HTTP connection ended with an error");
        }
    }
}
