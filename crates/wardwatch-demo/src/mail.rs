//! The week's mail as real messages: each delivery is written as an RFC 5322 message (headers,
//! `Authentication-Results` as the hospital's gateway would add them, the text with its link,
//! attachments), scanned by `wardwatch-mail` like a journaled copy, and stored as the same ECS
//! `email.*` document real intake stores — so what catches the demo's phishing catches a real
//! message, and the story's mail carries its verdict and reasons.

use std::sync::OnceLock;

use jiff::Timestamp;
use serde_json::{Value, json};
use wardwatch_mail::event::{Seen, document};
use wardwatch_mail::{Scanner, Settings};

use crate::hospital::MAIL_DOMAIN;

/// The suppliers the demo hospital tells the scanner to protect (their look-alikes are judged
/// as impersonation).
const SUPPLIERS: &[&str] = &["medline-supplies.com"];

fn scanner() -> &'static Scanner {
    static SCANNER: OnceLock<Scanner> = OnceLock::new();
    SCANNER.get_or_init(|| {
        Scanner::new(Settings {
            own_domains: vec![MAIL_DOMAIN.to_string()],
            brands: SUPPLIERS.iter().map(|s| s.to_string()).collect(),
            ..Settings::default()
        })
    })
}

/// One delivery, as a message.
pub(crate) struct Delivery<'a> {
    pub t: Timestamp,
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub sender_ip: &'a str,
    pub url: Option<&'a str>,
    pub attachments: &'a [&'a str],
    /// Whether the sender's domain passes SPF and DKIM at the gateway.
    pub authenticated: bool,
}

/// The message text of a delivery.
pub(crate) fn message(d: &Delivery<'_>) -> String {
    let domain = d.from.rsplit_once('@').map(|(_, x)| x).unwrap_or("");
    let date = d.t.strftime("%a, %d %b %Y %H:%M:%S +0000");
    let auth = if d.authenticated {
        format!(
            "spf=pass smtp.mailfrom={domain}; dkim=pass header.d={domain}; dmarc=pass header.from={domain}"
        )
    } else {
        format!("spf=softfail smtp.mailfrom={domain}; dkim=none; dmarc=none header.from={domain}")
    };
    let id = d.t.as_millisecond();
    let mut m = format!(
        "Received: from mta.{domain} (mta.{domain} [{ip}]) by mail01.{MAIL_DOMAIN}; {date}\r\n\
         Authentication-Results: mail01.{MAIL_DOMAIN}; {auth}\r\n\
         From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}.{to_local}@{domain}>\r\nMIME-Version: 1.0\r\n",
        ip = d.sender_ip,
        from = d.from,
        to = d.to,
        subject = d.subject,
        to_local = d.to.split('@').next().unwrap_or(""),
    );
    let text = match d.url {
        Some(u) => {
            format!("Hello,\r\n\r\nplease find the document here: {u}\r\n\r\nKind regards\r\n")
        }
        None => "Hello,\r\n\r\nsee you at the meeting.\r\n\r\nKind regards\r\n".to_string(),
    };
    if d.attachments.is_empty() {
        m.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
        m.push_str(&text);
        return m;
    }
    m.push_str("Content-Type: multipart/mixed; boundary=\"demo-part\"\r\n\r\n--demo-part\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    m.push_str(&text);
    for name in d.attachments {
        m.push_str(&format!(
            "\r\n--demo-part\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\r\ndemo attachment\r\n"
        ));
    }
    m.push_str("\r\n--demo-part--\r\n");
    m
}

/// The stored document of a delivery: the scanned message's ECS document, with the recipient's
/// account (`user.name`) and the gateway that delivered it.
pub(crate) fn document_of(d: &Delivery<'_>, recipient_account: &str) -> Value {
    let raw = message(d);
    let seen = Seen {
        source: "demo:mail01".into(),
        record_id: None,
        received: d.t,
        action: "delivered".into(),
    };
    let mut doc = match scanner().scan(raw.as_bytes()) {
        Ok(report) => document(&report, &seen),
        // A message this module wrote always scans; keep the delivery if it ever does not.
        Err(e) => {
            json!({"@timestamp": d.t.to_string(), "event": {"kind": "event", "category": "email",
                          "action": "delivered"}, "error": {"message": e.to_string()}})
        }
    };
    doc["user"] = json!({"name": recipient_account, "email": d.to});
    doc["observer"] = json!({"name": "MAIL01", "product": "mail gateway"});
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_supplier_invoice_is_phishing_and_colleagues_are_clean() {
        let t: Timestamp = "2026-11-24T10:14:00Z".parse().unwrap();
        let phish = document_of(
            &Delivery {
                t,
                from: "accounts@rnedline-supplies.com",
                to: "jdoe@hospital.example",
                subject: "Overdue invoice INV-21234 - payment required today",
                sender_ip: "203.0.113.25",
                url: Some("https://docs.rnedline-supplies.com/invoice/INV-21234.docm"),
                attachments: &[],
                authenticated: true,
            },
            "jdoe",
        );
        assert_eq!(
            phish["wardwatch"]["mail"]["verdict"], "phishing",
            "{phish:#}"
        );
        assert_eq!(
            phish["url"]["full"][0],
            "https://docs.rnedline-supplies.com/invoice/INV-21234.docm"
        );
        assert_eq!(phish["user"]["name"], "jdoe");
        let colleague = document_of(
            &Delivery {
                t,
                from: "asmith@hospital.example",
                to: "jdoe@hospital.example",
                subject: "Updated rota",
                sender_ip: "10.10.0.50",
                url: None,
                attachments: &[],
                authenticated: true,
            },
            "jdoe",
        );
        assert_eq!(
            colleague["wardwatch"]["mail"]["verdict"], "clean",
            "{colleague:#}"
        );
    }
}
