//! Exchange Online / Microsoft 365 mail logs: message trace rows and URL-click records, as
//! exported to JSON or shipped through `_bulk`.
//!
//! # What it does
//! [`shape`] recognizes
//! - a **message trace** row (`Get-MessageTrace` / `Get-MessageTraceV2`, the Reporting web
//!   service's `MessageTrace`, Graph exports): `SenderAddress`, `RecipientAddress`, `Received`
//!   with `MessageId` or `MessageTraceId`;
//! - a **URL click** from Defender for Office 365 Safe Links: Advanced Hunting's
//!   `UrlClickEvents` (`Url`, `ActionType`, `AccountUpn`, `Timestamp`) or the Management
//!   Activity API's `TIUrlClick` record (`Operation`, `Url`, `UserId`, `ClickTime`).
//!
//! [`normalize`] fills the ECS fields: a trace row is `event.category` `email` with
//! `event.action` from `Status` (`delivered`, `quarantined`, `filtered-as-spam`, `failed`...),
//! `email.from.address`, `email.to.address`, `email.subject`, `email.message_id`,
//! `source.ip` (`FromIP`); a click is `event.category` `web`, `event.action` `url-click-…`
//! from the action (`clickallowed`, `clickblocked`, `clickblockedbytenantpolicy`...),
//! `url.full`, `user.name` (the UPN), `source.ip`. The ECS names are added to the record
//! beside its own (Microsoft's are PascalCase, so nothing is overwritten), so the mail rules and
//! the campaign analytics read a trace row and a click like a scanned message and a proxy
//! record.
//!
//! # Why it matters
//! Most hospitals' mail is in Microsoft 365: the message trace says who received a lure when
//! no journal copy exists, and the Safe Links click log is the click itself.
//!
//! # References
//! Microsoft Learn: Get-MessageTraceV2; Reporting web service MessageTrace report;
//! Advanced hunting schema UrlClickEvents; Office 365 Management Activity API schema
//! (ThreatIntelligenceUrlClickData).

use serde_json::{Value, json};
use wardwatch_core::Ecs;

use crate::doc::first_text;

/// Which Microsoft 365 record a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    MessageTrace,
    UrlClick,
}

/// Where each shape keeps its time.
pub(crate) const TIME: &[&str] = &[
    "Received",
    "ReceivedDateTime",
    "Timestamp",
    "ClickTime",
    "CreationTime",
];

pub(crate) fn shape(v: &Value) -> Option<Shape> {
    let o = v.as_object()?;
    if o.contains_key("SenderAddress")
        && o.contains_key("RecipientAddress")
        && (o.contains_key("Received") || o.contains_key("ReceivedDateTime"))
        && (o.contains_key("MessageId") || o.contains_key("MessageTraceId"))
    {
        return Some(Shape::MessageTrace);
    }
    let is_click = o.get("Operation").and_then(Value::as_str) == Some("TIUrlClick")
        || (o.contains_key("Url")
            && o.contains_key("AccountUpn")
            && o.get("ActionType")
                .and_then(Value::as_str)
                .is_some_and(|a| a.to_ascii_lowercase().starts_with("click")));
    is_click.then_some(Shape::UrlClick)
}

/// The ECS fields of a record, and the ECS names added to it.
pub(crate) fn normalize(v: &mut Value, shape: Shape) -> Ecs {
    let mut ecs = Ecs {
        event_kind: Some("event".into()),
        event_provider: Some("microsoft-365".into()),
        ..Ecs::default()
    };
    match shape {
        Shape::MessageTrace => {
            let status = first_text(v, &["Status", "DeliveryStatus"]).unwrap_or_default();
            let action = match status.to_ascii_lowercase().as_str() {
                "delivered" | "expanded" => "delivered".to_string(),
                "" => "delivered".to_string(),
                other => other.replace(['_', ' '], "-"),
            };
            let from = first_text(v, &["SenderAddress"]).map(|s| s.to_ascii_lowercase());
            let to = first_text(v, &["RecipientAddress"]).map(|s| s.to_ascii_lowercase());
            ecs.event_category = Some("email".into());
            ecs.event_action = Some(action.clone());
            ecs.source_ip = first_text(v, &["FromIP", "FromIp"]);
            ecs.user_name = to.clone();
            let email = json!({
                "from": {"address": from.as_ref().map(|f| vec![f.clone()]).unwrap_or_default()},
                "to": {"address": to.as_ref().map(|t| vec![t.clone()]).unwrap_or_default()},
                "subject": first_text(v, &["Subject"]),
                "message_id": first_text(v, &["MessageId"]).map(|m| m.trim_matches(['<', '>']).to_string()),
                "direction": "inbound",
            });
            if let Some(o) = v.as_object_mut() {
                o.entry("email").or_insert(email);
                o.entry("event").or_insert(json!({"kind": "event", "category": "email", "action": action, "dataset": "m365.message_trace"}));
                if let Some(ip) = &ecs.source_ip {
                    o.entry("source").or_insert(json!({"ip": ip}));
                }
            }
        }
        Shape::UrlClick => {
            let url = first_text(v, &["Url"]);
            let user = first_text(v, &["AccountUpn", "UserId"]).map(|u| u.to_ascii_lowercase());
            let what = first_text(v, &["ActionType"])
                .or_else(|| first_text(v, &["AppName"]).map(|_| "click".to_string()))
                .unwrap_or_else(|| "click".into())
                .to_ascii_lowercase();
            let action = format!("url-{what}");
            ecs.event_category = Some("web".into());
            ecs.event_action = Some(action.clone());
            ecs.url_full = url.clone();
            ecs.user_name = user.clone();
            ecs.source_ip = first_text(v, &["IPAddress", "UserIp", "ClientIP"]);
            if let Some(o) = v.as_object_mut() {
                o.entry("url").or_insert(json!({"full": url}));
                o.entry("event").or_insert(json!({"kind": "event", "category": "web", "action": action, "dataset": "m365.url_click"}));
                if let Some(u) = &user {
                    o.entry("user").or_insert(json!({"name": u, "email": u}));
                }
            }
        }
    }
    ecs
}

#[cfg(test)]
mod tests {
    use wardwatch_core::Origin;

    #[test]
    fn message_trace_row_is_an_email_event() {
        let line = br#"{"Received":"2026-12-01T09:00:03.517Z","SenderAddress":"helpdesk@st-rnary-hospital.org","RecipientAddress":"nurse03@st-mary-hospital.org","Subject":"Your mailbox is almost full","Status":"Delivered","FromIP":"198.51.100.23","Size":4213,"MessageTraceId":"a1b2","MessageId":"<q-3@st-rnary-hospital.org>"}"#;
        let e = crate::jsonl::decode_line(line, Origin::default()).unwrap();
        assert_eq!(e.ecs.event_category.as_deref(), Some("email"));
        assert_eq!(e.ecs.event_action.as_deref(), Some("delivered"));
        assert_eq!(
            e.raw["email"]["to"]["address"][0],
            "nurse03@st-mary-hospital.org"
        );
        assert_eq!(e.raw["email"]["message_id"], "q-3@st-rnary-hospital.org");
        assert_eq!(e.ecs.source_ip.as_deref(), Some("198.51.100.23"));
        assert_eq!(e.timestamp.to_string(), "2026-12-01T09:00:03.517Z");
    }

    #[test]
    fn safe_links_clicks_from_hunting_and_the_activity_api() {
        let hunting = br#"{"Timestamp":"2026-12-01T09:10:00Z","Url":"https://login.st-rnary-hospital.org/owa","ActionType":"ClickAllowed","AccountUpn":"Nurse03@st-mary-hospital.org","IPAddress":"10.20.1.30","NetworkMessageId":"n1","Workload":"Email"}"#;
        let e = crate::jsonl::decode_line(hunting, Origin::default()).unwrap();
        assert_eq!(e.ecs.event_action.as_deref(), Some("url-clickallowed"));
        assert_eq!(
            e.ecs.url_full.as_deref(),
            Some("https://login.st-rnary-hospital.org/owa")
        );
        assert_eq!(
            e.ecs.user_name.as_deref(),
            Some("nurse03@st-mary-hospital.org")
        );
        let activity = br#"{"CreationTime":"2026-12-01T09:11:00","Operation":"TIUrlClick","Url":"https://x.example/a","UserId":"b@h.example","UserIp":"10.0.0.9","AppName":"Mail","ClickTime":"2026-12-01T09:11:00"}"#;
        let e = crate::jsonl::decode_line(activity, Origin::default()).unwrap();
        assert_eq!(e.ecs.event_category.as_deref(), Some("web"));
        assert_eq!(e.raw["url"]["full"], "https://x.example/a");
    }
}
