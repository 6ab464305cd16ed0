//! `wardwatch doctor --config FILE`: checks a server's setup before (or while) it runs, and says
//! in plain words what to fix.
//!
//! Each check prints one line — `ok`, `warn` (works, but a hospital should look at it) or `FIX`
//! (the server will not start, or runs unsafely) — and the exit code is 1 when anything must be
//! fixed. What it looks at: the configuration (every key known, values that make sense), the
//! TLS certificates and keys (readable, belonging together, valid now, expiring within 30 days),
//! client CA files, the data folder (owner-only permissions, writable, free disk), each listener
//! (bindable, or already answering — a running server), plain HTTP off loopback, allowed
//! networks, and whether ingest and API tokens exist (environment or store). With `[store]
//! state` (a cluster node's configuration) the tokens and the feeds' state are the shared
//! state's, opened as the nodes open it (`roles::state_opener`), and an unreachable one must be
//! fixed.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use wardwatch_listen::{Allow, ClientAuth, tls};
use wardwatch_server::Config;
use wardwatch_server::disk::{free_bytes, human};
use wardwatch_store::{Db, DbOptions, Store, TokenKind};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Configuration file (TOML) the server runs with; without it, the defaults are checked.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Data directory (overrides `data.dir`, as for `serve`).
    #[arg(long)]
    data: Option<PathBuf>,
}

/// Certificates expiring sooner than this are a warning.
const EXPIRY_WARNING_DAYS: i64 = 30;
/// Less free disk than this under the data folder must be fixed...
const DISK_FIX_BYTES: u64 = 1 << 30;
/// ...and less than this is a warning.
const DISK_WARN_BYTES: u64 = 10 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Ok,
    Warn,
    Fix,
}

/// What the checks found.
#[derive(Default)]
struct Report {
    lines: Vec<(Level, String)>,
}

impl Report {
    fn ok(&mut self, text: impl Into<String>) {
        self.lines.push((Level::Ok, text.into()));
    }
    fn warn(&mut self, text: impl Into<String>) {
        self.lines.push((Level::Warn, text.into()));
    }
    fn fix(&mut self, text: impl Into<String>) {
        self.lines.push((Level::Fix, text.into()));
    }
    fn worst(&self) -> Level {
        self.lines
            .iter()
            .map(|(l, _)| *l)
            .max()
            .unwrap_or(Level::Ok)
    }
}

pub fn run(args: DoctorArgs) -> Result<ExitCode> {
    let mut report = Report::default();
    let config = match load(&args, &mut report) {
        Some(c) => c,
        None => return Ok(print(&report)),
    };
    check_data(&config, &mut report);
    check_tls(&config, &mut report);
    check_listeners(&config, &mut report);
    let state = open_state(&config, &mut report);
    check_tokens(state.as_deref(), &mut report);
    check_rules(&config, &mut report);
    check_feeds(&config, state.as_deref(), &mut report);
    Ok(print(&report))
}

fn print(report: &Report) -> ExitCode {
    for (level, text) in &report.lines {
        let tag = match level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fix => "FIX ",
        };
        println!("  {tag}  {text}");
    }
    let fixes = report
        .lines
        .iter()
        .filter(|(l, _)| *l == Level::Fix)
        .count();
    let warnings = report
        .lines
        .iter()
        .filter(|(l, _)| *l == Level::Warn)
        .count();
    match report.worst() {
        Level::Fix => {
            println!("wardwatch doctor: {fixes} thing(s) to fix, {warnings} warning(s)");
            ExitCode::from(1)
        }
        Level::Warn => {
            println!("wardwatch doctor: nothing to fix, {warnings} warning(s)");
            ExitCode::SUCCESS
        }
        Level::Ok => {
            println!("wardwatch doctor: all good");
            ExitCode::SUCCESS
        }
    }
}

fn load(args: &DoctorArgs, report: &mut Report) -> Option<Config> {
    let mut config = match &args.config {
        None => {
            report.ok("configuration: none given, checking the defaults (`wardwatch serve --print-config`)");
            Config::default()
        }
        Some(path) => match std::fs::read_to_string(path) {
            Err(e) => {
                report.fix(format!(
                    "configuration `{}` cannot be read: {e}",
                    path.display()
                ));
                return None;
            }
            Ok(text) => match Config::from_toml(&text) {
                Ok(c) => {
                    report.ok(format!(
                        "configuration `{}`: read, every key known",
                        path.display()
                    ));
                    c
                }
                Err(e) => {
                    report.fix(format!(
                        "configuration `{}` is not valid: {}",
                        path.display(),
                        e.to_string().trim()
                    ));
                    return None;
                }
            },
        },
    };
    if let Some(d) = &args.data {
        config.data.dir = d.clone();
    }
    for (what, list) in [
        ("http.allowed_networks", &config.http.allowed_networks),
        ("syslog.allowed_networks", &config.syslog.allowed_networks),
        (
            "syslog.tls_allowed_networks",
            &config.syslog.tls_allowed_networks,
        ),
    ] {
        if let Err(e) = Allow::parse(list, what) {
            report.fix(e.to_string());
        }
    }
    if config.pipeline.source_budget_events_per_sec == 0 {
        report.warn("pipeline.source_budget_events_per_sec = 0: one flooding sender can push back on every other one; set a budget (default 20000)");
    }
    if config.http.metrics_open {
        report.warn("http.metrics_open = true: /metrics answers anyone who reaches the port; keep it on a trusted network");
    }
    Some(config)
}

/// Where the nodes keep tokens and the feeds' state: with `[store] state` the cluster's shared
/// state (reachable, else a fix), else the data folder's store when it has one.
fn open_state(config: &Config, report: &mut Report) -> Option<Box<dyn Store>> {
    if config
        .store
        .as_ref()
        .is_some_and(|s| !s.state.trim().is_empty())
    {
        let opened = wardwatch_server::roles::state_opener(config)
            .map_err(|e| e.to_string())
            .and_then(|open| open().map_err(|e| e.to_string()));
        return match opened {
            Ok(store) => {
                report.ok("store.state: the cluster's shared state answers");
                Some(store)
            }
            Err(e) => {
                report.fix(format!(
                    "store.state: cannot open the cluster's shared state: {e}"
                ));
                None
            }
        };
    }
    if !config.data.dir.join(wardwatch_store::FILE_NAME).exists() {
        return None;
    }
    Db::open(&config.data.dir, &DbOptions::default())
        .ok()
        .map(|db| Box::new(db) as Box<dyn Store>)
}

/// The partners' feeds: configured sensibly, and how their last polls went (from the store).
fn check_feeds(config: &Config, state: Option<&dyn Store>, report: &mut Report) {
    let feeds = match wardwatch_server::intel_feeds::check(&config.intel.feeds) {
        Ok(f) => f,
        Err(e) => {
            report.fix(e);
            return;
        }
    };
    if feeds.is_empty() {
        return;
    }
    report.ok(format!("intel feeds: {} configured", feeds.len()));
    let Some(db) = state else {
        return;
    };
    let Ok(states) = db.feed_statuses() else {
        return;
    };
    for f in &feeds {
        match states.iter().find(|s| s.feed == f.cfg.name) {
            Some(s) if s.failures > 0 => report.warn(format!(
                "intel feed `{}`: the last {} poll(s) failed: {}",
                s.feed,
                s.failures,
                s.last_error.as_deref().unwrap_or("no reason kept")
            )),
            Some(s) => report.ok(format!(
                "intel feed `{}`: {} indicator(s) held, last poll fine",
                s.feed, s.indicators
            )),
            None => report.ok(format!(
                "intel feed `{}`: not polled yet (serve polls it)",
                f.cfg.name
            )),
        }
    }
}

fn check_data(config: &Config, report: &mut Report) {
    let dir = &config.data.dir;
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Err(_) => {
            report.ok(format!(
                "data folder `{shown}` does not exist yet; `serve` creates it (owner-only)"
            ));
        }
        Ok(meta) if !meta.is_dir() => {
            report.fix(format!(
                "data folder `{shown}` is not a folder: point data.dir at a folder"
            ));
            return;
        }
        Ok(meta) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    report.fix(format!(
                        "data folder `{shown}` can be read by other users (mode {mode:03o}); the events hold user names and hosts: run `chmod 700 {shown}`"
                    ));
                } else {
                    report.ok(format!("data folder `{shown}`: owner-only ({mode:03o})"));
                }
            }
            let probe = dir.join(".wardwatch-doctor-probe");
            match std::fs::write(&probe, b"") {
                Ok(()) => {
                    let _ = std::fs::remove_file(&probe);
                }
                Err(e) => report.fix(format!(
                    "data folder `{shown}` is not writable by this user: {e}; run the server as the folder's owner"
                )),
            }
        }
    }
    // Free disk where the data lives (the folder, or the nearest existing parent).
    let existing = dir
        .ancestors()
        .find(|p| p.as_os_str().is_empty() || p.exists())
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."));
    match free_bytes(existing) {
        Some(free) if free < DISK_FIX_BYTES => report.fix(format!(
            "only {} free under `{}`: the store stops taking events when the disk is full; free space or lower retention.max_age_days / max_size_mb",
            human(free),
            existing.display()
        )),
        Some(free) if free < DISK_WARN_BYTES => report.warn(format!(
            "{} free under `{}`: a hospital's week of logs can take more; watch it or set retention.max_size_mb",
            human(free),
            existing.display()
        )),
        Some(free) => report.ok(format!(
            "free disk under `{}`: {}",
            existing.display(),
            human(free)
        )),
        None => report.warn(format!(
            "free disk under `{}` could not be read",
            existing.display()
        )),
    }
}

/// One TLS setting: what it is called, certificate, key, client auth and CA.
struct TlsSetting<'a> {
    what: &'a str,
    cert: &'a str,
    key: &'a str,
    auth: ClientAuth,
    ca: &'a str,
}

fn check_tls(config: &Config, report: &mut Report) {
    let now = jiff::Timestamp::now().as_second();
    let mut settings = Vec::new();
    if !config.http.tls_cert.trim().is_empty() || !config.http.tls_key.trim().is_empty() {
        settings.push(TlsSetting {
            what: "http",
            cert: &config.http.tls_cert,
            key: &config.http.tls_key,
            auth: config.http.tls_client_auth,
            ca: &config.http.tls_client_ca,
        });
    }
    if !config.syslog.tls_listen.trim().is_empty() {
        settings.push(TlsSetting {
            what: "syslog",
            cert: &config.syslog.tls_cert,
            key: &config.syslog.tls_key,
            auth: config.syslog.tls_client_auth,
            ca: &config.syslog.tls_client_ca,
        });
    }
    for s in settings {
        let (cert, key) = (s.cert.trim(), s.key.trim());
        if cert.is_empty() || key.is_empty() {
            report.fix(format!(
                "{w}.tls_cert and {w}.tls_key must both be set (PEM files)",
                w = s.what
            ));
            continue;
        }
        match tls::certificates(Path::new(cert)) {
            Err(e) => report.fix(format!("{}.tls_cert: {e}", s.what)),
            Ok(certs) => {
                check_validity(&format!("{}.tls_cert", s.what), cert, &certs, now, report);
                match tls::check_pair(Path::new(cert), Path::new(key)) {
                    Ok(()) => report.ok(format!(
                        "{}.tls_key `{key}` belongs to the certificate",
                        s.what
                    )),
                    Err(e) => report.fix(format!("{}.tls_key: {e}", s.what)),
                }
            }
        }
        if s.auth != ClientAuth::None {
            let ca = s.ca.trim();
            if ca.is_empty() {
                report.fix(format!(
                    "{w}.tls_client_auth asks for client certificates but {w}.tls_client_ca is empty: name the PEM file of the CA that signs your senders' certificates",
                    w = s.what
                ));
            } else {
                match tls::certificates(Path::new(ca)) {
                    Err(e) => report.fix(format!("{}.tls_client_ca: {e}", s.what)),
                    Ok(certs) => check_validity(
                        &format!("{}.tls_client_ca", s.what),
                        ca,
                        &certs,
                        now,
                        report,
                    ),
                }
            }
        }
    }
}

fn check_validity(
    what: &str,
    file: &str,
    certs: &[tls::CertificateInfo],
    now: i64,
    report: &mut Report,
) {
    for c in certs {
        let date = |t: i64| {
            jiff::Timestamp::from_second(t)
                .map(|t| t.strftime("%Y-%m-%d").to_string())
                .unwrap_or_else(|_| t.to_string())
        };
        let days = (c.not_after - now).div_euclid(86_400);
        if c.not_after < now {
            report.fix(format!(
                "{what} `{file}`: certificate `{}` expired on {}: renew it (the file is re-read when it changes)",
                c.subject,
                date(c.not_after)
            ));
        } else if c.not_before > now {
            report.fix(format!(
                "{what} `{file}`: certificate `{}` is not valid before {}: check this machine's clock",
                c.subject,
                date(c.not_before)
            ));
        } else if days < EXPIRY_WARNING_DAYS {
            report.warn(format!(
                "{what} `{file}`: certificate `{}` expires in {days} day(s), on {}: renew it soon (no restart needed)",
                c.subject,
                date(c.not_after)
            ));
        } else {
            report.ok(format!(
                "{what} `{file}`: certificate `{}` valid until {}",
                c.subject,
                date(c.not_after)
            ));
        }
    }
}

fn parse_addr(text: &str) -> Option<Result<SocketAddr, String>> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.parse().map_err(|_| t.to_string()))
}

fn check_listeners(config: &Config, report: &mut Report) {
    let https = !config.http.tls_cert.trim().is_empty();
    let mut tcp = vec![("http.listen", Ok(config.http.listen))];
    if let Some(a) = parse_addr(&config.http.ingest_listen) {
        tcp.push(("http.ingest_listen", a));
    }
    for (what, addr) in &tcp {
        if let Ok(addr) = addr
            && !https
            && !addr.ip().is_loopback()
            && !config.http.allow_plain_http
        {
            report.fix(format!(
                "{what} = {addr} is plain HTTP on the network: tokens and events would cross it in clear text (the server refuses to start); set http.tls_cert and http.tls_key, or listen on 127.0.0.1 behind a TLS proxy"
            ));
        }
    }
    if let Some(a) = parse_addr(&config.syslog.listen) {
        tcp.push(("syslog.listen (TCP)", a.clone()));
        if let Ok(addr) = a {
            match UdpSocket::bind(addr) {
                Ok(_) => report.ok(format!("syslog.listen (UDP) {addr}: free to bind")),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => report.warn(format!(
                    "syslog.listen (UDP) {addr}: already in use (a running wardwatch, or another syslog daemon such as rsyslog on this port?)"
                )),
                Err(e) => report.fix(format!(
                    "syslog.listen (UDP) {addr}: cannot be bound: {e}{}",
                    privileged_hint(addr)
                )),
            }
        }
    }
    if let Some(a) = parse_addr(&config.syslog.tls_listen) {
        tcp.push(("syslog.tls_listen", a));
    }
    for (what, addr) in tcp {
        let addr = match addr {
            Ok(a) => a,
            Err(text) => {
                report.fix(format!(
                    "{what} = `{text}` is not an address like 0.0.0.0:5514"
                ));
                continue;
            }
        };
        match TcpListener::bind(addr) {
            Ok(_) => report.ok(format!("{what} {addr}: free to bind")),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                let target = if addr.ip().is_unspecified() {
                    SocketAddr::from(([127, 0, 0, 1], addr.port()))
                } else {
                    addr
                };
                if TcpStream::connect_timeout(&target, Duration::from_secs(2)).is_ok() {
                    report.ok(format!(
                        "{what} {addr}: in use and answering (a running server?)"
                    ));
                } else {
                    report.fix(format!(
                        "{what} {addr}: in use by another program and not answering: stop it or choose another port"
                    ));
                }
            }
            Err(e) => report.fix(format!(
                "{what} {addr}: cannot be bound: {e}{}",
                privileged_hint(addr)
            )),
        }
    }
}

fn privileged_hint(addr: SocketAddr) -> &'static str {
    if addr.port() < 1024 {
        " (ports below 1024 need root or CAP_NET_BIND_SERVICE; 514/6514 can be forwarded from a higher port)"
    } else {
        " (is the address one of this machine's?)"
    }
}

fn check_tokens(state: Option<&dyn Store>, report: &mut Report) {
    let env = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let stored = |kind: TokenKind| -> usize {
        state
            .and_then(|db| db.token_hashes(kind).ok())
            .map_or(0, |t| t.len())
    };
    let ingest = usize::from(env("WARDWATCH_INGEST_TOKEN")) + stored(TokenKind::Ingest);
    let api = usize::from(env("WARDWATCH_API_TOKEN")) + stored(TokenKind::Api);
    if ingest == 0 {
        report.warn("no ingest token (WARDWATCH_INGEST_TOKEN, or `wardwatch tokens add NAME --kind ingest`): /_bulk refuses every shipper");
    } else {
        report.ok(format!("ingest tokens: {ingest}"));
    }
    if api == 0 {
        report.warn("no API token (WARDWATCH_API_TOKEN, or `wardwatch tokens add NAME --kind api`): the API and /metrics refuse everyone");
    } else {
        report.ok(format!("API tokens: {api}"));
    }
}

fn check_rules(config: &Config, report: &mut Report) {
    for folder in &config.rules.folders {
        if !folder.is_dir() {
            report.fix(format!(
                "rules.folders: `{}` is not a folder",
                folder.display()
            ));
        }
    }
    for name in &config.rules.packs {
        match crate::pack::resolve(name) {
            Ok(dir) => report.ok(format!("rules.packs: `{name}` is {}", dir.display())),
            Err(e) => report.fix(format!("rules.packs: {e}")),
        }
    }
    if !config.rules.builtin && config.rules.folders.is_empty() && config.rules.packs.is_empty() {
        report.fix("no rules: rules.builtin = false and rules.folders and rules.packs are empty, so nothing would be detected");
    }
}
