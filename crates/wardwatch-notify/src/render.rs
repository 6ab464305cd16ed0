//! Incidents into messages people read: a mail's subject and its text and HTML parts, and the
//! webhook bodies (generic JSON, Microsoft Teams, Slack).
//!
//! Why this way: the mail should read like a colleague's message — what happened, what to do
//! now per role, the awareness note, a link to the console — not like a log export. So no raw
//! JSON and no field dumps: only the narrative's sentences. And no patient data: the
//! narrative names staff and machines, never patients, and [`scrub`] removes patient
//! references (FHIR `Patient/…`, MRNs) that a rule's facts might still carry.

use std::fmt::Write as _;

use serde_json::{Value, json};
use wardwatch_core::Severity;
use wardwatch_incidents::{Incident, IncidentDoc, Narrative};

use crate::config::WebhookFormat;

/// Why a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The recipient hears of the incident for the first time.
    Opened,
    /// It got worse: severity rose, a new host or a privileged account joined.
    Escalated,
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The console page of an incident.
pub fn link(console_url: &str, id: &str) -> String {
    format!("{}/incidents/{id}", console_url.trim_end_matches('/'))
}

/// Remove patient references a fact may carry: FHIR `Patient/123`, `MRN 123`, `patient id 1`.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let words = text.split_inclusive(char::is_whitespace);
    let mut redact_next = false;
    for w in words {
        let bare = w.trim();
        let lower = bare.to_ascii_lowercase();
        if redact_next && bare.chars().any(|c| c.is_ascii_digit()) {
            out.push_str("[redacted]");
            out.push_str(&w[bare.len()..]);
            redact_next = false;
            continue;
        }
        redact_next = false;
        if let Some(i) = lower.find("patient/") {
            out.push_str(&bare[..i]);
            out.push_str("Patient/[redacted]");
            out.push_str(&w[bare.len()..]);
            continue;
        }
        if matches!(
            lower.trim_end_matches([':', '=']),
            "mrn" | "patient_id" | "patientid" | "patient-id"
        ) {
            redact_next = true;
        }
        out.push_str(w);
    }
    out
}

/// The main asset: the first host, or the first account.
fn main_asset(i: &Incident) -> String {
    i.hosts
        .first()
        .or(i.users.first())
        .cloned()
        .unwrap_or_else(|| "no host".into())
}

/// `[Wardwatch] CRITICAL · PACS01 · Phishing mail led to …`
pub fn subject(doc: &IncidentDoc, reason: Reason) -> String {
    let i = &doc.incident;
    let again = match reason {
        Reason::Opened => "",
        Reason::Escalated => "Escalated: ",
    };
    scrub(&format!(
        "[Wardwatch] {again}{} · {} · {}",
        i.severity.as_str().to_uppercase(),
        main_asset(i),
        i.title
    ))
}

fn what_changed(changes: &[String]) -> String {
    if changes.is_empty() {
        String::new()
    } else {
        format!("What changed: {}.", changes.join("; "))
    }
}

/// The incident mail: both parts.
pub fn incident_mail(
    doc: &IncidentDoc,
    reason: Reason,
    changes: &[String],
    console_url: &str,
) -> Mail {
    let i = &doc.incident;
    let n = &doc.narrative;
    let url = link(console_url, &i.id);
    let mut text = String::new();
    let _ = writeln!(text, "{}\n", n.title);
    if reason == Reason::Escalated {
        let _ = writeln!(text, "This incident got worse. {}\n", what_changed(changes));
    }
    let _ = writeln!(text, "{}\n", n.summary);
    text_section(&mut text, "What happened", &n.what_happened);
    text.push_str("What to do now\n--------------\n");
    for r in &n.what_to_do {
        let _ = writeln!(text, "{}:", r.role.words());
        for (k, s) in r.steps.iter().enumerate() {
            let _ = writeln!(text, "  {}. {s}", k + 1);
        }
    }
    text.push('\n');
    if let Some(a) = &n.awareness {
        let _ = writeln!(text, "Awareness note\n--------------\n{a}\n");
    }
    text_section(&mut text, "Why it matters", &n.why_it_matters);
    let _ = writeln!(text, "Open the incident: {url}");
    let _ = writeln!(
        text,
        "\n-- \nWardwatch · incident {} · severity {} · score {:.0}",
        i.id,
        i.severity.as_str(),
        i.score
    );

    let mut html = String::new();
    let color = severity_color(i.severity);
    let _ = write!(
        html,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
<body style=\"font-family:Segoe UI,Helvetica,Arial,sans-serif;color:#1b1f24;max-width:760px\">\
<p style=\"display:inline-block;padding:2px 8px;border-radius:4px;background:{color};color:#fff;font-weight:bold\">{sev}</p>\
<h2 style=\"margin:6px 0\">{t}</h2>",
        t = esc(&n.title),
        sev = esc(&i.severity.as_str().to_uppercase()),
    );
    if reason == Reason::Escalated {
        let _ = write!(
            html,
            "<p><strong>This incident got worse.</strong> {}</p>",
            esc(&what_changed(changes))
        );
    }
    let _ = write!(html, "<p>{}</p>", esc(&n.summary));
    html_section(&mut html, "What happened", &n.what_happened);
    html.push_str("<h3>What to do now</h3>");
    for r in &n.what_to_do {
        let _ = write!(html, "<p><strong>{}</strong></p><ol>", esc(r.role.words()));
        for s in &r.steps {
            let _ = write!(html, "<li>{}</li>", esc(s));
        }
        html.push_str("</ol>");
    }
    if let Some(a) = &n.awareness {
        let _ = write!(
            html,
            "<h3>Awareness note</h3><p style=\"background:#fff8e1;padding:8px\">{}</p>",
            esc(a)
        );
    }
    html_section(&mut html, "Why it matters", &n.why_it_matters);
    let _ = write!(
        html,
        "<p><a href=\"{u}\">Open the incident in the console</a> ({u})</p>\
<p style=\"color:#57606a;font-size:12px\">Wardwatch · incident {id} · severity {sev} · score {score:.0}</p></body></html>",
        u = esc(&url),
        id = esc(&i.id),
        sev = i.severity.as_str(),
        score = i.score
    );
    Mail {
        subject: subject(doc, reason),
        text: scrub(&text),
        html: scrub(&html),
    }
}

/// One mail for several updated incidents (digest) or the rate limit's closing note.
pub fn list_mail(
    subject: &str,
    intro: &str,
    items: &[(String, String, Severity)],
    closing: Option<&str>,
    console_url: &str,
) -> Mail {
    let mut text = format!("{intro}\n\n");
    let mut html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
<body style=\"font-family:Segoe UI,Helvetica,Arial,sans-serif;color:#1b1f24;max-width:760px\"><p>{}</p><ul>",
        esc(subject),
        esc(intro)
    );
    for (id, title, sev) in items {
        let url = link(console_url, id);
        let _ = writeln!(text, "- [{}] {title}\n  {url}", sev.as_str());
        let _ = write!(
            html,
            "<li><strong>{}</strong> <a href=\"{}\">{}</a></li>",
            sev.as_str(),
            esc(&url),
            esc(title)
        );
    }
    html.push_str("</ul>");
    if let Some(c) = closing {
        let _ = writeln!(text, "\n{c}");
        let _ = write!(html, "<p><strong>{}</strong></p>", esc(c));
    }
    let _ = writeln!(
        text,
        "\nConsole: {}/incidents",
        console_url.trim_end_matches('/')
    );
    let _ = write!(
        html,
        "<p><a href=\"{0}/incidents\">{0}/incidents</a></p></body></html>",
        esc(console_url.trim_end_matches('/'))
    );
    Mail {
        subject: scrub(subject),
        text: scrub(&text),
        html: scrub(&html),
    }
}

fn text_section(out: &mut String, head: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "{head}\n{}", "-".repeat(head.chars().count()));
    for i in items {
        let _ = writeln!(out, "- {i}");
    }
    out.push('\n');
}

fn html_section(out: &mut String, head: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = write!(out, "<h3>{}</h3><ul>", esc(head));
    for i in items {
        let _ = write!(out, "<li>{}</li>", esc(i));
    }
    out.push_str("</ul>");
}

/// HTML-escape text.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn severity_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#a40e26",
        Severity::High => "#d1242f",
        Severity::Medium => "#bc4c00",
        Severity::Low => "#4d6a8a",
        Severity::Informational => "#57606a",
    }
}

/// The webhook body for an incident message in `format`.
pub fn webhook_body(
    format: WebhookFormat,
    doc: &IncidentDoc,
    reason: Reason,
    changes: &[String],
    console_url: &str,
) -> Value {
    let i = &doc.incident;
    let n: &Narrative = &doc.narrative;
    let url = link(console_url, &i.id);
    let subject = subject(doc, reason);
    let steps: Vec<Value> = n
        .what_to_do
        .iter()
        .map(|r| json!({"role": r.role.words(), "steps": r.steps.iter().map(|s| scrub(s)).collect::<Vec<_>>()}))
        .collect();
    match format {
        WebhookFormat::Generic => json!({
            "event": match reason { Reason::Opened => "incident.opened", Reason::Escalated => "incident.escalated" },
            "id": i.id,
            "organization": i.organization,
            "title": scrub(&n.title),
            "severity": i.severity.as_str(),
            "score": (i.score * 10.0).round() / 10.0,
            "hosts": i.hosts,
            "users": i.users,
            "summary": scrub(&n.summary),
            "changes": changes,
            "what_to_do": steps,
            "awareness": n.awareness.as_deref().map(scrub),
            "url": url,
        }),
        WebhookFormat::Teams => {
            let mut body = vec![
                json!({"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": true, "text": scrub(&n.title)}),
                json!({"type": "TextBlock", "wrap": true, "color": "Attention", "text": format!("{} · {}", i.severity.as_str().to_uppercase(), main_asset(i))}),
                json!({"type": "TextBlock", "wrap": true, "text": scrub(&n.summary)}),
            ];
            if !changes.is_empty() {
                body.push(json!({"type": "TextBlock", "wrap": true, "weight": "Bolder", "text": what_changed(changes)}));
            }
            for r in &n.what_to_do {
                body.push(json!({"type": "TextBlock", "wrap": true, "weight": "Bolder", "text": r.role.words()}));
                let list: String = r
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(k, s)| format!("{}. {}\n", k + 1, scrub(s)))
                    .collect();
                body.push(json!({"type": "TextBlock", "wrap": true, "text": list}));
            }
            json!({
                "type": "message",
                "summary": subject,
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": body,
                        "actions": [{"type": "Action.OpenUrl", "title": "Open in Wardwatch", "url": url}]
                    }
                }]
            })
        }
        WebhookFormat::Slack => {
            let mut blocks = vec![
                json!({"type": "header", "text": {"type": "plain_text", "text": shorten(&scrub(&n.title), 150)}}),
                json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*{}* · {}\n{}", i.severity.as_str().to_uppercase(), slack_esc(&main_asset(i)), slack_esc(&scrub(&n.summary)))}}),
            ];
            if !changes.is_empty() {
                blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": slack_esc(&what_changed(changes))}}));
            }
            for r in &n.what_to_do {
                let list: String = r
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(k, s)| format!("{}. {}\n", k + 1, slack_esc(&scrub(s))))
                    .collect();
                blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": shorten(&format!("*{}*\n{list}", r.role.words()), 3000)}}));
            }
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("<{url}|Open in Wardwatch>")}}));
            json!({"text": subject, "blocks": blocks})
        }
    }
}

/// A webhook body for a list (digest or rate-limit note).
pub fn webhook_list_body(
    format: WebhookFormat,
    event: &str,
    intro: &str,
    items: &[(String, String, Severity)],
    closing: Option<&str>,
    console_url: &str,
) -> Value {
    let lines: Vec<String> = items
        .iter()
        .map(|(id, t, s)| format!("[{}] {} {}", s.as_str(), scrub(t), link(console_url, id)))
        .collect();
    let mut text = format!("{intro}\n{}", lines.join("\n"));
    if let Some(c) = closing {
        text.push('\n');
        text.push_str(c);
    }
    match format {
        WebhookFormat::Generic => json!({
            "event": event,
            "text": intro,
            "incidents": items.iter().map(|(id, t, s)| json!({"id": id, "title": scrub(t), "severity": s.as_str(), "url": link(console_url, id)})).collect::<Vec<_>>(),
            "note": closing,
        }),
        WebhookFormat::Teams => json!({
            "type": "message",
            "summary": intro,
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [{"type": "TextBlock", "wrap": true, "text": text}]
                }
            }]
        }),
        WebhookFormat::Slack => json!({
            "text": intro,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": shorten(&slack_esc(&text), 3000)}}]
        }),
    }
}

fn slack_esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_references_are_removed() {
        assert_eq!(
            scrub("read Patient/12345 and MRN 99812 by dr-a"),
            "read Patient/[redacted] and MRN [redacted] by dr-a"
        );
        assert_eq!(scrub("nothing here"), "nothing here");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
