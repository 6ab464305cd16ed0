//! The SMTP journaling listener of `serve`, driven by a real SMTP client (Python's `smtplib`):
//! every accepted message is stored (and searchable as an `email.*` event) before the client
//! hears 250; a sender that may not send, an oversized message and bytes that are no message
//! are refused with SMTP error codes, and nothing of them is stored.
//!
//! Needs `python3` (CI has it): skipped with a reason when absent.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http_get;

struct Serve {
    child: std::process::Child,
    http: SocketAddr,
    smtp: SocketAddr,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path) -> Serve {
    let config = dir.join("wardwatch.toml");
    std::fs::write(
        &config,
        "[mail]\nsmtp_listen = \"127.0.0.1:0\"\nsmtp_allowed_senders = [\"@exchange.st-mary.example\"]\n\
         smtp_max_message_kb = 64\nown_domains = [\"st-mary.example\"]\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args([
            "serve",
            "--data",
            dir.join("data").to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--syslog",
            "",
        ])
        .arg("--config")
        .arg(&config)
        .env("WARDWATCH_INGEST_TOKEN", "test-ingest")
        .env("WARDWATCH_API_TOKEN", "test-api")
        .env("WARDWATCH_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut http, mut smtp) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while http.is_none() || smtp.is_none() {
        assert!(Instant::now() < deadline, "serve did not start");
        let Some(Ok(line)) = lines.next() else {
            panic!("serve exited: {:?}", child.wait())
        };
        let line = line.trim().to_string();
        if let Some(rest) = line.strip_prefix("http    http://") {
            http = rest.split_whitespace().next().and_then(|a| a.parse().ok());
        }
        if let Some(rest) = line.strip_prefix("smtp    smtp://") {
            smtp = rest.split_whitespace().next().and_then(|a| a.parse().ok());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Serve {
        child,
        http: http.unwrap(),
        smtp: smtp.unwrap(),
    }
}

const CLIENT: &str = r#"
import smtplib, sys, json
host, port = sys.argv[1], int(sys.argv[2])
out = {}
def message(i, subject):
    return ("From: IT Service Desk <helpdesk@st-mary.example>\r\nTo: nurse%d@st-mary.example\r\n"
            "Subject: %s\r\nMessage-ID: <smtp-%d@st-mary.example>\r\n"
            "Authentication-Results: mx.st-mary.example; spf=fail smtp.mailfrom=st-mary.example; dmarc=fail\r\n\r\n"
            "Your password expires today. Sign in at http://203.0.113.9/owa to keep it.\r\n" % (i, subject, i))
with smtplib.SMTP(host, port, timeout=30) as s:
    s.ehlo("exchange01.st-mary.example")
    for i in range(3):
        s.sendmail("journal@exchange.st-mary.example", ["nurse%d@st-mary.example" % i], message(i, "Password expiry %d" % i))
    out["accepted"] = 3
    try:
        s.sendmail("mallory@elsewhere.example", ["nurse9@st-mary.example"], message(9, "refused"))
        out["stranger"] = 250
    except smtplib.SMTPSenderRefused as e:
        out["stranger"] = e.smtp_code
    try:
        s.sendmail("journal@exchange.st-mary.example", ["nurse8@st-mary.example"], message(8, "big") + "x" * 100000)
        out["big"] = 250
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
        out["big"] = e.smtp_code
    try:
        s.sendmail("journal@exchange.st-mary.example", ["nurse7@st-mary.example"], "\x01\x02 not a message at all")
        out["garbage"] = 250
    except smtplib.SMTPDataError as e:
        out["garbage"] = e.smtp_code
print(json.dumps(out))
"#;

#[test]
fn journaled_messages_are_stored_and_refused_ones_get_smtp_codes() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!(
            "skipped: python3 is not installed (its smtplib is the SMTP client of this test)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let out = Command::new("python3")
        .args([
            "-c",
            CLIENT,
            &server.smtp.ip().to_string(),
            &server.smtp.port().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "smtplib client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["accepted"], 3, "{result}");
    assert_eq!(result["stranger"], 530, "{result}");
    assert_eq!(result["big"], 552, "{result}");
    assert_eq!(result["garbage"], 554, "{result}");

    // Acknowledged means stored: the three are in the journal at once, nothing else.
    let (status, v) = http_get(
        server.http,
        "/api/v1/events?limit=100&from=0&q=event.category%3Aemail",
        Some("test-api"),
    );
    assert_eq!(status, 200, "{v}");
    let events = v["events"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(events.len(), 3, "{v:#}");
    let subjects: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    for i in 0..3 {
        assert!(
            subjects
                .iter()
                .any(|s| s.contains(&format!("Password expiry {i}"))),
            "{subjects:#?}"
        );
    }
    assert!(
        subjects
            .iter()
            .all(|s| s.contains("\"verdict\":\"phishing\"")),
        "{subjects:#?}"
    );
    assert!(
        subjects.iter().all(|s| !s.contains("Sign in at")),
        "no bodies stored: {subjects:#?}"
    );
}
