//! Starting `wardwatch serve` and `wardwatch demo` as child processes on ephemeral ports, a
//! tiny HTTP client (std only) for the tests, and (`smtp`) a real SMTP server on loopback.

#![allow(dead_code)]

pub mod smtp;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `../shared/data` (or `$WARDWATCH_SHARED_DATA`), or `None` with a printed reason.
pub fn shared(test: &str) -> Option<PathBuf> {
    let p = std::env::var_os("WARDWATCH_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if p.is_dir() {
        Some(p)
    } else {
        // CI always has the data: there a missing folder is a failure, never a silent pass.
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: {} is absent and CI is set (CI must have ../shared/data)",
            p.display()
        );
        eprintln!("skipped {test}: ../shared/data is absent");
        None
    }
}

/// A loopback port free right now (for a server that must come back on the same port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Server {
    pub child: Child,
    pub http: SocketAddr,
    /// The syslog address (UDP and TCP); `0.0.0.0:0` when syslog is off.
    pub syslog: SocketAddr,
    pub data: PathBuf,
    pub ingest_token: String,
    pub api_token: String,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Start on ephemeral ports with a fresh data directory.
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut s = Server::start_in(&data, "127.0.0.1:0", "127.0.0.1:0", extra);
        s._dir = Some(dir);
        s
    }

    /// Start with a given data directory and addresses (for restarts on the same ports).
    pub fn start_in(data: &Path, http: &str, syslog: &str, extra: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardwatch"));
        cmd.args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--http",
            http,
            "--syslog",
            syslog,
        ])
        .args(extra)
        .env("WARDWATCH_INGEST_TOKEN", "test-ingest")
        .env("WARDWATCH_API_TOKEN", "test-api")
        .env("WARDWATCH_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start wardwatch serve");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let (mut http_addr, mut syslog_addr) = (None, None);
        let want_syslog = !syslog.is_empty();
        let deadline = Instant::now() + Duration::from_secs(120);
        while http_addr.is_none() || (want_syslog && syslog_addr.is_none()) {
            assert!(Instant::now() < deadline, "serve did not start in time");
            let Some(Ok(line)) = lines.next() else {
                panic!("serve exited before listening: {:?}", child.wait());
            };
            if let Some(rest) = line
                .trim()
                .strip_prefix("http    http://")
                .or_else(|| line.trim().strip_prefix("http    https://"))
            {
                http_addr = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
            if let Some(rest) = line.trim().strip_prefix("syslog  udp://") {
                syslog_addr = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
        }
        // Keep draining stderr so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            http: http_addr.unwrap(),
            syslog: syslog_addr.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
            data: data.to_path_buf(),
            ingest_token: "test-ingest".into(),
            api_token: "test-api".into(),
            _dir: None,
        }
    }

    /// Poll the event search (over all time: the tests' events carry fixed dates) until it
    /// reports at least `n` hits.
    pub fn wait_events(&self, q: &str, n: u64) -> Value {
        self.wait(
            &format!("/api/v1/events?limit=1000&from=0&q={}", urlencode(q)),
            n,
        )
    }

    /// Poll the alert list (extra query string `params`) until it has at least `n`.
    pub fn wait_alerts(&self, params: &str, n: u64) -> Value {
        self.wait(&format!("/api/v1/alerts?limit=1000&{params}"), n)
    }

    fn wait(&self, path: &str, n: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, v) = http_get(self.http, path, Some(&self.api_token));
            if status == 200 && v["total"].as_u64().unwrap_or(0) >= n {
                return v;
            }
            if Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kill -9.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `wardwatch demo` that has fed its generated week, in a temporary data folder.
pub struct Demo {
    pub child: Child,
    /// The API address (the demo's API token is `demo`).
    pub http: SocketAddr,
    pub data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `wardwatch demo --scale 0.2` (no syslog listener, HTTP on an ephemeral port) with
/// `extra` arguments (`--config FILE`, ...), and wait until it has fed its week.
pub fn start_demo(extra: &[&str]) -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args([
            "demo",
            "--data",
            data.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--syslog",
            "",
            "--scale",
            "0.2",
        ])
        .args(extra)
        .env("WARDWATCH_LOG", "warn")
        .env_remove("WARDWATCH_API_TOKEN")
        .env_remove("WARDWATCH_INGEST_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wardwatch demo");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = Instant::now();
    let mut http = None;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "demo did not finish feeding"
        );
        let Some(Ok(line)) = lines.next() else {
            panic!("demo exited early: {:?}", child.wait());
        };
        if let Some(rest) = line.strip_prefix("wardwatch demo: serving on http://") {
            http = rest.split_whitespace().next().and_then(|a| a.parse().ok());
        }
        if line.trim_start().starts_with("fed ") {
            break;
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Demo {
        child,
        http: http.expect("the demo prints its address"),
        data,
        _dir: dir,
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One HTTP/1.1 request; returns status and the body as JSON (or a JSON string when not JSON).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> std::io::Result<(u16, Value)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
    Ok((status, v))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// Index `docs` through the server's `_bulk` API, every one accepted.
pub fn post_bulk(server: &Server, docs: &[Value]) {
    let body: String = docs
        .iter()
        .map(|d| format!("{{\"index\":{{}}}}\n{d}\n"))
        .collect();
    let (status, resp) = http_post(server.http, "/_bulk", &body, Some(&server.ingest_token));
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["errors"], false, "{resp}");
}

pub fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, Value) {
    request(addr, "GET", path, "", token).expect("GET")
}

pub fn http_post(addr: SocketAddr, path: &str, body: &str, token: Option<&str>) -> (u16, Value) {
    request(addr, "POST", path, body, token).expect("POST")
}

/// A loopback HTTP server that answers 200 to everything and keeps (headers, body).
/// (head, body) of each request received.
pub type Received = Arc<Mutex<Vec<(String, String)>>>;

pub fn receiver() -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            keep.lock()
                .unwrap()
                .push((head, String::from_utf8_lossy(&body).into_owned()));
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, got)
}
