//! Okta System Log events (the `/api/v1/logs` JSON, as exported or streamed).
//!
//! # What it does
//! [`is_okta`] recognizes an event (`eventType`, `actor`, `published`, and `uuid` or
//! `outcome`); [`normalize`] fills `event.provider` `okta`, `event.code` the `eventType`,
//! `user.name` the actor's `alternateId` (the sign-in name), `source.ip` the client address,
//! `host.name` the first target's display name (the application), `message` the
//! `displayMessage`, `event.outcome` from `outcome.result` (`SUCCESS`/`ALLOW` success,
//! `FAILURE`/`DENY` failure), and the category and action by event type:
//! - `user.session.start`, `user.authentication.*` (sso, auth_via_mfa, verify…):
//!   `authentication` / `sign-in`;
//! - `user.session.end`: `session` / `logged-off`;
//! - Okta Verify pushes: `system.push.send_factor_verify_push` → `mfa-push-sent`,
//!   `user.mfa.okta_verify.deny_push` → `mfa-push-denied` (failure),
//!   `user.authentication.auth_via_mfa` with outcome success → `sign-in`;
//! - anything else (`user.account.*`, `group.user_membership.*`, `policy.*`...): `iam` with
//!   the event type as action.
//!
//! # Why it matters
//! Okta fronts many hospitals' cloud and VPN sign-ins; spraying and MFA fatigue show here.
//!
//! # References
//! Okta Developer: System Log API, LogEvent object, Event Types catalogue.

use serde_json::Value;
use wardwatch_core::Ecs;

use crate::doc::{first_text, text_at};

/// Whether `v` is an Okta System Log event.
pub(crate) fn is_okta(v: &Value) -> bool {
    let Some(o) = v.as_object() else {
        return false;
    };
    o.get("eventType").is_some_and(Value::is_string)
        && o.get("actor").is_some_and(Value::is_object)
        && o.contains_key("published")
        && (o.contains_key("uuid") || o.contains_key("outcome"))
}

/// The normalized fields of an Okta event.
pub(crate) fn normalize(v: &Value) -> Ecs {
    let event_type = text_at(v, "eventType").unwrap_or_default();
    let result = text_at(v, "outcome.result")
        .unwrap_or_default()
        .to_ascii_uppercase();
    let outcome = match result.as_str() {
        "SUCCESS" | "ALLOW" => Some("success"),
        "FAILURE" | "DENY" => Some("failure"),
        "" => None,
        _ => Some("unknown"),
    };
    let (category, action, outcome) = match event_type.as_str() {
        "user.session.start" => ("authentication", "sign-in".to_string(), outcome),
        "user.session.end" => ("session", "logged-off".to_string(), outcome),
        "system.push.send_factor_verify_push" => {
            ("authentication", "mfa-push-sent".into(), outcome)
        }
        "user.mfa.okta_verify.deny_push" => {
            ("authentication", "mfa-push-denied".into(), Some("failure"))
        }
        t if t.starts_with("user.authentication.") => ("authentication", "sign-in".into(), outcome),
        t => ("iam", t.to_string(), outcome),
    };
    Ecs {
        event_kind: Some("event".into()),
        event_category: Some(category.into()),
        event_action: Some(action),
        event_outcome: outcome.map(str::to_string),
        event_code: Some(event_type).filter(|t| !t.is_empty()),
        event_provider: Some("okta".into()),
        user_name: first_text(v, &["actor.alternateId", "actor.displayName"]),
        source_ip: first_text(v, &["client.ipAddress", "request.ipChain.ip"]),
        host_name: v
            .get("target")
            .and_then(Value::as_array)
            .and_then(|t| t.first())
            .and_then(|t| first_text(t, &["displayName", "alternateId"])),
        message: text_at(v, "displayMessage"),
        ..Ecs::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ev(event_type: &str, result: &str) -> Value {
        json!({"uuid": "u1", "published": "2026-11-02T08:00:00Z", "eventType": event_type,
            "actor": {"alternateId": "n.jansen@hosp.example", "type": "User"},
            "client": {"ipAddress": "198.51.100.7"}, "outcome": {"result": result},
            "displayMessage": "x", "target": [{"displayName": "EPR Portal"}]})
    }

    #[test]
    fn sign_ins_pushes_and_admin_events() {
        let s = normalize(&ev("user.session.start", "FAILURE"));
        assert_eq!(
            (
                s.event_category.as_deref(),
                s.event_action.as_deref(),
                s.event_outcome.as_deref()
            ),
            (Some("authentication"), Some("sign-in"), Some("failure"))
        );
        assert_eq!(s.user_name.as_deref(), Some("n.jansen@hosp.example"));
        assert_eq!(s.source_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(s.host_name.as_deref(), Some("EPR Portal"));
        let deny = normalize(&ev("user.mfa.okta_verify.deny_push", "SUCCESS"));
        assert_eq!(deny.event_action.as_deref(), Some("mfa-push-denied"));
        assert_eq!(deny.event_outcome.as_deref(), Some("failure"));
        let mfa = normalize(&ev("user.authentication.auth_via_mfa", "SUCCESS"));
        assert_eq!(mfa.event_action.as_deref(), Some("sign-in"));
        let admin = normalize(&ev("group.user_membership.add", "SUCCESS"));
        assert_eq!(admin.event_category.as_deref(), Some("iam"));
        assert!(is_okta(&ev("x", "SUCCESS")));
        assert!(!is_okta(&json!({"eventType": "x"})));
    }
}
