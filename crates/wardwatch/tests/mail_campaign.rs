//! A generated phishing campaign through a real `serve`: one lure journaled to 40 staff (each
//! copy scanned by `wardwatch-mail` and sent as its ECS `email.*` document over `_bulk`), then
//! three of them open the link (proxy records). Expected: one incident listing all 40
//! recipients, escalated to high (or critical) by the clicks, with one awareness note per person who
//! clicked naming what they received, what they did and what to check.

mod common;

use std::time::{Duration, Instant};

use common::{Server, http_get, http_post};
use serde_json::{Value, json};
use wardwatch_mail::event::{Seen, document};
use wardwatch_mail::{Scanner, Settings, Verdict};

const LURE_URL: &str = "https://login.st-rnary-hospital.org/owa/auth.php";

fn lure(to: &str) -> String {
    format!(
        "From: \"St Mary IT Service Desk\" <helpdesk@st-rnary-hospital.org>\r\nTo: {to}\r\n\
         Subject: Your mailbox is almost full - action required\r\n\
         Message-ID: <q-{to}@st-rnary-hospital.org>\r\nDate: Tue, 01 Dec 2026 09:00:00 +0000\r\n\
         Authentication-Results: mx.st-mary-hospital.org; spf=softfail smtp.mailfrom=st-rnary-hospital.org; dkim=none; dmarc=none\r\n\
         Received: from mail.st-rnary-hospital.org (mail.st-rnary-hospital.org [198.51.100.23]) by mx.st-mary-hospital.org; Tue, 01 Dec 2026 09:00:01 +0000\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n\
         <p>Dear user, your mailbox is almost full. Sign in within 24 hours to keep your account:</p>\
         <p><a href=\"{LURE_URL}\">https://mail.st-mary-hospital.org/owa</a></p>\r\n"
    )
}

fn bulk(docs: &[Value]) -> String {
    let mut body = String::new();
    for d in docs {
        body.push_str("{\"index\":{}}\n");
        body.push_str(&d.to_string());
        body.push('\n');
    }
    body
}

#[test]
fn one_lure_to_40_staff_three_clicks_one_incident_three_awareness_notes() {
    let server = Server::start(&[]);
    let scanner = Scanner::new(Settings {
        own_domains: vec!["st-mary-hospital.org".into()],
        ..Settings::default()
    });
    let staff: Vec<String> = (1..=40)
        .map(|i| format!("nurse{i:02}@st-mary-hospital.org"))
        .collect();
    let mut docs = Vec::new();
    for (i, to) in staff.iter().enumerate() {
        let report = scanner.scan(lure(to).as_bytes()).unwrap();
        assert_eq!(report.verdict, Verdict::Phishing, "{:#?}", report.reasons);
        let seen = Seen {
            source: "journal:smtp".into(),
            record_id: Some(i as u64 + 1),
            received: format!("2026-12-01T09:00:{:02}Z", i).parse().unwrap(),
            action: "delivered".into(),
        };
        docs.push(document(&report, &seen));
    }
    let (status, v) = http_post(server.http, "/_bulk", &bulk(&docs), Some("test-ingest"));
    assert_eq!(status, 200, "{v}");
    // Three of them open the link: the proxy's records, minutes later.
    let clicks: Vec<Value> = [
        ("nurse03", "WS-ICU-03"),
        ("nurse17", "WS-ER-17"),
        ("nurse31", "WS-ONC-31"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (user, host))| {
        json!({"@timestamp": format!("2026-12-01T09:{:02}:00Z", 10 + i * 5),
                   "event": {"category": "web", "action": "allowed", "dataset": "proxy.access"},
                   "url": {"full": LURE_URL}, "user": {"name": format!("STMARY\\{user}")},
                   "host": {"name": host}, "source": {"ip": format!("10.20.{}.{}", i + 1, 30 + i)}})
    })
    .collect();
    let (status, v) = http_post(server.http, "/_bulk", &bulk(&clicks), Some("test-ingest"));
    assert_eq!(status, 200, "{v}");

    let deadline = Instant::now() + Duration::from_secs(90);
    let incident = loop {
        let (_, list) = http_get(server.http, "/api/v1/incidents?limit=100", Some("test-api"));
        let found = list["incidents"].as_array().and_then(|a| {
            a.iter()
                .find(|i| {
                    i["alert_count"].as_u64() >= Some(43)
                        && matches!(i["severity"].as_str(), Some("high" | "critical"))
                })
                .cloned()
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no campaign incident with 40 recipients and the clicks: {list:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let id = incident["id"].as_str().unwrap();
    let (_, list) = http_get(server.http, "/api/v1/incidents?limit=100", Some("test-api"));
    assert_eq!(
        list["total"], 1,
        "one incident for the campaign and its clicks: {list:#}"
    );
    let (_, detail) = http_get(
        server.http,
        &format!("/api/v1/incidents/{id}"),
        Some("test-api"),
    );
    let inc = if detail.get("incident").is_some() {
        &detail["incident"]
    } else {
        &detail
    };
    let emails: Vec<&str> = inc["emails"]
        .as_array()
        .unwrap_or_else(|| panic!("{detail:#}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for s in &staff {
        assert!(emails.contains(&s.as_str()), "{s} missing from {emails:?}");
    }
    let steps = inc["timeline"]
        .as_array()
        .unwrap_or_else(|| panic!("{detail:#}"));
    let notes: Vec<&str> = steps
        .iter()
        .filter(|s| s["rule_id"] == "analytic-mail-campaign-click")
        .filter_map(|s| s["awareness"].as_str())
        .collect();
    assert_eq!(notes.len(), 3, "{detail:#}");
    for (user, host) in [
        ("nurse03", "WS-ICU-03"),
        ("nurse17", "WS-ER-17"),
        ("nurse31", "WS-ONC-31"),
    ] {
        let note = notes
            .iter()
            .find(|n| n.contains(&format!("{user}@st-mary-hospital.org")))
            .unwrap_or_else(|| panic!("no note for {user}: {notes:#?}"));
        assert!(note.contains("Your mailbox is almost full"), "{note}");
        assert!(note.contains(host) && note.contains(LURE_URL), "{note}");
        assert!(note.contains("What to check now"), "{note}");
    }
}
