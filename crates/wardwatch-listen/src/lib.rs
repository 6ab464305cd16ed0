//! Listeners: the network front doors through which live events arrive.
//!
//! Decoding is `wardwatch-ingest`'s job (pure: bytes in, events out); this crate owns the sockets,
//! TLS, HTTP, framing, limits and backpressure around it, so a new decoder never drags a network
//! stack in and a new listener never re-implements a format.
//!
//! # What it does
//! Each listener accepts one wire protocol, decodes what arrives with the crate's decoders,
//! hands batches to a [`Sink`] and acknowledges its sender only once the sink says
//! the batch is committed:
//! - [`syslog_udp`] — syslog datagrams (RFC 5426). UDP cannot be acknowledged nor slowed down,
//!   so when the sink is busy the datagrams are dropped and counted.
//! - [`syslog_tcp`] — syslog over TCP (RFC 6587), octet-counted and newline framing detected per
//!   frame ([`framing`]). Backpressure: the socket is not read while a batch waits for the sink.
//! - [`syslog_tls`] — the same over TLS (RFC 5425), with rustls and the ring provider.
//! - [`bulk`] — the Elasticsearch `_bulk` API and the start-up calls shippers make, so Winlogbeat,
//!   Filebeat, Fluent Bit, Vector and Logstash ship to Wardwatch unchanged. Backpressure: HTTP 429
//!   with `Retry-After`.
//!
//! # Why it matters
//! A hospital connects what it already runs (rsyslog on servers and network gear, Beats or Fluent
//! Bit on Windows hosts); losing events under load is the most common complaint about the open
//! peers, so every listener either waits, refuses with a status the sender retries, or — only for
//! UDP — counts what it had to drop.
//!
//! # Example
//! ```no_run
//! # async fn run(sink: std::sync::Arc<impl wardwatch_listen::Sink>) -> Result<(), wardwatch_listen::ListenError> {
//! use std::sync::Arc;
//! use wardwatch_listen::{self as listen, SourceCounters};
//! let tcp = listen::bind_tcp("127.0.0.1:5514".parse().unwrap()).await?;
//! let counters = Arc::new(SourceCounters::default());
//! listen::syslog_tcp::serve_tcp(tcp, sink, counters, listen::SyslogConfig::default(), std::future::pending::<()>()).await;
//! # Ok(()) }
//! ```
//!
//! # References
//! RFC 5424 (syslog), RFC 5426 (syslog over UDP), RFC 6587 (syslog over TCP: octet counting and
//! non-transparent framing), RFC 5425 (syslog over TLS); the Elasticsearch bulk API.
//!
//! **Architecture Invariant:** listeners store nothing themselves and know nothing of detection;
//! they talk to the pipeline only through [`Sink`] and [`SourceCounters`].

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod bulk;
pub mod fair;
pub mod framing;
pub mod gate;
pub mod http;
mod sink;
pub mod smtp;
mod stream;
pub mod syslog_tcp;
pub mod syslog_tls;
pub mod syslog_udp;
pub mod tls;

pub use bulk::{BulkConfig, BulkState, TokenCheck};
pub use fair::{Budgets, Reservation, SourceKey};
pub use gate::{Allow, ConnLimits};
pub use sink::{Sink, SinkError, SourceCounters};
pub use syslog_tls::{tls_acceptor, tls_acceptor_from_files};
pub use tls::{ClientAuth, TlsFiles};

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The address could not be bound (in use, not local, or a privileged port).
    #[error("cannot listen on `{addr}`: {source} (is another program using the port?)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key file could not be read.
    #[error("cannot read `{file}`: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("`{file}`: no certificate found (expected a PEM `-----BEGIN CERTIFICATE-----` block)")]
    NoCertificate { file: String },
    /// The key file holds no PEM private key.
    #[error(
        "`{file}`: no private key found (expected a PEM `-----BEGIN PRIVATE KEY-----`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block)"
    )]
    NoPrivateKey { file: String },
    /// A PEM file is malformed.
    #[error("`{file}`: unreadable PEM: {reason}")]
    BadPem { file: String, reason: String },
    /// rustls refused the certificate and key together.
    #[error(
        "`{cert}` and `{key}` cannot be used for TLS: {reason} (does the key belong to the certificate?)"
    )]
    Tls {
        cert: String,
        key: String,
        reason: String,
    },
    /// Client certificates are asked for but no CA file says who may sign them.
    #[error(
        "client certificates are `optional` or `required` but no client CA file is set (`tls_client_ca`): name the PEM file of the CA that signs your senders' certificates"
    )]
    NoClientCa,
    /// An entry of an allowed-networks list is not a network.
    #[error("`{setting}`: `{value}` is not a network like 10.0.0.0/8 or an address like 192.0.2.7")]
    BadNetwork { setting: String, value: String },
}

/// Settings shared by the syslog listeners (UDP, TCP and TLS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    /// Largest message kept whole, in bytes (default 65536). A longer message is kept cut to
    /// this size as raw text (`raw.truncated = true`) and counted as malformed; the rest of it is
    /// read and discarded.
    pub max_message_bytes: usize,
    /// Most messages handed to the store in one batch (default 1000).
    pub batch_max: usize,
    /// Longest a message waits for its batch to fill before the batch is stored anyway, in
    /// milliseconds (default 50).
    pub batch_delay_ms: u64,
    /// Most TCP or TLS connections served at once, per listener (default 1024). Further
    /// connections wait in the kernel's backlog until one closes.
    pub max_connections: usize,
    /// Most TCP or TLS connections from one address at once (default 64); more are closed at
    /// once and counted.
    pub max_connections_per_peer: usize,
    /// A TCP or TLS connection that sends nothing for this many seconds is closed (default 600).
    pub idle_timeout_secs: u64,
    /// Sender networks accepted (empty: every address); others are refused and counted.
    #[serde(skip)]
    pub allow: gate::Allow,
    /// Per-source budgets, shared by every listener of a server (default: none).
    #[serde(skip)]
    pub budgets: SharedBudgets,
}

/// [`Budgets`] shared between listeners; equal when they are the same budgets.
#[derive(Debug, Clone)]
pub struct SharedBudgets(pub std::sync::Arc<Budgets>);

impl Default for SharedBudgets {
    fn default() -> Self {
        SharedBudgets(std::sync::Arc::new(Budgets::unlimited()))
    }
}

impl PartialEq for SharedBudgets {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SharedBudgets {}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            max_message_bytes: 64 * 1024,
            batch_max: 1000,
            batch_delay_ms: 50,
            max_connections: 1024,
            max_connections_per_peer: 64,
            idle_timeout_secs: 600,
            allow: gate::Allow::default(),
            budgets: SharedBudgets::default(),
        }
    }
}

impl SyslogConfig {
    /// [`SyslogConfig::batch_delay_ms`] as a duration.
    pub fn batch_delay(&self) -> Duration {
        Duration::from_millis(self.batch_delay_ms)
    }

    /// The settings with impossible values (zero sizes) raised to the smallest that work.
    pub(crate) fn sane(mut self) -> Self {
        self.max_message_bytes = self.max_message_bytes.max(1);
        self.batch_max = self.batch_max.max(1);
        self.max_connections = self.max_connections.max(1);
        self.max_connections_per_peer = self.max_connections_per_peer.max(1);
        self.idle_timeout_secs = self.idle_timeout_secs.max(1);
        self
    }

    /// The connection limits of a TCP or TLS listener with these settings.
    pub fn conn_limits(&self) -> ConnLimits {
        ConnLimits {
            max_connections: self.max_connections,
            max_connections_per_peer: self.max_connections_per_peer,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            allow: self.allow.clone(),
        }
    }
}

/// Bind a UDP socket for [`syslog_udp::serve_udp`].
pub async fn bind_udp(addr: SocketAddr) -> Result<tokio::net::UdpSocket, ListenError> {
    tokio::net::UdpSocket::bind(addr)
        .await
        .map_err(|source| ListenError::Bind { addr, source })
}

/// Bind a TCP listener for [`syslog_tcp::serve_tcp`], [`syslog_tls::serve_tls`] or the bulk
/// [`bulk::router`].
pub async fn bind_tcp(addr: SocketAddr) -> Result<tokio::net::TcpListener, ListenError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError::Bind { addr, source })
}
