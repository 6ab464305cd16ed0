//! Starting `wardwatch serve --role ...` nodes as child processes for the scale-out tests, with
//! the real servers of `wardwatch-peers`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running node.
pub struct Node {
    pub child: Child,
    /// Bulk ingest's address (ingest role).
    pub http: Option<SocketAddr>,
    /// Syslog's address (ingest role).
    pub syslog: Option<SocketAddr>,
    /// The API's and console's address (api role; bulk ingest's too when both share it).
    pub api: Option<SocketAddr>,
    /// Syslog over TLS and SMTP journaling (ingest role, when configured).
    pub syslog_tls: Option<SocketAddr>,
    pub smtp: Option<SocketAddr>,
    args: (PathBuf, PathBuf, String, String, String),
}

impl Node {
    /// `wardwatch serve --role ROLE -c CONFIG --data DATA` on `http` and `syslog` (ports 0:
    /// any); waits until it says where it listens (ingest) or that it runs.
    pub fn start(config: &Path, data: &Path, role: &str, http: &str, syslog: &str) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
            .args(["serve", "--role", role, "-c"])
            .arg(config)
            .arg("--data")
            .arg(data)
            .args(["--http", http, "--syslog", syslog])
            .env("WARDWATCH_INGEST_TOKEN", "test-ingest")
            .env("WARDWATCH_API_TOKEN", "test-api")
            .env("WARDWATCH_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wardwatch serve --role");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (mut http_addr, mut syslog_addr, mut api_addr) = (None, None, None);
        let (mut tls_addr, mut smtp_addr) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            assert!(Instant::now() < deadline, "the node did not start in time");
            let Some(Ok(line)) = lines.next() else {
                panic!("the node exited before it ran: {:?}", child.wait());
            };
            let word = |prefix: &str| {
                line.trim()
                    .strip_prefix(prefix)
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|a| a.parse().ok())
            };
            let both = word("http    http://");
            http_addr = http_addr.or(word("ingest  http://")).or(both);
            api_addr = api_addr.or(word("api     http://")).or(both);
            syslog_addr = syslog_addr.or(word("syslog  udp://"));
            tls_addr = tls_addr.or(word("syslog  tls://"));
            smtp_addr = smtp_addr.or(word("smtp    smtp://"));
            // The last line a node prints once everything listens and runs.
            if line.contains("wardwatch: cluster node") {
                break;
            }
        }
        // Keep draining stderr (and show it: the tests' output tells what the nodes said).
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                eprintln!("  node: {l}");
            }
        });
        Node {
            child,
            http: http_addr,
            syslog: syslog_addr,
            api: api_addr,
            syslog_tls: tls_addr,
            smtp: smtp_addr,
            args: (
                config.to_path_buf(),
                data.to_path_buf(),
                role.to_string(),
                http_addr
                    .or(api_addr)
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| http.to_string()),
                syslog_addr
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| syslog.to_string()),
            ),
        }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start again with the same configuration, data and addresses.
    pub fn restart(&mut self) {
        self.kill();
        let (c, d, r, h, s) = self.args.clone();
        *self = Node::start(&c, &d, &r, &h, &s);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes `marker.yml` in `dir`: a high-level process-creation rule `title` (id `id`) that
/// fires on a command line containing `needle`, the alert every scale-out test counts.
pub fn marker_rule(dir: &Path, title: &str, id: &str, needle: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("marker.yml"),
        format!(
            "title: {title}\nid: {id}\nlogsource: {{product: windows, category: process_creation}}\n\
             detection:\n  sel:\n    CommandLine|contains: '{needle}'\n  condition: sel\nlevel: high\n"
        ),
    )
    .unwrap();
}

/// One query to ClickHouse over HTTP (`TabSeparated` rows).
pub fn clickhouse(port: u16, sql: &str) -> String {
    let (status, body) =
        wardwatch_peers::http_post(port, "/", sql).expect("ClickHouse answers over HTTP");
    assert_eq!(status, 200, "{sql}: {body}");
    body
}

/// `wardwatch cluster init -c CONFIG`: the stores' schemas, before any node starts.
pub fn init(config: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["cluster", "init", "-c"])
        .arg(config)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `wardwatch ARGS -c CONFIG` (the command line against the cluster) with `stdin`.
pub fn cli(args: &[&str], config: &Path, stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(args)
        .arg("-c")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The standard output of a command that must have succeeded (else its output is shown).
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A TAXII 2.1 GET with a partner's token; status and JSON body.
pub fn taxii_get(addr: SocketAddr, path: &str, token: &str) -> (u16, serde_json::Value) {
    use std::io::Read;
    const MEDIA: &str = "application/taxii+json;version=2.1";
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: {MEDIA}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}
