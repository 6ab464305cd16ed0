//! A shipper for fault injection (`bench/faults.sh`): posts numbered `_bulk` documents without
//! `_id` (so a retry is recognized only by the server's resend window) and sends numbered
//! syslog lines over TCP, retrying each bulk batch until it is acknowledged as a real shipper
//! does; then checks the store: every acknowledged document stored exactly once.
//!
//! Usage:
//!   `faults send HTTP_ADDR TOKEN SYSLOG_ADDR RATE SECONDS OUT_DIR [BATCH] [CONNECTIONS]`
//!     HTTP_ADDR `host:port` (plain HTTP) or `https://host:port` (TLS, trusting the CA
//!     certificate in the PEM file `FAULTS_CA`; the name checked is the host);
//!     RATE events/s in all (a fifth of it over syslog TCP); runs SECONDS, then retries what is
//!     still unacknowledged for up to 10 minutes. Writes OUT_DIR/acked (acknowledged bulk ranges) and
//!     OUT_DIR/syslog_sent, and prints what the server answered when it refused.
//!   `faults verify DATA_DIR OUT_DIR` (server stopped): counts every number in the journal.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn usage() -> ! {
    eprintln!(
        "usage: faults send HTTP_ADDR TOKEN SYSLOG_ADDR RATE SECONDS OUT_DIR [BATCH] [CONNECTIONS] | faults verify DATA_DIR OUT_DIR"
    );
    std::process::exit(2)
}

fn arg(i: usize) -> String {
    std::env::args().nth(i).unwrap_or_else(|| usage())
}

/// A connection to the server: plain TCP or TLS over it.
trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

/// Where the bulk API is: its `host:port` and, for HTTPS, the client configuration.
#[derive(Clone)]
struct Target {
    addr: String,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Target {
    /// `host:port` or `https://host:port` (then `FAULTS_CA` names the CA certificate to trust).
    fn parse(spec: &str) -> Target {
        let Some(addr) = spec.strip_prefix("https://") else {
            return Target {
                addr: spec.to_string(),
                tls: None,
            };
        };
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let ca = std::env::var("FAULTS_CA").expect("FAULTS_CA: the CA certificate for https://");
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&ca).expect("FAULTS_CA readable") {
            roots.add(cert.expect("FAULTS_CA: a PEM certificate")).expect("a CA certificate");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Target {
            addr: addr.to_string(),
            tls: Some(Arc::new(config)),
        }
    }

    fn connect(&self) -> std::io::Result<Box<dyn Conn>> {
        let s = TcpStream::connect(&self.addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let Some(config) = &self.tls else {
            return Ok(Box::new(s));
        };
        let host = self.addr.rsplit_once(':').map_or(&*self.addr, |(h, _)| h);
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let tls = rustls::ClientConnection::new(config.clone(), name)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Box::new(rustls::StreamOwned::new(tls, s)))
    }
}

/// One HTTP/1.1 request on a fresh or kept connection; returns (status, body).
fn call(
    conn: &mut Option<BufReader<Box<dyn Conn>>>,
    target: &Target,
    token: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    if conn.is_none() {
        *conn = Some(BufReader::new(target.connect()?));
    }
    let r = (|| {
        let c = conn.as_mut().expect("connected");
        let head = format!(
            "POST /_bulk HTTP/1.1\r\nHost: faults\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        c.get_mut().write_all(head.as_bytes())?;
        c.get_mut().write_all(body)?;
        c.get_mut().flush()?;
        let mut status_line = String::new();
        if c.read_line(&mut status_line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let (mut len, mut chunked) = (0usize, false);
        loop {
            let mut line = String::new();
            if c.read_line(&mut line)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed",
                ));
            }
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            if l.starts_with("transfer-encoding:") && l.contains("chunked") {
                chunked = true;
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                c.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; n + 2];
                c.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
        } else {
            out.resize(len, 0);
            c.read_exact(&mut out)?;
        }
        Ok((status, String::from_utf8_lossy(&out).into_owned()))
    })();
    if r.is_err() {
        *conn = None;
    }
    r
}

#[derive(Default)]
struct Seen {
    /// Refusals by status and a short reason: what the server said.
    refusals: Mutex<BTreeMap<String, u64>>,
    connect_failures: AtomicU64,
}

impl Seen {
    fn refused(&self, what: String) {
        *self.refusals.lock().unwrap().entry(what).or_default() += 1;
    }
}

fn reason(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let r = v["error"]["reason"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(120).collect());
    r.chars().take(160).collect()
}

fn send() {
    let target = Target::parse(&arg(2));
    let token = arg(3);
    let syslog = arg(4);
    let rate: f64 = arg(5).parse().unwrap_or_else(|_| usage());
    let secs: f64 = arg(6).parse().unwrap_or_else(|_| usage());
    let out = std::path::PathBuf::from(arg(7));
    let batch: u64 = std::env::args()
        .nth(8)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let conns: usize = std::env::args()
        .nth(9)
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    std::fs::create_dir_all(&out).expect("OUT_DIR");

    // FAULTS_BASE: where the numbers start, so two runs on one store do not collide.
    let base: u64 = std::env::var("FAULTS_BASE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let next = Arc::new(AtomicU64::new(base));
    let acked = Arc::new(Mutex::new(Vec::<(u64, u64)>::new()));
    let seen = Arc::new(Seen::default());
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let give_up = deadline + Duration::from_secs(600);
    let bulk_rate = rate * 0.8 / conns as f64;
    let syslog_rate = rate * 0.2;
    let mut handles = Vec::new();
    for _ in 0..conns {
        let (next, acked, seen, target, token) = (
            next.clone(),
            acked.clone(),
            seen.clone(),
            target.clone(),
            token.clone(),
        );
        handles.push(std::thread::spawn(move || {
            let mut conn = None;
            let mut mine = 0u64;
            while Instant::now() < deadline {
                let first = next.fetch_add(batch, Ordering::Relaxed);
                let mut body = Vec::with_capacity(batch as usize * 200);
                for n in first..first + batch {
                    let now = jiff::Timestamp::now();
                    let _ = write!(
                        body,
                        "{{\"create\":{{}}}}\n{{\"@timestamp\":\"{now}\",\"host\":{{\"name\":\"ws-faults\"}},\"message\":\"fault probe\",\"fault\":{{\"n\":{n}}}}}\n"
                    );
                }
                // As a shipper: the same batch until it is acknowledged.
                loop {
                    if Instant::now() > give_up {
                        eprintln!("faults: batch {first} never acknowledged; given up");
                        break;
                    }
                    match call(&mut conn, &target, &token, &body) {
                        Ok((200, b)) if !b.contains("\"errors\":true") => {
                            acked.lock().unwrap().push((first, first + batch));
                            break;
                        }
                        Ok((200, b)) => {
                            // Per-item errors: resend the whole batch; the stored ones are
                            // recognized as resends.
                            let v: serde_json::Value = serde_json::from_str(&b).unwrap_or_default();
                            let item = v["items"].as_array().and_then(|a| {
                                a.iter().find_map(|i| i["create"]["error"]["reason"].as_str().map(str::to_string))
                            });
                            seen.refused(format!("200 with item errors: {}", item.unwrap_or_default()));
                            std::thread::sleep(Duration::from_millis(500));
                        }
                        Ok((s, b)) => {
                            seen.refused(format!("{s}: {}", reason(&b)));
                            std::thread::sleep(Duration::from_millis(if s == 429 { 200 } else { 500 }));
                        }
                        Err(_) => {
                            seen.connect_failures.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(200));
                        }
                    }
                }
                mine += batch;
                if bulk_rate > 0.0 {
                    let due = start + Duration::from_secs_f64(mine as f64 / bulk_rate);
                    if let Some(w) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(w);
                    }
                }
            }
        }));
    }
    // Syslog over TCP: numbered lines; a line counts as sent once written to the socket
    // (syslog has no acknowledgement: what the kernel held when the server died is lost).
    let syslog_sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let syslog_thread = (syslog_rate > 0.0 && !syslog.is_empty()).then(|| {
        let (sent, stop, seen) = (syslog_sent.clone(), stop.clone(), seen.clone());
        std::thread::spawn(move || {
            let mut sock: Option<TcpStream> = None;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if sock.is_none() {
                    match TcpStream::connect(&syslog) {
                        Ok(s) => sock = Some(s),
                        Err(_) => {
                            seen.connect_failures.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(200));
                            continue;
                        }
                    }
                }
                let mut lines = Vec::new();
                let first = n;
                for k in first..first + 200 {
                    let _ = writeln!(
                        lines,
                        "<14>1 {} ws-faults-syslog probe - - - fault probe n={k}",
                        jiff::Timestamp::now()
                    );
                }
                match sock.as_mut().expect("connected").write_all(&lines) {
                    Ok(()) => {
                        n += 200;
                        sent.store(n, Ordering::Relaxed);
                    }
                    Err(_) => {
                        // Partly written lines may be stored: they count as sent.
                        n += 200;
                        sent.store(n, Ordering::Relaxed);
                        sock = None;
                    }
                }
                let due = start + Duration::from_secs_f64(n as f64 / syslog_rate);
                if let Some(w) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(w);
                }
            }
        })
    });
    // Overload: an open-loop syslog UDP flood at FAULTS_UDP_RATE datagrams/s (nothing pushes
    // back on UDP: what the server cannot take it must drop, and count).
    let udp_rate: f64 = std::env::var("FAULTS_UDP_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let udp_sent = Arc::new(AtomicU64::new(0));
    let udp_thread = (udp_rate > 0.0).then(|| {
        let (sent, target) = (udp_sent.clone(), arg(4));
        std::thread::spawn(move || {
            let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp socket");
            let mut n = 0u64;
            while Instant::now() < deadline {
                for _ in 0..100 {
                    let line = format!(
                        "<14>1 {} ws-flood flood - - - fault flood n={n}",
                        jiff::Timestamp::now()
                    );
                    if sock.send_to(line.as_bytes(), &target).is_ok() {
                        n += 1;
                    }
                }
                sent.store(n, Ordering::Relaxed);
                let due = start + Duration::from_secs_f64(n as f64 / udp_rate);
                if let Some(w) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(w);
                }
            }
        })
    });
    for h in handles {
        h.join().expect("sender");
    }
    if let Some(t) = udp_thread {
        t.join().expect("udp flood");
    }
    std::fs::write(
        out.join("udp_sent"),
        udp_sent.load(Ordering::Relaxed).to_string(),
    )
    .expect("udp_sent");
    stop.store(true, Ordering::Relaxed);
    if let Some(t) = syslog_thread {
        t.join().expect("syslog sender");
    }
    let acked = acked.lock().unwrap();
    let total: u64 = acked.iter().map(|(a, b)| b - a).sum();
    let mut f = std::fs::File::create(out.join("acked")).expect("acked file");
    for (a, b) in acked.iter() {
        let _ = writeln!(f, "{a} {b}");
    }
    std::fs::write(
        out.join("syslog_sent"),
        syslog_sent.load(Ordering::Relaxed).to_string(),
    )
    .expect("syslog_sent");
    let secs = start.elapsed().as_secs_f64();
    println!("bulk_acked {total}");
    println!("bulk_rate {:.0}", total as f64 / secs);
    println!("syslog_sent {}", syslog_sent.load(Ordering::Relaxed));
    if udp_rate > 0.0 {
        println!(
            "udp_sent {} (offered {:.0}/s)",
            udp_sent.load(Ordering::Relaxed),
            udp_sent.load(Ordering::Relaxed) as f64 / secs
        );
    }
    println!(
        "connect_failures {}",
        seen.connect_failures.load(Ordering::Relaxed)
    );
    for (what, n) in seen.refusals.lock().unwrap().iter() {
        println!("refused {n}x {what}");
    }
}

fn verify() {
    let data = std::path::PathBuf::from(arg(2));
    let out = std::path::PathBuf::from(arg(3));
    let db = wardwatch_store::Db::open(&data, &wardwatch_store::DbOptions::default())
        .expect("open the store");
    type Counts = std::collections::HashMap<u64, u32>;
    let mut bulk = Counts::new();
    let mut syslog = Counts::new();
    let mut udp = Counts::new();
    let bump = |v: &mut Counts, n: u64| *v.entry(n).or_default() += 1;
    let mut seq = 0;
    loop {
        let page = db.read_after(seq, 20_000).expect("read the journal");
        let Some(last) = page.last() else { break };
        seq = last.seq;
        for e in &page {
            if let Some(n) = e.event.raw["fault"]["n"].as_u64() {
                bump(&mut bulk, n);
            } else if let Some(m) = e.event.ecs.message.as_deref()
                && let Some(n) = m.rsplit_once("n=").and_then(|(_, n)| n.trim().parse().ok())
            {
                bump(
                    if m.contains("fault flood") {
                        &mut udp
                    } else {
                        &mut syslog
                    },
                    n,
                );
            }
        }
    }
    let acked = std::fs::read_to_string(out.join("acked")).unwrap_or_default();
    let (mut n_acked, mut missing, mut acked_dup) = (0u64, 0u64, 0u64);
    for line in acked.lines() {
        let mut it = line
            .split_whitespace()
            .filter_map(|x| x.parse::<u64>().ok());
        let (Some(a), Some(b)) = (it.next(), it.next()) else {
            continue;
        };
        for n in a..b {
            n_acked += 1;
            match bulk.get(&n).copied().unwrap_or(0) {
                0 => missing += 1,
                1 => {}
                _ => acked_dup += 1,
            }
        }
    }
    let stored_bulk = bulk.len();
    let dup_bulk = bulk.values().filter(|c| **c > 1).count();
    let sent: u64 = std::fs::read_to_string(out.join("syslog_sent"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let stored_syslog = syslog.len();
    let dup_syslog = syslog.values().filter(|c| **c > 1).count();
    println!(
        "bulk: acknowledged {n_acked}, stored {stored_bulk} distinct, acknowledged but missing {missing}, acknowledged stored more than once {acked_dup}, any stored more than once {dup_bulk}"
    );
    println!(
        "syslog tcp: sent {sent}, stored {stored_syslog} distinct ({:.2}% of sent; no acknowledgement in the protocol), stored more than once {dup_syslog}",
        100.0 * stored_syslog as f64 / sent.max(1) as f64
    );
    let udp_sent: u64 = std::fs::read_to_string(out.join("udp_sent"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if udp_sent > 0 {
        let stored_udp = udp.len();
        println!(
            "syslog udp: sent {udp_sent}, stored {stored_udp} distinct, not stored {} (dropped by the kernel or by the server: compare wardwatch_dropped_total)",
            udp_sent.saturating_sub(stored_udp as u64)
        );
    }
    if missing > 0 || acked_dup > 0 {
        println!("FAIL: acknowledged documents lost or duplicated");
        std::process::exit(1);
    }
    println!("OK: every acknowledged document stored exactly once");
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("send") => send(),
        Some("verify") => verify(),
        _ => usage(),
    }
}
