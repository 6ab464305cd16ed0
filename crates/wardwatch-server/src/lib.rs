//! `wardwatch serve`: configuration, the durable pipeline, and which listeners start.
//!
//! **Architecture Invariant:** this crate wires; it holds no rule semantics (detect), no
//! decoding (ingest) and no SQL (store).

pub mod config;
pub mod console_sign_in;
pub mod context;
pub mod disk;
pub mod identity;
pub mod incidents;
pub mod intel;
pub mod intel_feeds;
pub mod ledger;
pub mod mail;
pub mod metrics;
pub mod network;
pub mod notify;
pub mod pipeline;
pub mod report;
pub mod resend;
pub mod roles;
mod serve;
mod setup;
pub mod taxii;

pub use config::{Config, DEFAULT_CONFIG_TOML};
pub use serve::{Running, Tokens, start, start_with_clock};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// An address could not be bound.
    #[error("cannot listen on {0}")]
    Bind(String),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] wardwatch_store::StoreError),
    /// A listener could not be set up (TLS material, binding).
    #[error(transparent)]
    Listen(#[from] wardwatch_listen::ListenError),
}
