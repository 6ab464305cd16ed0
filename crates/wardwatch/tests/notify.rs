//! Notifications against a real SMTP server on loopback (PyPI `aiosmtpd`, Maildir handler):
//! the demo's stories each open with exactly one mail to the routed recipient, both parts
//! present; with the mail server down while incidents open, every message is delivered once
//! after it comes back, also across a kill -9 of Wardwatch; a recipient the server refuses is
//! kept as `failed` with the server's words while the others get their mail; a wrong TLS mode
//! keeps messages queued (named in the error) until it is fixed; a malformed address stops
//! `serve` naming the key.
//!
//! aiosmtpd comes from `target/py-smtp` (made by `.ci/run`; see `common/smtp.rs`). Without it
//! the tests say so and skip — except under CI (`CI` set), where a missing peer fails.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::smtp::{Received, Smtp, aiosmtpd};
use common::{Server, free_port, http_get, http_post, start_demo};
use serde_json::Value;

/// Poll `/api/v1/notifications` until `done` holds for its counts.
fn wait_counts(
    http: std::net::SocketAddr,
    token: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, v) = http_get(http, "/api/v1/notifications?limit=1000", Some(token));
        assert_eq!(status, 200, "{v}");
        if done(&v["counts"]) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Poll until nothing is queued and at least `min` were sent.
fn wait_all_sent(http: std::net::SocketAddr, token: &str, min: u64) -> Value {
    wait_counts(http, token, "not everything was sent", |c| {
        c["queued"] == 0 && c["sent"].as_u64().unwrap_or(0) >= min
    })
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
    let demo = start_demo(&["--config", config.to_str().unwrap()]);
    let http = demo.http;
    let (_, incidents) = http_get(http, "/api/v1/incidents?min_severity=medium", Some("demo"));
    let ids: Vec<String> = incidents["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{incidents}");
    let queue = wait_all_sent(http, "demo", 3);
    let mails = smtp.mails();
    drop(demo);

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

/// `serve` with the marker rule and `[notify]` for the mail server on `smtp_port` (`routes`:
/// more routes), started and restarted on the same data folder and address.
struct Marked {
    data: std::path::PathBuf,
    http: String,
    config: std::path::PathBuf,
    args: Vec<String>,
}

impl Marked {
    fn new(dir: &std::path::Path, smtp_port: u16, routes: &str) -> Marked {
        let rules = dir.join("rules");
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::write(rules.join("marker.yml"), rule()).unwrap();
        let config = dir.join("wardwatch.toml");
        std::fs::write(&config, notify_config(smtp_port, routes)).unwrap();
        Marked {
            data: dir.join("data"),
            http: format!("127.0.0.1:{}", free_port()),
            config: config.clone(),
            args: vec![
                "--rules".into(),
                rules.to_str().unwrap().into(),
                "--config".into(),
                config.to_str().unwrap().into(),
            ],
        }
    }

    fn start(&self) -> Server {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        Server::start_in(&self.data, &self.http, "", &args)
    }
}

#[test]
fn mail_server_down_then_back_delivers_every_message_once_across_kill_9() {
    let Some(bin) =
        aiosmtpd("mail_server_down_then_back_delivers_every_message_once_across_kill_9")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let marked = Marked::new(dir.path(), port, "");
    let mut server = marked.start();
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
    let server = marked.start();
    let v = wait_all_sent(server.http, &server.api_token, 3);
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

/// The message to `recipient` in a `/api/v1/notifications` answer.
fn message_to<'a>(v: &'a Value, recipient: &str) -> Vec<&'a Value> {
    v["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["recipient"] == format!("mail:{recipient}"))
        .collect()
}

#[test]
fn a_refused_recipient_is_kept_as_failed_and_the_others_still_get_their_mail() {
    let Some(bin) =
        aiosmtpd("a_refused_recipient_is_kept_as_failed_and_the_others_still_get_their_mail")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The server refuses nobody@ (550: no such user) and defers busy@ once (451: greylisted).
    let smtp = Smtp::start_picky(&bin, port, &dir.path().join("maildir"));
    let marked = Marked::new(
        dir.path(),
        port,
        "[[notify.routes]]\nto = [\"nobody@hospital.example\", \"busy@hospital.example\"]\nmin_severity = \"medium\"\n",
    );
    let mut server = marked.start();
    bulk(&server, &[doc(0, "ws-a")]);
    let v = wait_counts(
        server.http,
        &server.api_token,
        "one failed, two sent",
        |c| c["failed"] == 1 && c["sent"] == 2 && c["queued"] == 0,
    );
    // The refused recipient: kept as failed after one attempt, with the server's words.
    let refused = message_to(&v, "nobody@hospital.example");
    assert_eq!(refused.len(), 1, "{v}");
    let n = refused[0];
    assert_eq!(n["status"], "failed", "{n}");
    assert_eq!(n["attempts"], 1, "a permanent refusal is not retried: {n}");
    let err = n["last_error"].as_str().unwrap();
    assert!(
        err.contains(&format!("127.0.0.1:{port}"))
            && err.contains("refused recipient `nobody@hospital.example`")
            && err.contains("550")
            && err.contains("no such user"),
        "the error names the server, the recipient and the answer: {err}"
    );
    // The deferred one went out on its second attempt; the IT team's on its first.
    let busy = message_to(&v, "busy@hospital.example");
    assert_eq!(busy[0]["status"], "sent", "{v}");
    assert_eq!(busy[0]["attempts"], 2, "{v}");
    let it = message_to(&v, "it-team@hospital.example");
    assert_eq!(it[0]["status"], "sent", "{v}");
    assert_eq!(it[0]["attempts"], 1, "{v}");
    let mails = smtp.mails();
    let mut to: Vec<&str> = mails.iter().map(|m| m.to.as_str()).collect();
    to.sort();
    assert_eq!(
        to,
        vec!["busy@hospital.example", "it-team@hospital.example"],
        "the others got their mail, once"
    );
    let (_, metrics) = http_get(server.http, "/metrics", Some(&server.api_token));
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    for line in [
        "wardwatch_notifications{status=\"failed\"} 1",
        "wardwatch_notifications{status=\"sent\"} 2",
        "wardwatch_notification_failures_total 2",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }

    // A second incident: the refusal blocks nobody else.
    bulk(&server, &[doc(1, "ws-b")]);
    wait_counts(
        server.http,
        &server.api_token,
        "two failed, four sent",
        |c| c["failed"] == 2 && c["sent"] == 4 && c["queued"] == 0,
    );
    assert_eq!(smtp.mails().len(), 4);

    // kill -9 and back: the failed messages are still there with their errors, nothing is
    // sent again.
    server.kill();
    let server = marked.start();
    std::thread::sleep(Duration::from_secs(3));
    let v = wait_counts(
        server.http,
        &server.api_token,
        "the same after a restart",
        |c| c["failed"] == 2 && c["sent"] == 4 && c["queued"] == 0,
    );
    let refused = message_to(&v, "nobody@hospital.example");
    assert_eq!(refused.len(), 2, "{v}");
    assert!(
        refused
            .iter()
            .all(|n| n["last_error"].as_str().unwrap().contains("550")),
        "{v}"
    );
    let (_, failed) = http_get(
        server.http,
        "/api/v1/notifications?status=failed",
        Some(&server.api_token),
    );
    assert_eq!(
        failed["notifications"].as_array().unwrap().len(),
        2,
        "{failed}"
    );
    assert_eq!(smtp.mails().len(), 4, "nothing sent twice");
}

#[test]
fn a_wrong_tls_mode_keeps_mail_queued_until_fixed_and_a_malformed_address_stops_serve() {
    let Some(bin) = aiosmtpd(
        "a_wrong_tls_mode_keeps_mail_queued_until_fixed_and_a_malformed_address_stops_serve",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smtp = Smtp::start(&bin, port, &dir.path().join("maildir"));
    let marked = Marked::new(dir.path(), port, "");
    let plain = std::fs::read_to_string(&marked.config).unwrap();

    // A malformed address: serve does not start, and says which key and value.
    std::fs::write(
        &marked.config,
        plain.replace("it-team@hospital.example", "it-team at hospital"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["serve", "--data", marked.data.to_str().unwrap()])
        .args(["--http", "127.0.0.1:0", "--syslog", ""])
        .args(&marked.args)
        .env("WARDWATCH_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("notify.routes[0].to[0]") && err.contains("`it-team at hospital`"),
        "the key and the value: {err}"
    );

    // Implicit TLS against a plain mail server: the message stays queued, the error says
    // which setting is likely wrong.
    std::fs::write(
        &marked.config,
        plain.replace("tls = \"none\"", "tls = \"tls\""),
    )
    .unwrap();
    let mut server = marked.start();
    bulk(&server, &[doc(0, "ws-a")]);
    let v = wait_counts(server.http, &server.api_token, "tried and kept", |c| {
        c["retrying"] == 1
    });
    let n = &v["notifications"][0];
    assert_eq!(n["status"], "queued", "{n}");
    let err = n["last_error"].as_str().unwrap();
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("tls = \"tls\""),
        "the server and the TLS mode: {err}"
    );
    assert!(smtp.mails().is_empty());

    // The setting fixed and serve restarted: the queued message goes out, once.
    server.kill();
    std::fs::write(&marked.config, &plain).unwrap();
    let server = marked.start();
    let v = wait_all_sent(server.http, &server.api_token, 1);
    assert!(
        v["notifications"][0]["attempts"].as_u64() >= Some(2),
        "tried while wrong, then sent: {v}"
    );
    let mails = smtp.wait_for(1, 60);
    assert_eq!(mails.len(), 1, "the queued message, once");
    assert!(mails[0].text().contains("WS-A") || mails[0].text().contains("ws-a"));
}
