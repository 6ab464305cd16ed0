//! The feeds' HTTP: one request per connection over hyper's client connection, rustls with
//! ring for `https://` (the same stack as the notification webhooks; no second TLS provider,
//! no connection pool — a feed is polled every few minutes).
//!
//! Bounded: a body larger than [`MAX_BODY`] is refused (named), every request has a time
//! limit, and redirects (a list moved to a CDN) are followed at most [`MAX_REDIRECTS`] times
//! for `GET`, never from `https` to `http`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The largest answer read: a feed's page, a MISP event or an IOC list.
pub const MAX_BODY: usize = 64 * 1024 * 1024;
/// Redirects followed for a `GET`.
pub const MAX_REDIRECTS: usize = 3;

/// Why a request failed, in words naming the address.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpError(pub String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An answer: status, headers, body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// How to reach a feed: its credentials and trust.
#[derive(Clone)]
pub struct Client {
    /// `Authorization` header value, when the feed has credentials.
    auth: Option<String>,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
}

impl Client {
    /// A client sending `auth` (a whole `Authorization` value) and trusting the web's roots
    /// plus the PEM certificates of `ca_pem` (a partner's own CA).
    pub fn new(
        auth: Option<String>,
        ca_pem: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Client, String> {
        let mut roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = ca_pem {
            use rustls_pki_types::pem::PemObject;
            let mut n = 0;
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("the CA file is not PEM: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("the CA file holds a certificate rustls refuses: {e}"))?;
                n += 1;
            }
            if n == 0 {
                return Err("the CA file holds no certificate".into());
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Client {
            auth,
            tls: Arc::new(tls),
            timeout,
        })
    }

    /// `GET url` with `headers`, following redirects.
    pub async fn get(&self, url: &str, headers: &[(&str, String)]) -> Result<Response, HttpError> {
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.request("GET", &url, headers, None).await?;
            if !matches!(resp.status, 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            let Some(next) = resp.header("location") else {
                return Err(HttpError(format!("{url}: redirect without a Location")));
            };
            let next = resolve(&url, next);
            if url.starts_with("https://") && !next.starts_with("https://") {
                return Err(HttpError(format!(
                    "{url}: refused a redirect from https to `{next}`"
                )));
            }
            url = next;
        }
        Err(HttpError(format!(
            "{url}: more than {MAX_REDIRECTS} redirects"
        )))
    }

    /// `POST url` with `body` of `content_type`.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        content_type: &str,
        body: String,
    ) -> Result<Response, HttpError> {
        let mut all: Vec<(&str, String)> = headers.to_vec();
        all.push(("content-type", content_type.to_string()));
        self.request("POST", url, &all, Some(body)).await
    }

    async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<String>,
    ) -> Result<Response, HttpError> {
        match tokio::time::timeout(self.timeout, self.request_inner(method, url, headers, body))
            .await
        {
            Ok(r) => r,
            Err(_) => Err(HttpError(format!(
                "{url}: no answer within {} s",
                self.timeout.as_secs()
            ))),
        }
    }

    async fn request_inner(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<String>,
    ) -> Result<Response, HttpError> {
        let err = |m: String| HttpError(format!("{url}: {m}"));
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| err(format!("not an address: {e}")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(err("only http:// and https:// are supported".into())),
        };
        let host = uri
            .host()
            .ok_or_else(|| err("no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| err(format!("cannot connect: {e}")))?;
        let path = uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string());
        let authority = uri
            .authority()
            .map_or(host.clone(), |a| a.as_str().to_string());
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::USER_AGENT, "Wardwatch");
        if let Some(a) = &self.auth {
            req = req.header(hyper::header::AUTHORIZATION, a);
        }
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| err(e.to_string()))?;
            let value = HeaderValue::from_str(v).map_err(|e| err(e.to_string()))?;
            req = req.header(name, value);
        }
        let body = Bytes::from(body.unwrap_or_default());
        if method == "POST" {
            req = req.header(hyper::header::CONTENT_LENGTH, body.len());
        }
        let req = req.body(Full::new(body)).map_err(|e| err(e.to_string()))?;
        if https {
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|e| err(format!("`{host}` is not a TLS name: {e}")))?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| err(format!("TLS handshake failed: {e}")))?;
            send(TokioIo::new(tls), req, url).await
        } else {
            send(TokioIo::new(tcp), req, url).await
        }
    }
}

async fn send<T>(io: T, req: Request<Full<Bytes>>, url: &str) -> Result<Response, HttpError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let err = |m: String| HttpError(format!("{url}: {m}"));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| err(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| err(e.to_string()))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let too_large = || err(format!("the answer is larger than {} MiB", MAX_BODY >> 20));
    let declared = headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let body = Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                err(format!("the answer broke off: {e}"))
            }
        })?
        .to_bytes();
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// `location` of a redirect from `base`, made absolute.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let Some((scheme, rest)) = base.split_once("://") else {
        return location.to_string();
    };
    let host = rest.split('/').next().unwrap_or(rest);
    if location.starts_with('/') {
        format!("{scheme}://{host}{location}")
    } else {
        let dir = base.rsplit_once('/').map_or(base, |(d, _)| d);
        format!("{dir}/{location}")
    }
}

/// The `Authorization` value for a bearer token, or HTTP Basic for a user and password.
pub fn authorization(token: &str, user: &str, password: &str) -> Option<String> {
    use base64::Engine;
    if !token.is_empty() {
        Some(format!("Bearer {token}"))
    } else if !user.is_empty() {
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        ))
    } else {
        None
    }
}

/// `base` with `query` pairs appended, each percent-encoded.
pub fn with_query(base: &str, query: &[(&str, &str)]) -> String {
    if query.is_empty() {
        return base.to_string();
    }
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{}", q.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    /// A loopback server answering each connection with the next of `answers`.
    fn serve(answers: Vec<String>) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for (stream, answer) in listener.incoming().zip(answers) {
                let Ok(mut s) = stream else { continue };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 && !line.ends_with("\r\n\r\n") {}
                let _ = s.write_all(answer.replace("PORT", &port.to_string()).as_bytes());
            }
        });
        port
    }

    #[tokio::test]
    async fn redirects_are_followed_and_too_large_answers_refused_by_name() {
        let client = Client::new(None, None, Duration::from_secs(10)).unwrap();
        let port = serve(vec![
            "HTTP/1.1 302 Found\r\nLocation: /moved.txt\r\nContent-Length: 0\r\n\r\n".into(),
            "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nETag: \"x\"\r\n\r\nbad.example\r\n\r\n"
                .into(),
        ]);
        let resp = client
            .get(&format!("http://127.0.0.1:{port}/list.txt"), &[])
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("etag"), Some("\"x\""));
        assert!(resp.body.starts_with(b"bad.example"));
        let port = serve(vec![format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        )]);
        let err = client
            .get(&format!("http://127.0.0.1:{port}/huge"), &[])
            .await
            .unwrap_err();
        assert!(
            err.0.contains("larger than 64 MiB") && err.0.contains("/huge"),
            "{err}"
        );
        let err = client.get("ftp://127.0.0.1/x", &[]).await.unwrap_err();
        assert!(err.0.contains("only http"), "{err}");
    }

    #[test]
    fn queries_redirects_and_credentials() {
        assert_eq!(
            with_query(
                "http://h/c/objects/",
                &[
                    ("added_after", "2026-01-01T00:00:00.000Z"),
                    ("match[type]", "indicator")
                ]
            ),
            "http://h/c/objects/?added_after=2026-01-01T00%3A00%3A00.000Z&match%5Btype%5D=indicator"
        );
        assert_eq!(
            resolve("https://a.example/x/list.txt", "/y"),
            "https://a.example/y"
        );
        assert_eq!(
            resolve("https://a.example/x/list.txt", "z.txt"),
            "https://a.example/x/z.txt"
        );
        assert_eq!(
            resolve("https://a.example/x", "https://b.example/"),
            "https://b.example/"
        );
        assert_eq!(authorization("t0k", "", ""), Some("Bearer t0k".into()));
        assert_eq!(
            authorization("", "user", "pass"),
            Some("Basic dXNlcjpwYXNz".into())
        );
        assert_eq!(authorization("", "", ""), None);
    }
}
