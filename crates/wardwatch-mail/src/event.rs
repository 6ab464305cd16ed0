//! A scanned message as a normalized event: ECS `email.*` fields (addresses, subject,
//! message id, attachments with names, types, sizes and SHA-256), the unwrapped URLs as
//! `url.full` / `url.domain`, the sending server as `source.ip`, and the verdict with its
//! reasons under `wardwatch.mail` — what Sigma rules, campaigns and incident narratives read.
//!
//! Only headers, URLs, attachment names and hashes are kept: the text of the message goes in
//! (`message`) only when the operator turned body storage on ([`crate::Settings::keep_body`]).
//! Event time is when the message was received (its `Date:` is the sender's word, kept as
//! `email.origination_timestamp`).

use jiff::Timestamp;
use serde_json::{Value, json};
use wardwatch_core::{Event, Origin, SourceKind};

use crate::Report;

/// Where and when a message was seen.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The file or listener it came from (`journal:smtp`, `inbox.mbox#3`).
    pub source: String,
    /// Its number inside the source (the message's place in an mbox, 1-based), if any.
    pub record_id: Option<u64>,
    pub received: Timestamp,
    /// `delivered` (a journaled or stored message), `blocked`, `quarantined`... as the source says.
    pub action: String,
}

/// The dataset name of scanned messages.
pub const DATASET: &str = "wardwatch.mail";

/// The event for a scanned message.
pub fn to_event(report: &Report, seen: &Seen) -> Event {
    let doc = document(report, seen);
    let mut ecs = wardwatch_core::Ecs {
        event_kind: Some("event".into()),
        event_category: Some("email".into()),
        event_action: Some(seen.action.clone()),
        event_provider: Some(DATASET.into()),
        source_ip: report.origin_ip.clone(),
        ..Default::default()
    };
    if let [only] = report.to.as_slice() {
        ecs.user_name = Some(only.clone());
    }
    if let Some(u) = report.urls.first() {
        ecs.url_full = Some(u.url.clone());
    }
    Event {
        timestamp: seen.received,
        time_text: None,
        organization: wardwatch_core::DEFAULT_ORGANIZATION.to_string(),
        source_kind: SourceKind::Json,
        origin: Origin {
            source: seen.source.clone(),
            record_id: seen.record_id,
            offset: None,
            id: report.message_id.clone(),
        },
        ecs,
        raw: doc,
        raw_text: Default::default(),
        received: None,
        time_skew: None,
    }
}

/// The ECS document of a message (the event's `raw`).
pub fn document(report: &Report, seen: &Seen) -> Value {
    let ts = seen.received;
    let mut email = json!({
        "direction": "inbound",
        "to": {"address": report.to},
    });
    if let Some(f) = &report.from {
        email["from"] = json!({"address": [f.address]});
        if let Some(n) = &f.name {
            email["from"]["name"] = json!(n);
        }
    }
    if !report.cc.is_empty() {
        email["cc"] = json!({"address": report.cc});
    }
    if let Some(r) = &report.reply_to {
        email["reply_to"] = json!({"address": [r.address]});
    }
    if let Some(s) = &report.sender {
        email["sender"] = json!({"address": s.address});
    }
    if let Some(s) = &report.subject {
        email["subject"] = json!(s);
    }
    if let Some(m) = &report.message_id {
        email["message_id"] = json!(m);
    }
    if let Some(m) = &report.mailer {
        email["x_mailer"] = json!(m);
    }
    if let Some(d) = report.date.and_then(|d| Timestamp::from_second(d).ok()) {
        email["origination_timestamp"] = json!(d.to_string());
    }
    if !report.attachments.is_empty() {
        email["attachments"] = Value::Array(
            report
                .attachments
                .iter()
                .map(|a| {
                    let mut file = json!({
                        "size": a.size,
                        "hash": {"sha256": a.sha256},
                        "type": a.file_type,
                    });
                    if let Some(n) = &a.name {
                        file["name"] = json!(n);
                        if let Some((_, ext)) = n.rsplit_once('.') {
                            file["extension"] = json!(ext.to_ascii_lowercase());
                        }
                    }
                    if let Some(t) = &a.content_type {
                        file["mime_type"] = json!(t);
                    }
                    if !a.members.is_empty() {
                        file["members"] = json!(a.members);
                        file["members_sha256"] = json!(a.member_sha256);
                    }
                    json!({"file": file})
                })
                .collect(),
        );
    }
    let mut doc = json!({
        "@timestamp": ts.to_string(),
        "event": {
            "kind": "event",
            "category": "email",
            "action": seen.action,
            "dataset": DATASET,
            "risk_score": report.score,
        },
        "email": email,
        "wardwatch": {"mail": {
            "verdict": report.verdict.as_str(),
            "score": report.score,
            "reasons": report.reasons.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            "reason_codes": report.reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
        }},
    });
    if !report.urls.is_empty() {
        let mut domains: Vec<&str> = report.urls.iter().map(|u| u.host.as_str()).collect();
        domains.sort_unstable();
        domains.dedup();
        doc["url"] = json!({
            "full": report.urls.iter().map(|u| u.url.as_str()).collect::<Vec<_>>(),
            "domain": domains,
        });
    }
    if let Some(ip) = &report.origin_ip {
        doc["source"] = json!({"ip": ip});
        if let Some(h) = &report.origin_helo {
            doc["source"]["domain"] = json!(h);
        }
    }
    if let [only] = report.to.as_slice() {
        doc["user"] = json!({"email": only});
    }
    if let Some(body) = &report.body {
        doc["message"] = json!(body);
    }
    let auth = serde_json::to_value(&report.auth).unwrap_or(Value::Null);
    if auth.as_object().is_some_and(|o| !o.is_empty()) {
        doc["wardwatch"]["mail"]["auth"] = auth;
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Scanner, Settings};

    #[test]
    fn message_becomes_an_ecs_email_event_without_its_body() {
        let raw = b"From: Pay Service <pay@paypa1.example>\r\nTo: a@h.example, b@h.example\r\nSubject: Verify your account\r\n\
            Message-ID: <x1@paypa1.example>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecret text https://paypa1.example/login\r\n\
            --b\r\nContent-Type: application/octet-stream; name=a.js\r\nContent-Disposition: attachment; filename=a.js\r\n\r\nvar x=1;\r\n--b--\r\n";
        let report = Scanner::new(Settings::default()).scan(raw).unwrap();
        let seen = Seen {
            source: "journal:smtp".into(),
            record_id: None,
            received: "2026-12-01T10:00:05Z".parse().unwrap(),
            action: "delivered".into(),
        };
        let e = to_event(&report, &seen);
        assert_eq!(e.timestamp.to_string(), "2026-12-01T10:00:05Z");
        assert_eq!(
            e.raw["email"]["origination_timestamp"],
            "2026-12-01T10:00:00Z"
        );
        assert_eq!(e.ecs.event_category.as_deref(), Some("email"));
        assert_eq!(e.raw["email"]["to"]["address"][1], "b@h.example");
        assert_eq!(e.raw["email"]["from"]["address"][0], "pay@paypa1.example");
        assert_eq!(e.raw["email"]["attachments"][0]["file"]["name"], "a.js");
        assert_eq!(
            e.raw["email"]["attachments"][0]["file"]["hash"]["sha256"]
                .as_str()
                .unwrap()
                .len(),
            64
        );
        assert_eq!(e.raw["url"]["full"][0], "https://paypa1.example/login");
        assert_eq!(
            e.raw["wardwatch"]["mail"]["verdict"],
            report.verdict.as_str()
        );
        assert!(
            !e.raw.to_string().contains("secret text"),
            "no body unless asked"
        );
        assert_eq!(e.origin.id.as_deref(), Some("x1@paypa1.example"));
    }
}
