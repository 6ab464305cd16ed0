//! Webhook delivery: one HTTP/1.1 POST (hyper's client connection, rustls with ring for
//! `https://`), signed with HMAC-SHA256 when a secret is set.
//!
//! Why not a full HTTP client crate: a webhook is one POST per message to a configured
//! address; hyper is already in the tree through the server, so this costs no new stack.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::net::TcpStream;

use crate::DeliveryError;

/// The signature header: `sha256=` + the hex HMAC-SHA256 of the body with the secret.
pub const SIGNATURE_HEADER: &str = "X-Wardwatch-Signature";

/// `sha256=<hex>` for `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts a key of any length");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
            Arc::new(cfg)
        })
        .clone()
}

/// POST `body` (JSON) to `url`; 2xx is delivered, 4xx (but 408 and 429) will never work,
/// anything else is worth retrying.
pub async fn post(
    url: &str,
    body: &str,
    secret: &str,
    timeout: Duration,
) -> Result<(), DeliveryError> {
    match tokio::time::timeout(timeout, post_inner(url, body, secret)).await {
        Ok(r) => r,
        Err(_) => Err(DeliveryError::transient(format!(
            "webhook {url}: no answer within {} s",
            timeout.as_secs()
        ))),
    }
}

async fn post_inner(url: &str, body: &str, secret: &str) -> Result<(), DeliveryError> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| DeliveryError::permanent(format!("webhook `{url}` is not an address: {e}")))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(DeliveryError::permanent(format!(
                "webhook `{url}`: only http:// and https:// are supported"
            )));
        }
    };
    let host = uri
        .host()
        .ok_or_else(|| DeliveryError::permanent(format!("webhook `{url}` has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| DeliveryError::transient(format!("webhook {url}: cannot connect: {e}")))?;
    let path = uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string());
    let authority = uri
        .authority()
        .map_or(host.clone(), |a| a.as_str().to_string());
    let mut req = Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "Wardwatch");
    if !secret.is_empty() {
        req = req.header(SIGNATURE_HEADER, signature(secret, body.as_bytes()));
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| DeliveryError::permanent(format!("webhook {url}: {e}")))?;
    let status = if https {
        let name = rustls_pki_types::ServerName::try_from(host.clone()).map_err(|e| {
            DeliveryError::permanent(format!("webhook {url}: `{host}` is not a TLS name: {e}"))
        })?;
        let tls = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, tcp)
            .await
            .map_err(|e| {
                DeliveryError::transient(format!("webhook {url}: TLS handshake failed: {e}"))
            })?;
        send(TokioIo::new(tls), req, url).await?
    } else {
        send(TokioIo::new(tcp), req, url).await?
    };
    if status.is_success() {
        Ok(())
    } else if status.is_client_error()
        && status != hyper::StatusCode::REQUEST_TIMEOUT
        && status != hyper::StatusCode::TOO_MANY_REQUESTS
    {
        Err(DeliveryError::permanent(format!(
            "webhook {url} refused the message: HTTP {status}"
        )))
    } else {
        Err(DeliveryError::transient(format!(
            "webhook {url} answered HTTP {status}"
        )))
    }
}

async fn send<T>(
    io: T,
    req: Request<Full<Bytes>>,
    url: &str,
) -> Result<hyper::StatusCode, DeliveryError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| DeliveryError::transient(format!("webhook {url}: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| DeliveryError::transient(format!("webhook {url}: {e}")))?;
    let status = resp.status();
    // Read the (small) answer so the connection closes cleanly.
    let _ = resp.into_body().collect().await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_rfc_4231_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
