//! Syslog over TLS.
//!
//! # What it does
//! [`serve_tls`] is [`super::syslog_tcp::serve_tcp`] with a TLS handshake first (rustls with the
//! ring provider; TLS 1.2 and 1.3): the same framing (RFC 5425 mandates octet counting; newline
//! framing is accepted too, as rsyslog can be told to send it), batching and backpressure.
//! A handshake must finish within 10 seconds. Events carry `origin.source = "syslog-tls"`, the
//! sender's address (`log.source.address`) and, when it presented a client certificate, its
//! subject (`tls.client.subject`); with `tls_client_auth = "required"` a sender without a
//! certificate signed by `tls_client_ca` is refused in the handshake (counted in
//! `wardwatch_handshake_failures_total`). Certificate files are re-read when they change.
//! [`tls_acceptor`] builds the acceptor from a PEM certificate chain and private key (PKCS#8,
//! PKCS#1 or SEC1) and says plainly what is wrong with them.
//!
//! # Why it matters
//! Syslog crosses hospital networks that are neither segmented nor trusted; authentication logs
//! in clear text give away user names and host inventories. RFC 5425 is what rsyslog
//! (`gtls`/`ossl` stream drivers) and syslog-ng speak.
//!
//! # Example
//! rsyslog: `action(type="omfwd" target="wardwatch" port="6514" protocol="tcp"
//! StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="anon")`.
//!
//! # References
//! RFC 5425 (TLS transport mapping for syslog); RFC 6587; RFC 8446 (TLS 1.3).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::stream::{StreamCtx, Transport, accept_loop};
use super::{ListenError, SyslogConfig};
use crate::{Sink, SourceCounters};

/// `origin.source` of events received by [`serve_tls`].
pub const SOURCE: &str = "syslog-tls";

/// Serve syslog over TLS on `listener` until `shutdown` resolves (see the module documentation).
pub async fn serve_tls<S: Sink>(
    listener: TcpListener,
    acceptor: TlsAcceptor,
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
    accept_loop(listener, Transport::Tls(acceptor), ctx, shutdown).await
}

/// A TLS acceptor from PEM text: `cert_pem` holds the server certificate then any intermediates,
/// `key_pem` its private key. Errors name the inputs `cert.pem` and `key.pem`.
pub fn tls_acceptor(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptor, ListenError> {
    build(cert_pem, "cert.pem", key_pem, "key.pem")
}

/// [`tls_acceptor`] from two files, re-read when they change (see [`super::tls`]); errors name
/// them.
pub fn tls_acceptor_from_files(cert: &Path, key: &Path) -> Result<TlsAcceptor, ListenError> {
    let files = super::tls::TlsFiles {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        client_ca: None,
        client_auth: super::tls::ClientAuth::None,
    };
    Ok(TlsAcceptor::from(super::tls::server_config(&files)?))
}

fn build(
    cert_pem: &[u8],
    cert_name: &str,
    key_pem: &[u8],
    key_name: &str,
) -> Result<TlsAcceptor, ListenError> {
    let key = super::tls::certified_key(cert_pem, cert_name, key_pem, key_name)?;
    let config = rustls::ServerConfig::builder_with_provider(super::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ListenError::Tls {
            cert: cert_name.to_string(),
            key: key_name.to_string(),
            reason: e.to_string(),
        })?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key)));
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(cert: &[u8], key: &[u8]) -> String {
        match tls_acceptor(cert, key) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn tls_material_problems_are_named() {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = ck.cert.pem();
        let key = ck.signing_key.serialize_pem();
        assert!(tls_acceptor(cert.as_bytes(), key.as_bytes()).is_ok());
        assert_eq!(
            err(b"", key.as_bytes()),
            "`cert.pem`: no certificate found (expected a PEM `-----BEGIN CERTIFICATE-----` block)"
        );
        assert!(
            err(key.as_bytes(), key.as_bytes()).starts_with("`cert.pem`: no certificate found")
        );
        assert!(
            err(cert.as_bytes(), cert.as_bytes()).starts_with("`key.pem`: no private key found")
        );
        let other = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        let mismatch = err(
            cert.as_bytes(),
            other.signing_key.serialize_pem().as_bytes(),
        );
        assert!(
            mismatch.starts_with("`cert.pem` and `key.pem` cannot be used for TLS"),
            "{mismatch}"
        );
        let broken = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        assert!(err(broken.as_bytes(), key.as_bytes()).starts_with("`cert.pem`: unreadable PEM"));
    }
}
