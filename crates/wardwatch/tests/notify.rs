//! Notifications against a real SMTP server on loopback (PyPI `aiosmtpd`, Maildir handler):
//! the demo's stories each open with exactly one mail to the routed recipient, both parts
//! present; with the mail server down while incidents open, every message is delivered once
//! after it comes back, also across a kill -9 of Wardwatch.
//!
//! aiosmtpd comes from `target/py-smtp` (made by `.ci/run`) or `$WARDWATCH_AIOSMTPD`. Without
//! it the tests say so and skip — except under CI (`CI` set), where a missing peer fails.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Server, free_port, http_get, http_post};
use serde_json::Value;

/// The aiosmtpd program, or `None` (test skipped) outside CI.
fn aiosmtpd(test: &str) -> Option<PathBuf> {
    let p = std::env::var_os("WARDWATCH_AIOSMTPD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/py-smtp/bin/aiosmtpd")
        });
    if p.is_file() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{test}: aiosmtpd is missing at {} (CI must install it: see .ci/run)",
            p.display()
        );
    }
    eprintln!(
        "skipped {test}: aiosmtpd not found at {} (run `bash .ci/run` once, or set WARDWATCH_AIOSMTPD)",
        p.display()
    );
    None
}

/// A running aiosmtpd that stores every mail as a file in a Maildir.
pub struct Smtp {
    child: Child,
    pub maildir: PathBuf,
}

impl Smtp {
    pub fn start(bin: &Path, port: u16, maildir: &Path) -> Smtp {
        let child = Command::new(bin)
            .args([
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
                maildir.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Smtp {
            child,
            maildir: maildir.to_path_buf(),
        }
    }

    /// Every stored mail, decoded.
    pub fn mails(&self) -> Vec<Received> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(rd) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for e in rd.flatten() {
                let raw = std::fs::read_to_string(e.path()).unwrap();
                out.push(Received::parse(&raw));
            }
        }
        out
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A received mail: headers and decoded parts by content type.
#[derive(Debug)]
pub struct Received {
    pub headers: String,
    pub to: String,
    pub message_id: String,
    pub parts: BTreeMap<String, String>,
}

fn header(headers: &str, name: &str) -> String {
    let mut out = String::new();
    let mut on = false;
    for line in headers.lines() {
        if on && (line.starts_with(' ') || line.starts_with('\t')) {
            out.push_str(line.trim());
            continue;
        }
        on = false;
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            out = v.trim().to_string();
            on = true;
        }
    }
    out
}

fn unquote(qp: &str) -> String {
    let joined = qp.replace("=\r\n", "").replace("=\n", "");
    let b = joined.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && let Ok(v) = u8::from_str_radix(joined.get(i + 1..i + 3).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Received {
    fn parse(raw: &str) -> Received {
        let raw = raw.replace("\r\n", "\n");
        let (headers, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let ctype = header(headers, "Content-Type");
        let mut parts = BTreeMap::new();
        if let Some(b) = ctype.split("boundary=").nth(1) {
            let boundary = format!("--{}", b.trim_matches('"').split(';').next().unwrap());
            for chunk in body.split(&boundary).skip(1) {
                let Some((h, b)) = chunk.trim_start_matches('\n').split_once("\n\n") else {
                    continue;
                };
                let ct = header(h, "Content-Type");
                let kind = ct.split(';').next().unwrap_or("").trim().to_string();
                let enc = header(h, "Content-Transfer-Encoding").to_lowercase();
                let text = match enc.as_str() {
                    "base64" => String::from_utf8_lossy(
                        &base64::engine::general_purpose::STANDARD
                            .decode(b.split_whitespace().collect::<String>())
                            .unwrap_or_default(),
                    )
                    .into_owned(),
                    "quoted-printable" => unquote(b),
                    _ => b.to_string(),
                };
                parts.insert(kind, text);
            }
        }
        Received {
            to: header(headers, "To"),
            message_id: header(headers, "Message-ID"),
            headers: headers.to_string(),
            parts,
        }
    }

    pub fn text(&self) -> &str {
        self.parts.get("text/plain").map_or("", String::as_str)
    }

    /// The incident the mail is about (the console link in its text).
    pub fn incident(&self) -> Option<String> {
        let t = self.text();
        let at = t.find("/incidents/inc-")?;
        let id: String = t[at + "/incidents/".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        Some(id)
    }
}

/// Poll `/api/v1/notifications` until nothing is queued and at least `min` were sent.
fn wait_all_sent(http: std::net::SocketAddr, token: &str, min: u64, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (status, v) = http_get(http, "/api/v1/notifications?limit=1000", Some(token));
        assert_eq!(status, 200, "{v}");
        let c = &v["counts"];
        if c["queued"] == 0 && c["sent"].as_u64().unwrap_or(0) >= min {
            return v;
        }
        assert!(Instant::now() < deadline, "not everything was sent: {v}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn notify_config(port: u16, extra: &str) -> String {
    format!(
        r#"
[notify]
console_url = "https://wardwatch.hospital.example"
rate_limit_per_hour = 0
retry_secs = 1

[notify.smtp]
server = "127.0.0.1:{port}"      # host:port
from = "wardwatch@hospital.example"
tls = "none"                   # none | starttls | tls

[[notify.routes]]
to = ["it-team@hospital.example"]
min_severity = "medium"
{extra}
"#
    )
}

#[test]
fn the_demo_stories_each_open_with_one_mail_to_the_routed_recipient() {
    let Some(bin) = aiosmtpd("the_demo_stories_each_open_with_one_mail_to_the_routed_recipient")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smtp = Smtp::start(&bin, port, &dir.path().join("maildir"));
    let config = dir.path().join("wardwatch.toml");
    std::fs::write(
        &config,
        notify_config(
            port,
            "[[notify.routes]]\nto = [\"pacs-team@hospital.example\"]\nmin_severity = \"low\"\nasset_classes = [\"pacs\"]\n",
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args([
            "demo",
            "--config",
            config.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--syslog",
            "",
            "--scale",
            "0.2",
        ])
        .env("WARDWATCH_LOG", "warn")
        .env_remove("WARDWATCH_API_TOKEN")
        .env_remove("WARDWATCH_INGEST_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut http = None;
    loop {
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
    std::thread::spawn(move || for _ in lines {});
    let http: std::net::SocketAddr = http.expect("the demo prints its address");
    let (_, incidents) = http_get(http, "/api/v1/incidents?min_severity=medium", Some("demo"));
    let ids: Vec<String> = incidents["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{incidents}");
    let queue = wait_all_sent(http, "demo", 3, 120);
    let mails = smtp.mails();
    let _ = child.kill();
    let _ = child.wait();

    let openings: Vec<&Received> = mails
        .iter()
        .filter(|m| m.to.contains("it-team@") && !m.text().contains("This incident got worse"))
        .filter(|m| m.incident().is_some())
        .collect();
    let mut per_incident: BTreeMap<String, usize> = BTreeMap::new();
    for m in &openings {
        *per_incident.entry(m.incident().unwrap()).or_default() += 1;
        assert!(m.parts.contains_key("text/plain"), "{:?}", m.headers);
        assert!(m.parts.contains_key("text/html"), "{:?}", m.headers);
        assert!(m.text().contains("What to do now"), "{}", m.text());
        assert!(
            m.parts["text/html"].contains("<ol>"),
            "{}",
            m.parts["text/html"]
        );
        assert!(!m.text().contains("{\""), "no raw JSON: {}", m.text());
    }
    let expected: BTreeMap<String, usize> = ids.iter().map(|i| (i.clone(), 1)).collect();
    assert_eq!(
        per_incident, expected,
        "exactly one opening mail per medium-or-higher incident; queue: {queue}"
    );
    // The phishing story reaches the PACS: the PACS team's route (asset class) hears of it,
    // and only of incidents on the PACS.
    let pacs: Vec<&Received> = mails
        .iter()
        .filter(|m| m.to.contains("pacs-team@"))
        .collect();
    assert!(!pacs.is_empty());
    let phishing = openings
        .iter()
        .find(|m| m.text().contains("Phishing mail led to"))
        .expect("the phishing incident's mail says what happened in its title");
    assert!(
        phishing
            .text()
            .contains("https://wardwatch.hospital.example/incidents/inc-")
    );
    assert!(
        phishing.text().contains("Awareness note"),
        "{}",
        phishing.text()
    );
    // Every message id once: nothing was sent twice.
    let mut seen: Vec<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    seen.sort();
    let n = seen.len();
    seen.dedup();
    assert_eq!(seen.len(), n, "a message was delivered twice");
    println!("demo: {} mails ({} openings)", mails.len(), openings.len());
}

const RULE_ID: &str = "1b7e3c2a-5d4f-4e6a-9b8c-7d6e5f4a3b2c";

fn rule() -> String {
    format!(
        "title: Notify test marker\nid: {RULE_ID}\nlogsource: {{product: windows, category: process_creation}}\n\
         detection:\n  sel:\n    CommandLine|contains: 'notify-marker'\n  condition: sel\nlevel: high\n"
    )
}

/// A Sysmon process creation on `host` with the marker.
fn doc(n: usize, host: &str) -> String {
    serde_json::json!({
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": host,
        "TimeCreated": format!("2026-11-01T10:{:02}:00Z", n % 60),
        "Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": format!("cmd /c notify-marker {n}"),
        "User": format!("HOSP\\user{n}")
    })
    .to_string()
}

fn bulk(server: &Server, docs: &[String]) {
    let mut body = String::new();
    for d in docs {
        body.push_str("{\"index\":{}}\n");
        body.push_str(d);
        body.push('\n');
    }
    let (status, v) = http_post(server.http, "/_bulk", &body, Some(&server.ingest_token));
    assert_eq!(status, 200, "{v}");
}

#[test]
fn mail_server_down_then_back_delivers_every_message_once_across_kill_9() {
    let Some(bin) =
        aiosmtpd("mail_server_down_then_back_delivers_every_message_once_across_kill_9")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("marker.yml"), rule()).unwrap();
    let port = free_port();
    let config = dir.path().join("wardwatch.toml");
    std::fs::write(&config, notify_config(port, "")).unwrap();
    let data = dir.path().join("data");
    let http = format!("127.0.0.1:{}", free_port());
    let args = [
        "--rules",
        rules.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    let mut server = Server::start_in(&data, &http, "", &args);
    // Three unrelated hosts: three incidents, three opening mails, while no mail server runs.
    for (n, host) in ["ws-a", "ws-b", "ws-c"].iter().enumerate() {
        bulk(&server, &[doc(n, host)]);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, v) = http_get(
            server.http,
            "/api/v1/notifications",
            Some(&server.api_token),
        );
        let items = v["notifications"].as_array().cloned().unwrap_or_default();
        if items.len() == 3 && items.iter().all(|i| i["attempts"].as_u64() >= Some(1)) {
            for i in &items {
                assert_eq!(i["status"], "queued", "{i}");
                let err = i["last_error"].as_str().unwrap();
                assert!(
                    err.contains(&format!("127.0.0.1:{port}"))
                        && err.contains("connection refused"),
                    "the error names the server and the cause: {err}"
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "messages not queued and tried: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // kill -9 with everything still queued, then the mail server comes back, then Wardwatch.
    server.kill();
    let smtp = Smtp::start(&bin, port, &dir.path().join("maildir"));
    let server = Server::start_in(&data, &http, "", &args);
    let v = wait_all_sent(server.http, &server.api_token, 3, 120);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 3, "each message once: {v}");
    let mut hosts: Vec<String> = mails
        .iter()
        .map(|m| {
            ["WS-A", "WS-B", "WS-C", "ws-a", "ws-b", "ws-c"]
                .iter()
                .find(|h| m.text().contains(*h))
                .unwrap()
                .to_lowercase()
        })
        .collect();
    hosts.sort();
    assert_eq!(hosts, vec!["ws-a", "ws-b", "ws-c"]);
    // /metrics shows the queue.
    let (status, text) = http_get(server.http, "/metrics", Some(&server.api_token));
    assert_eq!(status, 200);
    let text = text.as_str().unwrap_or_default();
    assert!(
        text.contains("wardwatch_notifications{status=\"sent\"} 3"),
        "{text}"
    );
}
