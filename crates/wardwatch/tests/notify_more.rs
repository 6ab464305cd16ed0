//! Notifications, the edges: webhooks (generic, Teams, Slack) signed with HMAC to a receiver
//! on loopback; `wardwatch notify test` naming what is wrong (malformed address, unreachable
//! server, wrong TLS mode, refused or deferred recipient); the management report of the demo
//! week and of an empty week, as HTML, with a headless Chromium screenshot under target/.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::smtp::{Smtp, aiosmtpd};
use common::{Server, free_port, http_post, receiver, start_demo};

const RULE: &str = "title: Webhook test marker\nid: 3c9d2e1f-4a5b-4c6d-8e7f-0a1b2c3d4e5f\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel:\n    CommandLine|contains: 'hook-marker'\n  condition: sel\nlevel: critical\n";

#[test]
fn webhooks_get_generic_teams_and_slack_bodies_signed() {
    let (port, got) = receiver();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/hook.yml"), RULE).unwrap();
    let config = dir.path().join("wardwatch.toml");
    let mut text = String::from("[notify]\nconsole_url = \"https://ww.hospital.example\"\n");
    for f in ["generic", "teams", "slack"] {
        text.push_str(&format!(
            "[[notify.webhooks]]\nname = \"{f}\"\nurl = \"http://127.0.0.1:{port}/hook/{f}\"\nformat = \"{f}\"\nsecret = \"s3cret-{f}\"\n"
        ));
    }
    text.push_str("[[notify.routes]]\nwebhooks = [\"generic\", \"teams\", \"slack\"]\nmin_severity = \"high\"\n");
    std::fs::write(&config, text).unwrap();
    let server = Server::start_in(
        &dir.path().join("data"),
        "127.0.0.1:0",
        "",
        &[
            "--rules",
            dir.path().join("rules").to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let doc = serde_json::json!({
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "PACS01",
        "TimeCreated": "2026-11-01T10:00:00Z", "Image": "C:\\Windows\\System32\\cmd.exe",
        "CommandLine": "cmd /c hook-marker", "User": "HOSP\\jdoe"
    });
    let (status, v) = http_post(
        server.http,
        "/_bulk",
        &format!("{{\"index\":{{}}}}\n{doc}\n"),
        Some(&server.ingest_token),
    );
    assert_eq!(status, 200, "{v}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.lock().unwrap().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "webhooks not called: {:?}",
            got.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "one call per webhook: {got:?}");
    for (head, body) in &got {
        let path = head.lines().next().unwrap();
        let name = ["generic", "teams", "slack"]
            .into_iter()
            .find(|n| path.contains(&format!("/hook/{n}")))
            .unwrap();
        let sig = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("x-wardwatch-signature:")
                    .map(|s| s.trim().to_string())
            })
            .expect("signature header");
        assert_eq!(
            sig,
            wardwatch_notify::webhook::signature(&format!("s3cret-{name}"), body.as_bytes()),
            "valid HMAC for {name}"
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        match name {
            "generic" => {
                assert_eq!(v["event"], "incident.opened", "{v}");
                assert_eq!(v["severity"], "critical");
                assert!(
                    v["url"]
                        .as_str()
                        .unwrap()
                        .starts_with("https://ww.hospital.example/incidents/inc-")
                );
                assert!(
                    v["what_to_do"].as_array().is_some_and(|a| !a.is_empty()),
                    "{v}"
                );
            }
            "teams" => {
                assert_eq!(v["type"], "message");
                let card = &v["attachments"][0];
                assert_eq!(
                    card["contentType"],
                    "application/vnd.microsoft.card.adaptive"
                );
                assert_eq!(card["content"]["type"], "AdaptiveCard");
                assert_eq!(card["content"]["actions"][0]["type"], "Action.OpenUrl");
            }
            "slack" => {
                assert!(v["text"].as_str().unwrap().contains("CRITICAL"), "{v}");
                assert_eq!(v["blocks"][0]["type"], "header");
                assert!(body.contains("https://ww.hospital.example/incidents/inc-"));
            }
            _ => unreachable!(),
        }
    }
}

fn notify_test(dir: &Path, toml: &str) -> (bool, String) {
    let config = dir.join("notify.toml");
    std::fs::write(&config, toml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["notify", "test", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn smtp_config(port: u16, tls: &str, to: &str) -> String {
    format!(
        "[notify.smtp]\nserver = \"127.0.0.1:{port}\"\nfrom = \"wardwatch@hospital.example\"\ntls = \"{tls}\"\ntimeout_secs = 3\n[[notify.routes]]\nto = [\"{to}\"]\n"
    )
}

#[test]
fn notify_test_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    // A malformed address in the configuration: the key and the value.
    let (ok, out) = notify_test(
        dir.path(),
        &smtp_config(2525, "none", "it-team at hospital"),
    );
    assert!(!ok);
    assert!(
        out.contains("notify.routes[0].to[0]") && out.contains("it-team at hospital"),
        "{out}"
    );
    // A bad port.
    let (ok, out) = notify_test(
        dir.path(),
        &smtp_config(2525, "none", "it@h.example").replace(":2525", ":70000"),
    );
    assert!(!ok);
    assert!(
        out.contains("notify.smtp.server") && out.contains("70000"),
        "{out}"
    );
    // A TLS mode that does not exist.
    let (ok, out) = notify_test(dir.path(), &smtp_config(2525, "ssl", "it@h.example"));
    assert!(!ok);
    assert!(out.contains("ssl") && out.contains("tls"), "{out}");
    // Nothing listens: the server and the cause.
    let port = free_port();
    let (ok, out) = notify_test(dir.path(), &smtp_config(port, "none", "it@h.example"));
    assert!(!ok);
    assert!(
        out.contains(&format!("127.0.0.1:{port}")) && out.contains("connection refused"),
        "{out}"
    );
    let Some(bin) = aiosmtpd("notify_test_names_what_is_wrong (live part)") else {
        return;
    };
    let port = free_port();
    let smtp = Smtp::start_picky(&bin, port, &dir.path().join("maildir"));
    // Implicit TLS against a plain server: the TLS mode is named.
    let (ok, out) = notify_test(dir.path(), &smtp_config(port, "tls", "it@h.example"));
    assert!(!ok);
    assert!(
        out.contains("TLS") && out.contains("tls = \\\"tls\\\"") || out.contains("tls = \"tls\""),
        "{out}"
    );
    // STARTTLS against a server that does not offer it.
    let (ok, out) = notify_test(dir.path(), &smtp_config(port, "starttls", "it@h.example"));
    assert!(!ok);
    assert!(out.contains("STARTTLS"), "{out}");
    // A recipient the server refuses: named, with the server's words.
    let (ok, out) = notify_test(dir.path(), &smtp_config(port, "none", "nobody@h.example"));
    assert!(!ok);
    assert!(
        out.contains("refused recipient `nobody@h.example`") && out.contains("550"),
        "{out}"
    );
    // A recipient the server defers (451, greylisting): said so, and that it is tried again.
    let (ok, out) = notify_test(dir.path(), &smtp_config(port, "none", "busy@h.example"));
    assert!(!ok);
    assert!(
        out.contains("deferred the mail to `busy@h.example`")
            && out.contains("451")
            && out.contains("tried again"),
        "{out}"
    );
    // And a good one goes through.
    let (ok, out) = notify_test(dir.path(), &smtp_config(port, "none", "it@h.example"));
    assert!(ok, "{out}");
    assert!(out.contains("mail:it@h.example: sent"), "{out}");
    let mails = smtp.mails();
    assert_eq!(
        mails.len(),
        1,
        "only the good recipient's test mail arrived"
    );
    assert!(
        mails[0].to.contains("it@h.example"),
        "{:?}",
        mails[0].headers
    );
}

/// Headless Chromium's screenshot of `html` into `png`, or why not (skipped outside CI).
fn screenshot(html: &Path, png: &Path) -> bool {
    let Ok(chromium) = which("chromium") else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium is missing (CI installs it: see .ci/run)");
        }
        eprintln!("screenshot skipped: chromium not installed");
        return false;
    };
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.path().display()),
            "--window-size=900,2600",
            &format!("--screenshot={}", png.display()),
            &format!("file://{}", html.display()),
        ])
        .output()
        .unwrap();
    assert!(
        png.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|f| f.is_file())
        })
        .ok_or(())
}

fn report(data: &Path, out: &Path, extra: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args([
            "report",
            "--data",
            data.to_str().unwrap(),
            "--period",
            "week",
            "--out",
            out.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn the_weekly_report_of_the_demo_week_and_of_an_empty_week() {
    let demo = start_demo(&[]);
    let data = demo.data.clone();
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let week_html = target.join("report-demo-week.html");
    let html = report(&data, &week_html, &[]);
    let empty_html = target.join("report-empty-week.html");
    let long_ago = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 60))
        .strftime("%Y-%m-%d")
        .to_string();
    let empty = report(&data, &empty_html, &["--end", &long_ago]);
    // Text on stdout without --out: the same report in words.
    let text = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["report", "--data", data.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    drop(demo);

    for needle in [
        "incidents this week",
        "What we recommend",
        "Phishing mail led to a password dump and shadow-copy deletion on the PACS server",
        "Password spraying from a guest Wi-Fi device",
        "Most targeted assets",
        "PACS01",
        "Most targeted departments",
        "Radiology",
        "Scanning: where and how many",
        "Lateral movement",
        "Median time to acknowledge",
        "Noisiest rules",
        "Exceptions added",
        "Awareness topics",
        "Ingest health per source",
        "<svg",
    ] {
        assert!(html.contains(needle), "demo week report lacks `{needle}`");
    }
    assert!(!html.contains("No incidents this week"));
    assert!(!html.contains("<script"), "no scripts in a report");
    for needle in [
        "No incidents this week",
        "What we recommend",
        "Ingest health per source",
        "<svg",
    ] {
        assert!(empty.contains(needle), "empty week report lacks `{needle}`");
    }
    assert!(
        text.contains("Incidents by severity") && text.contains("critical"),
        "{text}"
    );
    let a = screenshot(&week_html, &target.join("report-demo-week.png"));
    let b = screenshot(&empty_html, &target.join("report-empty-week.png"));
    if a && b {
        println!("screenshots: target/report-demo-week.png, target/report-empty-week.png");
    }
}
