//! `wardwatch serve --role ingest` on a real `nats-server -js` (`wardwatch-peers`): `_bulk` and
//! syslog batches are answered only once JetStream has them; with NATS down a sender gets 503
//! (and TCP syslog is not read) and is answered 200 again once NATS is back; with the stream
//! full (the workers behind) a sender gets 429. The single binary's other listeners (syslog over
//! TLS, SMTP journaling) on an ingest node reach ClickHouse through the stream.

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use cluster_common::Node;
use common::request;
use wardwatch_cluster::ClusterConfig;
use wardwatch_peers::Peer;

fn bulk(from: usize, n: usize, pad: usize) -> String {
    (from..from + n)
        .map(|i| {
            format!(
                "{{\"index\":{{}}}}\n{}\n",
                serde_json::json!({
                    "@timestamp": "2026-11-02T08:00:00Z", "host": {"name": format!("ws-{}", i % 7)},
                    "message": format!("cluster ingest {i} {}", "x".repeat(pad)), "n": i
                })
            )
        })
        .collect()
}

fn post(node: &Node, body: &str) -> (u16, serde_json::Value) {
    request(
        node.http.unwrap(),
        "POST",
        "/_bulk",
        body,
        Some("test-ingest"),
    )
    .expect("POST /_bulk")
}

fn stream_events(rt: &tokio::runtime::Runtime, cfg: &ClusterConfig) -> u64 {
    rt.block_on(wardwatch_cluster::status(cfg))
        .unwrap()
        .stream
        .messages
}

#[test]
fn ingest_answers_after_jetstream_and_refuses_with_503_and_429() {
    let Some(mut nats) = Peer::nats("ingest_answers_after_jetstream") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cfg = ClusterConfig {
        nats: nats.url(),
        partitions: 2,
        max_backlog_mb: 2,
        publish_timeout_secs: 2,
        ..ClusterConfig::default()
    };
    rt.block_on(wardwatch_cluster::init(&cfg)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nnats = \"{}\"\npartitions = 2\nmax_backlog_mb = 2\npublish_timeout_secs = 2\n",
            nats.url()
        ),
    )
    .unwrap();
    let node = Node::start(
        &config,
        &dir.path().join("data"),
        "ingest",
        "127.0.0.1:0",
        "127.0.0.1:0",
    );

    // Accepted: answered 200, and JetStream holds the batch (one message per partition).
    let (status, resp) = post(&node, &bulk(0, 100, 0));
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["errors"], false, "{resp}");
    assert_eq!(resp["items"].as_array().map(Vec::len), Some(100));
    let held = stream_events(&rt, &cfg);
    assert!((1..=2).contains(&held), "{held} messages");
    // A wrong token is refused before anything is published.
    let (status, _) = request(
        node.http.unwrap(),
        "POST",
        "/_bulk",
        &bulk(0, 1, 0),
        Some("nope"),
    )
    .unwrap();
    assert_eq!(status, 401);
    // Syslog over TCP lands in the stream too.
    let mut tcp = std::net::TcpStream::connect(node.syslog.unwrap()).unwrap();
    for i in 0..20 {
        writeln!(
            tcp,
            "<134>Nov  2 08:00:{i:02} ws-1 app[1]: cluster syslog {i}"
        )
        .unwrap();
    }
    tcp.flush().unwrap();
    drop(tcp);
    let deadline = Instant::now() + Duration::from_secs(20);
    while stream_events(&rt, &cfg) == held {
        assert!(Instant::now() < deadline, "syslog never reached the stream");
        std::thread::sleep(Duration::from_millis(100));
    }

    // NATS down: 503, nothing stored; back up: 200 again.
    nats.kill();
    std::thread::sleep(Duration::from_millis(300));
    let (status, resp) = post(&node, &bulk(1000, 10, 0));
    assert_eq!(status, 503, "{resp}");
    assert!(resp.to_string().contains("unavailable"), "{resp}");
    nats.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, resp) = post(&node, &bulk(1000, 10, 0));
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{resp}");
        assert!(
            Instant::now() < deadline,
            "not accepted again after NATS came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Nobody drains the stream: past its 2 MiB backlog, senders hear 429.
    let mut refused = None;
    for round in 0..200 {
        let (status, resp) = post(&node, &bulk(10_000 + round * 200, 200, 400));
        if status != 200 {
            refused = Some((status, resp));
            break;
        }
    }
    let (status, resp) = refused.expect("a full stream refuses");
    assert_eq!(status, 429, "{resp}");
}

/// One TLS syslog message (RFC 5425 octet counting) to `addr`, trusting `cert`.
fn tls_syslog(addr: std::net::SocketAddr, cert: &str, line: &str) {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cert.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn = rustls::ClientConnection::new(
        std::sync::Arc::new(config),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(tls, "{} {line}", line.len()).unwrap();
    tls.flush().unwrap();
    tls.conn.send_close_notify();
    let _ = tls.flush();
    // Read until the server closes: closing with its session tickets unread would reset the
    // connection, and the server could lose the line before reading it.
    tls.sock
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = tls.sock.shutdown(std::net::Shutdown::Write);
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut tls.sock, &mut rest);
}

/// One journaled message over SMTP to `addr`; the reply codes of the conversation.
fn smtp_send(addr: std::net::SocketAddr, subject: &str) -> Vec<u16> {
    use std::io::{BufRead, BufReader};
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut reader = BufReader::new(tcp.try_clone().unwrap());
    let mut out = tcp;
    let reply = |reader: &mut BufReader<std::net::TcpStream>| -> u16 {
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            // Multi-line replies continue with `250-`; the last has a space.
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            }
        }
    };
    let mut codes = vec![reply(&mut reader)];
    for cmd in [
        "EHLO exchange01.st-mary.example",
        "MAIL FROM:<journal@exchange.st-mary.example>",
        "RCPT TO:<nurse1@st-mary.example>",
        "DATA",
    ] {
        write!(out, "{cmd}\r\n").unwrap();
        codes.push(reply(&mut reader));
    }
    write!(
        out,
        "From: IT Service Desk <helpdesk@st-mary.example>\r\nTo: nurse1@st-mary.example\r\n\
         Subject: {subject}\r\nMessage-ID: <cluster-smtp-1@st-mary.example>\r\n\r\n\
         Your password expires today.\r\n.\r\n"
    )
    .unwrap();
    codes.push(reply(&mut reader));
    write!(out, "QUIT\r\n").unwrap();
    codes.push(reply(&mut reader));
    codes
}

/// The single binary's TLS syslog and SMTP journaling listeners on an ingest node: what they
/// accept goes through the events stream to a detect worker and into ClickHouse.
#[test]
fn an_ingest_node_takes_tls_syslog_and_journaled_mail_into_the_stream() {
    let Some(nats) = Peer::nats("an_ingest_node_takes_tls_syslog") else {
        return;
    };
    let Some(ch) = Peer::clickhouse("an_ingest_node_takes_tls_syslog") else {
        return;
    };
    let Some(pg) = Peer::postgres("an_ingest_node_takes_tls_syslog") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &key_pem).unwrap();
    let config = dir.path().join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nnats = \"{}\"\npartitions = 2\nack_wait_secs = 5\nmax_backlog_mb = 256\n\n\
             [store]\nevents = \"clickhouse://127.0.0.1:{}/wardwatch\"\nstate = \"{}\"\n\n\
             [syslog]\ntls_listen = \"127.0.0.1:0\"\ntls_cert = {:?}\ntls_key = {:?}\n\n\
             [mail]\nsmtp_listen = \"127.0.0.1:0\"\nsmtp_allowed_senders = [\"@exchange.st-mary.example\"]\n\
             own_domains = [\"st-mary.example\"]\n",
            nats.url(),
            ch.port,
            pg.url(),
            dir.path().join("cert.pem").display().to_string(),
            dir.path().join("key.pem").display().to_string(),
        ),
    )
    .unwrap();
    let init = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["cluster", "init", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let ingest = Node::start(&config, &dir.path().join("i"), "ingest", "127.0.0.1:0", "");
    let _detect = Node::start(
        &config,
        &dir.path().join("d"),
        "detect,incidents",
        "127.0.0.1:0",
        "",
    );
    let (Some(tls), Some(smtp)) = (ingest.syslog_tls, ingest.smtp) else {
        panic!("the ingest node did not say where TLS syslog and SMTP listen");
    };
    tls_syslog(
        tls,
        &cert_pem,
        "<134>1 2026-11-02T08:00:00Z pacs01 dicomd 42 - - tls-syslog-cluster-marker",
    );
    let codes = smtp_send(smtp, "Password expiry cluster-smtp-marker");
    assert_eq!(codes, [220, 250, 250, 250, 354, 250, 221], "SMTP replies");

    let count = |needle: &str| -> u64 {
        cluster_common::clickhouse(
            ch.port,
            &format!("SELECT count() FROM wardwatch.events WHERE original LIKE '%{needle}%'"),
        )
        .trim()
        .parse()
        .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (syslog, mail) = (
            count("tls-syslog-cluster-marker"),
            count("cluster-smtp-marker"),
        );
        if (syslog, mail) == (1, 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "in ClickHouse: {syslog} TLS syslog and {mail} mail event(s), 1 and 1 expected"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
