//! `wardwatch serve` under hostile or careless peers, over real sockets on loopback: slow HTTP
//! senders (slowloris), idle syslog TCP connections, HTTPS with a certificate swapped while
//! running, syslog TLS with required client certificates. `127.0.0.1` plays the misbehaving
//! host and `127.0.0.2` a normal one (both are loopback on Linux).
//!
//! The bounds on time here are generous: the tests assert behaviour (requests get through,
//! connections are closed, counters move), never durations.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, free_port, http_get};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

/// Start a server whose configuration names a port picked here; another test may take a port
/// between picking and binding, so a start that fails is tried again on another port.
fn start_on_free_port(dir: &std::path::Path, make: impl Fn(u16) -> String) -> (Server, u16) {
    for _ in 0..5 {
        let port = free_port();
        let config = config_file(dir, &make(port));
        let started = std::panic::catch_unwind(|| Server::start(&["--config", &config]));
        if let Ok(server) = started {
            return (server, port);
        }
    }
    panic!("the server did not start on any of five free ports");
}

fn config_file(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("wardwatch.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// A TCP connection from `from` (an address on the loopback network) to `to`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(to).await
}

/// A metric's value for one source, from `/metrics` text.
fn metric(server: &Server, name: &str, source: &str) -> u64 {
    let text = http_get(server.http, "/metrics", Some(&server.api_token)).1;
    let text = text.as_str().unwrap_or_default().to_string();
    let prefix = format!("{name}{{source=\"{source}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Now, as the senders' time stamp (searches look at recent events by default).
fn now() -> String {
    jiff::Timestamp::now().to_string()
}

fn bulk_body(tag: &str, n: usize) -> String {
    let now = now();
    (0..n)
        .map(|i| {
            format!("{{\"create\":{{}}}}\n{{\"@timestamp\":\"{now}\",\"message\":\"{tag} {i}\"}}\n")
        })
        .collect()
}

/// One HTTP request on a fresh connection from `from`; the status code.
async fn post_from(from: [u8; 4], to: SocketAddr, body: &str, token: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = connect_from(from, to).await.expect("connect");
    let req = format!(
        "POST /_bulk HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// `/metrics` asked from `from`.
async fn metrics_from(from: [u8; 4], to: SocketAddr, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = connect_from(from, to).await else {
        return String::new();
    };
    let req = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn slow_http_senders_from_one_address_do_not_stop_a_normal_sender() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        "[http]\nmax_connections_per_peer = 64\nheader_timeout_secs = 3\nbody_timeout_secs = 3\nidle_timeout_secs = 5\n",
    );
    let server = Server::start(&["--config", &config]);
    let http = server.http;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ok = rt.block_on(async {
        use tokio::io::AsyncWriteExt;
        // 300 slow senders from 127.0.0.1: half never finish their headers, half announce a
        // big bulk body and send it a byte every half second.
        let mut slow = Vec::new();
        for i in 0..300 {
            slow.push(tokio::spawn(async move {
                let Ok(mut s) = connect_from([127, 0, 0, 1], http).await else {
                    return;
                };
                let head = if i % 2 == 0 {
                    "POST /_bulk HTTP/1.1\r\nHost: x\r\nAuthoriz".to_string()
                } else {
                    "POST /_bulk HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-ingest\r\nContent-Length: 1000000\r\n\r\n".to_string()
                };
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for _ in 0..120 {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if s.write_all(b"{").await.is_err() {
                        return;
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        // A normal sender from 127.0.0.2: four bulk requests, each must get through.
        let mut ok = 0;
        for round in 0..4 {
            let body = bulk_body(&format!("wwnormalsender round{round}"), 10);
            let status = tokio::time::timeout(
                Duration::from_secs(30),
                post_from([127, 0, 0, 2], http, &body, "test-ingest"),
            )
            .await
            .unwrap_or(0);
            if status == 200 {
                ok += 1;
            }
        }
        // While the slow senders are still at it (and hold 127.0.0.1's connections), what bit
        // is counted, asked from the other address.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = metrics_from([127, 0, 0, 2], http, "test-api").await;
            let value = |name: &str, source: &str| {
                let prefix = format!("{name}{{source=\"{source}\"}} ");
                text.lines()
                    .find_map(|l| l.strip_prefix(&prefix))
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            if value("wardwatch_refused_peer_limit_total", "http") > 0
                && value("wardwatch_header_timeouts_total", "http") > 0
                && value("wardwatch_body_timeouts_total", "bulk") > 0
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "limits not counted in /metrics:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for s in slow {
            s.abort();
        }
        ok
    });
    assert_eq!(ok, 4, "the normal sender got {ok} of 4 requests through");
    let v = server.wait_events("wwnormalsender", 40);
    assert_eq!(v["total"], 40, "{v}");
}

#[test]
fn idle_syslog_connections_are_closed_and_do_not_hold_the_listener() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        "[syslog]\nmax_connections = 10\nmax_connections_per_peer = 10\nidle_timeout_secs = 2\n",
    );
    let server = Server::start(&["--config", &config]);
    let syslog = server.syslog;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // Ten idle connections from one host fill the listener; an eleventh is refused.
        let mut idle = Vec::new();
        for _ in 0..10 {
            idle.push(connect_from([127, 0, 0, 1], syslog).await.unwrap());
        }
        // A normal sender from another host gets its message stored all the same.
        let mut normal = connect_from([127, 0, 0, 2], syslog).await.unwrap();
        normal
            .write_all(format!("<13>1 {} pump-gw app - - - wwtest-idle-normal\n", now()).as_bytes())
            .await
            .unwrap();
        drop(normal);
        // Every idle connection is closed by the server.
        for mut s in idle {
            let mut buf = [0u8; 16];
            let read = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await;
            assert!(
                matches!(read, Ok(Ok(0)) | Ok(Err(_))),
                "an idle connection was not closed: {read:?}"
            );
        }
    });
    let v = server.wait_events("wwtest-idle-normal", 1);
    assert_eq!(v["total"], 1, "{v}");
    let address = v["events"][0]["log.source.address"]
        .as_str()
        .or_else(|| v["events"][0]["ecs"]["log.source.address"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(address.starts_with("127.0.0.2:"), "{v}");
    assert!(metric(&server, "wardwatch_idle_timeouts_total", "syslog-tcp") >= 10);
}

/// Accepts any server certificate and remembers the last one presented.
#[derive(Debug)]
struct Remember(Arc<Mutex<Vec<u8>>>);

impl ServerCertVerifier for Remember {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap() = end_entity.to_vec();
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn client_config(seen: Arc<Mutex<Vec<u8>>>, client: Option<(String, String)>) -> ClientConfig {
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Remember(seen)));
    match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            use rustls::pki_types::pem::PemObject;
            let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
    }
}

/// One bulk request over HTTPS; the status and the certificate the server presented.
fn https_bulk(addr: SocketAddr, body: &str) -> (u16, Vec<u8>) {
    let (status, _, cert) = https_request(addr, "POST", "/_bulk", body, "test-ingest");
    (status, cert)
}

/// Poll the event search over HTTPS until it has `n` hits; the last answer.
fn https_wait_events(addr: SocketAddr, q: &str, n: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let path = format!("/api/v1/events?q={}", common::urlencode(q));
        let (status, body, _) = https_request(addr, "GET", &path, "", "test-api");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if (status == 200 && v["total"].as_u64().unwrap_or(0) >= n) || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One request over HTTPS; status, body (not chunked: the API answers with a length) and the
/// certificate the server presented.
fn https_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    token: &str,
) -> (u16, String, Vec<u8>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let config = Arc::new(client_config(seen.clone(), None));
    let conn = ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut tls = StreamOwned::new(conn, tcp);
    write!(
        tls,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let cert = seen.lock().unwrap().clone();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body, cert)
}

fn self_signed(name: &str) -> (String, String, Vec<u8>) {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    (
        ck.cert.pem(),
        ck.signing_key.serialize_pem(),
        ck.cert.der().to_vec(),
    )
}

#[test]
fn https_bulk_ingest_serves_a_certificate_swapped_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (c1, k1, der1) = self_signed("localhost");
    std::fs::write(&cert, &c1).unwrap();
    std::fs::write(&key, &k1).unwrap();
    // HTTPS on both the API and a separate ingest address.
    let (server, ingest_port) = start_on_free_port(dir.path(), |port| {
        format!(
            "[http]\ningest_listen = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            key.display()
        )
    });
    let ingest: SocketAddr = format!("127.0.0.1:{ingest_port}").parse().unwrap();
    let (status, served) = https_bulk(ingest, &bulk_body("wwhttpsbefore", 5));
    assert_eq!(status, 200);
    assert_eq!(served, der1);

    let (c2, k2, der2) = self_signed("localhost");
    std::fs::write(&key, &k2).unwrap();
    std::fs::write(&cert, &c2).unwrap();
    let mut last = (0, Vec::new());
    wait_for("the new certificate to be served", 30, || {
        last = https_bulk(ingest, &bulk_body("wwhttpsafter", 5));
        last.1 == der2
    });
    assert_eq!(last.0, 200);
    let v = https_wait_events(server.http, "wwhttpsafter", 5);
    assert!(v["total"].as_u64().unwrap_or(0) >= 5, "{v}");
    assert_eq!(
        https_wait_events(server.http, "wwhttpsbefore", 5)["total"],
        5
    );
}

#[test]
fn plain_http_on_a_network_address_needs_an_explicit_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["serve", "--http", "0.0.0.0:0", "--syslog", ""])
        .arg("--data")
        .arg(dir.path().join("data"))
        .env("WARDWATCH_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without TLS") && err.contains("allow_plain_http"),
        "{err}"
    );
}

#[test]
fn syslog_tls_with_required_client_certificates_refuses_anonymous_senders_and_records_the_subject()
{
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Hospital Devices CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let (server_cert, server_key, _) = self_signed("localhost");
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params
        .distinguished_name
        .push(DnType::CommonName, "infusion-gw-3");
    client_params
        .distinguished_name
        .push(DnType::OrganizationName, "Biomed");
    let client_cert = client_params.signed_by(&client_key, &ca).unwrap();
    std::fs::write(p("ca.pem"), ca.pem()).unwrap();
    std::fs::write(p("cert.pem"), &server_cert).unwrap();
    std::fs::write(p("key.pem"), &server_key).unwrap();
    let (server, tls_port) = start_on_free_port(dir.path(), |port| {
        format!(
            "[syslog]\ntls_listen = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\ntls_client_auth = \"required\"\ntls_client_ca = \"{}\"\n",
            p("cert.pem"),
            p("key.pem"),
            p("ca.pem")
        )
    });
    let addr: SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    let send = |client: Option<(String, String)>, text: &str| -> std::io::Result<()> {
        let config = Arc::new(client_config(Arc::new(Mutex::new(Vec::new())), client));
        let conn =
            ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut tls = StreamOwned::new(conn, tcp);
        let msg = format!("<13>1 {} gw app - - - {text}", now());
        write!(tls, "{} {msg}", msg.len())?;
        tls.flush()?;
        // TLS 1.3: the server's refusal of the client's (missing) certificate arrives after the
        // client's first flight; reading shows it.
        tls.conn.send_close_notify();
        tls.flush()?;
        let mut buf = Vec::new();
        tls.read_to_end(&mut buf).map(|_| ())
    };
    // Refused in the handshake: a TLS alert on read, or the connection already closed on write.
    assert!(
        send(None, "wwtest-anonymous").is_err(),
        "a sender without a certificate was accepted"
    );
    // The server ends the stream without close_notify; what it received is stored.
    if let Err(e) = send(
        Some((client_cert.pem(), client_key.serialize_pem())),
        "wwtest-with-cert",
    ) {
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    }
    let v = server.wait_events("wwtest-with-cert", 1);
    assert_eq!(v["total"], 1, "{v}");
    let text = v["events"][0].to_string();
    assert!(
        text.contains("CN=infusion-gw-3") && text.contains("127.0.0.1:"),
        "{text}"
    );
    let v = http_get(
        server.http,
        "/api/v1/events?q=wwtest-anonymous",
        Some(&server.api_token),
    )
    .1;
    assert_eq!(v["total"], 0, "{v}");
    assert!(metric(&server, "wardwatch_handshake_failures_total", "syslog-tls") >= 1);
}

#[test]
fn a_udp_flood_from_one_sender_is_throttled_while_a_bulk_sender_keeps_its_rate() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        "[pipeline]\nmax_queued_events = 1000\nsource_budget_events_per_sec = 500\n",
    );
    let server = Server::start(&["--config", &config]);
    let syslog = server.syslog;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let msg = format!("<13>1 {} printer-7 app - - - wwflood {sent}", now());
                if socket.send_to(msg.as_bytes(), syslog).is_ok() {
                    sent += 1;
                }
            }
            sent
        })
    };
    // The bulk shipper: 20 batches of 20 documents, five a second, during the flood.
    let mut statuses = Vec::new();
    for round in 0..20 {
        let body = bulk_body(&format!("wwfairbulk r{round}"), 20);
        let (status, _) = common::http_post(server.http, "/_bulk", &body, Some("test-ingest"));
        statuses.push(status);
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = flood.join().unwrap();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "bulk batches refused during the flood: {statuses:?}"
    );
    assert_eq!(server.wait_events("wwfairbulk", 400)["total"], 400);
    // The flood was throttled, and every datagram received is either stored or counted.
    let mut last = String::new();
    wait_for(
        "every flood datagram to be stored or counted as dropped",
        60,
        || {
            let received = metric(&server, "wardwatch_received_total", "syslog-udp");
            let dropped = metric(&server, "wardwatch_dropped_total", "syslog-udp");
            let stored = http_get(
                server.http,
                "/api/v1/events?limit=1&q=wwflood",
                Some(&server.api_token),
            )
            .1["total"]
                .as_u64()
                .unwrap_or(0);
            last = format!("sent {sent}, received {received}, dropped {dropped}, stored {stored}");
            received > 0 && received == dropped + stored
        },
    );
    let throttled = metric(&server, "wardwatch_throttled_total", "syslog-udp");
    assert!(throttled > 0, "the flood was not throttled: {last}");
    assert_eq!(metric(&server, "wardwatch_throttled_total", "bulk"), 0);
    eprintln!("{last}, throttled {throttled}");
}
