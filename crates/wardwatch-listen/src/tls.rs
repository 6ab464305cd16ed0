//! TLS for every listener (syslog over TLS, HTTPS): certificate files that are re-read when they
//! change, optional or required client certificates, and what a certificate says about its
//! holder.
//!
//! # What it does
//! [`server_config`] builds a rustls server configuration (ring provider, TLS 1.2 and 1.3) from
//! [`TlsFiles`]. The certificate chain and key are served by a resolver that looks at the two
//! files' modification times at most once a second, during handshakes: when either changed,
//! the pair is read again and, if it is good, served from the next handshake on (a bad pair is
//! logged and the previous one kept). So a renewed certificate (certbot, an internal CA's
//! rotation) takes effect without a restart and without a gap. With `client_ca`, clients are
//! asked for a certificate signed by one of its CAs: `optional` accepts clients without one,
//! `required` refuses them in the handshake. [`client_subject`] gives the subject of the
//! certificate a client presented, recorded on its events (`tls.client.subject`).
//! [`certificates`] reads a PEM file's certificates for `wardwatch doctor` (subject, expiry).
//!
//! # Why it matters
//! Tokens and patient-adjacent events must not cross the hospital network in clear text, and a
//! certificate that expires on a Sunday must be replaceable without stopping ingest. Client
//! certificates make syslog attributable: the event says which device's certificate sent it.
//!
//! # References
//! RFC 8446 (TLS 1.3), RFC 5425 §5 (syslog TLS certificate authentication), RFC 4514 (the
//! subject's text form).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::ListenError;

/// How often at most the certificate files' modification times are looked at.
const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Whether clients must present a certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// Clients are not asked for a certificate.
    #[default]
    None,
    /// Clients are asked; one without a certificate is accepted, one with a bad one refused.
    Optional,
    /// A client without a certificate signed by `client_ca` is refused in the handshake.
    Required,
}

/// The files a TLS listener uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain (server certificate first).
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificates that sign client certificates; required unless `client_auth` is
    /// `None`.
    pub client_ca: Option<PathBuf>,
    pub client_auth: ClientAuth,
}

pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, ListenError> {
    std::fs::read(path).map_err(|source| ListenError::Read {
        file: path.display().to_string(),
        source,
    })
}

fn bad_pem(file: &str, e: pem::Error) -> ListenError {
    ListenError::BadPem {
        file: file.to_string(),
        reason: e.to_string(),
    }
}

/// The certificates in PEM text; errors name `name`.
fn parse_certs(pem_text: &[u8], name: &str) -> Result<Vec<CertificateDer<'static>>, ListenError> {
    let certs = CertificateDer::pem_slice_iter(pem_text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(name, e))?;
    if certs.is_empty() {
        return Err(ListenError::NoCertificate {
            file: name.to_string(),
        });
    }
    Ok(certs)
}

/// A certificate chain and its key from PEM text, checked to belong together.
pub(crate) fn certified_key(
    cert_pem: &[u8],
    cert_name: &str,
    key_pem: &[u8],
    key_name: &str,
) -> Result<CertifiedKey, ListenError> {
    let certs = parse_certs(cert_pem, cert_name)?;
    let key = match PrivateKeyDer::from_pem_slice(key_pem) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => {
            return Err(ListenError::NoPrivateKey {
                file: key_name.to_string(),
            });
        }
        Err(e) => return Err(bad_pem(key_name, e)),
    };
    CertifiedKey::from_der(certs, key, &provider()).map_err(|e| ListenError::Tls {
        cert: cert_name.to_string(),
        key: key_name.to_string(),
        reason: e.to_string(),
    })
}

/// What the two files looked like when last read: modification time and length of each.
type Stamp = [(Option<SystemTime>, u64); 2];

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let one = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| (m.modified().ok(), m.len()))
            .unwrap_or((None, 0))
    };
    [one(cert), one(key)]
}

/// Serves the certificate in two files, reading them again when they change.
#[derive(Debug)]
struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    stamp: Stamp,
    key: Arc<CertifiedKey>,
    checked: Instant,
}

impl ReloadingCert {
    fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, ListenError> {
        Ok(Arc::new(certified_key(
            &read(cert)?,
            &cert.display().to_string(),
            &read(key)?,
            &key.display().to_string(),
        )?))
    }

    fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.checked.elapsed() >= RELOAD_CHECK_EVERY {
            state.checked = Instant::now();
            let now = stamp(&self.cert, &self.key);
            if now != state.stamp {
                state.stamp = now;
                match Self::load(&self.cert, &self.key) {
                    Ok(key) => {
                        info!(cert = %self.cert.display(), "TLS certificate changed on disk; serving the new one");
                        state.key = key;
                    }
                    Err(e) => {
                        warn!(error = %e, "TLS certificate files changed but cannot be used; still serving the previous certificate")
                    }
                }
            }
        }
        state.key.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The server configuration for `files` (see the module documentation). Errors name the file
/// and say what is wrong with it.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, ListenError> {
    let key = ReloadingCert::load(&files.cert, &files.key)?;
    let resolver = ReloadingCert {
        cert: files.cert.clone(),
        key: files.key.clone(),
        state: Mutex::new(Loaded {
            stamp: stamp(&files.cert, &files.key),
            key,
            checked: Instant::now(),
        }),
    };
    let tls_error = |reason: String| ListenError::Tls {
        cert: files.cert.display().to_string(),
        key: files.key.display().to_string(),
        reason,
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(e.to_string()))?;
    let builder = match (files.client_auth, &files.client_ca) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => return Err(ListenError::NoClientCa),
        (auth, Some(ca)) => {
            let name = ca.display().to_string();
            let mut roots = RootCertStore::empty();
            for cert in parse_certs(&read(ca)?, &name)? {
                roots.add(cert).map_err(|e| ListenError::BadPem {
                    file: name.clone(),
                    reason: format!("not a usable CA certificate: {e}"),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = if auth == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier.build().map_err(|e| ListenError::BadPem {
                file: name,
                reason: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    Ok(Arc::new(builder.with_cert_resolver(Arc::new(resolver))))
}

/// The subject (RFC 4514 text, such as `CN=pump-gw-3, O=Hospital`) of the certificate the
/// client presented, if any.
pub fn client_subject(conn: &rustls::ServerConnection) -> Option<String> {
    let first = conn.peer_certificates()?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(first.as_ref()).ok()?;
    Some(cert.subject().to_string())
}

/// One certificate of a PEM file, as `wardwatch doctor` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    pub subject: String,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: i64,
}

/// The certificates of a PEM file; errors name the file.
pub fn certificates(path: &Path) -> Result<Vec<CertificateInfo>, ListenError> {
    let name = path.display().to_string();
    parse_certs(&read(path)?, &name)?
        .iter()
        .map(|der| {
            let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| {
                ListenError::BadPem {
                    file: name.clone(),
                    reason: format!("not an X.509 certificate: {e}"),
                }
            })?;
            Ok(CertificateInfo {
                subject: cert.subject().to_string(),
                not_after: cert.validity().not_after.timestamp(),
                not_before: cert.validity().not_before.timestamp(),
            })
        })
        .collect()
}

/// Whether a PEM key file holds a private key that belongs to the certificate file.
pub fn check_pair(cert: &Path, key: &Path) -> Result<(), ListenError> {
    ReloadingCert::load(cert, key).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_certificate_is_served_after_the_next_check() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let first = rcgen::generate_simple_self_signed(vec!["first".into()]).unwrap();
        std::fs::write(&cert, first.cert.pem()).unwrap();
        std::fs::write(&key, first.signing_key.serialize_pem()).unwrap();
        let files = TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: None,
            client_auth: ClientAuth::None,
        };
        assert!(server_config(&files).is_ok());
        let resolver = ReloadingCert {
            cert: cert.clone(),
            key: key.clone(),
            state: Mutex::new(Loaded {
                stamp: stamp(&cert, &key),
                key: ReloadingCert::load(&cert, &key).unwrap(),
                checked: Instant::now() - RELOAD_CHECK_EVERY,
            }),
        };
        let served = |r: &ReloadingCert| r.current().cert[0].as_ref().to_vec();
        assert_eq!(served(&resolver), first.cert.der().to_vec());
        // A half-written pair (new certificate, old key) is not served.
        let second = rcgen::generate_simple_self_signed(vec!["second-longer".into()]).unwrap();
        std::fs::write(&cert, second.cert.pem()).unwrap();
        resolver.state.lock().unwrap().checked -= RELOAD_CHECK_EVERY;
        assert_eq!(served(&resolver), first.cert.der().to_vec());
        std::fs::write(&key, second.signing_key.serialize_pem()).unwrap();
        resolver.state.lock().unwrap().checked -= RELOAD_CHECK_EVERY;
        assert_eq!(served(&resolver), second.cert.der().to_vec());
        let info = certificates(&cert).unwrap();
        assert_eq!(info.len(), 1);
        assert!(info[0].subject.contains("rcgen"), "{:?}", info[0]);
        assert!(info[0].not_after > info[0].not_before);
    }

    #[test]
    fn client_auth_needs_a_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ck = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        std::fs::write(dir.path().join("c.pem"), ck.cert.pem()).unwrap();
        std::fs::write(dir.path().join("k.pem"), ck.signing_key.serialize_pem()).unwrap();
        let mut files = TlsFiles {
            cert: dir.path().join("c.pem"),
            key: dir.path().join("k.pem"),
            client_ca: None,
            client_auth: ClientAuth::Required,
        };
        assert!(matches!(
            server_config(&files),
            Err(ListenError::NoClientCa)
        ));
        files.client_ca = Some(dir.path().join("c.pem"));
        assert!(server_config(&files).is_ok());
    }
}
